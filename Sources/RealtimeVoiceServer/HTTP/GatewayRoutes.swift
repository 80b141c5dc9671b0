import Hummingbird
import HummingbirdCore
import SpeechEngine

/// The HTTP routes: health, and the answers on WebSocket paths for requests that were not upgraded.
struct GatewayRoutes<Context: RequestContext>: Sendable {
    struct Health: ResponseEncodable {
        let status: String
        let engine: String
        let version: String
        /// Every engine this server runs: `loading`, `ready`, `restarting` (its process died and is being started
        /// again) or `stopped`. `status` follows the default engine only: `ok`, else that engine's state.
        let engines: [String: String]
        /// For each engine that sends its work to servers of its own (openai, whisper): each server's state.
        let upstreams: [String: [Upstream]]
    }

    /// One server of an engine in `/health`: `up` or `down` (out of the pool until it answers again).
    struct Upstream: Encodable {
        let url: String
        let state: String
        let in_flight: Int
        let succeeded: Int
        let failed: Int

        init(_ status: UpstreamStatus) {
            (self.url, self.state, self.in_flight) = (status.baseURL, status.isUp ? "up" : "down", status.inFlight)
            (self.succeeded, self.failed) = (status.succeeded, status.failed)
        }
    }

    /// What `GET /health/ready` answers: `ready`, else `not_ready` with the reason (an engine not ready, or the
    /// default engine at its stream limit). During a graceful shutdown the listener is closed: connections fail.
    struct Readiness: ResponseEncodable {
        let status: String
        let reason: String?
        let engines: [String: String]
    }

    /// What `GET /health/live` answers while the process serves HTTP.
    struct Liveness: ResponseEncodable {
        let status: String
        let version: String
    }

    /// What `GET /api/realtime-voice/debug/headers` answers: the request as the server received it.
    struct ReceivedRequest: ResponseEncodable {
        let method: String
        let path: String
        /// `[name, value]` pairs in the order received; credentials are masked.
        let headers: [[String]]
    }

    let engines: EngineRegistry

    func add(to router: Router<Context>) {
        router.get("/") { _, _ -> Response in
            Self.page(WebPage.html, contentType: "text/html; charset=utf-8")
        }
        router.get("/app.js") { _, _ -> Response in
            Self.page(WebPage.script, contentType: "application/javascript; charset=utf-8")
        }
        router.get("/resumable-stream.js") { _, _ -> Response in
            Self.page(ResumableStreamScript.source, contentType: "application/javascript; charset=utf-8")
        }
        router.get(RouterPath(Paths.debugHeaders)) { request, _ -> Response in
            // Only the headers that tell how the request travelled are echoed with their values: a proxy may add
            // credentials of its own (Proxy-Authorization, X-Api-Key, …), and tokens ship inside mini-programs.
            let headers = request.headers.map { field -> [String] in
                let name = field.name.canonicalName
                let shown = EchoedHeaders.names.contains(name) || name.hasPrefix("sec-websocket-") || name.hasPrefix("x-forwarded-")
                return [field.name.rawName, shown ? field.value : "<\(field.value.utf8.count) bytes, not shown>"]
            }
            return JSONResponse.make(
                status: .ok, ReceivedRequest(method: request.method.rawValue, path: AccessToken.redacted(request.uri), headers: headers))
        }
        router.get(RouterPath(Paths.health)) { _, _ -> Response in
            let state = self.engines.defaultEngine?.state ?? .stopped
            let engines = Dictionary(uniqueKeysWithValues: self.engines.all.map { ($0.name, $0.state.rawValue) })
            return JSONResponse.make(
                status: state == .ready ? .ok : .serviceUnavailable,
                Health(
                    status: state == .ready ? "ok" : state.rawValue, engine: self.engines.defaultName, version: GatewayVersion.current,
                    engines: engines, upstreams: self.upstreams()
                )
            )
        }
        router.get(RouterPath(Paths.healthLive)) { _, _ -> Response in
            JSONResponse.make(status: .ok, Liveness(status: "alive", version: GatewayVersion.current))
        }
        router.get(RouterPath(Paths.healthReady)) { _, _ -> Response in
            let engines = Dictionary(uniqueKeysWithValues: self.engines.all.map { ($0.name, $0.state.rawValue) })
            let reason = await self.reasonNotReady()
            return JSONResponse.make(
                status: reason == nil ? .ok : .serviceUnavailable,
                Readiness(status: reason == nil ? "ready" : "not_ready", reason: reason, engines: engines))
        }
        for path in Paths.webSocketPaths {
            router.get(RouterPath(path)) { request, _ -> Response in
                try self.explainRefusedUpgrade(request)
            }
        }
    }

    private func upstreams() -> [String: [Upstream]] {
        var found: [String: [Upstream]] = [:]
        for engine in self.engines.all {
            if let reporting = engine as? any UpstreamReporting { found[engine.name] = reporting.upstreamStatuses.map(Upstream.init) }
        }
        return found
    }

    /// Why a new session would not be served now: an engine that is not ready, or the default engine full.
    private func reasonNotReady() async -> String? {
        if let engine = self.engines.all.first(where: { $0.state != .ready }) {
            return "engine \(engine.name) is \(engine.state.rawValue)"
        }
        if let engine = self.engines.defaultEngine as? any CapacityReporting, await !engine.hasRoomForAStream() {
            return "engine \(self.engines.defaultName) has no room for another stream"
        }
        return nil
    }

    static func page(_ text: String, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A request on a WebSocket path that reached the router: a plain GET (`426`), or a handshake NIO's upgrader
    /// judged incomplete before the upgrade decision saw it (the auth middleware checked its token first): its
    /// query is checked here, the only place that sees it, so that a wrong parameter is named before the handshake.
    /// The decision answers the handshakes it refuses itself, with their reason.
    private func explainRefusedUpgrade(_ request: Request) throws -> Response {
        guard request.headers[.upgrade]?.lowercased() == "websocket" else {
            throw GatewayError.upgradeRequired(request.uri.path)
        }
        if request.uri.path == Paths.stream {
            _ = try StreamParameters(query: request.uri, engines: self.engines)
        }
        throw WebSocketUpgradeDecision.incompleteHandshake
    }
}

/// Headers `debug/headers` shows the values of (lower-case), besides `sec-websocket-*` and `x-forwarded-*`.
enum EchoedHeaders {
    static let names: Set<String> = [
        "host", "upgrade", "connection", "via", "forwarded", "x-real-ip", "user-agent", "content-type", "content-length",
        "x-realtime-voice-doctor", "transfer-encoding",
    ]
}
