import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore

/// Where a client may put its token: the `token` header (what `wx.connectSocket` sends),
/// `Authorization: Bearer`, the `token` query parameter (browsers cannot set WebSocket headers), or the
/// WebSocket subprotocol `openai-insecure-api-key.<token>` on `/v1/realtime` (how OpenAI's browser clients authenticate).
enum AccessToken {
    static let headerName = HTTPField.Name("token")!
    static let queryName = "token"
    static let subprotocolPrefix = "openai-insecure-api-key."

    /// The subprotocols a WebSocket handshake offers.
    static func subprotocols(in headers: HTTPFields) -> [String] {
        headers[values: .secWebSocketProtocol].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    static func find(in headers: HTTPFields, uri: URI) -> String? {
        if let token = headers[Self.headerName], !token.isEmpty {
            return token
        }
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                let token = parts[1].drop { $0 == " " }
                return token.isEmpty ? nil : String(token)
            }
        }
        if let token = uri.queryParameters.get(Self.queryName), !token.isEmpty {
            return token
        }
        if uri.path == Paths.realtime, let offered = Self.subprotocols(in: headers).first(where: { $0.hasPrefix(Self.subprotocolPrefix) }) {
            let token = offered.dropFirst(Self.subprotocolPrefix.count)
            return token.isEmpty ? nil : String(token)
        }
        return nil
    }

    /// The path and query with the token's value replaced, for logs.
    static func redacted(_ uri: URI) -> String {
        guard let query = uri.query, !query.isEmpty else { return uri.path }
        let parts = query.split(separator: "&", omittingEmptySubsequences: false).map { part -> String in
            let key = part.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return key == Self.queryName || key == "resume_token" ? "\(key)=REDACTED" : String(part)
        }
        return "\(uri.path)?\(parts.joined(separator: "&"))"
    }
}
