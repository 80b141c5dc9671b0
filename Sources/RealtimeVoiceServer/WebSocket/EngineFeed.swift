import NIOConcurrencyHelpers
import RealtimeVoiceAudio
import SpeechEngine

/// One engine call fed from a socket, the part every streaming endpoint shares: audio queued for the engine
/// (bounded: ``AudioQueue``), the call itself, and the latency metrics of its events.
///
/// Protocol v1 (``StreamSession``) runs one per session; `/v1/realtime` (``RealtimeSession``) one per turn under
/// manual commit, one per stretch of audio under server VAD. The socket's reader fills it through a ``FeedIntake``.
final class EngineFeed: Sendable {
    let engine: any SpeechRecognizer
    let options: RecognitionOptions
    let audio: AudioQueue
    private let metrics: GatewayMetrics
    private let timing = NIOLockedValueBox(Timing())

    private struct Timing {
        var firstAudioAt: ContinuousClock.Instant?
        var sentPartial = false
        /// When each 100 ms of this call's audio arrived, for the final latency.
        var arrivals = ArrivalTimeline()
        var receivedMilliseconds = 0
    }

    /// - Parameter maxBuffered: audio the queue may hold for the engine (``StreamLimits/maxBufferedAudio``).
    init(engine: any SpeechRecognizer, options: RecognitionOptions, maxBuffered: Duration, metrics: GatewayMetrics) {
        self.engine = engine
        self.options = options
        self.audio = AudioQueue(limitSamples: Int(maxBuffered.milliseconds) * (options.sampleRate ?? engine.sampleRate) / 1000)
        self.metrics = metrics
    }

    /// Milliseconds of the client's audio this call has received.
    var receivedMilliseconds: Int { self.timing.withLockedValue { $0.receivedMilliseconds } }

    /// Queues samples for the engine; the client's audio now totals `receivedMilliseconds`. False when the queue
    /// would hold more than its bound (the engine fell behind: `overloaded`).
    func append(_ samples: [Int16], receivedMilliseconds: Int) -> Bool {
        let now = ContinuousClock.now
        self.timing.withLockedValue {
            $0.receivedMilliseconds = receivedMilliseconds
            if $0.firstAudioAt == nil, !samples.isEmpty { $0.firstAudioAt = now }
            $0.arrivals.received(upTo: receivedMilliseconds, at: now)
        }
        return self.audio.append(samples)
    }

    /// No more audio: the engine flushes what is queued and its call returns.
    func finish() {
        self.audio.finish()
    }

    /// Runs the engine call until the audio is finished and flushed. `emit` receives the events in order; the
    /// first partial's latency (from the first audio) and each final's (from the arrival of its `endMs`) are
    /// recorded once `emit` has sent them.
    func run(onStart: @Sendable () async throws -> Void, emit: @Sendable (RecognitionEvent) async throws -> Void) async throws {
        let engineName = self.engine.name
        try await self.engine.recognize(self.audio, options: self.options, onStart: onStart) { event in
            try await emit(event)
            let now = ContinuousClock.now
            switch event {
            case .partial:
                let firstAudio = self.timing.withLockedValue { timing -> ContinuousClock.Instant? in
                    defer { timing.sentPartial = true }
                    return timing.sentPartial ? nil : timing.firstAudioAt
                }
                if let firstAudio { self.metrics.firstPartialLatency(engine: engineName, now - firstAudio) }
            case .final(let segment):
                if let arrived = self.timing.withLockedValue({ $0.arrivals.arrival(of: segment.endMs) }) {
                    self.metrics.finalLatency(engine: engineName, now - arrived)
                }
            }
        }
    }
}

/// The reader's half of an ``EngineFeed``: the client's bytes (PCM16, or G.711) to samples at the engine's rate.
/// Not thread-safe: one reader owns it.
struct FeedIntake {
    let feed: EngineFeed
    private var input: PCMStreamInput
    private let maxBuffered: Duration

    init(feed: EngineFeed, input: PCMStreamInput, maxBuffered: Duration) {
        self.feed = feed
        self.input = input
        self.maxBuffered = maxBuffered
    }

    /// Input milliseconds received so far.
    var receivedMilliseconds: Int { self.input.receivedMilliseconds }

    /// Converts and queues the client's bytes; `invalid_audio` for audio that cannot be taken, `overloaded` when
    /// the engine fell too far behind.
    mutating func push(_ bytes: some Collection<UInt8>) throws(StreamSessionError) {
        let samples: [Int16]
        do {
            samples = try self.input.push(bytes)
        } catch {
            throw StreamSessionError.invalidAudio(error)
        }
        guard self.feed.append(samples, receivedMilliseconds: self.input.receivedMilliseconds) else {
            throw StreamSessionError.overloaded(behind: self.maxBuffered)
        }
    }

    /// The end of the client's audio: what the converter still holds goes to the engine, and the feed finishes.
    mutating func finish() throws(StreamSessionError) {
        let tail: [Int16]
        do {
            tail = try self.input.finish()
        } catch {
            throw StreamSessionError.invalidAudio(error)
        }
        guard self.feed.append(tail, receivedMilliseconds: self.input.receivedMilliseconds) else {
            throw StreamSessionError.overloaded(behind: self.maxBuffered)
        }
        self.feed.finish()
    }
}

/// A ``FeedIntake`` that the readers of a session's successive connections share (one at a time, but a resume may
/// start reading while the dropped connection's reader is still being cancelled).
///
/// `@unchecked Sendable`: every access to the intake holds the lock.
final class SharedIntake: @unchecked Sendable {
    private let lock = NIOLock()
    private var intake: FeedIntake

    init(_ intake: FeedIntake) {
        self.intake = intake
    }

    var receivedMilliseconds: Int { self.lock.withLock { self.intake.receivedMilliseconds } }

    func push(_ bytes: some Collection<UInt8>) throws(StreamSessionError) {
        self.lock.lock()
        defer { self.lock.unlock() }
        try self.intake.push(bytes)
    }

    func finish() throws(StreamSessionError) {
        self.lock.lock()
        defer { self.lock.unlock() }
        try self.intake.finish()
    }
}
