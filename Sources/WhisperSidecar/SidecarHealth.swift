import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// What the sidecar's `GET /health` answers (server.py): its model, and the languages that model takes.
struct SidecarHealth: Decodable, Sendable {
    let status: String
    let model: String?
    let multilingual: Bool?
    /// ISO 639-1 codes (Whisper's), e.g. 99 for base, `["en"]` for tiny.en.
    let languages: [String]?

    /// One health check; nil when it does not answer `200 {"status":"ok"}` within `timeout`.
    static func probe(_ url: String, timeout: Duration, http: HTTPClient = .shared) async -> SidecarHealth? {
        do {
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: TimeAmount(timeout))
            guard response.status == .ok else { return nil }
            let body = try await response.body.collect(upTo: 256 * 1024)
            let health = try JSONDecoder().decode(SidecarHealth.self, from: Data(body.readableBytesView))
            return health.status == "ok" ? health : nil
        } catch {
            return nil
        }
    }
}
