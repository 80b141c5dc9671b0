import ArgumentParser
import Foundation
import Hummingbird
import Logging
import OpenAIEngine
import PocketSphinxEngine
import RealtimeVoiceServer
import ServiceLifecycle
import SpeechEngine
import UnixSignals
import WhisperSidecar

/// `realtime-voice serve`: flags first, then environment variables, then defaults.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the gateway: GET /health, WebSocket /api/realtime-voice/stream and /echo, POST /api/realtime-voice/recognize.",
        discussion: """
            Every option can also be set by the environment variable named in its help; a flag wins over the variable.
            Authentication: clients send 'token: T', 'Authorization: Bearer T' or '?token=T'. Tokens come from --token / \
            REALTIME_VOICE_TOKENS; with REALTIME_VOICE_JWT_SECRET set, an HS256 JWT with an unexpired 'exp' is accepted too. \
            With neither, a random token is generated and printed at start; --no-auth turns authentication off.
            """
    )

    @Option(help: "Address to listen on. [env: REALTIME_VOICE_HOST] (default: \(ServeDefaults.gateway.host))")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one. [env: PORT] (default: \(ServeDefaults.gateway.port))")
    var port: Int?

    @Option(
        help: """
            Default engine for sessions that do not choose one: whisper (offline Mandarin and English, the gateway runs the sidecar), \
            pocketsphinx (US English, no Python), tencent, openai. [env: REALTIME_VOICE_ENGINE] (default: \(ServeDefaults.engine))
            """
    )
    var engine: String?

    @Option(name: .customLong("token"), help: "An accepted client token; repeat for more. [env: REALTIME_VOICE_TOKENS, comma-separated]")
    var tokens: [String] = []

    @Flag(name: .customLong("no-auth"), help: "Serve without authentication (logs a warning). [env: REALTIME_VOICE_NO_AUTH=1]")
    var noAuth = false

    @Option(
        help: """
            Largest WebSocket message accepted, in bytes; larger closes with 1009. \
            [env: REALTIME_VOICE_MAX_FRAME_BYTES] (default: \(ServeDefaults.limits.maxFrameBytes))
            """
    )
    var maxFrameBytes: Int?

    @Option(
        help: """
            Seconds without audio before a stream is closed (idle_timeout). \
            [env: REALTIME_VOICE_IDLE_TIMEOUT] (default: \(ServeDefaults.limits.idleTimeout.secondsText))
            """
    )
    var idleTimeout: Double?

    @Option(
        help: """
            Longest stream session in seconds (max_duration). \
            [env: REALTIME_VOICE_MAX_SESSION] (default: \(ServeDefaults.limits.maxSessionDuration.secondsText))
            """
    )
    var maxSession: Double?

    @Option(
        help:
            "Seconds between server WebSocket pings. [env: REALTIME_VOICE_PING_INTERVAL] (default: \(ServeDefaults.limits.pingInterval.secondsText))")
    var pingInterval: Double?

    @Option(
        help: """
            Seconds of audio a stream may queue for the engine (a burst, or a lagging engine); more ends it as overloaded. \
            [env: REALTIME_VOICE_MAX_BUFFERED_AUDIO] (default: \(ServeDefaults.limits.maxBufferedAudio.secondsText))
            """
    )
    var maxBufferedAudio: Double?

    @Option(
        help: """
            Largest /v1/realtime event in bytes; larger is answered event_too_large (the session stays), over twice this closes with 1009. \
            [env: REALTIME_VOICE_MAX_REALTIME_EVENT_BYTES] (default: \(ServeDefaults.limits.maxRealtimeEventBytes))
            """
    )
    var maxRealtimeEventBytes: Int?

    @Option(
        help: """
            Seconds a stream whose connection dropped waits for its client to resume it (resume_token); 0: no resuming. \
            [env: REALTIME_VOICE_RESUME_WINDOW] (default: \(ServeDefaults.limits.resumeWindow.secondsText))
            """
    )
    var resumeWindow: Double?

    @Option(
        help: """
            Streams that may wait detached for a resume at once (each keeps its decoder or upstream). \
            [env: REALTIME_VOICE_MAX_DETACHED_SESSIONS] (default: \(ServeDefaults.limits.maxDetachedSessions))
            """
    )
    var maxDetachedSessions: Int?

    @Option(
        help: """
            Silence in milliseconds that closes a segment (endpointing). \
            [env: REALTIME_VOICE_ENDPOINT_MS] (default: \(ServeDefaults.pocketSphinx.endpointMilliseconds))
            """
    )
    var endpointMs: Int?

    @Option(help: "PocketSphinx decoders (concurrent streams), ~90 MB each. [env: REALTIME_VOICE_DECODERS] (default: CPU count)")
    var decoders: Int?

    @Option(
        help: "Threads running decoder calls (more than the cores only adds preemption). [env: REALTIME_VOICE_DECODER_THREADS] (default: CPU count)")
    var decoderThreads: Int?

    @Option(
        help: """
            Sessions that may wait for a busy decoder; more are refused as busy. \
            [env: REALTIME_VOICE_QUEUE_SIZE] (default: \(ServeDefaults.pocketSphinx.queueCapacity))
            """
    )
    var queueSize: Int?

    @Option(
        help: """
            Seconds a session or upload may wait for a decoder (or an openai request slot) before it is refused as busy. \
            [env: REALTIME_VOICE_QUEUE_TIMEOUT] (default: \(ServeDefaults.pocketSphinx.queueTimeout.secondsText))
            """
    )
    var queueTimeout: Double?

    @Option(
        help: """
            Largest upload to /api/realtime-voice/recognize, in bytes. \
            [env: REALTIME_VOICE_MAX_UPLOAD_BYTES] (default: \(ServeDefaults.uploads.maxBytes))
            """
    )
    var maxUploadBytes: Int?

    @Option(
        help: """
            Longest uploaded recording, in seconds. \
            [env: REALTIME_VOICE_MAX_UPLOAD_SECONDS] (default: \(ServeDefaults.uploads.maxDuration.secondsText))
            """
    )
    var maxUploadSeconds: Double?

    @Option(
        help: """
            Uploads decoded or recognised at once; more are answered busy. \
            [env: REALTIME_VOICE_MAX_CONCURRENT_UPLOADS] (default: \(ServeDefaults.uploads.maxConcurrent))
            """
    )
    var maxConcurrentUploads: Int?

    @Option(
        help: """
            Seconds one ffmpeg decode of an upload may take. \
            [env: REALTIME_VOICE_DECODE_TIMEOUT] (default: \(ServeDefaults.uploads.decodeTimeout.secondsText))
            """
    )
    var decodeTimeout: Double?

    @Option(help: "PocketSphinx model folder. [env: REALTIME_VOICE_MODEL_DIR] (default: \(PocketSphinxConfiguration.defaultModelDirectory))")
    var modelDir: String?

    @Option(
        help: """
            Engine whisper: base (multilingual), tiny.en (English only, faster) or a CTranslate2 Whisper model folder. \
            [env: REALTIME_VOICE_WHISPER_MODEL] (default: \(ServeDefaults.whisper.model))
            """
    )
    var whisperModel: String?

    @Option(
        help: """
            Engine whisper: the sidecar folder (server.py and the .venv that 'make whisper-sidecar' makes). \
            [env: REALTIME_VOICE_WHISPER_SIDECAR] (default: ./sidecars/whisper)
            """
    )
    var whisperSidecar: String?

    @Option(
        help: "Engine whisper: CPU threads of one inference. [env: REALTIME_VOICE_WHISPER_THREADS] (default: CPU count / --whisper-workers)")
    var whisperThreads: Int?

    @Option(
        help: """
            Engine whisper: sidecar processes, each with the model loaded (~300 MB each); requests go to the least busy, \
            one that dies is restarted while the others serve. [env: REALTIME_VOICE_WHISPER_WORKERS] (default: \(ServeDefaults.whisper.workers))
            """
    )
    var whisperWorkers: Int?

    @Option(
        help: """
            Engine whisper: inferences at once (each one more model in memory's worth of work, ~150 MB); waiting happens in the gateway's queue. \
            [env: REALTIME_VOICE_WHISPER_MAX_CONCURRENT] (default: \(ServeDefaults.whisper.maxConcurrent))
            """
    )
    var whisperMaxConcurrent: Int?

    @Option(
        help: """
            Engine whisper: live streams at once; more are refused busy instead of falling behind. \
            [env: REALTIME_VOICE_WHISPER_MAX_STREAMS] (default: 2 per CPU core)
            """
    )
    var whisperMaxStreams: Int?

    @Option(
        help: """
            Engine whisper: the sidecar's loopback port; 0 picks a free one. \
            [env: REALTIME_VOICE_WHISPER_PORT] (default: \(ServeDefaults.whisper.port))
            """
    )
    var whisperPort: Int?

    @Flag(
        help: """
            Run engine whisper even when it is not the default engine (sessions choose it with engine=whisper). [env: REALTIME_VOICE_ENABLE_WHISPER=1]
            """
    )
    var enableWhisper = false

    @Option(
        help: """
            Base URL of an OpenAI-compatible transcription API, /v1 included; enables engine openai. Give it more \
            than once for several servers: requests go to the one with the fewest in flight, a failed one is retried \
            on another. [env: OPENAI_BASE_URL, a comma list] (default: \(OpenAIConfiguration.defaultBaseURL))
            """
    )
    var openaiBaseUrl: [String] = []

    @Option(
        help: """
            Engine openai with several base URLs: seconds between health probes of each (GET {base}/models). \
            [env: REALTIME_VOICE_OPENAI_PROBE_INTERVAL] (default: \(ServeDefaults.openAI.probeInterval.secondsText))
            """
    )
    var openaiProbeInterval: Double?

    @Option(help: "API key for it, sent as a Bearer token; never logged. Setting it enables engine openai. [env: OPENAI_API_KEY]")
    var openaiApiKey: String?

    @Option(help: "The model field sent upstream. [env: REALTIME_VOICE_OPENAI_MODEL] (default: \(ServeDefaults.openAI.model))")
    var openaiModel: String?

    @Option(
        help: """
            Engines openai and whisper: seconds to wait for one upstream answer (then one retry). \
            [env: REALTIME_VOICE_OPENAI_TIMEOUT] (default: \(ServeDefaults.openAI.requestTimeout.secondsText))
            """
    )
    var openaiTimeout: Double?

    @Option(
        help: """
            Engine openai: upstream requests in flight at once, all sessions and uploads together. \
            [env: REALTIME_VOICE_OPENAI_MAX_REQUESTS] (default: \(ServeDefaults.openAI.maxConcurrentRequests))
            """
    )
    var openaiMaxRequests: Int?

    @Option(
        help: """
            Engines openai and whisper: requests (finals, uploads) that may wait for a free one; more are answered busy. \
            [env: REALTIME_VOICE_OPENAI_QUEUE] (default: \(ServeDefaults.openAI.requestQueue))
            """
    )
    var openaiQueue: Int?

    @Option(
        help: """
            Engines openai and whisper, streaming: seconds of new audio between partials of an open segment. \
            [env: REALTIME_VOICE_OPENAI_PARTIAL_INTERVAL] (default: \(ServeDefaults.openAI.partialInterval.secondsText))
            """
    )
    var openaiPartialInterval: Double?

    @Option(
        help: """
            Engines openai and whisper, streaming: longest segment in seconds, cut at its quietest point. \
            [env: REALTIME_VOICE_OPENAI_MAX_SEGMENT] (default: \(ServeDefaults.openAI.maxSegment.secondsText))
            """
    )
    var openaiMaxSegment: Double?

    @Option(
        help: """
            Engines openai and whisper, streaming: WebRTC VAD aggressiveness 0-3 (3 drops the most noise). \
            [env: REALTIME_VOICE_VAD_MODE] (default: \(ServeDefaults.openAI.vadMode))
            """
    )
    var vadMode: Int?

    @Option(
        help: """
            On SIGTERM/SIGINT, seconds that streams (finals, then server_shutting_down, close 1001) and uploads get to finish before exit. \
            [env: REALTIME_VOICE_DRAIN_TIMEOUT] (default: \(ServeDefaults.gateway.drainTime.secondsText))
            """
    )
    var drainTimeout: Double?

    @Flag(help: "Serve GET /metrics without a token. [env: REALTIME_VOICE_PUBLIC_METRICS=1]")
    var publicMetrics = false

    @Option(
        help: """
            A file of hotwords every session gets, merged with its own (one 'phrase[|weight[|pronunciation]]' a line, '#' comments). \
            [env: REALTIME_VOICE_HOTWORDS_FILE]
            """
    )
    var hotwordsFile: String?

    @Option(
        help: """
            Most hotwords a session may have, the server's included; more is refused invalid_hotwords. \
            [env: REALTIME_VOICE_MAX_HOTWORDS] (default: \(ServeDefaults.hotwordLimits.maxCount))
            """
    )
    var maxHotwords: Int?

    @Option(
        help: """
            Longest hotword phrase in characters. \
            [env: REALTIME_VOICE_MAX_HOTWORD_LENGTH] (default: \(ServeDefaults.hotwordLimits.maxLength))
            """
    )
    var maxHotwordLength: Int?

    @Option(
        help: "Log format: text (key=value) or json (one object per line). [env: REALTIME_VOICE_LOG_FORMAT] (default: \(ServeDefaults.logFormat))")
    var logFormat: String?

    @Option(
        help: "Log level: trace, debug, info, notice, warning, error, critical. [env: REALTIME_VOICE_LOG_LEVEL] (default: \(ServeDefaults.logLevel))")
    var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var settings = try ServeSettings(command: self, environment: environment)
        if settings.logFormat == .json {
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
        }
        var logger = Logger(label: "realtime-voice")
        logger.logLevel = settings.logLevel

        let generatedToken = settings.generateTokenIfNeeded()
        if settings.configuration.auth.disabled {
            logger.warning("Authentication is OFF (--no-auth): anyone who can reach this port can use the recognizer.")
        }
        let configuration = settings.configuration
        let app = try await Gateway.buildApplication(configuration: configuration, logger: logger) { port in
            Self.announce(host: configuration.host, port: port, token: generatedToken)
        }
        // Graceful shutdown on SIGTERM/SIGINT: the server stops accepting, sessions and uploads get the drain time.
        var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = configuration.drainTime + .seconds(1)
        group.maximumCancellationDuration = .seconds(2)
        try await ServiceGroup(configuration: group).run()
    }

    /// Prints where to connect, with the generated token if there is one.
    private static func announce(host: String, port: Int, token: String?) {
        let shown = host == "0.0.0.0" || host == "::" ? "localhost" : host
        var lines = ["realtime-voice \(GatewayVersion.current) listening on http://\(shown):\(port)"]
        if let token {
            lines.append("No token configured: generated one for this run (set --token or REALTIME_VOICE_TOKENS to choose your own).")
            lines.append("  token:      \(token)")
            lines.append("  stream URL: ws://\(shown):\(port)/api/realtime-voice/stream?token=\(token)")
            lines.append("  echo URL:   ws://\(shown):\(port)/api/realtime-voice/echo?token=\(token)")
        }
        Console.out(lines.joined(separator: "\n") + "\n")
    }
}
