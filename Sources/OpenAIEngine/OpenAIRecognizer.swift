import AsyncHTTPClient
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import SpeechEngine
import Synchronization

/// The `openai` engine: any server with OpenAI's transcription API behind the gateway's engine protocol.
///
/// Uploads go up whole (``RecordingRecognizer``). Streams are cut into utterances by a voice activity detector
/// in the gateway (``SpeechSegmenter``); the open utterance is re-transcribed every ``OpenAIConfiguration/partialInterval``
/// of new audio for `partial`s, and once more when it closes for its `final` (or the last partial is reused
/// when it already covered all of its speech). A session has at most one request in flight; all sessions and
/// uploads together at most ``OpenAIConfiguration/maxConcurrentRequests``: a partial that finds none free is
/// skipped; the request started when speech stops, a final's and an upload wait in a bounded queue (so that they go
/// before partials), else `busy`.
///
/// The same engine serves `whisper`, the sidecar the gateway runs itself: then ``upstream`` says whether that process
/// is up, which languages its model takes, and requests made while it is down fail with `engine_unavailable`.
public final class OpenAIRecognizer: SpeechRecognizer, RecordingRecognizer, CapacityReporting, UpstreamReporting, Service {
    public let name: String
    public let sampleRate = 16_000
    public let configuration: OpenAIConfiguration
    /// The managed process behind the base URL, if the gateway runs it.
    let upstream: (any ManagedUpstream)?
    let client: TranscriptionClient
    private let http: HTTPClient
    let requests: LendingPool<Int>
    /// Live streams now (counted only with a ``OpenAIConfiguration/maxStreams``).
    private let liveStreams = Atomic<Int>(0)
    let logger: Logger

