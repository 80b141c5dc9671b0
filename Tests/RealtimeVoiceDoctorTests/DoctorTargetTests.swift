import Testing

@testable import RealtimeVoiceDoctor

@Suite("doctor: targets and the classification of refused handshakes")
struct DoctorTargetTests {
    @Test("schemes, ports, prefixes and endpoint paths")
    func targets() throws {
        let wss = try DoctorTarget("wss://api.example.com/voice/api/realtime-voice/stream?token=x")
        #expect(wss.tls && wss.port == 443 && wss.prefix == "/voice")
        #expect(wss.httpBase == "https://api.example.com/voice" && wss.webSocketBase == "wss://api.example.com/voice")
        let local = try DoctorTarget("http://127.0.0.1:8080/")
        #expect(!local.tls && local.port == 8080 && local.prefix == "" && local.hostIsAddress)
        #expect(try DoctorTarget("https://cafe.be").hostIsAddress == false)  // all hex digits, still a name
        #expect(try DoctorTarget("http://[::1]:9000").hostIsAddress)
        #expect(throws: DoctorUsageError.self) { try DoctorTarget("ftp://example.com") }
        #expect(throws: DoctorUsageError.self) { try DoctorTarget("not a url") }
    }

    @Test("each refused handshake gets its cause")
    func causes() {
        func response(_ status: Int, _ headers: [(String, String)] = [], body: String = "") -> RawHTTPExchange.Response {
            RawHTTPExchange.Response(status: status, reason: "", headers: headers, body: Array(body.utf8), elapsed: .zero)
        }
        let ours = (UpgradeDiagnosis.instanceHeader, "host/1")
        func cause(_ r: RawHTTPExchange.Response) -> String? { UpgradeDiagnosis.diagnose(r, manualCheck: "", intermediaries: [])?.cause }
        #expect(cause(response(101)) == nil)
        #expect(cause(response(404)) == "gateway_does_not_route_websocket")
        #expect(cause(response(404, [ours])) == "server_route_not_found")
        #expect(cause(response(426, [ours])) == "upgrade_headers_stripped")
        #expect(cause(response(200, [("Content-Type", "text/html")], body: "<!doctype html>")) == "html_fallback")
        #expect(cause(response(308, [("Location", "https://x/")])) == "redirect_on_websocket_path")
        #expect(cause(response(401, [ours])) == "token_refused")
        #expect(cause(response(504)) == "backend_unavailable")
        #expect(cause(response(418)) == "unexpected_upgrade_answer")
    }

    @Test("raw responses are parsed once complete")
    func parsing() {
        let head = "HTTP/1.1 404 Not Found\r\nServer: openresty\r\nContent-Length: 5\r\n\r\n"
        #expect(RawHTTPExchange.parse(Array((head + "ab").utf8), complete: false) == nil)
        let parsed = RawHTTPExchange.parse(Array((head + "abcde").utf8), complete: false)
        #expect(parsed?.status == 404 && parsed?.header("server") == "openresty" && parsed?.bodyText == "abcde")
        #expect(RawHTTPExchange.parse(Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".utf8), complete: false)?.status == 101)
        #expect(
            Intermediaries.recognise([("Server", "nginx/1.22.1"), ("X-Cloudbase-Upstream-Status-Code", "404")]) == [
                "nginx (nginx/1.22.1)", "Tencent CloudBase",
            ])
    }
}
