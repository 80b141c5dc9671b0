import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import RealtimeVoiceErrors
import SpeechEngine

/// What ``WebSocketUpgradeDecision`` decided about a handshake.
enum UpgradeDecision: Sendable {
    /// Upgrade, answering with these headers, to this session.
    case upgrade(HTTPFields, WebSocketRoute)
    /// Refuse, for this reason: answered at once with its status and JSON body (``GatewayServerChannel``).
    case refuse(GatewayError)
    /// Not a WebSocket endpoint's business (another path, another method): the HTTP router answers it.
    case route
}

/// Decides, before any upgrade, whether a WebSocket handshake is accepted and which session serves it; a refusal
/// carries its reason, so that nothing is checked twice.
struct WebSocketUpgradeDecision: Sendable {
    let authenticator: Authenticator
    let engines: EngineRegistry
    let limits: StreamLimits
    let instanceID: String
    let metrics: GatewayMetrics
    let resumable: ResumableSessions

    func decide(_ request: HTTPRequest, logger: Logger) async -> UpgradeDecision {
        let uri = URI(request.path ?? "/")
        var logger = logger
        logger[metadataKey: "http.path"] = "\(AccessToken.redacted(uri))"
        // `realtime-voice doctor` marks its probes, so that a person can tell whether one reached the server.
        if let nonce = uri.queryParameters.get("doctor") { logger[metadataKey: "doctor.nonce"] = "\(nonce)" }
        guard Paths.webSocketPaths.contains(uri.path), request.method == .get else {
            logger.info("WebSocket upgrade refused", metadata: ["ws.refusal": "not_a_websocket_endpoint"])
            return .route
        }
        let caller: String
        do {
            caller = try await self.authenticator.authenticate(headers: request.headerFields, uri: uri)
        } catch {
            logger.info("WebSocket upgrade refused", metadata: ["ws.refusal": "\(error.code)"])
            return .refuse(error)
        }
        guard Self.isWellFormed(request) else {
            logger.info("WebSocket upgrade refused", metadata: ["ws.refusal": "invalid_upgrade"])
            return .refuse(Self.incompleteHandshake)
        }
        let headers: HTTPFields = [GatewayResponseMiddleware<BasicRequestContext>.instanceHeader: self.instanceID]
        switch uri.path {
        case Paths.echo:
            logger.info("WebSocket upgrade", metadata: ["ws.endpoint": "echo"])
            return .upgrade(
                headers,
                .echo(
                    EchoChannelHandler.Settings(
                        maxMessageBytes: self.limits.maxFrameBytes, pingInterval: TimeAmount(self.limits.pingInterval), metrics: self.metrics)))
        case Paths.realtime:
            return self.realtime(request, uri: uri, headers: headers, logger: logger)
        default:
            if let token = uri.queryParameters.get("resume_token") {
                return self.resume(token: token, lastSeq: uri.queryParameters.get("last_seq"), caller: caller, headers: headers, logger: logger)
            }
            let parameters: StreamParameters
            do {
                parameters = try StreamParameters(query: uri, engines: self.engines)
            } catch {
                logger.info("WebSocket upgrade refused", metadata: ["ws.refusal": "\(error.code)"])
                return .refuse(error)
            }
            let sessionID = UUID().uuidString.lowercased()
            var sessionLogger = logger
            sessionLogger[metadataKey: "session.id"] = "\(sessionID)"
            sessionLogger.info(
                "WebSocket upgrade",
                metadata: ["ws.endpoint": "stream", "session.engine": "\(parameters.engine.name)", "session.sample_rate": "\(parameters.sampleRate)"]
            )
            let resumption =
                self.resumable.isEnabled
                ? StreamSession.Resumption(registry: self.resumable, token: ResumableSessions.newToken(), caller: caller) : nil
            let session = StreamSession(
                id: sessionID, parameters: parameters, limits: self.limits, logger: sessionLogger, metrics: self.metrics,
                instanceID: self.instanceID, resumption: resumption)
            return .upgrade(
                headers,
                .stream { inbound, outbound, context in
                    try await session.run(inbound: inbound, outbound: outbound, context: context)
                }
            )
        }
    }

