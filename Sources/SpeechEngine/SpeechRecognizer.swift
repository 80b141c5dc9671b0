import RealtimeVoiceErrors

/// A speech recognition engine: PocketSphinx, Tencent Cloud ASR, an OpenAI-compatible upstream.
///
/// The gateway hands an engine a stream of PCM chunks (signed 16-bit, mono, at ``sampleRate``)
/// and receives ``RecognitionEvent``s. An engine bounds its own capacity: ``recognize(_:options:onStart:emit:)``
/// waits for a free slot in a bounded queue, or throws ``RecognitionError/busy``.
public protocol SpeechRecognizer: Sendable {
    /// Stable engine name, as used in `--engine` and in messages to clients.
    var name: String { get }
    /// The sample rate of the PCM this engine takes.
    var sampleRate: Int { get }
    /// False while models are still loading.
    var isReady: Bool { get }
    /// ``isReady`` in more detail, for `/health` (default: `ready` or `loading`).
    var state: EngineState { get }
    /// Whether the engine can recognise this language (a tag ``LanguageTag/normalized(_:)`` made, or `auto`).
    func supports(language: String) -> Bool
    /// The language of a request that names none (default: `en-US`).
    var defaultLanguage: String { get }
    /// Whether a request's `prompt` (OpenAI's context for Whisper) reaches the model (default: no). Where it does
    /// not, an OpenAI-shaped request's `prompt` is read as its hotword list.
    var usesPrompt: Bool { get }
    /// The rate this engine wants a session's PCM at, given the client's rate (default: ``sampleRate``).
    func sampleRate(forInput inputRate: Int) -> Int
    /// The hotwords of a session this engine will not use, each with the reason, known before any audio
    /// (default: none, for engines that pass every hotword on).
    func ignoredHotwords(_ hotwords: [Hotword]) async -> [IgnoredHotword]

    /// Recognise one stream.
    ///
    /// - Parameters:
    ///   - audio: PCM chunks at ``sampleRate``. The sequence finishing normally means the client asked
    ///     for a flush: the engine emits the remaining finals and returns.
    ///   - options: the session's choices.
    ///   - onStart: called once capacity is reserved, before any event.
    ///   - emit: receives events in order.
    /// - Throws: ``RecognitionError/busy`` when no capacity frees up in time; `CancellationError` when
    ///   the caller is cancelled (capacity is released either way).
    func recognize<Audio: AsyncSequence & Sendable>(
        _ audio: Audio,
        options: RecognitionOptions,
        onStart: @Sendable () async throws -> Void,
        emit: @Sendable (RecognitionEvent) async throws -> Void
    ) async throws where Audio.Element == [Int16]
}

extension SpeechRecognizer {
    /// The rate this engine wants a client's audio at, given the client's rate. Most engines take one rate
    /// (``sampleRate``); Tencent takes 8 kHz audio as it is, for its telephone models.
    public func sampleRate(forInput inputRate: Int) -> Int { self.sampleRate }

    public var state: EngineState { self.isReady ? .ready : .loading }

    public func ignoredHotwords(_ hotwords: [Hotword]) async -> [IgnoredHotword] { [] }

    public var defaultLanguage: String { LanguageTag.defaultTag }

    public var usesPrompt: Bool { false }
}

/// Errors an engine reports to the gateway, each with its code from the catalogue.
public struct RecognitionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }

    /// Every decoder is in use and the wait queue is full, or the wait timed out.
    public static func busy(_ message: String = "All recognizers are busy; try again shortly.") -> Self {
        .init(code: .busy, message: message)
    }

    /// The engine failed internally.
    public static func engineFailed(_ message: String) -> Self {
        .init(code: .engineFailed, message: message)
    }

    /// The engine's process (the managed Whisper sidecar) is down or restarting: try again in a few seconds.
    public static func engineUnavailable(_ message: String) -> Self {
        .init(code: .engineUnavailable, message: message)
    }

    /// The engine is shutting down.
    public static let shuttingDown = Self(code: .serverShuttingDown, message: "The server is shutting down.")
}

/// An engine with its own API for whole recordings (e.g. Tencent's SentenceRecognition), used for uploads instead
/// of feeding the recording through ``SpeechRecognizer/recognize(_:options:onStart:emit:)``.
public protocol RecordingRecognizer: SpeechRecognizer {
    /// Recognises a whole recording (PCM at ``SpeechRecognizer/sampleRate``); segments in order, stream times.
    func recognizeRecording(_ samples: [Int16], options: RecognitionOptions) async throws -> [RecognizedSegment]
}

/// An engine with bounded capacity that can say how much of it is in use, for `/metrics`.
public protocol CapacityReporting: Sendable {
    /// Capacity in use (decoders, upstream requests) and borrowers waiting for it.
    func usage() async -> (inUse: Int, queued: Int)
    /// Whether a new stream would be taken now rather than refused `busy` at its start (`/health/ready`).
    func hasRoomForAStream() async -> Bool
    /// Whether a new stream would start at once, without waiting in a queue (default: ``hasRoomForAStream()``).
    func hasIdleCapacity() async -> Bool
}

extension CapacityReporting {
    public func hasIdleCapacity() async -> Bool { await self.hasRoomForAStream() }
}
