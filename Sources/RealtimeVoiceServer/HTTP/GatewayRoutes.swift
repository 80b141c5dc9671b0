import Hummingbird
import HummingbirdCore
import SpeechEngine

/// The HTTP routes: health, and the answers on WebSocket paths for requests that were not upgraded.
struct GatewayRoutes<Context: RequestContext>: Sendable {
    struct Health: ResponseEncodable {
        let status: String
        let engine: String
        let version: String
    }

    let engines: EngineRegistry

    func add(to router: Router<Context>) {
        router.get(RouterPath(Paths.health)) { _, _ -> Response in
            let engine = self.engines.defaultEngine
            let ready = engine?.isReady ?? false
            return JSONResponse.make(
                status: ready ? .ok : .serviceUnavailable,
                Health(status: ready ? "ok" : "loading", engine: self.engines.defaultName, version: GatewayVersion.current)
            )
        }
        for path in Paths.webSocketPaths {
            router.get(RouterPath(path)) { request, _ -> Response in
                try self.explainRefusedUpgrade(request)
            }
        }
    }

    /// A request on a WebSocket path that was not upgraded: either a plain GET (`426`), or a handshake that the
    /// upgrade decision refused for a reason other than the token (checked by the auth middleware before this).
    private func explainRefusedUpgrade(_ request: Request) throws -> Response {
        guard request.headers[.upgrade]?.lowercased() == "websocket" else {
            throw GatewayError.upgradeRequired(request.uri.path)
        }
        if request.uri.path == Paths.stream {
            _ = try StreamParameters(query: request.uri, engines: self.engines)
        }
        throw GatewayError.invalidUpgrade(
            "The WebSocket handshake is incomplete: it needs 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13' and a 'Sec-WebSocket-Key'."
        )
    }
}
