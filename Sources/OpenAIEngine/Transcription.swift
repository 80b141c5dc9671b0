import SpeechEngine

/// One answer of an OpenAI-compatible transcription server, times in milliseconds from the start of the audio sent.
struct Transcription: Sendable, Equatable {
    struct Segment: Sendable, Equatable {
        var text: String
        var startMs: Int
        var endMs: Int
    }

    var text: String
    /// Empty when the server answered plain `json` (no times).
    var segments: [Segment]
    /// Nil when the server gave no word times.
    var words: [RecognizedWord]?
    /// The language the server detected or was told, as a gateway tag (``LanguageTag/detected(_:)``); nil when
    /// it did not say (plain `json`).
    var language: String?

    /// `verbose_json` or `json` as OpenAI documents them; unknown fields are ignored.
    struct Body: Decodable {
        struct Segment: Decodable {
            let start: Double
            let end: Double
            let text: String
        }

        struct Word: Decodable {
            let word: String
            let start: Double
            let end: Double
            let probability: Double?
        }

        let text: String
        let segments: [Segment]?
        let words: [Word]?
        let language: String?
    }

    init(text: String, segments: [Segment], words: [RecognizedWord]?, language: String? = nil) {
        self.text = text
        self.segments = segments
        self.words = words
        self.language = language
    }

    init(_ body: Body) {
        func ms(_ seconds: Double) -> Int { Int((seconds * 1000).rounded()) }
        self.text = body.text.trimmingWhitespace
        self.segments = (body.segments ?? []).map { Segment(text: $0.text.trimmingWhitespace, startMs: ms($0.start), endMs: ms($0.end)) }
        self.words = body.words.map { words in
            words.compactMap { word in
                let text = word.word.trimmingWhitespace
                return text.isEmpty
                    ? nil : RecognizedWord(text: text, startMs: ms(word.start), endMs: ms(word.end), confidence: word.probability ?? 1)
            }
        }
        self.language = body.language.flatMap(LanguageTag.detected)
    }

    /// This answer as segments of a stream, shifted by `offsetMs`: one per upstream segment, each with the words
    /// that start inside it; a single segment covering `durationMs` when the server gave no segment times.
    func segments(offsetMs: Int, durationMs: Int, firstIndex: Int) -> [RecognizedSegment] {
        let words = (self.words ?? []).map {
            RecognizedWord(text: $0.text, startMs: $0.startMs + offsetMs, endMs: $0.endMs + offsetMs, confidence: $0.confidence)
        }
        guard !self.segments.isEmpty else {
            guard !self.text.isEmpty else { return [] }
            return [
                RecognizedSegment(
                    index: firstIndex, text: self.text, startMs: words.first?.startMs ?? offsetMs, endMs: words.last?.endMs ?? offsetMs + durationMs,
                    words: words, language: self.language
                )
            ]
        }
        var remaining = words[...]
        var result: [RecognizedSegment] = []
        for (position, segment) in self.segments.enumerated() {
            let isLast = position == self.segments.count - 1
            let end = segment.endMs + offsetMs
            let inside = remaining.prefix { isLast || $0.startMs < end }
            remaining = remaining.dropFirst(inside.count)
            guard !segment.text.isEmpty else { continue }
            result.append(
                RecognizedSegment(
                    index: firstIndex + result.count, text: segment.text, startMs: segment.startMs + offsetMs, endMs: end, words: Array(inside),
                    language: self.language
                )
            )
        }
        return result
    }
}

extension String {
    var trimmingWhitespace: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}

/// What a request tells the transcription server besides the audio and language: `prompt` (context the model
/// continues from) and, for the managed sidecar, `hotwords`.
struct TranscriptionContext: Sendable, Equatable {
    var prompt: String?
    var hotwords: String?

    static let none = TranscriptionContext(prompt: nil, hotwords: nil)
}

extension OpenAIConfiguration {
    /// A session's prompt and hotwords as this upstream takes them: hotwords in their own field for the sidecar
    /// (``OpenAIConfiguration/takesHotwords``), else after the prompt. Weights are dropped: Whisper has none.
    func context(for options: RecognitionOptions) -> TranscriptionContext {
        let prompt = options.parameters["prompt"].flatMap { $0.isEmpty ? nil : $0 }
        let phrases = options.hotwords.isEmpty ? nil : options.hotwords.map(\.phrase).joined(separator: ", ")
        if self.takesHotwords { return TranscriptionContext(prompt: prompt, hotwords: phrases) }
        let joined = [prompt, phrases].compactMap { $0 }.joined(separator: " ")
        return TranscriptionContext(prompt: joined.isEmpty ? nil : joined, hotwords: nil)
    }
}
