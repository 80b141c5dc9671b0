import HTTPTypes
import Hummingbird
import NIOWebSocket

/// An error a client sees: a stable snake_case code, a human sentence and the HTTP status.
///
/// On `/api/` paths it is rendered in the gateway's envelope
/// `{"code":401,"error":"unauthorized","message":"…"}` (`code` is the HTTP status, `0` on success);
/// on `/v1/` paths in OpenAI's shape `{"error":{"message":"…","type":"…","code":"…"}}`.
public struct GatewayError: Error, Sendable, Equatable {
    public let status: HTTPResponse.Status
    public let code: String
    public let message: String
    public var headers: HTTPFields = [:]

    public init(status: HTTPResponse.Status, code: String, message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    static func unauthorized(_ message: String) -> Self {
        .init(status: .unauthorized, code: "unauthorized", message: message, headers: [.wwwAuthenticate: "Bearer"])
    }

    static func notFound(_ path: String) -> Self {
        .init(status: .notFound, code: "not_found", message: "No route for \(path).")
    }

    static func upgradeRequired(_ path: String) -> Self {
        .init(
            status: .upgradeRequired,
            code: "websocket_upgrade_required",
            message: "\(path) is a WebSocket endpoint: connect with a WebSocket client (GET with 'Connection: Upgrade' and 'Upgrade: websocket').",
            headers: [.upgrade: "websocket", .connection: "Upgrade"]
        )
    }

    static func invalidParameter(_ message: String) -> Self {
        .init(status: .badRequest, code: "invalid_parameter", message: message)
    }

    static func unsupportedLanguage(_ message: String) -> Self {
        .init(status: .badRequest, code: "unsupported_language", message: message)
    }

    static func unknownEngine(_ message: String) -> Self {
        .init(status: .badRequest, code: "unknown_engine", message: message)
    }

    static func invalidUpgrade(_ message: String) -> Self {
        .init(status: .badRequest, code: "invalid_upgrade", message: message)
    }

    /// Any error Hummingbird or a library threw, in the same shape.
    static func from(_ error: any Error, path: String) -> Self {
        switch error {
        case let error as GatewayError:
            return error
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound(path)
            case .contentTooLarge: return .init(status: error.status, code: "payload_too_large", message: error.body ?? "The request body is too large.")
            default: return .init(status: error.status, code: Self.snakeCase(error.status.reasonPhrase), message: error.body ?? error.status.reasonPhrase)
            }
        case let error as any HTTPResponseError:
            return .init(status: error.status, code: Self.snakeCase(error.status.reasonPhrase), message: error.status.reasonPhrase)
        default:
            return .init(status: .internalServerError, code: "internal_error", message: "The server failed to handle the request.")
        }
    }

    private static func snakeCase(_ phrase: String) -> String {
        phrase.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.reduce(into: "") { $0.append($1) }
    }
}
