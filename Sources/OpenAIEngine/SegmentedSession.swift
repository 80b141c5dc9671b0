import SpeechEngine
import Synchronization

/// One stream of the `openai` engine: segments the audio with the VAD, keeps at most one request in flight,
/// turns answers into `partial`s of the open segment and a `final` per closed one, in stream times.
///
/// Used by the session's own task only; the request runs as a child task and hands its answer over in ``PartialSlot``.
final class SegmentedSession {
    /// The answer of a partial request: for which segment (its stream start), how much of it, and what came back.
    struct PartialAnswer: Sendable {
        let segmentStart: Int
        let covered: Int
        let result: Result<Transcription, RecognitionError>
    }

    final class PartialSlot: Sendable {
        let answer = Mutex<PartialAnswer?>(nil)
    }

    /// Non-speech after the last speech that triggers a request at once: the likely final, started before the
    /// endpoint so that it is ready (or nearly) when the segment closes.
    static let speechEndTriggerMilliseconds = 200

    private let recognizer: OpenAIRecognizer
    private var segmenter: SpeechSegmenter
    private let sampleRate: Int
    private let language: String?
    private let prompt: String?
    private let partialIntervalSamples: Int

    private let slot = PartialSlot()
    private var requestInFlight = false
    /// Index of the next final.
    private var index = 0
    /// Of the open segment: its length at the last request, the speech that request covered, the last partial sent.
    private var requestedLength = 0
    private var requestedSpeechEnd = 0
    private var lastPartialText = ""
    /// The latest answer about the open (or just closed) segment, reused as its final when it covers all its speech.
    private var latest: (segmentStart: Int, covered: Int, transcription: Transcription)?

    init(recognizer: OpenAIRecognizer, segmenter: SpeechSegmenter, sampleRate: Int, language: String?, prompt: String?, partialIntervalSamples: Int) {
        self.recognizer = recognizer
        self.segmenter = segmenter
        self.sampleRate = sampleRate
        self.language = language
        self.prompt = prompt
        self.partialIntervalSamples = max(1, partialIntervalSamples)
    }

    func run<Audio: AsyncSequence>(_ audio: Audio, emit: (RecognitionEvent) async throws -> Void) async throws where Audio.Element == [Int16] {
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            for try await chunk in audio {
                let closed = self.segmenter.append(chunk)
                try await self.collectPartial(from: &group, wait: false, emit: emit)
                for segment in closed {
                    try await self.finish(segment, group: &group, emit: emit)
                }
                await self.startPartialIfDue(in: &group)
            }
            if let segment = self.segmenter.finish() {
                try await self.finish(segment, group: &group, emit: emit)
            }
            try await self.collectPartial(from: &group, wait: true, emit: emit)
        }
    }

    /// Starts a request for the open segment when it grew by the partial interval, or when its speech just
    /// stopped, and no request is in flight and a shared slot is free now.
    private func startPartialIfDue(in group: inout ThrowingTaskGroup<Void, any Error>) async {
        guard !self.requestInFlight, let open = self.segmenter.openSegment else { return }
        // While speech goes on, every interval; not in a pause, so that the request at the likely end is not delayed.
        let grown = open.samples.count - self.requestedLength >= self.partialIntervalSamples && open.silenceSamples == 0
        let speechStopped = open.silenceSamples >= Self.speechEndTriggerMilliseconds * self.sampleRate / 1000 && open.speechEnd > self.requestedSpeechEnd
        guard grown || speechStopped else { return }
        guard let permit = await self.recognizer.requests.tryAcquire() else { return }
        self.requestInFlight = true
        self.requestedLength = open.samples.count
        self.requestedSpeechEnd = open.speechEnd
        let (client, requests, slot) = (self.recognizer.client, self.recognizer.requests, self.slot)
        let (samples, start, rate, language, prompt) = (Array(open.samples), open.start, self.sampleRate, self.language, self.prompt)
        group.addTask {
            let result: Result<Transcription, RecognitionError>
            do throws(RecognitionError) {
                result = .success(try await client.transcribe(samples[...], sampleRate: rate, language: language, prompt: prompt))
            } catch {
                result = .failure(error)
            }
            await requests.release(permit)
            slot.answer.withLock { $0 = PartialAnswer(segmentStart: start, covered: samples.count, result: result) }
        }
    }

    /// Takes the answer of the request in flight, if it is there (or waits for it when `wait`); sends it as a
    /// partial if its segment is still open and the text changed. A failed request ends the session.
    private func collectPartial(from group: inout ThrowingTaskGroup<Void, any Error>, wait: Bool, emit: (RecognitionEvent) async throws -> Void) async throws {
        guard self.requestInFlight else { return }
        if !wait, self.slot.answer.withLock({ $0 == nil }) { return }
        _ = try await group.next()
        self.requestInFlight = false
        guard let answer = self.slot.answer.withLock({ value in defer { value = nil }; return value }) else { return }
        let transcription = try answer.result.get()
        self.latest = (answer.segmentStart, answer.covered, transcription)
        guard self.segmenter.openSegment?.start == answer.segmentStart, !transcription.text.isEmpty, transcription.text != self.lastPartialText else { return }
        self.lastPartialText = transcription.text
        try await emit(.partial(segment: self.index, text: transcription.text))
    }

    /// Sends the final of a closed segment: the latest answer when it covered all the segment's speech, else a
    /// new request (waiting for a shared slot, bounded).
    private func finish(_ segment: SpeechSegmenter.Segment, group: inout ThrowingTaskGroup<Void, any Error>, emit: (RecognitionEvent) async throws -> Void) async throws {
        try await self.collectPartial(from: &group, wait: true, emit: emit)
        let transcription: Transcription
        if let latest = self.latest, latest.segmentStart == segment.start, latest.covered >= segment.speechEnd {
            transcription = latest.transcription
        } else {
            let (client, rate, language, prompt) = (self.recognizer.client, self.sampleRate, self.language, self.prompt)
            let samples = segment.samples
            transcription = try await self.recognizer.withRequestSlot(wait: true) {
                try await client.transcribe(samples, sampleRate: rate, language: language, prompt: prompt)
            } ?? Transcription(text: "", segments: [], words: nil)
        }
        let sentPartial = !self.lastPartialText.isEmpty
        self.requestedLength = 0
        self.requestedSpeechEnd = 0
        self.lastPartialText = ""
        self.latest = nil
        guard !transcription.text.isEmpty || sentPartial else { return }
        let final = self.recognized(transcription, segment: segment)
        self.index += 1
        try await emit(.final(final))
    }

    /// One segment of the stream from an answer about `segment`'s audio.
    private func recognized(_ transcription: Transcription, segment: SpeechSegmenter.Segment) -> RecognizedSegment {
        let offsetMs = segment.start * 1000 / self.sampleRate
        let durationMs = segment.samples.count * 1000 / self.sampleRate
        let words = (transcription.words ?? []).map {
            RecognizedWord(text: $0.text, startMs: offsetMs + min($0.startMs, durationMs), endMs: offsetMs + min($0.endMs, durationMs), confidence: $0.confidence)
        }
        let speechStart = transcription.segments.first.map { min($0.startMs, durationMs) } ?? 0
        let speechEnd = transcription.segments.last.map { min($0.endMs, durationMs) } ?? durationMs
        return RecognizedSegment(
            index: self.index, text: transcription.text,
            startMs: words.first?.startMs ?? offsetMs + speechStart,
            endMs: words.last?.endMs ?? offsetMs + speechEnd,
            words: words
        )
    }
}
