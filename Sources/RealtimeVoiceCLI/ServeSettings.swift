import ArgumentParser
import Crypto
import Foundation
import Logging
import OpenAIEngine
import PocketSphinxEngine
import RealtimeVoiceServer
import SpeechEngine
import TencentEngine
import WhisperSidecar

/// Resolves `serve`'s flags and environment into a ``GatewayConfiguration``: flag, else variable, else default.
struct ServeSettings {
    enum LogFormat: String {
        case text, json
    }

    var configuration: GatewayConfiguration
    var logLevel: Logger.Level
    var logFormat: LogFormat

    init(command: ServeCommand, environment: [String: String]) throws {
        let lookup = SettingLookup(environment: environment)

        var configuration = GatewayConfiguration()
        configuration.host = try lookup.value(command.host, "REALTIME_VOICE_HOST", { $0 }) ?? ServeDefaults.gateway.host
        configuration.port = try lookup.value(command.port, "PORT", Int.init) ?? ServeDefaults.gateway.port
        guard (0...65535).contains(configuration.port) else { throw ValidationError("The port must be 0-65535.") }
        configuration.engine = try lookup.value(command.engine, "REALTIME_VOICE_ENGINE", { $0 }) ?? ServeDefaults.engine
        if let instance = environment["REALTIME_VOICE_INSTANCE_ID"], !instance.isEmpty {
            configuration.instanceID = instance
        }

        configuration.auth = AuthConfiguration(
            tokens: command.tokens.filter { !$0.isEmpty } + lookup.list("REALTIME_VOICE_TOKENS"),
            jwtSecret: environment["REALTIME_VOICE_JWT_SECRET"].flatMap { $0.isEmpty ? nil : $0 },
            disabled: command.noAuth || ["1", "true", "yes"].contains(environment["REALTIME_VOICE_NO_AUTH"]?.lowercased() ?? "")
        )

        if let secret = configuration.auth.jwtSecret, secret.utf8.count < AuthConfiguration.minimumJWTSecretBytes {
            throw ValidationError(
                "REALTIME_VOICE_JWT_SECRET must be at least \(AuthConfiguration.minimumJWTSecretBytes) bytes for HS256 (got \(secret.utf8.count))."
            )
        }

        let maxFrame = try lookup.value(command.maxFrameBytes, "REALTIME_VOICE_MAX_FRAME_BYTES", Int.init) ?? ServeDefaults.limits.maxFrameBytes
        guard maxFrame >= 1024 else { throw ValidationError("The maximum frame size must be at least 1024 bytes.") }
        let maxRealtimeEvent =
            try lookup.value(command.maxRealtimeEventBytes, "REALTIME_VOICE_MAX_REALTIME_EVENT_BYTES", Int.init)
            ?? ServeDefaults.limits.maxRealtimeEventBytes
        guard (1024...(256 << 20)).contains(maxRealtimeEvent) else {
            throw ValidationError("The maximum realtime event size must be from 1024 bytes to 256 MiB.")
        }
        configuration.limits = StreamLimits(
            maxFrameBytes: maxFrame,
            idleTimeout: try lookup.seconds(command.idleTimeout, "REALTIME_VOICE_IDLE_TIMEOUT", default: ServeDefaults.limits.idleTimeout),
            maxSessionDuration: try lookup.seconds(
                command.maxSession, "REALTIME_VOICE_MAX_SESSION", default: ServeDefaults.limits.maxSessionDuration),
            pingInterval: try lookup.seconds(command.pingInterval, "REALTIME_VOICE_PING_INTERVAL", default: ServeDefaults.limits.pingInterval),
            maxBufferedAudio: try lookup.seconds(
                command.maxBufferedAudio, "REALTIME_VOICE_MAX_BUFFERED_AUDIO", default: ServeDefaults.limits.maxBufferedAudio),
            maxRealtimeEventBytes: maxRealtimeEvent,
            resumeWindow: .milliseconds(
                Int64(
                    1000
                        * (try lookup.value(command.resumeWindow, "REALTIME_VOICE_RESUME_WINDOW", Double.init)
                            ?? ServeDefaults.limits.resumeWindow.secondsValue))),
            maxDetachedSessions: try lookup.value(command.maxDetachedSessions, "REALTIME_VOICE_MAX_DETACHED_SESSIONS", Int.init)
                ?? ServeDefaults.limits.maxDetachedSessions
        )
        guard configuration.limits.maxDetachedSessions >= 0, configuration.limits.resumeWindow >= .zero else {
            throw ValidationError("--resume-window and --max-detached-sessions must be 0 or more.")
        }

        configuration.uploads = UploadLimits(
            maxBytes: try lookup.value(command.maxUploadBytes, "REALTIME_VOICE_MAX_UPLOAD_BYTES", Int.init) ?? ServeDefaults.uploads.maxBytes,
            maxDuration: try lookup.seconds(
                command.maxUploadSeconds, "REALTIME_VOICE_MAX_UPLOAD_SECONDS", default: ServeDefaults.uploads.maxDuration),
            decodeTimeout: try lookup.seconds(command.decodeTimeout, "REALTIME_VOICE_DECODE_TIMEOUT", default: ServeDefaults.uploads.decodeTimeout),
            maxConcurrent: try lookup.value(command.maxConcurrentUploads, "REALTIME_VOICE_MAX_CONCURRENT_UPLOADS", Int.init)
                ?? ServeDefaults.uploads.maxConcurrent
        )
        guard configuration.uploads.maxBytes >= 1024, configuration.uploads.maxConcurrent >= 1 else {
            throw ValidationError("The upload limit must be at least 1024 bytes and at least 1 concurrent upload.")
        }

        let decoders = try lookup.value(command.decoders, "REALTIME_VOICE_DECODERS", Int.init) ?? ServeDefaults.pocketSphinx.poolSize
        let queue = try lookup.value(command.queueSize, "REALTIME_VOICE_QUEUE_SIZE", Int.init) ?? ServeDefaults.pocketSphinx.queueCapacity
        let endpoint = try lookup.value(command.endpointMs, "REALTIME_VOICE_ENDPOINT_MS", Int.init) ?? ServeDefaults.pocketSphinx.endpointMilliseconds
        let queueTimeout = try lookup.seconds(command.queueTimeout, "REALTIME_VOICE_QUEUE_TIMEOUT", default: ServeDefaults.pocketSphinx.queueTimeout)
        guard decoders >= 1, queue >= 0, endpoint >= 10 else {
            throw ValidationError("Need at least 1 decoder, a queue size of 0 or more, and an endpoint of at least 10 ms.")
        }
        configuration.pocketSphinx = PocketSphinxConfiguration(
            modelDirectory: try lookup.value(command.modelDir, "REALTIME_VOICE_MODEL_DIR", { $0 }) ?? PocketSphinxConfiguration.defaultModelDirectory,
            poolSize: decoders,
            threads: try lookup.value(command.decoderThreads, "REALTIME_VOICE_DECODER_THREADS", Int.init),
            queueCapacity: queue,
            queueTimeout: queueTimeout,
            endpointMilliseconds: endpoint
        )
        guard FileManager.default.fileExists(atPath: "\(configuration.pocketSphinx.modelDirectory)/en-us.lm.bin") else {
            throw ValidationError(
                """
                No PocketSphinx model in \(configuration.pocketSphinx.modelDirectory): \
                install it (apt-get install pocketsphinx-en-us) or set --model-dir.
                """
            )
        }
        configuration.tencent = try Self.tencent(environment: environment, selected: configuration.engine == "tencent")
        configuration.drainTime = try lookup.seconds(command.drainTimeout, "REALTIME_VOICE_DRAIN_TIMEOUT", default: ServeDefaults.gateway.drainTime)
        configuration.publicMetrics =
            command.publicMetrics || ["1", "true", "yes"].contains(environment["REALTIME_VOICE_PUBLIC_METRICS"]?.lowercased() ?? "")
        let streaming = try Self.segmentedStreaming(
            command: command, lookup: lookup, endpoint: .milliseconds(Int64(endpoint)), queueTimeout: queueTimeout)
        configuration.openAI = try Self.openAI(command: command, lookup: lookup, streaming: streaming)
        (configuration.hotwords, configuration.hotwordLimits) = try Self.hotwords(command: command, lookup: lookup)
        if configuration.engine == "openai", configuration.openAI == nil {
            throw ValidationError(
                "--engine openai: set --openai-base-url / OPENAI_BASE_URL (a local server) or --openai-api-key / OPENAI_API_KEY (OpenAI itself).")
        }
        guard ["whisper", "pocketsphinx", "tencent", "openai"].contains(configuration.engine) else {
            throw ValidationError("Unknown engine '\(configuration.engine)'; this build has whisper, pocketsphinx, tencent and openai.")
        }
        let enableWhisper = command.enableWhisper || ["1", "true", "yes"].contains(environment["REALTIME_VOICE_ENABLE_WHISPER"]?.lowercased() ?? "")
        if configuration.engine == "whisper" || enableWhisper {
            configuration.whisper = try Self.whisper(command: command, lookup: lookup)
            configuration.whisperEngine = streaming
        }
        self.configuration = configuration

        let levelName = try lookup.value(command.logLevel, "REALTIME_VOICE_LOG_LEVEL", { $0 }) ?? ServeDefaults.logLevel
        guard let level = Logger.Level(rawValue: levelName.lowercased()) else {
            throw ValidationError("Unknown log level '\(levelName)'.")
        }
        self.logLevel = level
        let formatName = try lookup.value(command.logFormat, "REALTIME_VOICE_LOG_FORMAT", { $0 }) ?? ServeDefaults.logFormat
        guard let format = LogFormat(rawValue: formatName.lowercased()) else {
            throw ValidationError("Unknown log format '\(formatName)'; use text or json.")
        }
        self.logFormat = format
    }

