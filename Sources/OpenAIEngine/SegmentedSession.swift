import AsyncAlgorithms
import Logging
import SpeechEngine
import Synchronization

/// One stream of the `openai` engine: segments the audio with the VAD, keeps at most one request in flight,
/// turns answers into `partial`s of the open segment and a `final` per closed one, in stream times.
///
/// Used by the session's own task only; the request runs as a child task, hands its answer over in ``PartialSlot``
/// and wakes the session, which reacts to it at once (not at the next chunk of audio).
final class SegmentedSession {
    /// The answer of a partial request: for which segment (its stream start), how much of it, and what came back.
    struct PartialAnswer: Sendable {
        let segmentStart: Int
        let covered: Int
        /// Asked as a partial (``OpenAIConfiguration/marksPartials``): decoded without the sidecar's retry of a
        /// failed decode, so never reused as a final.
        let markedPartial: Bool
        /// nil when the request never went out (no shared slot within the queue's bounds).
        let result: Result<Transcription, RecognitionError>?
    }

    final class PartialSlot: Sendable {
        let answer = Mutex<PartialAnswer?>(nil)
    }

    /// Non-speech after the last speech that triggers a request at once: the likely final, started before the
    /// endpoint so that it is ready (or nearly) when the segment closes. The VAD itself reports speech for up to
    /// 90 ms after the voice stops (its hangover), so this is ~180 ms of quiet. Measured against 200 ms: the same
    /// number of requests and the same WER, finals 40–60 ms sooner on average.
    static let speechEndTriggerMilliseconds = 90

    /// Speech in a segment before its first partial request (or the partial interval, if shorter). With Whisper base
    /// on 2 cores (~0.5 s an inference) the first partial then comes ~0.9 s after speech starts (bench/RESULTS.md).
    static let firstPartialMilliseconds = 500

    private let recognizer: OpenAIRecognizer
    private var segmenter: SpeechSegmenter
    private let sampleRate: Int
    private let language: String?
    private let context: TranscriptionContext
    private let partialIntervalSamples: Int

    private let slot = PartialSlot()
    /// Wakes the session when a request finishes; set by ``run(_:emit:)``.
    private var wake: AsyncStream<Event>.Continuation?
    private var requestInFlight = false
    /// Index of the next final.
    private var index = 0
    /// Of the open segment: its length at the last request, the speech that request covered, the last partial sent.
    private var requestedLength = 0
    private var requestedSpeechEnd = 0
    private var lastPartialText = ""
    /// The latest answer about the open (or just closed) segment, reused as its final when it covers all its speech
    /// and was decoded as a final would be.
    private var latest: (segmentStart: Int, covered: Int, markedPartial: Bool, transcription: Transcription)?

    init(
        recognizer: OpenAIRecognizer, segmenter: SpeechSegmenter, sampleRate: Int, language: String?, context: TranscriptionContext,
        partialIntervalSamples: Int
    ) {
        self.recognizer = recognizer
        self.segmenter = segmenter
        self.sampleRate = sampleRate
        self.language = language
        self.context = context
        self.partialIntervalSamples = max(1, partialIntervalSamples)
    }

    /// What the session reacts to: a chunk of audio, the end of the audio, or a request that finished.
    private enum Event: Sendable {
        case audio([Int16])
        case audioEnded
        case requestFinished
    }

