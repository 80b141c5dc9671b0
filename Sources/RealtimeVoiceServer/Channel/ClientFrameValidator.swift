import NIOCore
import NIOWebSocket

/// Fails the connection (close 1002, then TCP close) on the two RFC 6455 rules that neither NIO's frame decoder
/// nor swift-websocket checks: every client frame must be masked (§5.1), and a control frame must not set a
/// reserved bit (§5.2; data frames are checked downstream). Sits between the frame decoder and the session.
final class ClientFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.failed else { return }
        let frame = Self.unwrapInboundIn(data)
        let isControl = frame.opcode == .ping || frame.opcode == .pong || frame.opcode == .connectionClose
        if frame.maskKey == nil {
            self.fail(context: context, reason: "client frames must be masked")
        } else if isControl, frame.rsv1 || frame.rsv2 || frame.rsv3 {
            self.fail(context: context, reason: "reserved bit set on a control frame")
        } else {
            context.fireChannelRead(data)
        }
    }

    private func fail(context: ChannelHandlerContext, reason: String) {
        self.failed = true
        var payload = context.channel.allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.writeInteger(UInt16(1002))
        payload.writeString(reason)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
        context.writeAndFlush(Self.wrapOutboundOut(close)).whenComplete { _ in context.close(promise: nil) }
    }
}