    public init(name: String = "openai", configuration: OpenAIConfiguration, upstream: (any ManagedUpstream)? = nil, logger: Logger) {
        self.name = name
        self.configuration = configuration
        self.upstream = upstream
        self.logger = logger
        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.timeout = .init(connect: TimeAmount(configuration.connectTimeout))
        httpConfiguration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(1, configuration.maxConcurrentRequests))
        // A refused connection fails the request at once; the client's own single retry (after a backoff) follows.
        httpConfiguration.connectionPool.retryConnectionEstablishment = false
        self.http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: httpConfiguration)
        self.client = TranscriptionClient(configuration: configuration, http: self.http, upstream: upstream, logger: logger)
        self.requests = LendingPool(
            resources: Array(0..<max(1, configuration.maxConcurrentRequests)),
            queueCapacity: configuration.requestQueue,
            queueTimeout: configuration.queueTimeout,
            noun: "upstream transcription requests"
        )
    }

    public var isReady: Bool { self.state == .ready }

    public var state: EngineState { self.upstream?.state ?? .ready }

    /// For `/metrics`: restarts of the managed upstream; nil for an external one.
    public var upstreamRestarts: Int? { self.upstream?.restarts }

    /// For `/health` and `/metrics`: each transcription server, up or not, its requests in flight and so far.
    public var upstreamStatuses: [UpstreamStatus] {
        self.client.pool.statuses
    }

    /// A managed upstream answers from its model's languages (`auto` always: an English-only model answers English);
    /// an external one decides itself, and an unsupported language comes back as `upstream_rejected` with its message.
    public func supports(language: String) -> Bool {
        guard let primary = LanguageTag.primary(language) else { return true }
        guard let languages = self.upstream?.languages else { return true }
        return languages.contains(primary)
    }

    /// Like OpenAI's API: a request that names no language lets the model detect it.
    public var defaultLanguage: String { LanguageTag.auto }

    /// `prompt` goes upstream as Whisper's prompt.
    public var usesPrompt: Bool { true }

    /// `engine_unavailable` when the managed upstream is not ready: a session or upload is refused at once.
    func checkAvailable() throws(RecognitionError) {
        guard let upstream = self.upstream, upstream.state != .ready else { return }
        throw .engineUnavailable("The \(self.name) engine is not available: \(upstream.unavailableReason). Try again in a few seconds.")
    }

    /// Counts a new live stream against ``OpenAIConfiguration/maxStreams``; `busy` when that many already run.
    private func admitStream() throws(RecognitionError) {
        guard let limit = self.configuration.maxStreams else { return }
        guard self.liveStreams.add(1, ordering: .relaxed).newValue <= limit else {
            self.liveStreams.subtract(1, ordering: .relaxed)
            throw .busy("The \(self.name) engine is recognising \(limit) live streams, as many as it keeps real time with; try again shortly.")
        }
    }

    /// Below ``OpenAIConfiguration/maxStreams`` (always, without one).
    public func hasRoomForAStream() async -> Bool {
        self.configuration.maxStreams.map { self.liveStreams.load(ordering: .relaxed) < $0 } ?? true
    }

    /// Upstream requests in flight and waiting, for metrics.
    public func usage() async -> (inUse: Int, queued: Int) {
        await (self.requests.inUse, self.requests.queued)
    }

    /// Serves until graceful shutdown (probing the servers meanwhile when there are several), then closes the
    /// connection pool.
    public func run() async throws {
        let probe = UpstreamProbe(
            pool: self.client.pool, http: self.http, configuration: self.configuration, managed: self.upstream, logger: self.logger)
        await withDiscardingTaskGroup { group in
            if self.client.pool.count > 1 { group.addTask { await probe.run() } }
            try? await gracefulShutdown()
            group.cancelAll()
        }
        _ = await self.requests.close()
        try? await self.http.shutdown()
    }

    /// The ISO-639-1 code OpenAI's `language` takes, from a tag like `en-US` (`zh-HK` → `zh`, `yue` stays); nil for
    /// `auto`, which sends no `language` so that the server detects it.
    static func isoLanguage(_ tag: String) -> String? { LanguageTag.primary(tag) }

    // MARK: One-shot

    /// Recordings longer than this are sent in pieces, cut at quiet points (OpenAI takes files up to 25 MB).
    static let maxPieceSeconds = 600

    public func recognizeRecording(_ samples: [Int16], options: RecognitionOptions) async throws -> [RecognizedSegment] {
        try self.checkAvailable()
        let rate = options.sampleRate ?? self.sampleRate
        var segments: [RecognizedSegment] = []
        for piece in RecordingSplitter.pieces(samples, maxSamples: Self.maxPieceSeconds * rate, frameSamples: rate / 10) {
            let answer = try await self.requests.withResource { _ in
                try await self.client.transcribe(
                    samples[piece], sampleRate: rate, language: Self.isoLanguage(options.language), context: self.configuration.context(for: options))
            }
            let offset = piece.lowerBound * 1000 / rate
            segments += answer.segments(offsetMs: offset, durationMs: piece.count * 1000 / rate, firstIndex: segments.count)
        }
        return segments
    }

    // MARK: Streaming

    public func recognize<Audio: AsyncSequence & Sendable>(
        _ audio: Audio,
        options: RecognitionOptions,
        onStart: @Sendable () async throws -> Void,
        emit: @Sendable (RecognitionEvent) async throws -> Void
    ) async throws where Audio.Element == [Int16] {
        try self.checkAvailable()
        try self.admitStream()
        defer { if self.configuration.maxStreams != nil { self.liveStreams.subtract(1, ordering: .relaxed) } }
        let rate = options.sampleRate ?? self.sampleRate
        let detector: VoiceActivityDetector
        do {
            detector = try VoiceActivityDetector(sampleRate: rate, mode: self.configuration.vadMode)
        } catch {
            throw RecognitionError.engineFailed(error.message)
        }
        let settings = SpeechSegmenter.Settings(sampleRate: rate, endpoint: self.configuration.endpoint, maxSegment: self.configuration.maxSegment)
        let session = SegmentedSession(
            recognizer: self,
            segmenter: SpeechSegmenter(settings: settings, isSpeech: detector.isSpeech),
            sampleRate: rate,
            language: Self.isoLanguage(options.language),
            context: self.configuration.context(for: options),
            partialIntervalSamples: Int(self.configuration.partialInterval.milliseconds) * rate / 1000
        )
        try await onStart()
        try await session.run(audio, emit: emit)
        withExtendedLifetime(detector) {}
    }
}
