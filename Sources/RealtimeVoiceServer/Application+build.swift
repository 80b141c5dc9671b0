import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import OpenAIEngine
import PocketSphinxEngine
import ServiceLifecycle
import SpeechEngine
import TencentEngine
import WhisperSidecar

/// The composition root: `realtime-voice serve` and the tests build the same application here.
public enum Gateway {
    /// A configuration that cannot be served, with what to change.
    public struct ConfigurationError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Builds the server.
    /// - Parameters:
    ///   - configuration: resolved settings.
    ///   - logger: the root logger.
    ///   - onServerRunning: called with the bound port once the server listens (port 0 picks one).
    public static func buildApplication(
        configuration: GatewayConfiguration,
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws -> some ApplicationProtocol {
        let pocketSphinx = PocketSphinxRecognizer(configuration: configuration.pocketSphinx, logger: logger)
        let tencent = configuration.tencent.map { TencentRecognizer(configuration: $0, logger: logger) }
        let openAI = configuration.openAI.map { OpenAIRecognizer(configuration: $0, logger: logger) }
        let (sidecar, whisper) = try await Self.whisper(configuration, logger: logger)
        let otherEngines: [any SpeechRecognizer] = [whisper as (any SpeechRecognizer)?, tencent, openAI].compactMap { $0 }
        let engines = EngineRegistry(
            [pocketSphinx] + otherEngines, defaultName: configuration.engine, hotwords: configuration.hotwords,
            hotwordLimits: configuration.hotwordLimits)
        guard engines.defaultEngine != nil else {
            throw ConfigurationError(description: "Unknown engine '\(configuration.engine)'; available: \(engines.names.joined(separator: ", ")).")
        }
        if let secret = configuration.auth.jwtSecret, secret.utf8.count < AuthConfiguration.minimumJWTSecretBytes {
            throw ConfigurationError(
                description:
                    "REALTIME_VOICE_JWT_SECRET must be at least \(AuthConfiguration.minimumJWTSecretBytes) bytes for HS256 "
                    + "(got \(secret.utf8.count))."
            )
        }
        let authenticator = await Authenticator(configuration: configuration.auth)

        let router = Router(context: BasicRequestContext.self)
        let metrics = GatewayMetrics()
        let responseMiddleware = GatewayResponseMiddleware<BasicRequestContext>(instanceID: configuration.instanceID, metrics: metrics)
        router.middlewares.add(responseMiddleware)
        router.middlewares.add(AuthMiddleware(authenticator: authenticator, publicMetrics: configuration.publicMetrics))
        GatewayRoutes(engines: engines).add(to: router)
        MetricsRoutes(metrics: metrics, engines: engines).add(to: router)
        let decodePool = BlockingWorkPool(numberOfThreads: max(2, ProcessInfo.processInfo.activeProcessorCount))
        let resumable = ResumableSessions(
            window: configuration.limits.resumeWindow, maxDetached: configuration.limits.maxDetachedSessions, metrics: metrics)
        let uploads = UploadRecognizer(
            engines: engines, limits: configuration.uploads, decodePool: decodePool.pool, metrics: metrics, detached: resumable)
        RecognizeRoutes(recognizer: uploads).add(to: router)
        OpenAITranscriptionRoutes(recognizer: uploads).add(to: router)

        let decision = WebSocketUpgradeDecision(
            authenticator: authenticator,
            engines: engines,
            limits: configuration.limits,
            instanceID: configuration.instanceID,
            metrics: metrics,
            resumable: resumable
        )
        let limits = configuration.limits
        let server = HTTPServerBuilder { responder in
            GatewayServerChannel(
                responder: responder,
                webSocket: WebSocketServerConfiguration(
                    // Twice the limit reaches the session, which refuses it with an explanation (see StreamSession); the
                    // cap is server-wide, so it is twice the larger of the stream's and /v1/realtime's limits.
                    maxFrameSize: max(limits.maxFrameBytes, limits.maxRealtimeEventBytes) * 2,
                    autoPing: .enabled(timePeriod: limits.pingInterval),
                    // Text that is not UTF-8 closes the socket with 1007 (RFC 6455 §8.1) instead of being repaired.
                    validateUTF8: true
                ),
                drainTime: configuration.drainTime,
                instanceID: configuration.instanceID,
                decide: decision.decide,
                refuse: { error, request, logger, started in
                    let uri = URI(request.path ?? "/")
                    var response = error.response(path: uri.path)
                    responseMiddleware.finish(&response, method: request.method, uri: uri, isUpgrade: true, logger: logger, started: started)
                    return response
                }
            )
        }
        return Application(
            router: router,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            // Stopped in reverse order after the server has drained: the Whisper sidecar last.
            services: ([sidecar, pocketSphinx, decodePool, whisper, openAI] as [(any Service)?]).compactMap { $0 },
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }

    /// Engine `whisper`: the sidecar process and the engine that talks to it on loopback; nil when it is off.
    static func whisper(_ configuration: GatewayConfiguration, logger: Logger) async throws -> (WhisperWorkers?, OpenAIRecognizer?) {
        guard let sidecarConfiguration = configuration.whisper else { return (nil, nil) }
        if let problem = sidecarConfiguration.problem { throw ConfigurationError(description: problem) }
        var sidecars: [WhisperSidecar] = []
        for index in 0..<sidecarConfiguration.workers {
            var port = sidecarConfiguration.port + index
            if sidecarConfiguration.port == 0 {
                repeat { port = try await LoopbackPort.free() } while sidecars.contains { $0.port == port }
            }
            var workerLogger = logger
            if sidecarConfiguration.workers > 1 { workerLogger[metadataKey: "whisper.worker"] = "\(index + 1)" }
            sidecars.append(WhisperSidecar(configuration: sidecarConfiguration, port: port, logger: workerLogger))
        }
        let sidecar = WhisperWorkers(sidecars: sidecars)
        var engine = configuration.whisperEngine
        engine.baseURLs = sidecar.baseURLs
        engine.apiKey = nil
        engine.maxConcurrentRequests = sidecarConfiguration.maxConcurrent * sidecarConfiguration.workers
        engine.maxStreams = sidecarConfiguration.maxStreams
        engine.marksPartials = true
        engine.takesHotwords = true
        return (sidecar, OpenAIRecognizer(name: "whisper", configuration: engine, upstream: sidecar, logger: logger))
    }
}
