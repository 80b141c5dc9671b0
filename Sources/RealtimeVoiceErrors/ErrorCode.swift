/// Every error a client of the gateway can receive: its stable wire name, the HTTP status it answers with, the
/// WebSocket close code that follows it on a stream, and whether trying again later may work.
///
/// The one list of them (``all``): endpoints, engines and the audio decoders throw these, never strings, and the
/// README's error tables are checked against it (`ErrorCatalogueTests`). A code has an HTTP status when it can end
/// a request, a close code when it can end a stream; some can do both (`busy`), some only one (`idle_timeout`).
public struct ErrorCode: Sendable, Hashable, CustomStringConvertible {
    /// The snake_case name clients match on: `error` of an HTTP answer, `code` of a stream's `error` message.
    public let name: String
    /// The status of an HTTP answer carrying it; nil when only a stream can end with it.
    public let httpStatus: Int?
    /// The close code after a stream's `error` message; nil when only an HTTP request can end with it.
    public let closeCode: UInt16?
    /// Seconds a client should wait before trying again (`Retry-After`); nil when trying again will not help.
    public let retryAfterSeconds: Int?

    private init(_ name: String, http: Int?, close: UInt16?, retryAfter: Int? = nil) {
        self.name = name
        self.httpStatus = http
        self.closeCode = close
        self.retryAfterSeconds = retryAfter
    }

    public var description: String { self.name }

    /// A `/v1/realtime` event error: it ends neither a request nor a stream.
    public var keepsSession: Bool { self.httpStatus == nil && self.closeCode == nil }

    /// The entry named `name`, if there is one.
    public static func named(_ name: String) -> ErrorCode? { Self.byName[name] }

    /// The generic entry for an HTTP status that no specific code covers (a framework's own 4xx or 5xx).
    public static func generic(httpStatus status: Int) -> ErrorCode {
        switch status {
        case 404: .notFound
        case 405: .methodNotAllowed
        case 413: .payloadTooLarge
        case 400..<500: .badRequest
        default: .internalError
        }
    }

    private static let byName = Dictionary(uniqueKeysWithValues: Self.all.map { ($0.name, $0) })
}

extension ErrorCode {
    // MARK: Requests: authentication, routing, parameters

    public static let unauthorized = Self("unauthorized", http: 401, close: nil)
    public static let notFound = Self("not_found", http: 404, close: nil)
    public static let methodNotAllowed = Self("method_not_allowed", http: 405, close: nil)
    public static let badRequest = Self("bad_request", http: 400, close: nil)
    public static let websocketUpgradeRequired = Self("websocket_upgrade_required", http: 426, close: nil)
    public static let invalidUpgrade = Self("invalid_upgrade", http: 400, close: nil)
    public static let invalidParameter = Self("invalid_parameter", http: 400, close: nil)
    public static let unknownEngine = Self("unknown_engine", http: 400, close: nil)
    public static let unsupportedLanguage = Self("unsupported_language", http: 400, close: nil)
    public static let invalidHotwords = Self("invalid_hotwords", http: 400, close: nil)

    // MARK: Uploads

    public static let invalidMultipart = Self("invalid_multipart", http: 400, close: nil)
    public static let invalidBody = Self("invalid_body", http: 400, close: nil)
    public static let missingAudio = Self("missing_audio", http: 400, close: nil)
    public static let audioTooLarge = Self("audio_too_large", http: 413, close: nil)
    public static let payloadTooLarge = Self("payload_too_large", http: 413, close: nil)
    public static let audioTooLong = Self("audio_too_long", http: 413, close: nil)
    public static let unsupportedFormat = Self("unsupported_format", http: 415, close: nil)
    public static let undecodableAudio = Self("undecodable_audio", http: 422, close: nil)

    // MARK: Streams

