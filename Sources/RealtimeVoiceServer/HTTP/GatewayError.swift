import HTTPTypes
import Hummingbird
import NIOWebSocket
import RealtimeVoiceErrors

/// An error a client sees over HTTP: a code of the catalogue (``ErrorCode``), a human sentence, and the HTTP status
/// the catalogue gives that code (a `Retry-After` too when the code is worth retrying).
///
/// On `/api/` paths it is rendered in the gateway's envelope
/// `{"code":401,"error":"unauthorized","message":"…"}` (`code` is the HTTP status, `0` on success);
/// on `/v1/` paths in OpenAI's shape `{"error":{"message":"…","type":"…","code":"…"}}`.
public struct GatewayError: Error, Sendable, Equatable {
    public let code: ErrorCode
    public let status: HTTPResponse.Status
    public let message: String
    public var headers: HTTPFields

    /// `code` with its catalogue status; `status` only for a framework's error that no code names exactly.
    public init(_ code: ErrorCode, _ message: String, headers: HTTPFields = [:], status: HTTPResponse.Status? = nil) {
        self.code = code
        self.status = status ?? HTTPResponse.Status(code: code.httpStatus ?? 500)
        self.message = message
        var headers = headers
        if let seconds = code.retryAfterSeconds, headers[.retryAfter] == nil { headers[.retryAfter] = String(seconds) }
        self.headers = headers
    }

    static func unauthorized(_ message: String) -> Self {
        .init(.unauthorized, message, headers: [.wwwAuthenticate: "Bearer"])
    }

    static func notFound(_ path: String) -> Self {
        .init(.notFound, "No route for \(path).")
    }

    static func upgradeRequired(_ path: String) -> Self {
        .init(
            .websocketUpgradeRequired,
            "\(path) is a WebSocket endpoint: connect with a WebSocket client (GET with 'Connection: Upgrade' and 'Upgrade: websocket').",
            headers: [.upgrade: "websocket", .connection: "Upgrade"]
        )
    }

    static func invalidParameter(_ message: String) -> Self { .init(.invalidParameter, message) }

    static func unsupportedLanguage(_ message: String) -> Self { .init(.unsupportedLanguage, message) }

    static func unknownEngine(_ message: String) -> Self { .init(.unknownEngine, message) }

    static func invalidUpgrade(_ message: String) -> Self { .init(.invalidUpgrade, message) }

    /// Any error Hummingbird or a library threw, in the same shape.
    static func from(_ error: any Error, path: String) -> Self {
        switch error {
        case let error as GatewayError:
            return error
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound(path)
            case .contentTooLarge: return .init(.payloadTooLarge, error.body ?? "The request body is too large.")
            default: return .init(.generic(httpStatus: error.status.code), error.body ?? error.status.reasonPhrase, status: error.status)
            }
        case let error as any HTTPResponseError:
            return .init(.generic(httpStatus: error.status.code), error.status.reasonPhrase, status: error.status)
        default:
            return .init(.internalError, "The server failed to handle the request.")
        }
    }
}
