import NIOCore
import NIOWebSocket

/// `/api/realtime-voice/echo`, served inside the channel pipeline: every text and binary message goes back
/// unchanged, `{"type":"ping"}` is answered `{"type":"pong"}` like on the stream.
///
/// The echo is the endpoint proxies, `doctor` and load balancers hammer, and it has no recognition to wait for, so
/// it runs as a NIO handler on the connection's event loop: no task, no hop and no copy beyond unmasking per
/// message, writes flushed once per read batch. That costs a connection a few KiB and a message a few microseconds
/// (bench/BENCHMARKS.md). It follows RFC 6455 to the letter (tests/python/test_ws_conformance.py): fragments are
/// joined by `NIOWebSocketFrameAggregator` (in front of it), text must be UTF-8 (1007), close codes are checked
/// (1002), a message over the limit closes 1009, server pings keep idle proxies from cutting the socket, and on
/// graceful shutdown the socket closes 1001.
final class EchoChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    struct Settings: Sendable {
        var maxMessageBytes: Int
        var pingInterval: TimeAmount
        /// How long to wait for the client's close frame after ours.
        var closeTimeout: TimeAmount = .seconds(5)
        var metrics: GatewayMetrics
    }

    private let settings: Settings
    private var closeSent = false
    private var awaitingPong = false
    private var pingTask: RepeatedTask?
    private var outcome = "client_gone"
    private var wroteSinceFlush = false

    init(settings: Settings) {
        self.settings = settings
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.settings.metrics.sessionStarted(endpoint: "echo", engine: "none")
        let interval = self.settings.pingInterval
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loopBoundContext = NIOLoopBound(context, eventLoop: context.eventLoop)
        self.pingTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            handler.value.ping(context: loopBoundContext.value)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.pingTask?.cancel()
        self.settings.metrics.sessionEnded(endpoint: "echo", engine: "none", outcome: self.outcome, audioSeconds: 0)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = Self.unwrapInboundIn(data)
        if self.closeSent, frame.opcode != .connectionClose { return }
        switch frame.opcode {
        case .text:
            let payload = frame.unmaskedData
            guard payload.readableBytes <= self.settings.maxMessageBytes else {
                return self.fail(context: context, code: .messageTooLarge, reason: "frame_too_large")
            }
            guard let text = String(validating: payload.readableBytesView, as: UTF8.self) else {
                return self.fail(context: context, code: .dataInconsistentWithMessage, reason: "text is not UTF-8")
            }
            if payload.readableBytes < 64, (try? ClientMessage.parse(text)) == .ping {
                self.send(context: context, WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(string: ServerMessage.pong.jsonText)))
            } else {
                self.send(context: context, WebSocketFrame(fin: true, opcode: .text, data: payload))
            }
        case .binary:
            let payload = frame.unmaskedData
            guard payload.readableBytes <= self.settings.maxMessageBytes else {
                return self.fail(context: context, code: .messageTooLarge, reason: "frame_too_large")
            }
            self.send(context: context, WebSocketFrame(fin: true, opcode: .binary, data: payload))
        case .ping:
            self.send(context: context, WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
        case .pong:
            self.awaitingPong = false
        case .connectionClose:
            self.receivedClose(context: context, payload: frame.unmaskedData)
        default:
            // A continuation without a start never gets past the aggregator; anything else is a reserved opcode.
            self.fail(context: context, code: .protocolError, reason: "reserved opcode")
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.wroteSinceFlush {
            self.wroteSinceFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        switch error {
        case NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge, NIOWebSocketFrameAggregator.Error.tooManyFragments:
            self.fail(context: context, code: .messageTooLarge, reason: "frame_too_large")
        case is NIOWebSocketFrameAggregator.Error:
            self.fail(context: context, code: .protocolError, reason: "bad fragmentation")
        default:
            context.close(promise: nil)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Graceful shutdown: going away, then wait a little for the client's close.
            self.outcome = "server_shutting_down"
            self.close(context: context, code: .goingAway, reason: "server_shutting_down", waitForReply: true)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    // MARK: -

    private func send(context: ChannelHandlerContext, _ frame: WebSocketFrame) {
        context.write(Self.wrapOutboundOut(frame), promise: nil)
        self.wroteSinceFlush = true
    }

    private func ping(context: ChannelHandlerContext) {
        guard !self.closeSent else { return }
        if self.awaitingPong {
            // No pong for a whole interval: the client (or the path to it) is gone.
            self.outcome = "ping_timeout"
            self.close(context: context, code: .goingAway, reason: "ping timeout", waitForReply: false)
            return
        }
        self.awaitingPong = true
        context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer())), promise: nil)
    }

    /// The client's close: validated as RFC 6455 §7.4 says, answered with the same code, then the TCP close.
    private func receivedClose(context: ChannelHandlerContext, payload: ByteBuffer) {
        if self.closeSent {
            context.close(promise: nil)
            return
        }
        var payload = payload
        guard payload.readableBytes != 1 else { return self.fail(context: context, code: .protocolError, reason: "1-byte close payload") }
        guard let raw = payload.readInteger(as: UInt16.self) else {
            self.outcome = "completed"
            return self.close(context: context, code: .normalClosure, reason: nil, waitForReply: false)
        }
        guard Self.isValidCloseCode(raw) else { return self.fail(context: context, code: .protocolError, reason: "invalid close code") }
        guard String(validating: payload.readableBytesView, as: UTF8.self) != nil else {
            return self.fail(context: context, code: .dataInconsistentWithMessage, reason: "close reason is not UTF-8")
        }
        self.outcome = "completed"
        self.close(context: context, code: WebSocketErrorCode(codeNumber: Int(raw)), reason: nil, waitForReply: false)
    }

    /// Codes a peer may send (RFC 6455 §7.4.1; 1004–1006 and 1015 are reserved, 1012–1014 are IANA-registered).
    static func isValidCloseCode(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }

    private func fail(context: ChannelHandlerContext, code: WebSocketErrorCode, reason: String) {
        self.outcome = code == .messageTooLarge ? "frame_too_large" : "protocol_error"
        self.close(context: context, code: code, reason: reason, waitForReply: false)
    }

    /// Sends a close frame; closes TCP once it is written, or after waiting for the client's close.
    private func close(context: ChannelHandlerContext, code: WebSocketErrorCode, reason: String?, waitForReply: Bool) {
        guard !self.closeSent else { return }
        self.closeSent = true
        var payload = context.channel.allocator.buffer(capacity: 2 + (reason?.utf8.count ?? 0))
        payload.write(webSocketErrorCode: code)
        if let reason { payload.writeString(reason) }
        let written = context.writeAndFlush(Self.wrapOutboundOut(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)))
        self.wroteSinceFlush = false
        let channel = context.channel
        if waitForReply {
            let timeout = channel.eventLoop.scheduleTask(in: self.settings.closeTimeout) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in timeout.cancel() }
        } else {
            written.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
