import Foundation
import OpenAIEngine
import PocketSphinxEngine
import SpeechEngine
import TencentEngine
import WhisperSidecar

/// Everything `realtime-voice serve` is told, resolved from flags, environment and defaults.
public struct GatewayConfiguration: Sendable {
    /// Address to listen on (`--host`, `REALTIME_VOICE_HOST`).
    public var host: String
    /// Port (`--port`, `PORT`); 0 picks a free one.
    public var port: Int
    /// Default engine (`--engine`, `REALTIME_VOICE_ENGINE`).
    public var engine: String
    public var auth: AuthConfiguration
    public var limits: StreamLimits
    public var uploads: UploadLimits
    public var pocketSphinx: PocketSphinxConfiguration
    /// Tencent Cloud ASR, when its credentials are configured: engine `tencent`.
    public var tencent: TencentConfiguration?
    /// An OpenAI-compatible transcription server, when configured: engine `openai`.
    public var openAI: OpenAIConfiguration?
    /// The Whisper sidecar the gateway runs itself, when engine `whisper` is on (it is the default engine).
    public var whisper: WhisperSidecarConfiguration?
    /// How engine `whisper` streams and queues (VAD, partials, segments, queue); its URL and request limit
    /// come from ``whisper``.
    public var whisperEngine: OpenAIConfiguration
    /// Stamped on every response as `X-Realtime-Voice-Instance` (`REALTIME_VOICE_INSTANCE_ID`).
    public var instanceID: String
    /// On SIGTERM/SIGINT: how long streams and uploads may take to finish before the process exits
    /// (`--drain-timeout`, `REALTIME_VOICE_DRAIN_TIMEOUT`).
    public var drainTime: Duration
    /// `/metrics` without a token (`--public-metrics`).
    public var publicMetrics: Bool
    /// The server's hotwords (`--hotwords-file`), merged into every session's, and the limits on a session's list
    /// (`--max-hotwords`, `--max-hotword-length`).
    public var hotwords: [Hotword]
    public var hotwordLimits: HotwordLimits

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        engine: String = "pocketsphinx",
        auth: AuthConfiguration = .init(),
        limits: StreamLimits = .init(),
        uploads: UploadLimits = .init(),
        pocketSphinx: PocketSphinxConfiguration = .init(),
        tencent: TencentConfiguration? = nil,
        openAI: OpenAIConfiguration? = nil,
        whisper: WhisperSidecarConfiguration? = nil,
        whisperEngine: OpenAIConfiguration = .init(),
        instanceID: String = GatewayConfiguration.defaultInstanceID,
        drainTime: Duration = .seconds(30),
        publicMetrics: Bool = false,
        hotwords: [Hotword] = [],
        hotwordLimits: HotwordLimits = .init()
    ) {
        self.hotwords = hotwords
        self.hotwordLimits = hotwordLimits
        self.drainTime = drainTime
        self.publicMetrics = publicMetrics
        self.host = host
        self.port = port
        self.engine = engine
        self.auth = auth
        self.limits = limits
        self.uploads = uploads
        self.pocketSphinx = pocketSphinx
        self.tencent = tencent
        self.openAI = openAI
        self.whisper = whisper
        self.whisperEngine = whisperEngine
        self.instanceID = instanceID
    }

    /// `<hostname>/<pid>`: tells which replica and which process answered.
    public static var defaultInstanceID: String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(host.isEmpty ? "localhost" : host)/\(getpid())"
    }
}

/// Who may use `/api/` and `/v1/`.
public struct AuthConfiguration: Sendable {
    /// Static tokens (`--token`, `REALTIME_VOICE_TOKENS` comma-separated).
    public var tokens: [String]
    /// HS256 secret; a valid JWT with an unexpired `exp` is accepted as a token (`REALTIME_VOICE_JWT_SECRET`).
    public var jwtSecret: String?
    /// `--no-auth`: everything is open.
    public var disabled: Bool

    /// HS256 needs a key at least as long as its hash.
    public static let minimumJWTSecretBytes = 32

    public init(tokens: [String] = [], jwtSecret: String? = nil, disabled: Bool = false) {
        self.tokens = tokens
        self.jwtSecret = jwtSecret
        self.disabled = disabled
    }
}

/// Limits of one streaming session. Each is a flag and an environment variable of `serve`.
public struct StreamLimits: Sendable {
    /// Largest WebSocket frame or message accepted, in bytes; larger closes the socket with 1009.
    public var maxFrameBytes: Int
    /// No audio for this long ends the session (`idle_timeout`).
    public var idleTimeout: Duration
    /// Longest session; its finals are sent, then `max_duration`.
    public var maxSessionDuration: Duration
    /// Interval of server WebSocket pings, which keep idle proxies (60 s at nginx and AWS ALB) from cutting the socket.
    public var pingInterval: Duration
    /// Audio a session may hold for its engine; more means the engine fell that far behind (`overloaded`).
    /// A client may also send this much faster than real time (a file in one burst).
    public var maxBufferedAudio: Duration
    /// Largest `/v1/realtime` event, in bytes: a larger one is answered with `event_too_large` and the session stays
    /// (up to twice this; beyond, the socket closes with 1009). OpenAI takes up to 15 MiB; 4 MiB holds 60 s of
    /// 24 kHz PCM16 in base64.
    public var maxRealtimeEventBytes: Int
    /// How long a stream whose connection dropped (no close frame, or a close code other than 1000) waits, engine
    /// state kept, for its client to resume it with `resume_token`; 0 ends it at once, as a closed one.
    public var resumeWindow: Duration
    /// Streams that may wait detached at once; one more drop ends its stream at once. A new session that finds its
    /// engine without free capacity ends the oldest detached stream of that engine first.
    public var maxDetachedSessions: Int

    public init(
        maxFrameBytes: Int = 64 * 1024,
        idleTimeout: Duration = .seconds(15),
        maxSessionDuration: Duration = .seconds(600),
        pingInterval: Duration = .seconds(20),
        maxBufferedAudio: Duration = .seconds(60),
        maxRealtimeEventBytes: Int = 4 * 1024 * 1024,
        resumeWindow: Duration = .seconds(30),
        maxDetachedSessions: Int = 16
    ) {
        self.resumeWindow = resumeWindow
        self.maxDetachedSessions = maxDetachedSessions
        self.maxRealtimeEventBytes = maxRealtimeEventBytes
        self.maxFrameBytes = maxFrameBytes
        self.idleTimeout = idleTimeout
        self.maxSessionDuration = maxSessionDuration
        self.pingInterval = pingInterval
        self.maxBufferedAudio = maxBufferedAudio
    }
}

/// Limits of one-shot recognition (`POST /api/realtime-voice/recognize`).
public struct UploadLimits: Sendable {
    /// Largest upload, enforced while the body streams in (`audio_too_large`, 413).
    public var maxBytes: Int
    /// Longest recording (`audio_too_long`, 413).
    public var maxDuration: Duration
    /// Wall-clock limit of one ffmpeg decode.
    public var decodeTimeout: Duration
    /// Uploads decoded or recognised at once; more are answered `busy` (503, `Retry-After`).
    public var maxConcurrent: Int

    public init(
        maxBytes: Int = 10 * 1024 * 1024, maxDuration: Duration = .seconds(60), decodeTimeout: Duration = .seconds(30), maxConcurrent: Int = 8
    ) {
        self.maxBytes = maxBytes
        self.maxDuration = maxDuration
        self.decodeTimeout = decodeTimeout
        self.maxConcurrent = maxConcurrent
    }
}
