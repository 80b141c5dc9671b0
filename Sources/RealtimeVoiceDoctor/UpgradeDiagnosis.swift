import Foundation

/// Names the cause of a refused WebSocket handshake from the raw answer (README.md, “Diagnosing a deployment:
/// realtime-voice doctor”, the `upgrade` row of the checks table).
enum UpgradeDiagnosis {
    static let instanceHeader = "X-Realtime-Voice-Instance"

    static let nginxUpgradeBlock = """
        map $http_upgrade $connection_upgrade { default upgrade; '' close; }
        location /api/realtime-voice/ {
            proxy_pass http://127.0.0.1:8080;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 3600s;
        }
        """

    static func diagnose(_ response: RawHTTPExchange.Response, manualCheck: String, intermediaries: [String]) -> Diagnosis? {
        let ours = response.header(Self.instanceHeader) != nil
        let via = intermediaries.isEmpty ? "" : " (answered through: \(intermediaries.joined(separator: ", ")))"
        let contentType = response.header("Content-Type")?.lowercased() ?? ""
        func make(_ cause: String, _ summary: String, _ evidence: String, _ remedy: String) -> Diagnosis {
            Diagnosis(cause: cause, summary: summary, evidence: evidence + via, remedy: remedy, manualCheck: manualCheck)
        }
        switch response.status {
        case 101:
            return nil
        case 404 where ours:
            return make(
                "server_route_not_found", "The request reached realtime-voice, but at a path it does not serve.",
                "404 carrying our \(Self.instanceHeader) header.",
                """
                Check the URL's path: the WebSocket endpoints are /api/realtime-voice/stream and /api/realtime-voice/echo. \
                A proxy that rewrites paths (strips or adds a prefix) must map them back.
                """
            )
        case 404:
            return make(
                "gateway_does_not_route_websocket",
                "A gateway or proxy in front answered the upgrade itself: it does not route this path, or does not pass WebSocket at all.",
                "404 without our \(Self.instanceHeader) header, while plain HTTP to the same host reached the server.",
                """
                Enable WebSocket for the service on the platform (CloudBase: the service's WebSocket switch; \
                API gateways: a WebSocket API or path mapping for /api/realtime-voice/*; AWS: ALB/NLB, not a Classic LB in HTTP mode); \
                for nginx, a location for the path with:\n
                """
                    + Self.nginxUpgradeBlock
            )
        case 426, 400:
            return make(
                "upgrade_headers_stripped", "A proxy removed the Upgrade/Connection headers, so the server saw a plain request.",
                """
                \(response.status) \(ours ? "from realtime-voice itself (our header is present)" : "") \
                to a handshake that carried Upgrade: websocket and Connection: Upgrade.
                """,
                "nginx: add proxy_http_version 1.1 and the Upgrade/Connection headers:\n" + Self.nginxUpgradeBlock
                    + "\nOther proxies: enable WebSocket (HTTP/1.1 upgrade) pass-through."
            )
        case 200 where contentType.contains("text/html"):
            return make(
                "html_fallback", "A static site or SPA fallback answered the WebSocket path with a web page.",
                "200 text/html: \(response.bodyText.prefix(60).replacingOccurrences(of: "\n", with: " "))",
                """
                Exclude /api/realtime-voice/ from the static/SPA fallback (try_files, history fallback) \
                and proxy it to the server with the upgrade headers.
                """
            )
        case 300...399:
            let location = Doctor.redacted(response.header("Location") ?? "(no Location)")
            return make(
                "redirect_on_websocket_path", "The WebSocket path is redirected; WebSocket clients do not follow redirects.",
                "\(response.status) to \(location).",
                """
                Give clients the final URL (scheme, host, trailing slash) \
                — e.g. wss:// when the redirect goes to https — and exempt the WebSocket path from redirects.
                """
            )
        case 401, 403:
            return make(
                "token_refused", "The server (or a gateway) refused the token.",
                "\(response.status)\(ours ? " from realtime-voice" : " without our header: a gateway's own auth?").",
                """
                Pass the server's token with --token (header 'token', 'Authorization: Bearer', or '?token='); \
                check REALTIME_VOICE_TOKENS / the JWT secret on the server.
                """
            )
        case 502, 503, 504:
            return make(
                "backend_unavailable",
                """
                The proxy could not reach the server, \
                or gave up waiting (not running, cold start, wrong port, or the proxy cannot speak WebSocket to it).
                """,
                "\(response.status) \(ours ? "from realtime-voice (still loading?)" : "without our header: from the proxy").",
                """
                Check the server is running and healthy on the port the proxy targets; keep at least one instance warm (CloudBase minNum ≥ 1); \
                make the proxy speak HTTP/1.1 to the backend.
                """
            )
        default:
            return make(
                "unexpected_upgrade_answer", "The handshake got an answer doctor does not recognise.",
                "\(response.status) \(response.reason), Content-Type \(contentType.isEmpty ? "none" : contentType).",
                "Run the manual command below and compare with a direct connection to the server."
            )
        }
    }
}