    /// Tencent Cloud ASR from the environment: on when its credentials are set (then sessions may choose
    /// `engine=tencent`); required when it is the default engine.
    /// The server's hotword list (`--hotwords-file`), checked like a session's, and the limits on a session's.
    static func hotwords(command: ServeCommand, lookup: SettingLookup) throws -> ([Hotword], HotwordLimits) {
        let limits = HotwordLimits(
            maxCount: try lookup.value(command.maxHotwords, "REALTIME_VOICE_MAX_HOTWORDS", Int.init) ?? ServeDefaults.hotwordLimits.maxCount,
            maxLength: try lookup.value(command.maxHotwordLength, "REALTIME_VOICE_MAX_HOTWORD_LENGTH", Int.init)
                ?? ServeDefaults.hotwordLimits.maxLength
        )
        guard limits.maxCount >= 0, limits.maxLength >= 1 else {
            throw ValidationError("--max-hotwords must be 0 or more and --max-hotword-length at least 1.")
        }
        guard let path = try lookup.value(command.hotwordsFile, "REALTIME_VOICE_HOTWORDS_FILE", { $0 }), !path.isEmpty else {
            return ([], limits)
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("--hotwords-file \(path) cannot be read as UTF-8 text.")
        }
        do {
            return (try Hotword.parseList(text, limits: limits), limits)
        } catch {
            throw ValidationError("--hotwords-file \(path): \(error.message)")
        }
    }