    public static let invalidMessage = Self("invalid_message", http: nil, close: 1008)
    /// A WAV header or PCM that cannot be taken (also an upload's, answered 422).
    public static let invalidAudio = Self("invalid_audio", http: 422, close: 1003)
    public static let frameTooLarge = Self("frame_too_large", http: nil, close: 1009)
    public static let overloaded = Self("overloaded", http: nil, close: 1013, retryAfter: 1)
    public static let idleTimeout = Self("idle_timeout", http: nil, close: 1000)
    public static let maxDuration = Self("max_duration", http: nil, close: 1000)
    /// A resume with a token that is wrong, expired, another caller's, or of a session that has ended.
    public static let resumeFailed = Self("resume_failed", http: nil, close: 1008)

    // MARK: /v1/realtime events: answered with an `error` event, the session stays open (no status, no close code)

    /// Not a JSON object with a string `type`, or a `type` this API does not have.
    public static let invalidEvent = Self("invalid_event", http: nil, close: nil)
    /// An event of OpenAI's conversation API (`response.create`, `conversation.item.*`) that transcription does not take.
    public static let unsupportedEvent = Self("unsupported_event", http: nil, close: nil)
    /// A field with the wrong JSON type (`param` names it).
    public static let invalidType = Self("invalid_type", http: nil, close: nil)
    /// A field's value is not one allowed, or `audio` is not base64 (`param` names it).
    public static let invalidValue = Self("invalid_value", http: nil, close: nil)
    /// A field this API does not have.
    public static let unknownParameter = Self("unknown_parameter", http: nil, close: nil)
    public static let missingRequiredParameter = Self("missing_required_parameter", http: nil, close: nil)
    /// `input_audio_buffer.commit` with less than 100 ms of audio since the last commit (OpenAI's name and rule).
    public static let inputAudioBufferCommitEmpty = Self("input_audio_buffer_commit_empty", http: nil, close: nil)
    /// `session.update` changing the audio while a turn is open: commit or clear first.
    public static let sessionUpdateDuringTurn = Self("session_update_during_turn", http: nil, close: nil)
    /// An event over the realtime event limit; unlike `frame_too_large` the session stays open.
    public static let eventTooLarge = Self("event_too_large", http: nil, close: nil)

    // MARK: Engines and the server

    public static let busy = Self("busy", http: 503, close: 1013, retryAfter: 1)
    /// The engine's process (the Whisper sidecar) is starting or restarting.
    public static let engineUnavailable = Self("engine_unavailable", http: 503, close: 1013, retryAfter: 5)
    public static let engineFailed = Self("engine_failed", http: 500, close: 1011)
    /// ffmpeg could not be started.
    public static let decoderUnavailable = Self("decoder_unavailable", http: 500, close: nil)
    /// The cloud engine (Tencent, an OpenAI-compatible server) refused the request: retrying will not help.
    public static let upstreamRejected = Self("upstream_rejected", http: 502, close: 1011)
    /// The cloud engine failed or dropped the session.
    public static let upstreamFailed = Self("upstream_failed", http: 502, close: 1011)
    public static let serverShuttingDown = Self("server_shutting_down", http: 503, close: 1001)
    public static let internalError = Self("internal_error", http: 500, close: 1011)

    /// Every code, in the order the README lists them.
    public static let all: [ErrorCode] = [
        .unauthorized, .notFound, .methodNotAllowed, .badRequest, .websocketUpgradeRequired, .invalidUpgrade, .invalidParameter,
        .unknownEngine, .unsupportedLanguage, .invalidHotwords, .invalidMultipart, .invalidBody, .missingAudio, .audioTooLarge, .payloadTooLarge,
        .audioTooLong, .unsupportedFormat, .undecodableAudio, .invalidMessage, .invalidAudio, .frameTooLarge, .overloaded,
        .idleTimeout, .maxDuration, .resumeFailed, .invalidEvent, .unsupportedEvent, .invalidType, .invalidValue, .unknownParameter,
        .missingRequiredParameter, .inputAudioBufferCommitEmpty, .sessionUpdateDuringTurn, .eventTooLarge, .busy, .engineUnavailable, .engineFailed,
        .decoderUnavailable, .upstreamRejected,
        .upstreamFailed, .serverShuttingDown, .internalError,
    ]
}
