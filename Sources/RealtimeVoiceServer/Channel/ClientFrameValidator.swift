import NIOCore
import NIOWebSocket

/// Fails the connection (close 1002, then TCP close) on two RFC 6455 rules that NIO's frame decoder does not check:
/// every client frame must be masked (§5.1), and no frame may set a reserved bit, as the server negotiates no
/// extension (§5.2). Sits right after the frame decoder, for the stream and the echo alike.
final class ClientFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.failed else { return }
        let frame = Self.unwrapInboundIn(data)
        if frame.maskKey == nil {
            self.fail(context: context, reason: "client frames must be masked")
        } else if frame.rsv1 || frame.rsv2 || frame.rsv3 {
            self.fail(context: context, reason: "reserved bit set without an extension")
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