    static func tencent(environment: [String: String], selected: Bool) throws -> TencentConfiguration? {
        let credentials: [TencentCredentials]
        switch TencentCredentials.from(environment: environment) {
        case .success(let found):
            credentials = found
        case .failure(let missing):
            if selected || missing.mismatch != nil { throw ValidationError("--engine tencent: \(missing)") }
            return nil
        }
        var tencent = TencentConfiguration(credentials: credentials[0])
        tencent.credentialSets = credentials
        for (name, keyPath) in [("TENCENT_ASR_WS_URL", \TencentConfiguration.realtimeURL), ("TENCENT_ASR_API_URL", \TencentConfiguration.apiURL)] {
            guard let value = environment[name], !value.isEmpty else { continue }
            guard let url = URL(string: value), url.scheme != nil, url.host != nil else {
                throw ValidationError("\(name)='\(value)' is not a URL.")
            }
            tencent[keyPath: keyPath] = value
        }
        if let models = environment["TENCENT_ASR_MODELS"], !models.isEmpty {
            guard let parsed = TencentConfiguration.models(parsing: models) else {
                throw ValidationError("TENCENT_ASR_MODELS must look like 'zh-CN=16k_zh,en-US=16k_en'; got '\(models)'.")
            }
            tencent.models = parsed
        }
        if let pace = environment["TENCENT_ASR_PACE"], !pace.isEmpty {
            guard let value = Double(pace), value >= 1, value <= 2.5 else {
                throw ValidationError("TENCENT_ASR_PACE must be 1 to 2.5 (seconds of audio per second; Tencent refuses more than 3).")
            }
            tencent.pace = value
        }
        if let timeout = environment["TENCENT_ASR_RESPONSE_TIMEOUT"], !timeout.isEmpty {
            guard let seconds = Double(timeout), seconds >= 1, seconds <= 120 else {
                throw ValidationError("TENCENT_ASR_RESPONSE_TIMEOUT must be 1 to 120 (seconds); got '\(timeout)'.")
            }
            tencent.responseTimeout = .milliseconds(Int64(seconds * 1000))
        }
        return tencent
    }