    func run<Audio: AsyncSequence & Sendable>(_ audio: Audio, emit: (RecognitionEvent) async throws -> Void) async throws
    where Audio.Element == [Int16] {
        // A finished request wakes the session at once rather than at the next chunk (clients may send large ones).
        // One pending wake-up is enough: it only says "look at the slot".
        let (wakeUps, wake) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1))
        defer { wake.finish() }
        self.wake = wake
        let events = merge(chain(audio.map { Event.audio($0) }, [Event.audioEnded].async), wakeUps)
        try await withThrowingTaskGroup(of: Void.self) { group in
            defer { group.cancelAll() }
            loop: for try await event in events {
                switch event {
                case .audio(let chunk):
                    let closed = self.segmenter.append(chunk)
                    if closed.isEmpty {  // else finish() takes the answer, as a partial of the segment it was about
                        try await self.collectPartial(from: &group, wait: false, emit: emit)
                    }
                    for segment in closed {
                        try await self.finish(segment, group: &group, emit: emit)
                    }
                case .requestFinished:
                    try await self.collectPartial(from: &group, wait: false, emit: emit)
                case .audioEnded:
                    break loop
                }
                await self.startPartialIfDue(in: &group)
            }
            if let segment = self.segmenter.finish() {
                try await self.finish(segment, group: &group, emit: emit)
            }
            try await self.collectPartial(from: &group, wait: true, emit: emit)
        }
    }

    /// Starts a request for the open segment when it grew by the partial interval (only if a shared slot is free
    /// now), or when its speech just stopped (waiting in the shared queue: it is most likely the final's answer,
    /// so it goes before other sessions' partials), and no request of this session is in flight.
    private func startPartialIfDue(in group: inout ThrowingTaskGroup<Void, any Error>) async {
        guard !self.requestInFlight, let open = self.segmenter.openSegment else { return }
        // While speech goes on, every interval; not in a pause, so that the request at the likely end is not delayed.
        // A segment's first partial comes after ``firstPartialMilliseconds`` of speech (its pre-roll not counted),
        // so that the first words show soon; later ones every interval.
        let first = min(self.partialIntervalSamples, Self.firstPartialMilliseconds * self.sampleRate / 1000)
        let due = self.requestedLength == 0 ? self.segmenter.settings.preRollSamples + first : self.partialIntervalSamples
        let grown = open.samples.count - self.requestedLength >= due && open.silenceSamples == 0
        let speechStopped =
            open.silenceSamples >= Self.speechEndTriggerMilliseconds * self.sampleRate / 1000 && open.speechEnd > self.requestedSpeechEnd
        guard grown || speechStopped else { return }
        var permit: Int?
        if grown {
            guard let free = await self.recognizer.requests.tryAcquire() else { return }
            permit = free
        }
        self.requestInFlight = true
        self.debug(
            "Upstream request started",
            [
                "request.reason": .string(grown ? "interval" : "speech_stopped"),
                "segment.start_ms": .stringConvertible(self.milliseconds(open.start)),
                "request.audio_ms": .stringConvertible(self.milliseconds(open.samples.count)),
            ])
        self.requestedLength = open.samples.count
        self.requestedSpeechEnd = open.speechEnd
        let (client, requests, slot, wake) = (self.recognizer.client, self.recognizer.requests, self.slot, self.wake)
        let (samples, start, rate, language, context) = (Array(open.samples), open.start, self.sampleRate, self.language, self.context)
        // At the likely end of the speech the answer is most likely the final's: decoded as one.
        let preview = grown
        let markedPartial = preview && self.recognizer.configuration.marksPartials
        group.addTask {
            var result: Result<Transcription, RecognitionError>?
            var held = permit
            if held == nil { held = try? await requests.acquire() }
            // No slot within the queue's bounds: no answer; the final then asks (and reports busy) itself.
            if let held {
                do throws(RecognitionError) {
                    result = .success(
                        try await client.transcribe(samples[...], sampleRate: rate, language: language, context: context, partial: preview))
                } catch {
                    result = .failure(error)
                }
                await requests.release(held)
            }
            slot.answer.withLock {
                $0 = PartialAnswer(segmentStart: start, covered: samples.count, markedPartial: markedPartial, result: result)
            }
            wake?.yield(.requestFinished)
        }
    }

    /// Takes the answer of the request in flight, if it is there (or waits for it when `wait`); sends it as a
    /// partial if its segment is still open and the text changed. A failed request ends the session.
    ///
    /// `closing`: the segment that just closed and whose final comes next. An answer about it that did not cover all
    /// its speech is still sent as a partial: on a loaded machine the segment's first request may end only after the
    /// segment, and the words it has should show before the final's request (which takes as long again) returns.
    private func collectPartial(
        from group: inout ThrowingTaskGroup<Void, any Error>, wait: Bool, closing: SpeechSegmenter.Segment? = nil,
        emit: (RecognitionEvent) async throws -> Void
    ) async throws {
        guard self.requestInFlight else { return }
        if !wait, self.slot.answer.withLock({ $0 == nil }) { return }
        _ = try await group.next()
        self.requestInFlight = false
        guard
            let answer = self.slot.answer.withLock({ value in
                defer { value = nil }; return value
            }), let result = answer.result
        else { return }
        let transcription = try result.get()
        self.latest = (answer.segmentStart, answer.covered, answer.markedPartial, transcription)
        let stillOpen: Bool
        if let closing {
            stillOpen = closing.start == answer.segmentStart && answer.covered < closing.speechEnd
        } else {
            stillOpen = self.segmenter.openSegment?.start == answer.segmentStart
        }
        guard stillOpen, !transcription.text.isEmpty, transcription.text != self.lastPartialText else { return }
        self.lastPartialText = transcription.text
        try await emit(.partial(segment: self.index, text: transcription.text))
    }

    /// Sends the final of a closed segment: the latest answer when it covered all the segment's speech, else a
    /// new request (waiting for a shared slot, bounded).
    private func finish(
        _ segment: SpeechSegmenter.Segment, group: inout ThrowingTaskGroup<Void, any Error>, emit: (RecognitionEvent) async throws -> Void
    ) async throws {
        try await self.collectPartial(from: &group, wait: true, closing: segment, emit: emit)
        let transcription: Transcription
        // A marked partial's answer is not reused (the sidecar skipped its retry of a failed decode for it): the final
        // is then decoded anew, as when no answer covered the speech.
        let reused = self.latest.map { $0.segmentStart == segment.start && $0.covered >= segment.speechEnd && !$0.markedPartial } ?? false
        self.debug(
            "Segment closed",
            [
                "segment.start_ms": .stringConvertible(self.milliseconds(segment.start)),
                "segment.audio_ms": .stringConvertible(self.milliseconds(segment.samples.count)),
                "segment.final": .string(reused ? "latest_answer" : "new_request"),
            ])
        if reused, let latest = self.latest {
            transcription = latest.transcription
        } else {
            let (client, rate, language, context) = (self.recognizer.client, self.sampleRate, self.language, self.context)
            let samples = segment.samples
            transcription = try await self.recognizer.requests.withResource { _ in
                try await client.transcribe(samples, sampleRate: rate, language: language, context: context)
            }
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

    private func milliseconds(_ samples: Int) -> Int { samples * 1000 / self.sampleRate }

    /// A debug line with the stream position, for tracing when requests start and how finals are made.
    private func debug(_ message: @autoclosure () -> Logger.Message, _ metadata: @autoclosure () -> Logger.Metadata) {
        let position = self.milliseconds(self.segmenter.position)
        self.recognizer.logger.debug(message(), metadata: metadata().merging(["stream.position_ms": .stringConvertible(position)]) { $1 })
    }

    /// One segment of the stream from an answer about `segment`'s audio.
    private func recognized(_ transcription: Transcription, segment: SpeechSegmenter.Segment) -> RecognizedSegment {
        let offsetMs = self.milliseconds(segment.start)
        let durationMs = self.milliseconds(segment.samples.count)
        let words = (transcription.words ?? []).map {
            RecognizedWord(
                text: $0.text, startMs: offsetMs + min($0.startMs, durationMs), endMs: offsetMs + min($0.endMs, durationMs), confidence: $0.confidence
            )
        }
        let speechStart = transcription.segments.first.map { min($0.startMs, durationMs) } ?? 0
        let speechEnd = transcription.segments.last.map { min($0.endMs, durationMs) } ?? durationMs
        return RecognizedSegment(
            index: self.index, text: transcription.text,
            startMs: words.first?.startMs ?? offsetMs + speechStart,
            endMs: words.last?.endMs ?? offsetMs + speechEnd,
            words: words,
            language: transcription.language
        )
    }
}
