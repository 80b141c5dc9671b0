import CPocketSphinx
import Foundation
import SpeechEngine

#if canImport(Glibc)
    import Glibc
#endif

/// One PocketSphinx decoder and the state of the stream it is decoding.
///
/// Every method blocks in C and must run on the engine's thread pool, never on an event loop or the
/// cooperative pool. A decoder is single-threaded: the engine's `LendingPool` lends it to one session at a time,
/// and that session calls it from one task, one call after the other.
///
/// `@unchecked Sendable`: the C handle has no internal locking; exclusive use is guaranteed by the pool's
/// lending (a decoder is in exactly one place: the pool's free list or one session).
final class PocketSphinxDecoder: @unchecked Sendable {
    private let handle: OpaquePointer
    /// `cmd_ln_parse_r` keeps pointers into argv: the strings live as long as the decoder.
    private let arguments: [UnsafeMutablePointer<CChar>?]
    /// The cepstral mean every session starts from.
    private let initialCepstralMean: [mfcc_t]
    private let samplesPerFrame: Int
    /// Samples fed since the decoder was created: PocketSphinx numbers frames from its creation.
    private var samplesFed = 0
    private var stream = StreamState()
    /// Words a session's hotwords added (``add(_:)``): the decoder is not lent again, a fresh one replaces it.
    private(set) var hasSessionWords = false

    let sampleRate: Int

    /// Per-session endpointing state.
    private struct StreamState {
        var isInUtterance = false
        var wasInSpeech = false
        var segmentIndex = 0
        var lastPartial = ""
        var partialSent = false
        /// Frame number (decoder lifetime) at which the session started.
        var firstFrame = 0
    }

    init(configuration: PocketSphinxConfiguration) throws {
        PocketSphinxLogging.silenceOnce()
        let argv = configuration.decoderArguments.map { strdup($0) }
        var mutableArgv = argv
        guard let config = cmd_ln_parse_r(nil, ps_args(), Int32(argv.count), &mutableArgv, 1) else {
            argv.forEach { free($0) }
            throw RecognitionError.engineFailed("PocketSphinx rejected its arguments: \(configuration.decoderArguments.joined(separator: " "))")
        }
        let decoder = ps_init(config)
        cmd_ln_free_r(config)
        guard let decoder else {
            argv.forEach { free($0) }
            throw RecognitionError.engineFailed(
                "PocketSphinx could not load its model from \(configuration.modelDirectory) (install pocketsphinx-en-us)"
            )
        }
        self.handle = decoder
        self.arguments = argv
        self.sampleRate = Int(cmd_ln_float_r(ps_get_config(decoder), "-samprate"))
        self.samplesPerFrame = max(1, self.sampleRate / Int(cmd_ln_int_r(ps_get_config(decoder), "-frate")))
        let cmn = ps_get_feat(decoder).pointee.cmn_struct!
        let mean = configuration.cepstralMeanInit.split(separator: ",").compactMap { mfcc_t(String($0).trimmingCharacters(in: .whitespaces)) }
        guard mean.count == Int(cmn.pointee.veclen) else {
            ps_free(decoder)
            argv.forEach { free($0) }
            throw RecognitionError.engineFailed(
                "The cepstral mean needs \(cmn.pointee.veclen) comma-separated numbers; got '\(configuration.cepstralMeanInit)'.")
        }
        self.initialCepstralMean = mean
    }

    deinit {
        ps_free(self.handle)
        self.arguments.forEach { free($0) }
    }

    /// The language model's words and the dictionary's pronunciations, for ``PocketSphinxVocabulary``.
    func vocabulary() throws -> PocketSphinxVocabulary {
        guard let path = cmd_ln_str_r(ps_get_config(self.handle), "-dict").map({ String(cString: $0) }),
            let text = try? String(contentsOfFile: path, encoding: .utf8)
        else {
            throw RecognitionError.engineFailed("PocketSphinx's dictionary could not be read for hotwords.")
        }
        var pronunciations: [String: String] = [:]
        pronunciations.reserveCapacity(140_000)
        for line in text.split(separator: "\n") {
            guard let space = line.firstIndex(of: " ") else { continue }
            let word = line[..<space]
            if word.contains("(") { continue }  // an alternate pronunciation, `word(2)`
            pronunciations[String(word)] = String(line[line.index(after: space)...].drop { $0 == " " })
        }
        // The model's word ids are not 0..<unigrams (the set numbers them its own way): ask it about each word.
        var modelWords = Set<String>()
        if let search = ps_get_search(self.handle), let model = ps_get_lm(self.handle, search) {
            let unknown = ngram_unknown_wid(model)
            for word in pronunciations.keys where ngram_wid(model, word) != unknown {
                modelWords.insert(word)
            }
        }
        return PocketSphinxVocabulary(modelWords: modelWords, pronunciations: pronunciations)
    }

    /// Adds a session's words (outside an utterance). Returns the spellings PocketSphinx refused.
    func add(_ additions: [PocketSphinxVocabulary.Addition]) -> [String] {
        self.abortSession()
        var refused: [String] = []
        for addition in additions {
            self.hasSessionWords = true
            if ps_add_word(self.handle, addition.spelling, addition.phones, 1) < 0 { refused.append(addition.spelling) }
        }
        return refused
    }

