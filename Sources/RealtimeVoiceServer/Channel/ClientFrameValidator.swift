import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket

/// Fails the connection (close 1002, then TCP close) on two RFC 6455 rules that NIO's frame decoder does not check:
/// every client frame must be masked (§5.1), and no frame may set a reserved bit, as the server negotiates no
/// extension (§5.2). Sits right after the frame decoder, for the stream and the echo alike. It also notes the code of
/// the client's close frame (``ClientCloseRecord``), which WebSocketKit does not hand to the session.
final class ClientFrameValidator: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var failed = false
    private let clientClose: ClientCloseRecord?

    init(clientClose: ClientCloseRecord? = nil) {
        self.clientClose = clientClose
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.failed else { return }
        let frame = Self.unwrapInboundIn(data)
        if frame.maskKey == nil {
            self.fail(context: context, reason: "client frames must be masked")
        } else if frame.rsv1 || frame.rsv2 || frame.rsv3 {
            self.fail(context: context, reason: "reserved bit set without an extension")
        } else {
            if frame.opcode == .connectionClose, let clientClose {
                var payload = frame.unmaskedData
                clientClose.record(payload.readInteger(as: UInt16.self) ?? 1005)
            }
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

/// The close code a client sent (1005 for a close frame without one); nil while it sent none. A connection that
/// ends with none was dropped (network, app in the background) rather than closed.
final class ClientCloseRecord: Sendable {
    private let code = NIOLockedValueBox<UInt16?>(nil)

    func record(_ code: UInt16) {
        self.code.withLockedValue { if $0 == nil { $0 = code } }
    }

    var closeCode: UInt16? { self.code.withLockedValue { $0 } }
}
