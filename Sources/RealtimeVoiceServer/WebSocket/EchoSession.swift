import HummingbirdWebSocket
import NIOCore
import NIOWebSocket

/// `/api/realtime-voice/echo`: sends every text and binary message back unchanged, for connectivity tests;
/// `{"type":"ping"}` is answered `{"type":"pong"}` like on the stream.
struct EchoSession: Sendable {
    let limits: StreamLimits
    let metrics: GatewayMetrics

    /// Echoes until the client leaves; on graceful shutdown closes with 1001 (going away).
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, shutdown: ShutdownSignal) async throws {
        self.metrics.sessionStarted(endpoint: "echo", engine: "none")
        var outcome = "client_gone"
        defer { self.metrics.sessionEnded(endpoint: "echo", engine: "none", outcome: outcome, audioSeconds: 0) }
        let shuttingDown = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                try await self.echo(inbound: inbound, outbound: outbound)
                return false
            }
            group.addTask {
                await shutdown.wait()
                return !Task.isCancelled
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        if shuttingDown {
            outcome = "server_shutting_down"
            try await outbound.close(.goingAway, reason: "server_shutting_down")
        }
    }

    private func echo(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        for try await message in inbound.messages(maxSize: self.limits.maxFrameBytes) {
            // swift-websocket checks the size of fragmented messages only; a single frame is checked here.
            guard message.byteCount <= self.limits.maxFrameBytes else {
                try await outbound.close(.messageTooLarge, reason: "frame_too_large")
                return
            }
            switch message {
            case .text(let text):
                if (try? ClientMessage.parse(text)) == .ping {
                    try await outbound.write(.text(ServerMessage.pong.jsonText))
                } else {
                    try await outbound.write(.text(text))
                }
            case .binary(let bytes):
                try await outbound.write(.binary(bytes))
            }
        }
    }
}

extension WebSocketMessage {
    var byteCount: Int {
        switch self {
        case .text(let text): text.utf8.count
        case .binary(let bytes): bytes.readableBytes
        }
    }
}
