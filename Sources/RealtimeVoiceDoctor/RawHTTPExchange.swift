import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// One HTTP/1.1 request written byte for byte and its response read raw: what a proxy did to a WebSocket
/// handshake is only visible this way (HTTP clients follow redirects, hide hop-by-hop headers, refuse a 101).
struct RawHTTPExchange {
    struct Response: Sendable {
        var status: Int
        var reason: String
        /// In the order received, names as sent.
        var headers: [(name: String, value: String)]
        /// The first bytes of the body (at most 4 KiB).
        var body: [UInt8]
        var elapsed: Duration

        func header(_ name: String) -> String? {
            self.headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        var bodyText: String { String(decoding: self.body, as: UTF8.self) }
    }

    let target: DoctorTarget
    let timeout: Duration
    let tls: TLSConfiguration

    /// Sends `method path` with `headers` (Host and Connection are added unless given) and reads the answer.
    func send(method: String = "GET", path: String, headers: [(String, String)] = [], body: [UInt8] = []) async throws -> Response {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(self.target.authority)\r\nUser-Agent: realtime-voice-doctor\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if !headers.contains(where: { $0.0.lowercased() == "connection" }) { request += "Connection: close\r\n" }
        if !body.isEmpty { request += "Content-Length: \(body.count)\r\n" }
        request += "\r\n"
        var bytes = ByteBuffer(string: request)
        bytes.writeBytes(body)
        let outgoing = bytes
        let clock = ContinuousClock()
        let start = clock.now
        return try await withThrowingTaskGroup(of: Response.self) { group in
            group.addTask {
                var response = try await self.exchange(outgoing)
                response.elapsed = clock.now - start
                return response
            }
            group.addTask {
                try await Task.sleep(for: self.timeout)
                throw DoctorProbeError.timedOut(self.timeout)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private func exchange(_ request: ByteBuffer) async throws -> Response {
        let target = self.target
        let tls = self.tls
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(self.timeout))
            .connect(host: target.host, port: target.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if target.tls {
                        let context = try NIOSSLContext(configuration: tls)
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: target.hostIsAddress ? nil : target.host))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(request)
            var received: [UInt8] = []
            for try await chunk in inbound {
                received.append(contentsOf: chunk.readableBytesView)
                if let response = Self.parse(received, complete: false) { return response }
            }
            guard let response = Self.parse(received, complete: true) else { throw DoctorProbeError.noResponse(received.count) }
            return response
        }
    }

    /// A response once its head is in and its body is complete (Content-Length), 4 KiB long, or the connection
    /// ended; a 101 ends at its head.
    static func parse(_ bytes: [UInt8], complete: Bool) -> Response? {
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { return nil }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ", maxSplits: 2).map(String.init) ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/"), let status = Int(statusParts[1]) else { return nil }
        let headers = head.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let body = Array(bytes[end.upperBound...])
        let response = Response(
            status: status, reason: statusParts.count > 2 ? statusParts[2] : "", headers: headers, body: Array(body.prefix(4096)), elapsed: .zero)
        if status == 101 || complete || body.count >= 4096 { return response }
        if let length = response.header("Content-Length").flatMap(Int.init), body.count >= length { return response }
        return nil
    }
}

enum DoctorProbeError: Error, CustomStringConvertible {
    case timedOut(Duration)
    case noResponse(Int)

    var description: String {
        switch self {
        case .timedOut(let limit): "no answer within \(limit)"
        case .noResponse(let bytes): "the connection closed without an HTTP response (\(bytes) bytes received)"
        }
    }
}
