import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket

extension Doctor {
    /// Known idle limits of intermediaries, to name the one a close time matches (±2 s).
    static let knownIdleLimits: [(seconds: Double, who: String)] = [
        (55, "Heroku's router (55 s)"), (60, "nginx's default proxy_read_timeout or an AWS ALB (60 s)"),
        (100, "Cloudflare (~100 s)"), (270, "Cloudflare Zero Trust (270 s)"), (600, "AWS API Gateway / CloudFront (10 min)"),
    ]

    var quietLogger: Logger {
        var logger = Logger(label: "doctor")
        logger.logLevel = .critical
        return logger
    }

    /// The server's echo of the request headers, sent with the handshake's Upgrade/Connection: shows what a
    /// proxy stripped.
    func receivedHeaders(raw: RawHTTPExchange, query: String) async -> CheckResult {
        do {
            let answer = try await raw.send(
                path: self.target.path("/api/realtime-voice/debug/headers") + query,
                headers: [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("X-Realtime-Voice-Doctor", self.nonce)]
            )
            guard answer.status == 200, let object = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any],
                let pairs = object["headers"] as? [[String]]
            else {
                return CheckResult(
                    check: "headers", status: .warn, detail: "GET /api/realtime-voice/debug/headers answered \(answer.status) (an older server?)")
            }
            let names = Set(pairs.compactMap { $0.first?.lowercased() })
            let connection = pairs.first { $0.first?.lowercased() == "connection" }?.last?.lowercased() ?? ""
            var stripped: [String] = []
            if !names.contains("upgrade") { stripped.append("Upgrade") }
            if !connection.contains("upgrade") { stripped.append("Connection: Upgrade") }
            if !names.contains("x-realtime-voice-doctor") { stripped.append("X-Realtime-Voice-Doctor") }
            let added = pairs.compactMap { $0.first }.filter {
                $0.lowercased().hasPrefix("x-forwarded") || $0.lowercased() == "via" || $0.lowercased() == "x-real-ip"
            }
            let detail =
                (stripped.isEmpty ? "Upgrade and Connection reach the server" : "the server did not receive: \(stripped.joined(separator: ", "))")
                + (added.isEmpty ? "" : "; added on the way: \(added.joined(separator: ", "))")
            guard stripped.isEmpty else {
                return CheckResult(
                    check: "headers", status: .fail, detail: detail,
                    diagnosis: Diagnosis(
                        cause: "upgrade_headers_stripped",
                        summary: "A proxy removes hop-by-hop headers, so no WebSocket handshake can reach the server.",
                        evidence: """
                            Sent Upgrade: websocket and Connection: Upgrade; \
                            the server's echo of the request lacks \(stripped.joined(separator: ", ")).
                            """,
                        remedy: "nginx:\n" + UpgradeDiagnosis.nginxUpgradeBlock,
                        manualCheck: """
                            curl -s -H 'Upgrade: websocket' -H 'Connection: Upgrade' -H 'token: …' \
                            \(self.target.httpBase)/api/realtime-voice/debug/headers
                            """
                    ))
            }
            return CheckResult(check: "headers", status: .pass, detail: detail)
        } catch {
            return CheckResult(check: "headers", status: .warn, detail: "\(error)")
        }
    }

    /// How a held connection ended.
    struct Hold {
        /// When it was closed, if before the end of the hold.
        var closedAfter: Duration?
        var closeFrame: WebSocketCloseFrame?
        var failure: (any Error)?
    }

    /// Holds an echo connection open for `hold` with no client traffic, or with `{"type":"ping"}` every `heartbeat`.
    func holdConnection(query: String, hold: Duration, heartbeat: Duration?) async -> Hold {
        let url = self.target.webSocketBase + "/api/realtime-voice/echo" + query
        let clock = ContinuousClock()
        let start = clock.now
        let closedAt = ClosedAt()
        var result = Hold()
        do {
            result.closeFrame = try await WebSocketClient.connect(
                url: url,
                configuration: .init(maxFrameSize: 1 << 16, closeTimeout: .seconds(2), autoPing: .disabled),
                tlsConfiguration: self.tlsConfiguration,
                logger: self.quietLogger
            ) { inbound, outbound, _ in
                let ender = Task {
                    if let heartbeat {
                        while clock.now - start + heartbeat < hold {
                            try await Task.sleep(for: heartbeat)
                            try await outbound.write(.text(#"{"type":"ping"}"#))
                        }
                    }
                    try await Task.sleep(until: start + hold, clock: clock)
                    try await outbound.close(.normalClosure, reason: "doctor idle check done")
                }
                defer { ender.cancel() }
                for try await _ in inbound.messages(maxSize: 1 << 16) {}
                if clock.now - start < hold { closedAt.value = clock.now - start }
            }
        } catch {
            result.failure = error
            if closedAt.value == nil { closedAt.value = clock.now - start }
        }
        if let closed = closedAt.value, closed < hold { result.closedAfter = closed }
        return result
    }

    /// Holds a connection silent (no client pings) and reports whether, when and how it was closed; when it was,
    /// tries again with an application heartbeat to show what keeps it open.
    func idleSurvival(query: String, hold: Duration) async -> CheckResult {
        let url = self.target.webSocketBase + "/api/realtime-voice/echo" + query
        let silent = await self.holdConnection(query: query, hold: hold, heartbeat: nil)
        guard let closed = silent.closedAfter else {
            return CheckResult(
                check: "idle", status: .pass,
                detail: "a silent connection stayed open \(Self.seconds(hold)) s (server pings keep proxies from timing it out)")
        }
        let seconds = Double(Self.ms(closed)) / 1000
        let how: String
        if let closeFrame = silent.closeFrame {
            how = "with a close frame \(closeFrame.closeCode)\(closeFrame.reason.map { " (\($0))" } ?? "")"
        } else if let failure = silent.failure, "\(failure)".lowercased().contains("reset") {
            how = "by a TCP reset, without a WebSocket close frame"
        } else {
            how = "by the connection ending, without a WebSocket close frame"
        }
        let match = Self.knownIdleLimits.first { abs($0.seconds - seconds) <= 2 }.map { " — matches \($0.who)" } ?? ""
        // The same hold with a client heartbeat at half the limit: does traffic keep it open?
        let beat = max(Duration.milliseconds(500), closed / 2)
        let retried = await self.holdConnection(query: query, hold: min(hold, closed * 3), heartbeat: beat)
        let heartbeatOutcome =
            retried.closedAfter == nil
            ? String(format: "; with a {\"type\":\"ping\"} every %.1f s it stayed open", Double(Self.ms(beat)) / 1000)
            : "; even with a {\"type\":\"ping\"} every \(Self.ms(beat)) ms it was closed (a limit on total time, not idle time?)"
        return CheckResult(
            check: "idle", status: .fail, detail: String(format: "closed after %.1f s %@", seconds, how) + heartbeatOutcome,
            diagnosis: Diagnosis(
                cause: "idle_timeout",
                summary: String(format: "Something in between closes connections idle for about %.0f s%@.", seconds, match),
                evidence: String(
                    format: """
                        A connection with no client traffic was closed after %.1f s %@; \
                        realtime-voice itself closes only after its own session limits, with a close frame
                        """,
                    seconds, how) + heartbeatOutcome + ".",
                remedy: """
                    Raise the proxy's idle timeout (nginx: proxy_read_timeout 3600s; AWS ALB idle timeout up to 4000 s; \
                    CloudBase: the gateway's timeout), and set the server's --ping-interval below the limit (it is 20 s by default) \
                    so its pings keep the connection busy; clients should send {\"type\":\"ping\"} too and reconnect when closed.
                    """,
                manualCheck: "websocat --ping-interval 0 '\(Self.redacted(url))'  # and wait"))
    }

    final class ClosedAt: @unchecked Sendable {
        // Written by the WebSocket handler or after connect returned, read after both.
        var value: Duration?
    }

    /// Streams the built-in speech sample to the stream endpoint; a final must come back.
    func streamRecognition() async -> CheckResult {
        let url = self.target.webSocketBase + "/api/realtime-voice/stream?doctor=\(self.nonce)&token=\(Self.percentEncoded(self.options.token ?? ""))"
        let wav = Data(base64Encoded: DoctorSample.wavBase64) ?? Data()
        let result = StreamOutcome()
        let clock = ContinuousClock()
        let start = clock.now
        do {
            try await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: 1 << 20), tlsConfiguration: self.tlsConfiguration, logger: self.quietLogger
            ) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                guard case .text(let ready) = try await messages.next(), ready.contains("\"ready\"") else {
                    result.problem = "no ready message"; return
                }
                // Sent at once: the server holds a burst for its engine.
                for offset in stride(from: 0, to: wav.count, by: 3200) {
                    try await outbound.write(.binary(ByteBuffer(bytes: wav[offset..<min(wav.count, offset + 3200)])))
                }
                try await outbound.write(.text(#"{"type":"end"}"#))
                while let message = try await messages.next() {
                    guard case .text(let text) = message, let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
                    else { continue }
                    switch object["type"] as? String {
                    case "final": result.texts.append(object["text"] as? String ?? "")
                    case "completed": result.completed = true
                    case "error": result.problem = "error \(object["code"] ?? "?"): \(object["message"] ?? "")"
                    default: break
                    }
                    if result.completed || result.problem != nil { break }
                }
            }
        } catch {
            result.problem = "\(error)"
        }
        let heard = result.texts.filter { !$0.isEmpty }.joined(separator: " ")
        guard result.completed, result.problem == nil else {
            return CheckResult(
                check: "stream", status: .fail, detail: result.problem ?? "the session ended without completed",
                diagnosis: Diagnosis(
                    cause: "stream_recognition_failed", summary: "Streaming recognition did not complete.",
                    evidence: result.problem ?? "no completed message",
                    remedy: "Check the server's log for the session (its doctor nonce is \(self.nonce)) and the engine's readiness on /health.",
                    manualCheck: nil))
        }
        return CheckResult(
            check: "stream", status: heard.isEmpty ? .warn : .pass,
            detail: "\"\(heard)\" for the sample \"\(DoctorSample.text)\" in \(Self.ms(clock.now - start)) ms")
    }

    final class StreamOutcome: @unchecked Sendable {
        // Written by the WebSocket handler, read after it returned.
        var texts: [String] = []
        var completed = false
        var problem: String?
    }

    /// Uploads the built-in sample to the HTTP fallback, as `wx.uploadFile` would.
    func uploadRecognition(raw: RawHTTPExchange) async -> CheckResult {
        let wav = [UInt8](Data(base64Encoded: DoctorSample.wavBase64) ?? Data())
        let boundary = "doctor\(self.nonce)"
        var body = Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"doctor.wav\"\r\nContent-Type: audio/wav\r\n\r\n".utf8)
        body += wav + Array("\r\n--\(boundary)--\r\n".utf8)
        do {
            let answer = try await raw.send(
                method: "POST", path: self.target.path("/api/realtime-voice/recognize") + "?doctor=\(self.nonce)",
                headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)"), ("token", self.options.token ?? "")], body: body)
            let object = try? JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any]
            if answer.status == 200, (object?["code"] as? Int) == 0, let data = object?["data"] as? [String: Any] {
                return CheckResult(
                    check: "recognize", status: .pass,
                    detail: "POST /api/realtime-voice/recognize → \"\(data["text"] as? String ?? "")\" in \(Self.ms(answer.elapsed)) ms")
            }
            return CheckResult(
                check: "recognize", status: .fail, detail: "\(answer.status): \(answer.bodyText.prefix(160))",
                diagnosis: Diagnosis(
                    cause: "upload_recognition_failed", summary: "The HTTP fallback (upload) did not recognise the sample.",
                    evidence: "POST → \(answer.status) \(answer.header("Content-Type") ?? "")",
                    remedy: answer.status == 413
                        ? "Raise the proxy's body size limit (nginx: client_max_body_size 10m) to the server's --max-upload-bytes."
                        : "Check the server's log (doctor nonce \(self.nonce)).",
                    manualCheck: "curl -F audio=@recording.wav -H 'token: …' \(self.target.httpBase)/api/realtime-voice/recognize"))
        } catch {
            return CheckResult(check: "recognize", status: .fail, detail: "\(error)", diagnosis: Self.connectionDiagnosis(error, target: self.target))
        }
    }

    static func seconds(_ duration: Duration) -> Int { Int(duration.components.seconds) }
}
