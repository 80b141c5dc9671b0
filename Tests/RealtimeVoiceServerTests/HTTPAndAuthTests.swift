import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import JWTKit
import NIOCore
import NIOWebSocket
import Testing

@testable import RealtimeVoiceServer

@Suite("HTTP routes and authentication")
struct HTTPAndAuthTests {
    static let instanceHeader = HTTPField.Name("X-Realtime-Voice-Instance")!

    struct ErrorBody: Decodable {
        let code: Int
        let error: String
        let message: String
    }

    struct HealthBody: Decodable {
        let status: String
        let engine: String
        let version: String
        let engines: [String: String]
    }

    @Test("GET /health answers ok with the engine and version, and the instance header")
    func health() async throws {
        try await withGateway { client in
            let response = try await client.execute(uri: "/health", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[Self.instanceHeader] == "test-instance")
            let body = try JSONDecoder().decode(HealthBody.self, from: Data(buffer: response.body))
            #expect(body.status == "ok" && body.engine == "pocketsphinx" && body.version == GatewayVersion.current)
            #expect(body.engines["pocketsphinx"] == "ready")
        }
    }

    @Test("/resumable-stream.js is the mini-program module's file, byte for byte (scripts/embed-resumable-stream.py)")
    func resumableStreamScript() async throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../clients/miniprogram/resumable-stream.js")
        let shared = try String(contentsOf: file, encoding: .utf8)
        try await withGateway { client in
            let response = try await client.execute(uri: "/resumable-stream.js", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/javascript; charset=utf-8")
            #expect(String(buffer: response.body) + "\n" == shared, "run scripts/embed-resumable-stream.py")
        }
    }

    @Test("unknown paths are JSON 404s carrying the instance header")
    func notFound() async throws {
        try await withGateway { client in
            let response = try await client.execute(uri: "/nowhere", method: .get)
            #expect(response.status == .notFound)
            #expect(response.headers[Self.instanceHeader] == "test-instance")
            #expect(try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body)).error == "not_found")
        }
    }

    @Test(
        "a plain GET on a WebSocket path answers 426 with an explanation, token or not",
        arguments: ["/api/realtime-voice/stream", "/api/realtime-voice/echo"])
    func plainGetOnWebSocketPath(path: String) async throws {
        try await withGateway { client in
            let response = try await client.execute(uri: path, method: .get)
            #expect(response.status == .upgradeRequired)
            #expect(response.headers[Self.instanceHeader] == "test-instance")
            let body = try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body))
            #expect(body.error == "websocket_upgrade_required")
            #expect(body.message.contains("WebSocket"))
        }
    }

    enum TokenForm: String, CaseIterable, Sendable {
        case header, bearer, query

        func request(token: String?) -> (uri: String, headers: HTTPFields) {
            switch (self, token) {
            case (_, nil): return ("/api/realtime-voice/stream", [:])
            case (.header, let token?): return ("/api/realtime-voice/stream", [HTTPField.Name("token")!: token])
            case (.bearer, let token?): return ("/api/realtime-voice/stream", [.authorization: "Bearer \(token)"])
            case (.query, let token?): return ("/api/realtime-voice/stream?token=\(token)", [:])
            }
        }
    }

    @Test("a missing or wrong token gets HTTP 401 with a JSON body before any upgrade", arguments: TokenForm.allCases, [nil, "wrong-token"])
    func unauthorizedBeforeUpgrade(form: TokenForm, token: String?) async throws {
        try await withGateway { client in
            let (uri, headers) = form.request(token: token)
            let response = try await client.execute(uri: uri, method: .get, headers: upgradeHeaders(headers))
            #expect(response.status == .unauthorized)
            #expect(response.headers[.upgrade] == nil)
            #expect(response.headers[Self.instanceHeader] == "test-instance")
            let body = try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body))
            #expect(body.error == "unauthorized")
            #expect(body.code == 401)
        }
    }

    @Test("each token form is accepted for the WebSocket upgrade", arguments: TokenForm.allCases)
    func tokenFormsAccepted(form: TokenForm) async throws {
        try await withGateway { client in
            let (uri, headers) = form.request(token: testToken)
            let path = uri.replacingOccurrences(of: "stream", with: "echo")
            let echoed = NIOLockedValueBoxLite<String?>(nil)
            let close = try await client.ws(path, configuration: .init(additionalHeaders: headers)) { inbound, outbound, _ in
                try await outbound.write(.text("hello"))
                for try await message in inbound.messages(maxSize: 1024) {
                    if case .text(let text) = message { echoed.mutate { $0 = text } }
                    break
                }
            }
            #expect(echoed.value == "hello")
            #expect(close?.closeCode == .normalClosure)
        }
    }

    enum JWTCase: String, CaseIterable, Sendable {
        case valid, expired, wrongKey, algNone, malformed

        func token() async throws -> String {
            let good = JWTKeyCollection()
            await good.add(hmac: HMACKey(from: testJWTSecret), digestAlgorithm: .sha256)
            let other = JWTKeyCollection()
            await other.add(hmac: HMACKey(from: "another-secret-entirely-32-bytes-long"), digestAlgorithm: .sha256)
            let inTenMinutes = Authenticator.Claims(exp: .init(value: Date().addingTimeInterval(600)), sub: "user")
            switch self {
            case .valid: return try await good.sign(inTenMinutes)
            case .expired: return try await good.sign(Authenticator.Claims(exp: .init(value: Date().addingTimeInterval(-60)), sub: "user"))
            case .wrongKey: return try await other.sign(inTenMinutes)
            case .algNone:
                let payload = Data(#"{"exp":\#(Int(Date().timeIntervalSince1970) + 600)}"#.utf8).base64EncodedString()
                let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString()
                return "\(header).\(payload).".replacingOccurrences(of: "=", with: "")
            case .malformed: return "a.b.c"
            }
        }
    }

    @Test("JWTs: valid and unexpired accepted; expired, wrong key, alg none and malformed refused with 401", arguments: JWTCase.allCases)
    func jwtTokens(jwt: JWTCase) async throws {
        let token = try await jwt.token()
        try await withGateway { client in
            // An accepted token passes auth and reaches the handshake check: this handshake lacks its key (400).
            let response = try await client.execute(
                uri: "/api/realtime-voice/stream",
                method: .get,
                headers: [.authorization: "Bearer \(token)", .upgrade: "websocket", .connection: "Upgrade"]
            )
            #expect(response.status == (jwt == .valid ? .badRequest : .unauthorized))
        }
    }

    @Test(
        "invalid stream parameters are refused with 400 and a code, before any upgrade",
        arguments: [
            ("sample_rate=5", "invalid_parameter"), ("sample_rate=abc", "invalid_parameter"), ("engine=nope", "unknown_engine"),
            ("lang=zh-CN", "unsupported_language"),
        ]
    )
    func invalidParameters(query: String, code: String) async throws {
        try await withGateway { client in
            let response = try await client.execute(
                uri: "/api/realtime-voice/stream?\(query)&token=\(testToken)",
                method: .get,
                headers: upgradeHeaders()
            )
            #expect(response.status == .badRequest)
            #expect(try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body)).error == code)
        }
    }

    @Test("tokens never appear in the access log")
    func tokenRedacted() {
        let uri = URI("/api/realtime-voice/stream?sample_rate=8000&token=secret-value&lang=en-US")
        #expect(AccessToken.redacted(uri) == "/api/realtime-voice/stream?sample_rate=8000&token=REDACTED&lang=en-US")
    }
}
