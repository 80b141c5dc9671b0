import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import ServiceLifecycle
@_spi(WSInternal) import WSCore

/// HTTP/1.1 with WebSocket upgrade, where a refused upgrade is answered with its reason.
///
/// Hummingbird's own `HTTP1WebSocketUpgradeChannel` answers every refused upgrade with an empty `400`, so a
/// client cannot tell a wrong token from a wrong path. Here ``WebSocketUpgradeDecision`` decides once: a refusal
/// carries its ``GatewayError`` (`401`, `400 unsupported_language`, …), answered as the router would (JSON body,
/// instance header, log line, metrics: ``refuse``); an upgrade on a path that is no WebSocket endpoint, or one NIO's
/// upgrader judged incomplete, goes on to the ordinary router. The WebSocket side is Hummingbird's own handler
/// (`WSCore`), unchanged.
struct GatewayServerChannel: ServerChildChannel, HTTPChannelHandler {
    typealias Decide = @Sendable (HTTPRequest, Logger) async -> UpgradeDecision
    /// The answer to a refused upgrade.
    typealias Refuse = @Sendable (GatewayError, HTTPRequest, Logger, ContinuousClock.Instant) -> Response

    enum UpgradeResult: Sendable {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketDataHandler<GatewayWebSocketContext>, Logger, ClientCloseRecord)
        /// Served by handlers in the channel pipeline (the echo): nothing left to run here.
        case inPipeline
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// NIO's upgrade handler consumed the request head: answered with the decision's reason, else by the router.
        case refusedUpgrade(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HTTPRequest, GatewayError?)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
    }

    let responder: HTTPChannelHandler.Responder
    let webSocket: WebSocketServerConfiguration
    /// How long WebSocket sessions may take to wrap up on graceful shutdown.
    let drainTime: Duration
    /// `X-Realtime-Voice-Instance` on the answers given in the pipeline.
    let instanceID: String
    let http1: HTTP1Channel.Configuration
    let decide: Decide
    let refuse: Refuse

    init(
        responder: @escaping HTTPChannelHandler.Responder,
        webSocket: WebSocketServerConfiguration,
        drainTime: Duration,
        instanceID: String,
        http1: HTTP1Channel.Configuration = .init(idleTimeout: .seconds(60)),
        decide: @escaping Decide,
        refuse: @escaping Refuse
    ) {
        self.refuse = refuse
        self.responder = responder
        self.webSocket = webSocket
        self.drainTime = drainTime
        self.instanceID = instanceID
        self.http1 = http1
        self.decide = decide
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let logger = {
                var logger = logger
                logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())
                return logger
            }()
            // The handler chosen by `decide`, carried from `shouldUpgrade` to the upgraded pipeline of this channel.
            let chosenHandler = NIOLoopBoundBox<WebSocketRoute?>(nil, eventLoop: channel.eventLoop)
            // Why `decide` refused the upgrade, carried to the answer.
            let refusal = NIOLoopBoundBox<GatewayError?>(nil, eventLoop: channel.eventLoop)
            // A request with an `Upgrade` header is consumed by NIO's upgrade handler; when it is not upgraded
            // (refused by `decide`, or an incomplete handshake), the router answers it from this copy.
            let upgradeRequest = NIOLoopBoundBox<HTTPRequestHead?>(nil, eventLoop: channel.eventLoop)
            let malformedRequests = MalformedRequestHandler(instanceID: self.instanceID)
            let upgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: self.webSocket.maxFrameSize,
                shouldUpgrade: { channel, head in
                    guard let request = try? HTTPRequest(head, secure: false, splitCookie: false) else {
                        return channel.eventLoop.makeSucceededFuture(nil)
                    }
                    let promise = channel.eventLoop.makePromise(of: UpgradeDecision.self)
                    let decide = self.decide
                    promise.completeWithTask { await decide(request, logger) }
                    return promise.futureResult.map { decision -> HTTPHeaders? in
                        switch decision {
                        case .upgrade(let headers, let handler):
                            chosenHandler.value = handler
                            return HTTPHeaders(headers)
                        case .refuse(let error):
                            refusal.value = error
                            return nil
                        case .route:
                            return nil
                        }
                    }
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        channel.pipeline.syncOperations.removeHandler(malformedRequests, promise: nil)
                        try channel.pipeline.syncOperations.addHandler(LingeringCloseHandler(), position: .first)
                        let clientClose = ClientCloseRecord()
                        try channel.pipeline.syncOperations.addHandler(ClientFrameValidator(clientClose: clientClose))
                        switch chosenHandler.value {
                        case .echo(let settings):
                            try channel.pipeline.syncOperations.addHandlers(
                                NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0,
                                    maxAccumulatedFrameCount: 1024,
                                    maxAccumulatedFrameSize: settings.maxMessageBytes
                                ),
                                EchoChannelHandler(settings: settings)
                            )
                            return UpgradeResult.inPipeline
                        case .stream(let handler):
                            let asyncChannel = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                                wrappingChannelSynchronously: channel,
                                configuration: .init(isOutboundHalfClosureEnabled: true)
                            )
                            return UpgradeResult.websocket(asyncChannel, handler, logger, clientClose)
                        case nil:
                            throw ChannelError.inappropriateOperationForState
                        }
                    }
                }
            )
            let serverUpgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try channel.pipeline.syncOperations.addHandlers(self.http1.additionalChannelHandlers())
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: self.http1.idleTimeout.map { .init($0) }, logger: logger)
                        )
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if let head = upgradeRequest.value, let request = try? HTTPRequest(head, secure: false, splitCookie: false) {
                            return UpgradeResult.refusedUpgrade(http, request, refusal.value)
                        }
                        return UpgradeResult.http(http)
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: serverUpgradeConfiguration)
            configuration.enablePipelining = false
            // Malformed requests (bad Content-Length, header limits, not HTTP at all) are answered 400 and closed by
            // MalformedRequestHandler, added below.
            configuration.enableErrorHandling = false
            configuration.enableResponseHeaderValidation = false
            configuration.decoderConfiguration.maxHeaderFieldSize = self.http1.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = self.http1.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = self.http1.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(malformedRequests, position: .after(decoder))
            let upgradeHandler = try channel.pipeline.syncOperations.handler(type: NIOTypedHTTPServerUpgradeHandler<UpgradeResult>.self)
            try channel.pipeline.syncOperations.addHandler(
                UpgradeRequestRecorder { head in upgradeRequest.value = head },
                position: .before(upgradeHandler)
            )
            return Value(upgradeResult: result, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.upgradeResult.get() {
            case .http(let http):
                await self.handleHTTP(asyncChannel: http, logger: logger)
            case .refusedUpgrade(let http, let head, let refusal):
                // A handshake has no body; the answer closes the connection.
                let started = ContinuousClock.now
                try await http.executeThenClose { _, outbound in
                    if let refusal {
                        let response = self.refuse(refusal, head, logger, started)
                        try await ResponseWriter(outbound: outbound).write(response: response.head, body: response.body)
                        return
                    }
                    let request = Request(head: head, body: RequestBody(buffer: ByteBuffer()))
                    try await self.responder(request, ResponseWriter(outbound: outbound), http.channel)
                }
            case .inPipeline:
                return
            case .websocket(let asyncChannel, let handler, let logger, let clientClose):
                let shutdown = ShutdownSignal(drainTime: self.drainTime)
                let configuration = WebSocketHandler.Configuration(
                    extensions: [],
                    autoPing: self.webSocket.autoPing,
                    closeTimeout: self.webSocket.closeTimeout,
                    validateUTF8: self.webSocket.validateUTF8,
                    maxFrameSize: self.webSocket.maxFrameSize
                )
                await withGracefulShutdownHandler {
                    // Detached, so that the WebSocket handler's own graceful-shutdown reaction (close 1000 at once)
                    // never runs: the session gets `shutdown` and closes when its finals are out.
                    let connection = Task.detached {
                        do {
                            _ = try await WebSocketHandler.handle(
                                type: .server,
                                configuration: configuration,
                                asyncChannel: asyncChannel,
                                context: GatewayWebSocketContext(logger: logger, shutdown: shutdown, clientClose: clientClose),
                                handler: handler
                            )
                        } catch {
                            logger.debug("WebSocket handler error", metadata: ["error.type": "\(error)"])
                        }
                    }
                    await withTaskCancellationHandler {
                        await connection.value
                    } onCancel: {
                        connection.cancel()
                    }
                } onGracefulShutdown: {
                    shutdown.trigger()
                }
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("Upgrade failed as input was closed")
            value.channel.close(promise: nil)
        } catch {
            // A request NIO could not parse (it was answered 400 by the protocol error handler): close.
            logger.debug("Error handling upgrade result", metadata: ["error.type": "\(error)"])
            value.channel.close(promise: nil)
        }
    }
}

/// What an accepted upgrade leads to: a session run by Hummingbird's WebSocket handler (the stream), or handlers in
/// the channel pipeline (the echo).
enum WebSocketRoute: Sendable {
    case stream(WebSocketDataHandler<GatewayWebSocketContext>)
    case echo(EchoChannelHandler.Settings)
}

/// Context given to WebSocket handlers.
struct GatewayWebSocketContext: WebSocketContext {
    let logger: Logger
    /// Triggered when the server shuts down gracefully.
    let shutdown: ShutdownSignal
    /// The close code the client sent, if it sent a close frame (a stream tells a client that ended its session
    /// from a connection that dropped).
    let clientClose: ClientCloseRecord
}

/// Keeps a copy of the connection's first request head when it asks for an upgrade, then leaves the pipeline.
private final class UpgradeRequestRecorder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    private let record: (HTTPRequestHead) -> Void

    init(record: @escaping (HTTPRequestHead) -> Void) {
        self.record = record
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = self.unwrapInboundIn(data) {
            if head.headers.contains(name: "upgrade") {
                self.record(head)
            }
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}
