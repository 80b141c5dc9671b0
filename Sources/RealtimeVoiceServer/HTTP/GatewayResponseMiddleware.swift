import HTTPTypes
import Hummingbird
import Logging

/// Outermost middleware: every response, errors and 404s included, carries `X-Realtime-Voice-Instance`;
/// every error is rendered as JSON; every request is logged with its token redacted.
struct GatewayResponseMiddleware<Context: RequestContext>: RouterMiddleware {
    static var instanceHeader: HTTPField.Name { HTTPField.Name("X-Realtime-Voice-Instance")! }

    let instanceID: String
    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let gatewayError = GatewayError.from(error, path: request.uri.path)
            // Busy, shutting down (503) and upstream failures (502) are answers, not faults of the gateway.
            if gatewayError.status.code >= 500, gatewayError.status != .serviceUnavailable, gatewayError.status != .badGateway {
                context.logger.error("Request failed", metadata: ["error.type": "\(error)"])
            }
            response = gatewayError.response(path: request.uri.path)
        }
        response.headers[Self.instanceHeader] = self.instanceID
        // A refused WebSocket upgrade reaches the router: close, so that the client's retry gets a fresh
        // connection on which an upgrade can happen.
        if request.headers[.upgrade] != nil {
            response.headers[.connection] = "close"
        }
        context.logger.info(
            "HTTP request",
            metadata: [
                "http.method": "\(request.method)",
                "http.path": "\(AccessToken.redacted(request.uri))",
                "http.status": "\(response.status.code)",
            ]
        )
        let path = request.uri.path
        self.metrics.httpRequest(
            route: Paths.known.contains(path) ? path : "other", method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - started
        )
        return response
    }
}

/// Requires a token on `/api/` and `/v1/`, except for plain GETs on WebSocket paths (answered `426`, so that
/// cloud health checks and the doctor see the endpoint without a token).
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let authenticator: Authenticator
    let publicMetrics: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        let isPlainGetOnWebSocketPath = Paths.webSocketPaths.contains(path) && request.headers[.upgrade] == nil
        if Paths.requiresAuth(path, publicMetrics: self.publicMetrics) && !isPlainGetOnWebSocketPath {
            try await self.authenticator.authenticate(headers: request.headers, uri: request.uri)
        }
        return try await next(request, context)
    }
}
