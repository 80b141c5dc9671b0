import NIOCore

/// Closes a WebSocket connection the way nginx closes HTTP ones: first our half (FIN), then whatever the client
/// still sends is read and dropped until it closes too, or `linger` runs out.
///
/// A plain close with the client's audio still unread in the socket makes the kernel answer with a reset, and a
/// reset can destroy data the client has not read yet: the `error` message sent just before the close would be
/// lost to a client that was still streaming. Sits first in the pipeline, so dropped bytes are never decoded.
final class LingeringCloseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let linger: TimeAmount
    private var lingering = false

    init(linger: TimeAmount = .seconds(2)) {
        self.linger = linger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.lingering else { return }
        context.fireChannelRead(data)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.lingering {
            context.read()
            return
        }
        context.fireChannelReadComplete()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if self.lingering, case ChannelEvent.inputClosed = event {
            context.close(mode: .all, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all, !self.lingering, context.channel.isActive else {
            context.close(mode: mode, promise: promise)
            return
        }
        self.lingering = true
        let channel = context.channel
        // The FIN goes out after everything written so far; then the client's rest is read and dropped.
        context.close(mode: .output, promise: nil)
        context.read()
        let deadline = channel.eventLoop.scheduleTask(in: self.linger) { channel.close(promise: nil) }
        channel.closeFuture.whenComplete { _ in
            deadline.cancel()
            promise?.succeed()
        }
    }
}