    /// Engine `whisper`: the sidecar the gateway runs. Its folder must hold server.py and a set-up .venv.
    static func whisper(command: ServeCommand, lookup: SettingLookup) throws -> WhisperSidecarConfiguration {
        let directory =
            try lookup.value(command.whisperSidecar, "REALTIME_VOICE_WHISPER_SIDECAR", { $0 }) ?? WhisperSidecarConfiguration.defaultDirectory
        let workers = try lookup.value(command.whisperWorkers, "REALTIME_VOICE_WHISPER_WORKERS", Int.init) ?? ServeDefaults.whisper.workers
        var sidecar = WhisperSidecarConfiguration(
            directory: directory,
            model: try lookup.value(command.whisperModel, "REALTIME_VOICE_WHISPER_MODEL", { $0 }) ?? WhisperSidecarConfiguration.defaultModel,
            port: try lookup.value(command.whisperPort, "REALTIME_VOICE_WHISPER_PORT", Int.init) ?? ServeDefaults.whisper.port,
            threads: try lookup.value(command.whisperThreads, "REALTIME_VOICE_WHISPER_THREADS", Int.init)
                ?? max(1, ServeDefaults.whisper.threads / max(1, workers)),
            maxConcurrent: try lookup.value(command.whisperMaxConcurrent, "REALTIME_VOICE_WHISPER_MAX_CONCURRENT", Int.init)
                ?? ServeDefaults.whisper.maxConcurrent,
            maxStreams: try lookup.value(command.whisperMaxStreams, "REALTIME_VOICE_WHISPER_MAX_STREAMS", Int.init)
                ?? ServeDefaults.whisper.maxStreams
        )
        sidecar.workers = workers
        if let problem = sidecar.problem { throw ValidationError(problem) }
        return sidecar
    }

    /// How the segmented engines (openai, whisper) stream: VAD, partials, segments, timeouts and their queue.
    static func segmentedStreaming(
        command: ServeCommand, lookup: SettingLookup, endpoint: Duration, queueTimeout: Duration
    ) throws -> OpenAIConfiguration {
        var openAI = OpenAIConfiguration(endpoint: endpoint)
        openAI.requestTimeout = try lookup.seconds(
            command.openaiTimeout, "REALTIME_VOICE_OPENAI_TIMEOUT", default: ServeDefaults.openAI.requestTimeout)
        openAI.partialInterval = try lookup.seconds(
            command.openaiPartialInterval, "REALTIME_VOICE_OPENAI_PARTIAL_INTERVAL", default: ServeDefaults.openAI.partialInterval)
        openAI.maxSegment = try lookup.seconds(
            command.openaiMaxSegment, "REALTIME_VOICE_OPENAI_MAX_SEGMENT", default: ServeDefaults.openAI.maxSegment)
        let queue = try lookup.value(command.openaiQueue, "REALTIME_VOICE_OPENAI_QUEUE", Int.init) ?? openAI.requestQueue
        let mode = try lookup.value(command.vadMode, "REALTIME_VOICE_VAD_MODE", Int.init) ?? openAI.vadMode
        guard queue >= 0, (0...3).contains(mode), openAI.maxSegment >= .seconds(2) else {
            throw ValidationError("The openai and whisper engines need a queue of 0 or more, a VAD mode 0-3 and a segment cap of at least 2 s.")
        }
        (openAI.requestQueue, openAI.vadMode) = (queue, mode)
        openAI.queueTimeout = queueTimeout
        return openAI
    }

