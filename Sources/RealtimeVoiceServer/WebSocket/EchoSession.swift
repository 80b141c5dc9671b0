import HummingbirdWebSocket

/// `/api/realtime-voice/echo`: sends every text and binary message back unchanged, for connectivity tests;
/// `{"type":"ping"}` is answered `{"type":"pong"}` like on the stream.
struct EchoSession: Sendable {
    let limits: StreamLimits

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async throws {
        for try await message in inbound.messages(maxSize: self.limits.maxFrameBytes) {
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