    /// `resume_token` (and `last_seq`, the last result the client saw; 0 if none): the session it resumes, or a
    /// connection that says `resume_failed` and why (a client reads that more easily than a refused handshake).
    private func resume(token: String, lastSeq rawSeq: String?, caller: String, headers: HTTPFields, logger: Logger) -> UpgradeDecision {
        let lastSeq = rawSeq.flatMap { Int($0) }.map { max(0, $0) } ?? 0
        switch self.resumable.session(for: token, caller: caller) {
        case .success(let session):
            logger.info("WebSocket upgrade", metadata: ["ws.endpoint": "stream", "session.id": "\(session.id)", "session.resume": "true"])
            return .upgrade(
                headers,
                .stream { inbound, outbound, context in
                    try await session.resume(inbound: inbound, outbound: outbound, context: context, lastSeq: lastSeq)
                })
        case .failure(let refusal):
            self.metrics.resume(outcome: refusal.rawValue)
            logger.info("WebSocket upgrade", metadata: ["ws.endpoint": "stream", "session.resume_refused": "\(refusal.rawValue)"])
            let message: String
            switch refusal {
            case .unknown: message = "No session to resume with this token here: it is wrong, or its resume window ran out. Start a new session."
            case .foreign: message = "This resume token belongs to another caller's session."
            case .ended: message = "The session is over. Start a new session."
            }
            return .upgrade(
                headers,
                .stream { _, outbound, _ in
                    try await outbound.write(.text(ServerMessage.resumeFailed(reason: refusal.rawValue, message: message).jsonText))
                    try await outbound.close(WebSocketErrorCode(codeNumber: Int(ErrorCode.resumeFailed.closeCode ?? 1008)), reason: "resume_failed")
                })
        }
    }

    /// `/v1/realtime`: the shape from `OpenAI-Beta: realtime=v1` (or the subprotocol `openai-beta.realtime-v1`), the
    /// engine from the query's `model` when it names one; `intent` and other values are accepted and ignored. A
    /// client that offered the subprotocol `realtime` gets it back (browsers and Node's `ws` require that).
    private func realtime(_ request: HTTPRequest, uri: URI, headers: HTTPFields, logger: Logger) -> UpgradeDecision {
        let subprotocols = AccessToken.subprotocols(in: request.headerFields)
        let betaHeader = request.headerFields[values: Self.openAIBeta].contains { $0.contains("realtime=v1") }
        let shape: RealtimeSettings.Shape = betaHeader || subprotocols.contains("openai-beta.realtime-v1") ? .beta : .ga
        let model = uri.queryParameters.get("model").flatMap { $0.isEmpty ? nil : $0 }
        let defaultEngine = model.flatMap { self.engines[$0] != nil ? $0 : nil } ?? self.engines.defaultName
        let sessionID = "sess_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(24)
        var sessionLogger = logger
        sessionLogger[metadataKey: "session.id"] = "\(sessionID)"
        sessionLogger.info(
            "WebSocket upgrade", metadata: ["ws.endpoint": "realtime", "session.engine": "\(defaultEngine)", "session.shape": "\(shape)"])
        let session = RealtimeSession(
            id: sessionID, engines: self.engines, defaultEngine: defaultEngine,
            initialSettings: RealtimeSettings(shape: shape, model: model ?? defaultEngine), limits: self.limits, logger: sessionLogger,
            metrics: self.metrics)
        var headers = headers
        if subprotocols.contains("realtime") { headers[.secWebSocketProtocol] = "realtime" }
        return .upgrade(
            headers,
            .stream { inbound, outbound, context in
                try await session.run(inbound: inbound, outbound: outbound, shutdown: context.shutdown)
            }
        )
    }

    static let openAIBeta = HTTPField.Name("OpenAI-Beta")!

    /// A handshake that is not a complete WebSocket upgrade (here, or as NIO's upgrader judged it).
    static let incompleteHandshake = GatewayError.invalidUpgrade(
        """
        The WebSocket handshake is incomplete: it needs 'Connection: Upgrade', 'Upgrade: websocket', \
        'Sec-WebSocket-Version: 13' and a 'Sec-WebSocket-Key'.
        """
    )

    /// RFC 6455 §4.2.1 on top of NIO's checks (Upgrade, version 13, a key): a GET, `Connection` naming `upgrade`,
    /// and a key that is the base64 of 16 bytes.
    static func isWellFormed(_ request: HTTPRequest) -> Bool {
        let connection = request.headerFields[values: .connection].flatMap { $0.split(separator: ",") }
        guard request.method == .get,
            connection.contains(where: { $0.trimmingCharacters(in: .whitespaces).lowercased() == "upgrade" }),
            let key = request.headerFields[.secWebSocketKey],
            Data(base64Encoded: key.trimmingCharacters(in: .whitespaces))?.count == 16
        else { return false }
        return true
    }
}
