import NIOCore
import NIOHTTP1

/// Answers a request NIO's HTTP/1.1 parser refuses (a bad Content-Length, header limits, not HTTP at all) with
/// `400 bad_request` in the gateway's JSON shape, with `X-Realtime-Voice-Instance` like every other answer, and lets
/// the connection close. NIO's own `HTTPServerProtocolErrorHandler` does the same with an empty body and no header.
/// Removed when the connection upgrades to WebSocket.
final class MalformedRequestHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let instanceID: String
    private var hasUnterminatedResponse = false
    /// A response went out on this connection: what arrives after it (the rest of a refused body, say) is not
    /// answered again, the connection just closes.
    private var hasResponded = false
    /// The path of the last request head seen: `/v1/` answers in OpenAI's error shape.
    private var lastPath = ""

    init(instanceID: String) {
        self.instanceID = instanceID
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        if !self.hasUnterminatedResponse, !self.hasResponded {
            let message = "The request is not valid HTTP/1.1 (\(parserError))."
            let body =
                self.lastPath.hasPrefix("/v1/")
                ? #"{"error":{"code":"bad_request","message":""# + message + #"","type":"invalid_request_error"}}"#
                : #"{"code":400,"error":"bad_request","message":""# + message + #""}"#
            let headers = HTTPHeaders([
                ("Connection", "close"), ("Content-Type", "application/json; charset=utf-8"), ("Content-Length", "\(body.utf8.count)"),
                ("X-Realtime-Voice-Instance", self.instanceID),
            ])
            context.write(Self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .badRequest, headers: headers))), promise: nil)
            context.write(Self.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            context.writeAndFlush(Self.wrapOutboundOut(.end(nil)), promise: nil)
        }
        // ByteToMessageHandler closes the channel after this returns.
        context.fireErrorCaught(error)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = Self.unwrapInboundIn(data) { self.lastPath = String(head.uri.prefix { $0 != "?" }) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head) where head.status.code >= 200: self.hasUnterminatedResponse = true
        case .end:
            self.hasUnterminatedResponse = false
            self.hasResponded = true
        default: break
        }
        context.write(data, promise: promise)
    }
}
