import HummingbirdWebSocket
import NIOCore
import NIOWebSocket

/// `/api/realtime-voice/echo`: sends every text and binary message back unchanged, for connectivity tests;
/// `{"type":"ping"}` is answered `{"type":"pong"}` like on the stream.
struct EchoSession: Sendable {
    let limits: StreamLimits

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
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