    /// The `openai` engine: on when a base URL or an API key is given (flag or environment).
    static func openAI(command: ServeCommand, lookup: SettingLookup, streaming: OpenAIConfiguration) throws -> OpenAIConfiguration? {
        let baseURLs = command.openaiBaseUrl.isEmpty ? lookup.list("OPENAI_BASE_URL") : command.openaiBaseUrl
        let apiKey = try lookup.value(command.openaiApiKey, "OPENAI_API_KEY", { $0 })
        guard !baseURLs.isEmpty || apiKey != nil else { return nil }
        var openAI = streaming
        openAI.baseURLs = baseURLs.isEmpty ? [OpenAIConfiguration.defaultBaseURL] : baseURLs
        openAI.apiKey = apiKey
        for base in openAI.baseURLs {
            guard let url = URL(string: base), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw ValidationError("The OpenAI base URL must be an http(s) URL such as http://127.0.0.1:8808/v1; got '\(base)'.")
            }
        }
        guard Set(openAI.baseURLs).count == openAI.baseURLs.count else { throw ValidationError("The OpenAI base URLs must differ.") }
        openAI.probeInterval = try lookup.seconds(command.openaiProbeInterval, "REALTIME_VOICE_OPENAI_PROBE_INTERVAL", default: openAI.probeInterval)
        openAI.model = try lookup.value(command.openaiModel, "REALTIME_VOICE_OPENAI_MODEL", { $0 }) ?? openAI.model
        let requests = try lookup.value(command.openaiMaxRequests, "REALTIME_VOICE_OPENAI_MAX_REQUESTS", Int.init) ?? openAI.maxConcurrentRequests
        guard requests >= 1 else { throw ValidationError("The openai engine needs at least 1 request at once.") }
        openAI.maxConcurrentRequests = requests
        return openAI
    }

    /// With no token, no JWT secret and auth not disabled, generates a token for this run and returns it.
    mutating func generateTokenIfNeeded() -> String? {
        let auth = self.configuration.auth
        guard !auth.disabled, auth.tokens.isEmpty, auth.jwtSecret == nil else { return nil }
        let token = SymmetricKey(size: .bits128).withUnsafeBytes { $0.map { String(format: "%02x", $0) }.joined() }
        self.configuration.auth.tokens = [token]
        return token
    }
}

/// A setting from its flag, else its environment variable; nil when neither is set.
struct SettingLookup {
    let environment: [String: String]

    func value<T>(_ flag: T?, _ name: String, _ parse: (String) -> T?) throws -> T? {
        if let flag { return flag }
        guard let raw = self.environment[name], !raw.isEmpty else { return nil }
        guard let parsed = parse(raw) else { throw ValidationError("\(name)='\(raw)' is not a valid value.") }
        return parsed
    }

    /// A variable holding a comma list: its entries, trimmed, empty ones left out ([] when it is not set).
    func list(_ name: String) -> [String] {
        (self.environment[name] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A positive number of seconds, flag or variable, else `fallback`.
    func seconds(_ flag: Double?, _ name: String, default fallback: Duration) throws -> Duration {
        let value = try self.value(flag, name, Double.init) ?? fallback.secondsValue
        guard value > 0 else { throw ValidationError("\(name) must be a positive number of seconds.") }
        return .milliseconds(Int64(value * 1000))
    }
}
