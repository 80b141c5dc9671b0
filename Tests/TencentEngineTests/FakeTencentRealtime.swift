import Foundation
import Hummingbird
import HummingbirdTesting
import HummingbirdWebSocket
import NIOCore
import Synchronization
import TestAudio

@testable import TencentEngine

/// A stand-in for Tencent's real-time ASR WebSocket (docs/tencent.md) for the engine's session logic. It checks
/// each session's URL signature (HMAC-SHA1 with its own SecretKey over the sorted raw query, as Tencent does:
/// 4002 when it does not match; the signer's functions it uses are checked against Tencent's published vectors
/// in SignatureTests), answers the handshake, records every audio packet and when it came, sends a
/// `slice_type 1` result every second of audio and, after `{"type":"end"}`, one `slice_type 2` result over all it
/// heard (with one word, its last 400 ms) and `final:1`. Result times are upstream times: silence the engine sent
/// while its client paused counts, as at Tencent. Each session follows the next ``Script`` queued (then
/// ``Script/recognize``).
final class FakeTencentRealtime: Sendable {
    enum Script: Sendable, Equatable {
        /// Handshake, results, final, as above.
        case recognize
        /// A handshake frame with this error code, then the connection is closed.
        case handshakeError(Int)
        /// No handshake frame at all.
        case silentHandshake
        /// Results but no `final:1` after the end.
        case noFinal
        /// An error frame with `code` once `afterMs` of audio came in.
        case errorAfter(code: Int, afterMs: Int)
        /// The connection closed without a word once `afterMs` of audio came in.
        case dropAfter(afterMs: Int)
    }

    /// A frame the engine sent: audio (and when it came) or text.
    enum Frame: Sendable {
        case audio([UInt8], at: ContinuousClock.Instant)
        case text(String)
    }

    struct Session: Sendable {
        var query: [String: String]
        var signatureMatched: Bool
        var frames: [Frame] = []

        /// The audio packets, in order.
        var packets: [(bytes: [UInt8], at: ContinuousClock.Instant)] {
            self.frames.compactMap { frame -> (bytes: [UInt8], at: ContinuousClock.Instant)? in
                guard case .audio(let bytes, let at) = frame else { return nil }
                return (bytes, at)
            }
        }
    }

    static let appID = "1250000000"
    static let secretID = "AKIDfake"
    /// The key sessions are signed with unless a test gives the fake another.
    static let defaultSecretKey = "fake-secret-key"
    let secretKey: String
    let sampleRate = 16_000
    private let scripts: Mutex<[Script]>
    let sessions = Mutex<[Session]>([])

    init(secretKey: String = FakeTencentRealtime.defaultSecretKey, scripts: [Script] = []) {
        self.secretKey = secretKey
        self.scripts = Mutex(scripts)
    }

    /// Runs `body` with the `realtimeURL` (`ws://127.0.0.1:<port>/asr/v2`) of a live instance.
    func run(_ body: @escaping @Sendable (String) async throws -> Void) async throws {
        let router = Router(context: BasicWebSocketRequestContext.self)
        router.ws("/asr/v2/{appid}") { inbound, outbound, context in
            try await self.session(inbound: inbound, outbound: outbound, request: context.request)
        }
        let app = Application(
            router: Router(),
            server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0))
        )
        try await app.test(.live) { client in
            guard let port = client.port else { throw TestAudio.Failure(description: "the live test server has no port") }
            try await body("ws://127.0.0.1:\(port)/asr/v2")
        }
    }

    /// The query, percent-decoded, and whether its signature is the one its other parameters sign with this SecretKey.
    private func verify(path: String, query raw: String) -> (query: [String: String], matched: Bool) {
        var query: [String: String] = [:]
        for pair in raw.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
            query[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        let appID = path.split(separator: "/").last.map(String.init) ?? ""
        var signed = query
        signed.removeValue(forKey: "signature")
        let expected = RealtimeURLSigner.signature(
            of: RealtimeURLSigner.stringToSign(appID: appID, parameters: signed), secretKey: self.secretKey)
        let matched = appID == Self.appID && query["secretid"] == Self.secretID && query["signature"] == expected
        return (query, matched)
    }

    private func session(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, request: Request) async throws {
        let (query, matched) = self.verify(path: request.uri.path, query: request.uri.query ?? "")
        let script = self.scripts.withLock { $0.isEmpty ? .recognize : $0.removeFirst() }
        let index = self.sessions.withLock {
            $0.append(Session(query: query, signatureMatched: matched))
            return $0.count - 1
        }
        let voiceID = query["voice_id"] ?? ""
        func reply(code: Int, message: String, result: String? = nil, final: Int = 0) async throws {
            let resultField = result.map { #","result":\#($0)"# } ?? ""
            try await outbound.write(.text(#"{"code":\#(code),"message":"\#(message)","voice_id":"\#(voiceID)"\#(resultField),"final":\#(final)}"#))
        }
        /// A handshake error. Tencent then closes the connection at once; the fake waits 300 ms first, so that the
        /// client reads the error: swift-websocket's client loses frames when the server closes while the upgrade is
        /// being completed, and then hears nothing at all (docs/tencent.md). That case, a session that hears nothing
        /// after the upgrade, is `Script.silentHandshake`.
        func refuse(code: Int, message: String) async throws {
            try await reply(code: code, message: message)
            try await Task.sleep(for: .milliseconds(300))
        }
        guard matched else { return try await refuse(code: 4002, message: "鉴权失败: signature mismatch") }
        switch script {
        case .silentHandshake:
            for try await _ in inbound.messages(maxSize: 1 << 20) {}
            return
        case .handshakeError(let code):
            return try await refuse(code: code, message: "scripted handshake error")
        default:
            try await reply(code: 0, message: "success")
        }

        let bytesPerMs = self.sampleRate * 2 / 1000
        var received = 0
        var nextResult = 1000
        for try await message in inbound.messages(maxSize: 1 << 20) {
            switch message {
            case .binary(let buffer):
                let bytes = Array(buffer.readableBytesView)
                received += bytes.count
                self.sessions.withLock { $0[index].frames.append(.audio(bytes, at: .now)) }
                let heardMs = received / bytesPerMs
                switch script {
                case .errorAfter(let code, let afterMs) where heardMs >= afterMs:
                    return try await reply(code: code, message: "scripted error")
                case .dropAfter(let afterMs) where heardMs >= afterMs:
                    return
                default: break
                }
                if heardMs >= nextResult {
                    nextResult += 1000
                    try await reply(code: 0, message: "success", result: Self.result(sliceType: 1, endMs: heardMs))
                }
            case .text(let text):
                self.sessions.withLock { $0[index].frames.append(.text(text)) }
                guard text.contains(#""type":"end""#) else { continue }
                let heardMs = received / bytesPerMs
                try await reply(code: 0, message: "success", result: Self.result(sliceType: 2, endMs: heardMs))
                if script == .noFinal { continue }  // until the engine gives up and closes
                return try await reply(code: 0, message: "success", final: 1)
            }
        }
    }

    /// A result over upstream [0, endMs], its text saying so; finals carry one word, the last 400 ms.
    static func result(sliceType: Int, endMs: Int) -> String {
        let words = sliceType == 2 ? #"[{"word":"last","start_time":\#(max(0, endMs - 400)),"end_time":\#(endMs),"stable_flag":1}]"# : "[]"
        return #"""
            {"slice_type":\#(sliceType),"index":0,"start_time":0,"end_time":\#(endMs),"voice_text_str":"heard \#(endMs) ms",\#
            "word_size":\#(sliceType == 2 ? 1 : 0),"word_list":\#(words)}
            """#
    }
}
