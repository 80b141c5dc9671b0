import Foundation

/// What `doctor` probes: the deployment's base URL, as HTTP and as WebSocket.
public struct DoctorTarget: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var tls: Bool
    /// A path prefix the deployment is served under (`https://example.com/voice` → `/voice`), without a trailing slash.
    public var prefix: String

    /// Accepts `http(s)://` and `ws(s)://`; the other scheme is derived.
    public init(_ text: String) throws(DoctorUsageError) {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty else {
            throw DoctorUsageError("'\(text)' is not a URL: give the deployment's address, e.g. https://api.example.com")
        }
        switch scheme {
        case "http", "ws": self.tls = false
        case "https", "wss": self.tls = true
        default: throw DoctorUsageError("'\(scheme)://' is not a scheme doctor knows: use http(s):// or ws(s)://.")
        }
        self.host = host
        self.port = url.port ?? (self.tls ? 443 : 80)
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        for known in ["/api/realtime-voice/stream", "/api/realtime-voice/echo", "/health"] where path.hasSuffix(known) {
            path.removeLast(known.count)
        }
        self.prefix = path
    }

    /// An IPv4 or IPv6 literal rather than a name.
    var hostIsAddress: Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, self.host, &v4) == 1 || inet_pton(AF_INET6, self.host, &v6) == 1
    }

    var authority: String {
        let defaultPort = self.tls ? 443 : 80
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return self.port == defaultPort ? host : "\(host):\(self.port)"
    }

    public var httpBase: String { "\(self.tls ? "https" : "http")://\(self.authority)\(self.prefix)" }
    public var webSocketBase: String { "\(self.tls ? "wss" : "ws")://\(self.authority)\(self.prefix)" }

    func path(_ path: String) -> String { self.prefix + path }
}

/// Bad usage of `doctor` (exit status 2).
public struct DoctorUsageError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