    /// Start a new session: the cepstral mean is reset, so a result depends on the session's audio only.
    func beginSession() throws {
        self.abortSession()
        let cmn = ps_get_feat(self.handle).pointee.cmn_struct!
        self.initialCepstralMean.withUnsafeBufferPointer { cmn_live_set(cmn, $0.baseAddress) }
        self.stream = StreamState(firstFrame: self.samplesFed / self.samplesPerFrame)
        try self.startUtterance()
    }

    /// Feed PCM; returns the partials and finals it caused. Audio is fed in pieces of at most 100 ms so that
    /// an endpoint inside a long chunk is seen where it happens.
    func process(_ samples: [Int16]) throws -> [RecognitionEvent] {
        var events: [RecognitionEvent] = []
        let piece = self.sampleRate / 10
        var offset = 0
        while offset < samples.count {
            let end = min(samples.count, offset + piece)
            try samples.withUnsafeBufferPointer { buffer in
                let slice = UnsafeBufferPointer(rebasing: buffer[offset..<end])
                if ps_process_raw(self.handle, slice.baseAddress, slice.count, 0, 0) < 0 {
                    throw RecognitionError.engineFailed("PocketSphinx failed to process audio")
                }
            }
            self.samplesFed += end - offset
            offset = end
            let inSpeech = ps_get_in_speech(self.handle) != 0
            if inSpeech, let partial = self.partialIfChanged() {
                events.append(partial)
            }
            if self.stream.wasInSpeech && !inSpeech {
                if let final = try self.closeSegment() { events.append(final) }
                try self.startUtterance()
            }
            self.stream.wasInSpeech = inSpeech
        }
        return events
    }

    /// The client asked for a flush: close the open segment.
    func finishSession() throws -> [RecognitionEvent] {
        guard self.stream.isInUtterance else { return [] }
        return try self.closeSegment().map { [$0] } ?? []
    }

    /// Drop whatever the session left (client gone, error): the decoder is ready for the next session.
    func abortSession() {
        if self.stream.isInUtterance {
            ps_end_utt(self.handle)
            self.stream.isInUtterance = false
        }
    }

    private func startUtterance() throws {
        guard ps_start_utt(self.handle) >= 0 else {
            throw RecognitionError.engineFailed("PocketSphinx could not start an utterance")
        }
        self.stream.isInUtterance = true
        self.stream.lastPartial = ""
        self.stream.partialSent = false
    }

    private func partialIfChanged() -> RecognitionEvent? {
        var score: Int32 = 0
        guard let raw = ps_get_hyp(self.handle, &score) else { return nil }
        let text = FillerWords.clean(String(cString: raw))
        guard !text.isEmpty, text != self.stream.lastPartial else { return nil }
        self.stream.lastPartial = text
        self.stream.partialSent = true
        return .partial(segment: self.stream.segmentIndex, text: text)
    }

    /// End the utterance and turn it into a final, unless it held no word and no partial was shown.
    private func closeSegment() throws -> RecognitionEvent? {
        guard ps_end_utt(self.handle) >= 0 else {
            self.stream.isInUtterance = false
            throw RecognitionError.engineFailed("PocketSphinx failed to finish an utterance")
        }
        self.stream.isInUtterance = false
        let words = self.segmentWords()
        guard !words.isEmpty || self.stream.partialSent else { return nil }
        let segment = RecognizedSegment(
            index: self.stream.segmentIndex,
            text: words.map(\.text).joined(separator: " "),
            startMs: words.first?.startMs ?? self.streamMilliseconds(frame: self.samplesFed / self.samplesPerFrame),
            endMs: words.last?.endMs ?? self.streamMilliseconds(frame: self.samplesFed / self.samplesPerFrame),
            words: words
        )
        self.stream.segmentIndex += 1
        return .final(segment)
    }

    private func segmentWords() -> [RecognizedWord] {
        let logmath = ps_get_logmath(self.handle)
        var words: [RecognizedWord] = []
        var iterator = ps_seg_iter(self.handle)
        while let segment = iterator {
            if let raw = ps_seg_word(segment) {
                let word = String(cString: raw)
                if !FillerWords.isFiller(word) {
                    var startFrame: Int32 = 0
                    var endFrame: Int32 = 0
                    ps_seg_frames(segment, &startFrame, &endFrame)
                    var acoustic: Int32 = 0
                    var language: Int32 = 0
                    var backoff: Int32 = 0
                    let probability = ps_seg_prob(segment, &acoustic, &language, &backoff)
                    words.append(
                        RecognizedWord(
                            text: FillerWords.baseForm(word),
                            startMs: self.streamMilliseconds(frame: Int(startFrame)),
                            endMs: self.streamMilliseconds(frame: Int(endFrame) + 1),
                            confidence: min(1, max(0, logmath_exp(logmath, probability)))
                        )
                    )
                }
            }
            iterator = ps_seg_next(segment)
        }
        return words
    }

    private func streamMilliseconds(frame: Int) -> Int {
        max(0, (frame - self.stream.firstFrame) * self.samplesPerFrame * 1000 / self.sampleRate)
    }
}
