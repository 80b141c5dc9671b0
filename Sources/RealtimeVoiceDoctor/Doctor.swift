import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Probes a deployment, check by check, each skipped with a reason when an earlier one makes it meaningless.
public struct Doctor: Sendable {
    public struct Options: Sendable {
        public var token: String?
        public var timeout: Duration
        /// How long the idle check holds a silent connection; nil skips it.
        public var idle: Duration?
        /// PEM file of extra trusted roots (a private CA), besides the system's.
        public var caFile: String?
        public init(token: String? = nil, timeout: Duration = .seconds(10), idle: Duration? = .seconds(75), caFile: String? = nil) {
            self.token = token
            self.timeout = timeout
            self.idle = idle
            self.caFile = caFile
        }
    }

    /// The checks, in the order they run.
    static let checkOrder = ["dns", "tcp", "tls", "health", "plain_get", "upgrade", "auth", "headers", "echo", "idle", "stream", "recognize"]

    let target: DoctorTarget
    let options: Options
    let nonce = String(UInt64.random(in: 1...UInt64.max), radix: 36)

    public init(target: DoctorTarget, options: Options) {
        self.target = target
        self.options = options
    }

    /// The client TLS settings of every probe: the system's roots, plus `--ca-file`'s.
    var tlsConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let file = self.options.caFile { configuration.additionalTrustRoots = [.file(file)] }
        return configuration
    }

    /// Runs every check; `onResult` sees each as it completes.
    public func run(onResult: @Sendable (CheckResult) -> Void = { _ in }) async -> DoctorReport {
        var results: [CheckResult] = []
        var intermediaries: [String] = []
        func record(_ result: CheckResult) {
            results.append(result)
            onResult(result)
        }
        func skip(_ check: String, _ reason: String) { record(CheckResult(check: check, status: .skip, detail: reason)) }
        /// Every check not run yet, skipped with `reason`.
        func skipRest(_ reason: String) {
            for check in Self.checkOrder where !results.contains(where: { $0.check == check }) && (check != "tls" || self.target.tls) {
                skip(check, reason)
            }
        }
        let raw = RawHTTPExchange(target: self.target, timeout: self.options.timeout, tls: self.tlsConfiguration)

        // DNS, then TCP to every address.
        let addresses = await self.resolve()
        guard case .success(let resolved) = addresses else {
            if case .failure(let error) = addresses {
                record(
                    CheckResult(
                        check: "dns", status: .fail, detail: "\(self.target.host): \(error)",
                        diagnosis: Diagnosis(
                            cause: "dns_not_resolved", summary: "The host name does not resolve.", evidence: "\(error)",
                            remedy: "Check the domain's DNS records (A/AAAA or CNAME) and the spelling of the URL.",
                            manualCheck: "getent ahosts \(self.target.host)")))
            }
            skipRest("the host does not resolve")
            return DoctorReport(target: self.target.httpBase, checks: results, intermediaries: [])
        }
        record(CheckResult(check: "dns", status: .pass, detail: resolved.map(\.ipAddress).compactMap { $0 }.joined(separator: ", ")))
        var reachable = 0
        var unreachable: [String] = []
        for address in resolved {
            do {
                let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(TimeAmount(self.options.timeout))
                    .connect(to: address).get()
                try? await channel.close()
                reachable += 1
            } catch {
                unreachable.append("\(address.ipAddress ?? "?"): \(error)")
            }
        }
        if reachable == 0 {
            record(
                CheckResult(
                    check: "tcp", status: .fail, detail: unreachable.joined(separator: "; "),
                    diagnosis: Diagnosis(
                        cause: "tcp_unreachable", summary: "Nothing accepts connections on port \(self.target.port).",
                        evidence: unreachable.joined(separator: "; "),
                        remedy: "Check the server (or its load balancer) listens on this port and that firewalls / security groups allow it.",
                        manualCheck: "nc -vz \(self.target.host) \(self.target.port)")))
            skipRest("no TCP connection")
            return DoctorReport(target: self.target.httpBase, checks: results, intermediaries: [])
        }
        record(
            CheckResult(
                check: "tcp", status: unreachable.isEmpty ? .pass : .warn,
                detail: "\(reachable) of \(resolved.count) addresses accept connections"
                    + (unreachable.isEmpty ? "" : "; \(unreachable.joined(separator: "; "))")))

        // TLS, for https/wss: nothing else can work without it.
        if self.target.tls {
            let tls = await TLSProbe(target: self.target, timeout: self.options.timeout, configuration: self.tlsConfiguration).check()
            record(tls)
            if tls.status == .fail {
                skipRest("TLS failed")
                return DoctorReport(target: self.target.httpBase, checks: results, intermediaries: [])
            }
        }

        // GET /health.
        var serverIsOurs = false
        do {
            let health = try await raw.send(path: self.target.path("/health"))
            intermediaries = Intermediaries.recognise(health.headers)
            serverIsOurs = health.header(UpgradeDiagnosis.instanceHeader) != nil
            let detail =
                "\(health.status) in \(Self.ms(health.elapsed)) ms, "
                + (serverIsOurs
                    ? "answered by realtime-voice \(health.header(UpgradeDiagnosis.instanceHeader)!)"
                    : "no \(UpgradeDiagnosis.instanceHeader) header")
            if health.status == 200 && serverIsOurs {
                record(CheckResult(check: "health", status: .pass, detail: detail))
            } else {
                record(
                    CheckResult(
                        check: "health", status: .fail, detail: detail,
                        diagnosis: Diagnosis(
                            cause: serverIsOurs ? "server_not_ready" : "not_realtime_voice",
                            summary: serverIsOurs
                                ? "realtime-voice answered but is not ready (still loading its engine?)."
                                : "Something other than realtime-voice answers /health at this URL.",
                            evidence: "GET \(self.target.path("/health")) → \(health.status)",
                            remedy: serverIsOurs
                                ? "Wait for the engine to load, then check the server's log."
                                : """
                                Check the URL (and its path prefix) points at the realtime-voice service, \
                                and that the proxy forwards /health to it.
                                """,
                            manualCheck: "curl -i \(self.target.httpBase)/health")))
            }
        } catch {
            record(CheckResult(check: "health", status: .fail, detail: "\(error)", diagnosis: Self.connectionDiagnosis(error, target: self.target)))
            skipRest("no HTTP answer")
            return DoctorReport(target: self.target.httpBase, checks: results, intermediaries: intermediaries)
        }

        // A plain GET on the stream path: realtime-voice answers 426.
        if let plain = try? await raw.send(path: self.target.path("/api/realtime-voice/stream")) {
            let ours = plain.header(UpgradeDiagnosis.instanceHeader) != nil
            if plain.status == 426 && ours {
                record(CheckResult(check: "plain_get", status: .pass, detail: "426 from realtime-voice (a plain GET reaches the WebSocket path)"))
            } else {
                record(
                    CheckResult(
                        check: "plain_get", status: .warn,
                        detail: "\(plain.status)\(ours ? " from realtime-voice" : " without our header: something in front answers this path")"))
            }
        }

        // The upgrade, on the echo path, with a nonce the server logs.
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let query = "?doctor=\(self.nonce)" + (self.options.token.map { "&token=\(Self.percentEncoded($0))" } ?? "")
        let upgradeHeaders = [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", key)]
        let manualUpgrade =
            """
            curl -i -N --http1.1 -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: \(key)' \
            '\(self.target.httpBase)/api/realtime-voice/echo\(Self.redacted(query))'
            """
        var upgraded = false
        do {
            let answer = try await raw.send(path: self.target.path("/api/realtime-voice/echo") + query, headers: upgradeHeaders)
            intermediaries = Array(Set(intermediaries + Intermediaries.recognise(answer.headers))).sorted()
            if self.options.token == nil, answer.status == 401, answer.header(UpgradeDiagnosis.instanceHeader) != nil {
                // Without a token, a 401 from realtime-voice itself still proves the handshake is routed to it.
                record(
                    CheckResult(
                        check: "upgrade", status: .warn,
                        detail: "the handshake reaches realtime-voice (401 without a token); give --token to complete it"))
            } else if let diagnosis = UpgradeDiagnosis.diagnose(answer, manualCheck: manualUpgrade, intermediaries: intermediaries) {
                record(
                    CheckResult(
                        check: "upgrade", status: .fail, detail: "\(answer.status) \(answer.reason) (doctor nonce \(self.nonce))",
                        diagnosis: diagnosis))
            } else {
                upgraded = true
                record(
                    CheckResult(
                        check: "upgrade", status: .pass,
                        detail: "101 in \(Self.ms(answer.elapsed)) ms (doctor nonce \(self.nonce) in the server's log)"))
            }
        } catch {
            record(CheckResult(check: "upgrade", status: .fail, detail: "\(error)", diagnosis: Self.connectionDiagnosis(error, target: self.target)))
        }

        // Auth: without a token the handshake must be refused with 401.
        if let refused = try? await raw.send(path: self.target.path("/api/realtime-voice/echo") + "?doctor=\(self.nonce)", headers: upgradeHeaders) {
            switch refused.status {
            case 401:
                record(
                    CheckResult(
                        check: "auth", status: .pass,
                        detail: "no token → 401"
                            + (self.options.token == nil ? "; no --token given, so nothing past auth is checked" : ", the token is accepted")))
            case 101:
                record(CheckResult(check: "auth", status: .warn, detail: "the handshake succeeded without a token: the server runs with --no-auth"))
            default: record(CheckResult(check: "auth", status: upgraded ? .warn : .skip, detail: "no token → \(refused.status)"))
            }
        }

        // What reached the server of a handshake's headers (needs a token).
        if self.options.token != nil {
            record(await self.receivedHeaders(raw: raw, query: query))
        } else {
            skip("headers", "no --token: the header echo is authenticated")
        }

        // Echo, idle survival and recognition through the real WebSocket; recognition over HTTP too.
        // (The WebSocket client sends the host as TLS SNI, which cannot be an IP address.)
        if upgraded && self.target.tls && self.target.hostIsAddress {
            for check in ["echo", "idle", "stream"] { skip(check, "over TLS these need a host name, not an IP address (SNI)") }
            upgraded = false
        } else if upgraded {
            record(await self.echo(query: query))
            if let idle = self.options.idle {
                record(await self.idleSurvival(query: query, hold: idle))
            } else {
                skip("idle", "--skip-idle")
            }
        } else {
            for check in ["echo", "idle"] { skip(check, "the upgrade failed") }
        }
        if self.options.token == nil {
            skip("stream", "no --token")
            skip("recognize", "no --token")
        } else {
            if upgraded {
                record(await self.streamRecognition())
            } else if !results.contains(where: { $0.check == "stream" }) {
                skip("stream", "the upgrade failed")
            }
            record(await self.uploadRecognition(raw: raw))
        }
        return DoctorReport(target: self.target.httpBase, checks: results, intermediaries: intermediaries)
    }

    /// Text and a 32 KiB binary message echoed, and an application ping answered.
    private func echo(query: String) async -> CheckResult {
        let url = self.target.webSocketBase + "/api/realtime-voice/echo" + query
        var logger = Logger(label: "doctor")
        logger.logLevel = .critical
        let outcome = EchoOutcome()
        do {
            try await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: 1 << 20), tlsConfiguration: self.tlsConfiguration, logger: logger
            ) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                let clock = ContinuousClock()
                try await outbound.write(.text("doctor \(self.nonce)"))
                guard case .text(let text) = try await messages.next(), text == "doctor \(self.nonce)" else {
                    outcome.set("the text message did not come back unchanged"); return
                }
                let payload = ByteBuffer(bytes: (0..<32_768).map { UInt8(truncatingIfNeeded: $0 &* 7) })
                try await outbound.write(.binary(payload))
                guard case .binary(let echoed) = try await messages.next(), echoed == payload else {
                    outcome.set("a 32 KiB binary message did not come back whole (a proxy limits frame size?)"); return
                }
                let start = clock.now
                try await outbound.write(.text(#"{"type":"ping"}"#))
                guard case .text(let pong) = try await messages.next(), pong.contains("pong") else {
                    outcome.set("no pong to {\"type\":\"ping\"}"); return
                }
                outcome.rtt = clock.now - start
                try await outbound.close(.normalClosure, reason: nil)
            }
        } catch {
            outcome.set("the WebSocket failed: \(error)")
        }
        if let failure = outcome.failure {
            return CheckResult(
                check: "echo", status: .fail, detail: failure,
                diagnosis: Diagnosis(
                    cause: failure.contains("32 KiB") ? "large_frames_cut" : "echo_failed",
                    summary: failure.contains("32 KiB")
                        ? "Messages of 32 KiB do not get through: something in between limits the frame size."
                        : "The echo endpoint did not answer as it should.",
                    evidence: failure,
                    remedy: failure.contains("32 KiB")
                        ? "Raise the proxy's WebSocket frame/message limit, or keep audio frames small (100 ms = 3200 bytes at 16 kHz)."
                        : "Compare with a direct connection to the server; check the proxy passes WebSocket frames both ways.",
                    manualCheck: "websocat '\(Self.redacted(url))'"))
        }
        return CheckResult(
            check: "echo", status: .pass, detail: "text and 32 KiB binary echoed; ping → pong in \(Self.ms(outcome.rtt ?? .zero)) ms")
    }

    final class EchoOutcome: @unchecked Sendable {
        // Written by the WebSocket handler, read after it returned.
        var failure: String?
        var rtt: Duration?
        func set(_ failure: String) { self.failure = failure }
    }

    private func resolve() async -> Result<[SocketAddress], any Error> {
        let host = self.target.host
        let port = self.target.port
        do {
            let addresses = try await NIOThreadPool.singleton.runIfActive { () throws -> [SocketAddress] in
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                let status = getaddrinfo(host, String(port), &hints, &list)
                guard status == 0, let first = list else { throw DoctorResolveError(message: String(cString: gai_strerror(status))) }
                defer { freeaddrinfo(first) }
                var found: [SocketAddress] = []
                var cursor: UnsafeMutablePointer<addrinfo>? = first
                while let entry = cursor {
                    if let address = entry.pointee.ai_addr, let socketAddress = try? SocketAddress(address, length: Int(entry.pointee.ai_addrlen)) {
                        if !found.contains(socketAddress) { found.append(socketAddress) }
                    }
                    cursor = entry.pointee.ai_next
                }
                return found
            }
            return .success(addresses)
        } catch {
            return .failure(error)
        }
    }

    static func connectionDiagnosis(_ error: any Error, target: DoctorTarget) -> Diagnosis {
        let text = "\(error)"
        if target.tls && (text.contains("SSL") || text.contains("certificate") || text.contains("handshake")) {
            return Diagnosis(
                cause: "tls_failed", summary: "The TLS handshake failed (certificate not trusted, expired, wrong host name, or an old protocol).",
                evidence: text,
                remedy: """
                    Serve the full certificate chain from a public CA, valid for this host name, \
                    with TLS 1.2 or later (iOS and mini-programs reject anything less).
                    """,
                manualCheck: "openssl s_client -connect \(target.host):\(target.port) -servername \(target.host) -showcerts")
        }
        return Diagnosis(
            cause: "no_http_answer", summary: "The connection opened but no HTTP answer came.", evidence: text,
            remedy: "Check that an HTTP server (not another protocol) listens on this port, and the scheme (http vs https) is right.",
            manualCheck: "curl -iv \(target.httpBase)/health")
    }

    /// The token in a URL or query replaced by `TOKEN`: manual commands are printed and reported.
    static func redacted(_ text: String) -> String {
        text.replacingOccurrences(of: #"token=[^&'\s]*"#, with: "token=TOKEN", options: .regularExpression)
    }

    static func ms(_ duration: Duration) -> Int { Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000) }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

struct DoctorResolveError: Error, CustomStringConvertible {
    let message: String
    var description: String { self.message }
}

extension SocketAddress {
    init(_ address: UnsafeMutablePointer<sockaddr>, length: Int) throws {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            self = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
        case AF_INET6:
            self = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee, host: "") }
        default:
            throw DoctorResolveError(message: "unsupported address family")
        }
    }
}
