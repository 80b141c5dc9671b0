import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import SpeechEngine

/// Decides, before any upgrade, whether a WebSocket handshake is accepted and which session serves it.
///
/// A refused handshake is not answered here: it goes on to the HTTP router (see ``GatewayServerChannel``),
/// whose middleware and WebSocket-path routes answer with the precise status and a JSON body.
struct WebSocketUpgradeDecision: Sendable {
    let authenticator: Authenticator
    let engines: EngineRegistry
    let limits: StreamLimits
    let instanceID: String
    let metrics: GatewayMetrics

    func decide(_ request: HTTPRequest, logger: Logger) async -> ShouldUpgradeResult<WebSocketRoute> {
        let uri = URI(request.path ?? "/")
        var logger = logger
        logger[metadataKey: "http.path"] = "\(AccessToken.redacted(uri))"
        // `realtime-voice doctor` marks its probes, so that a person can tell whether one reached the server.
        if let nonce = uri.queryParameters.get("doctor") { logger[metadataKey: "doctor.nonce"] = "\(nonce)" }
        guard Paths.webSocketPaths.contains(uri.path) else {
            logger.info("WebSocket upgrade refused", metadata: ["ws.refusal": "not_found"])
            return .dontUpgrade
        }
        do {
            try await self.authenticator.authenticate(headers: request.headerFields, uri: uri)
        } catch {
            logger.info("WebSocket upgrade refused", metadata: ["ws.refusal": "\(error.code)"])
            return .dontUpgrade
        }
        guard Self.isWellFormed(request) else {
            // The router answers it: 400 invalid_upgrade for a GET, 404 for another method.
            logger.info("WebSocket upgrade refused", metadata: ["ws.refusal": "invalid_upgrade"])
            return .dontUpgrade
        }
        let headers: HTTPFields = [GatewayResponseMiddleware<BasicRequestContext>.instanceHeader: self.instanceID]
        switch uri.path {
        case Paths.echo:
            logger.info("WebSocket upgrade", metadata: ["ws.endpoint": "echo"])
            return .upgrade(headers, .echo(EchoChannelHandler.Settings(maxMessageBytes: self.limits.maxFrameBytes, pingInterval: TimeAmount(self.limits.pingInterval), metrics: self.metrics)))
        default:
            let parameters: StreamParameters
            do {
                parameters = try StreamParameters(query: uri, engines: self.engines)
            } catch {
                logger.info("WebSocket upgrade refused", metadata: ["ws.refusal": "\(error.code)"])
                return .dontUpgrade
            }
            let sessionID = UUID().uuidString.lowercased()
            var sessionLogger = logger
            sessionLogger[metadataKey: "session.id"] = "\(sessionID)"
            sessionLogger.info(
                "WebSocket upgrade",
                metadata: ["ws.endpoint": "stream", "session.engine": "\(parameters.engine.name)", "session.sample_rate": "\(parameters.sampleRate)"]
            )
            let session = StreamSession(id: sessionID, parameters: parameters, limits: self.limits, logger: sessionLogger, metrics: self.metrics)
            return .upgrade(
                headers,
                .stream { inbound, outbound, context in
                    try await session.run(inbound: inbound, outbound: outbound, shutdown: context.shutdown)
                }
            )
        }
    }

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
