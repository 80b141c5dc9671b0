import HTTPTypes
import Hummingbird
import HummingbirdCore
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
        self.finish(
            &response, method: request.method, uri: request.uri, isUpgrade: request.headers[.upgrade] != nil, logger: context.logger, started: started
        )
        return response
    }

    /// What every answer gets, from the router or for a refused upgrade: the instance header, a log line, metrics.
    func finish(_ response: inout Response, method: HTTPRequest.Method, uri: URI, isUpgrade: Bool, logger: Logger, started: ContinuousClock.Instant) {
        response.headers[Self.instanceHeader] = self.instanceID
        // A refused WebSocket upgrade: close, so that the client's retry gets a fresh connection on which an upgrade
        // can happen.
        if isUpgrade {
            response.headers[.connection] = "close"
        }
        logger.info(
            "HTTP request",
            metadata: [
                "http.method": "\(method)",
                "http.path": "\(AccessToken.redacted(uri))",
                "http.status": "\(response.status.code)",
            ]
        )
        let path = uri.path
        self.metrics.httpRequest(
            route: Paths.known.contains(path) ? path : "other", method: method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - started
        )
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
