import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import RealtimeVoiceAudio
import RealtimeVoiceErrors
import SpeechEngine

/// One client on `/api/realtime-voice/stream`: PCM in, partials and finals out (protocol v1), resumable when its
/// connection drops.
///
/// The session's own child tasks (``SessionTasks``), run by the handler of the connection that started it:
/// - the engine task recognises and hands the events to the ``SessionOutlet``;
/// - the watchdog ends the audio on idle time-out or maximum duration;
/// - in the reader's place, a wait for the session to be abandoned: its client closed the connection, or its
///   connection dropped and no resume came within `resumeWindow` (``StreamLimits/resumeWindow``).
///
/// Each connection (the first, and each resume: ``resume(inbound:outbound:context:lastSeq:)``) runs a reader, which
/// drains the socket (so pings and pongs keep flowing while the engine works), normalises PCM and queues it for the
/// engine (one ``EngineFeed``, bounded by `maxBufferedAudio`: an engine that far behind ends the session
/// `overloaded`), and a writer, which sends the outlet's messages.
struct StreamSession: Sendable {
    let id: String
    let parameters: StreamParameters
    let limits: StreamLimits
    let logger: Logger
    let metrics: GatewayMetrics
    let instanceID: String
    /// Nil when the server does not resume streams.
    let resumption: Resumption?
    private let core: Core

    /// How a session may be resumed: the registry, its token (given to the client in `ready`), its caller.
    struct Resumption: Sendable {
        let registry: ResumableSessions
        let token: String
        let caller: String
    }

    /// Why the audio stream was finished.
    enum Ending: Sendable {
        case clientEnd, idle, maxDuration, shutdown
    }

    private struct State {
        var lastActivity: ContinuousClock.Instant
        var ending: Ending?
        /// A decoder is serving the session (idle time counts only from then on).
        var isStarted = false
        /// The session has sent its last message (or never will): readers stop waiting for its start.
        var isOver = false
        var outcome = "client_gone"
        var clientSentEnd = false
        /// No connection: the resume window runs.
        var isDetached = false
        var windowTimer: Task<Void, Never>?
    }

    /// What the session's connections share.
    private final class Core: Sendable {
        let feed: EngineFeed
        let outlet = SessionOutlet()
        let intake: SharedIntake
        let state: NIOLockedValueBox<State>
        /// The first reader waits for `ready` (audio could not be taken earlier anyway).
        let started = AsyncStream.makeStream(of: Never.self)
        /// Yields once: the session is abandoned, with the reader's error if a reader failed.
        let abandoned = AsyncStream.makeStream(of: StreamSessionError?.self)

        init(feed: EngineFeed, intake: FeedIntake, now: ContinuousClock.Instant) {
            self.feed = feed
            self.intake = SharedIntake(intake)
            self.state = NIOLockedValueBox(State(lastActivity: now))
        }
    }

    init(
        id: String, parameters: StreamParameters, limits: StreamLimits, logger: Logger, metrics: GatewayMetrics, instanceID: String,
        resumption: Resumption?
    ) {
        self.id = id
        self.parameters = parameters
        self.limits = limits
        self.logger = logger
        self.metrics = metrics
        self.instanceID = instanceID
        self.resumption = resumption
        let feed = EngineFeed(
            engine: parameters.engine, options: parameters.recognitionOptions, maxBuffered: limits.maxBufferedAudio, metrics: metrics)
        let intake = FeedIntake(
            feed: feed, input: PCMStreamInput(declaredSampleRate: parameters.sampleRate, targetSampleRate: parameters.engineSampleRate),
            maxBuffered: limits.maxBufferedAudio)
        self.core = Core(feed: feed, intake: intake, now: .now)
    }

    /// Runs the session from its first connection until it is over (completed, failed, or abandoned), whether or not
    /// that connection lasts as long.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, context: GatewayWebSocketContext) async throws {
        let clock = ContinuousClock()
        let startedAt = clock.now
        let engine = self.parameters.engine.name
        self.metrics.sessionStarted(endpoint: "stream", engine: engine)
        if let resumption { resumption.registry.register(self, token: resumption.token, caller: resumption.caller) }
        defer {
            if let resumption { resumption.registry.remove(resumption.token) }
            let outcome = self.core.state.withLockedValue { $0.outcome }
            let received = self.core.feed.receivedMilliseconds
            self.metrics.sessionEnded(endpoint: "stream", engine: engine, outcome: outcome, audioSeconds: Double(received) / 1000)
            self.logger.info(
                "Stream session ended",
                metadata: [
                    "session.id": "\(self.id)", "session.engine": "\(self.parameters.engine.name)",
                    "session.audio_ms": "\(received)", "session.wall_ms": "\((clock.now - startedAt).milliseconds)",
                    "session.outcome": "\(outcome)",
                ]
            )
        }
        let connection = self.core.outlet.attach()
        async let session: Void = self.runSession(shutdown: context.shutdown, clock: clock, startedAt: startedAt)
        let broken = await self.serve(connection, inbound: inbound, outbound: outbound, clientClose: context.clientClose, waitsForReady: true)
        try await session
        // A breach of the WebSocket protocol goes back to WebSocketKit, which closes with its code (1002, 1007).
        if let broken { throw broken }
    }

    /// A client resumes the session on a new connection: `resumed`, the results after `lastSeq`, then as before.
    func resume(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, context: GatewayWebSocketContext, lastSeq: Int
    ) async throws {
        guard !self.core.outlet.isClosed else {
            self.metrics.resume(outcome: ResumableSessions.Refusal.ended.rawValue)
            try? await outbound.write(
                .text(ServerMessage.resumeFailed(reason: "ended", message: "The session is over. Start a new session.").jsonText))
            try? await outbound.close(.policyViolation, reason: "resume_failed")
            return
        }
        let received = self.core.intake.receivedMilliseconds
        let timer = self.core.state.withLockedValue { state -> Task<Void, Never>? in
            defer { (state.windowTimer, state.isDetached, state.lastActivity) = (nil, false, .now) }
            return state.windowTimer
        }
        timer?.cancel()
        if let resumption { resumption.registry.reattached(resumption.token) }
        self.metrics.resume(outcome: "resumed")
        self.logger.info("Stream session resumed", metadata: ["session.last_seq": "\(lastSeq)", "session.received_ms": "\(received)"])
        let greeting = ServerMessage.resumed(sessionID: self.id, receivedMs: received, instance: self.instanceID).jsonText
        let connection = self.core.outlet.attach(greeting: greeting, replayingAfter: lastSeq)
        let broken = await self.serve(connection, inbound: inbound, outbound: outbound, clientClose: context.clientClose, waitsForReady: false)
        if let broken { throw broken }
    }

    /// Ends a detached session now, for a new session that needs its engine's capacity.
    func abandonDetached() {
        guard self.core.state.withLockedValue({ $0.isDetached }) else { return }
        self.logger.info("Detached stream session ended for a new session's capacity")
        self.abandon(nil)
    }

    // MARK: - The session

    private func runSession(shutdown: ShutdownSignal, clock: ContinuousClock, startedAt: ContinuousClock.Instant) async throws {
        let core = self.core
        defer {
            // After `completed` (or an error's close, which this does not replace), the connection closes with 1000.
            core.outlet.close(.normalClosure, reason: "")
            core.state.withLockedValue {
                $0.isOver = true
                $0.windowTimer?.cancel()
            }
            core.started.continuation.finish()
            core.abandoned.continuation.finish()
        }
        do {
            _ = try await SessionTasks.run(
                shutdown: shutdown,
                reader: { try await self.waitUntilAbandoned() },
                engine: { try await self.recognize(clock: clock) },
                watchdog: { await self.watch(clock: clock, started: startedAt) },
                onShutdown: { self.end(.shutdown) }
            )
        } catch let error as StreamSessionError {
            // Once `completed` is out the session is over: what the client sent after it (audio after end) is dropped.
            guard core.state.withLockedValue({ $0.outcome }) != "completed" else { return }
            core.state.withLockedValue { $0.outcome = error.code.name }
            self.fail(error)
        } catch let error as RecognitionError {
            guard core.state.withLockedValue({ $0.outcome }) != "completed" else { return }
            core.state.withLockedValue { $0.outcome = error.code.name }
            self.fail(.engine(error))
        }
    }

    private func fail(_ error: StreamSessionError) {
        self.core.outlet.send(.error(code: error.code.name, message: error.message))
        self.core.outlet.close(error.closeCode, reason: error.code.name)
    }

    /// Returns when no connection will come back; throws the error of a reader that failed.
    private func waitUntilAbandoned() async throws {
        for await failure in self.core.abandoned.stream {
            if let failure { throw failure }
            return
        }
    }

    private func abandon(_ failure: StreamSessionError?) {
        // No resume from now on: the session is ending.
        if let resumption { resumption.registry.remove(resumption.token) }
        self.core.abandoned.continuation.yield(failure)
        self.core.abandoned.continuation.finish()
    }

    /// Recognises until the audio ends, then sends what the ending calls for.
    private func recognize(clock: ContinuousClock) async throws {
        let (core, parameters) = (self.core, self.parameters)
        let ready = ServerMessage.ready(
            sessionID: self.id, engine: parameters.engine.name, sampleRate: parameters.sampleRate, resumeToken: self.resumption?.token,
            instance: self.instanceID)
        let hotwords = parameters.hotwords
        let ignored = hotwords.isEmpty ? [] : await parameters.engine.ignoredHotwords(hotwords)
        await self.resumption?.registry.makeRoom(on: parameters.engine)
        let language = parameters.language == LanguageTag.auto ? nil : parameters.language
        try await core.feed.run(
            onStart: {
                core.state.withLockedValue {
                    $0.lastActivity = clock.now
                    $0.isStarted = true
                }
                core.outlet.send(ready)
                if !ignored.isEmpty { core.outlet.send(.hotwordsIgnored(ignored, of: hotwords.count)) }
                core.started.continuation.finish()
            },
            emit: { event in
                switch event {
                case .partial(let segment, let text):
                    core.outlet.send(result: { .partial(segment: segment, text: text, seq: $0) }, isPartial: true)
                case .final(let segment):
                    core.outlet.send(result: { .final(segment, language: language, seq: $0) }, isPartial: false)
                }
            }
        )
        let ending = core.state.withLockedValue { $0.ending }
        let received = core.feed.receivedMilliseconds
        switch ending {
        case .idle:
            throw StreamSessionError.idleTimeout(self.limits.idleTimeout)
        case .maxDuration:
            throw StreamSessionError.maxDuration(self.limits.maxSessionDuration)
        case .shutdown:
            throw StreamSessionError.shuttingDown()
        case .clientEnd, nil:
            core.outlet.send(.completed(sessionID: self.id, durationMs: received))
            core.state.withLockedValue { $0.outcome = "completed" }
        }
    }

    /// Ends the audio when the client has been silent too long or the session is too old. A detached session's idle
    /// time does not run: its resume window does.
    private func watch(clock: ContinuousClock, started: ContinuousClock.Instant) async {
        let maxDeadline = started + self.limits.maxSessionDuration
        while !Task.isCancelled {
            let now = clock.now
            let (ending, lastActivity, isStarted, isDetached) = self.core.state.withLockedValue {
                ($0.ending, $0.lastActivity, $0.isStarted, $0.isDetached)
            }
            guard ending == nil else { return }
            let idleDeadline = (isStarted && !isDetached ? lastActivity : now) + self.limits.idleTimeout
            let fired: Ending? = now >= maxDeadline ? .maxDuration : (now >= idleDeadline ? .idle : nil)
            if let fired {
                self.end(fired)
                return
            }
            do {
                try await Task.sleep(until: min(idleDeadline, maxDeadline), clock: clock)
            } catch {
                return
            }
        }
    }

    /// Ends the audio for `reason`, unless it already ended: the engine then flushes its finals.
    private func end(_ reason: Ending) {
        let won = self.core.state.withLockedValue { current -> Bool in
            guard current.ending == nil else { return false }
            current.ending = reason
            return true
        }
        if won { self.core.feed.finish() }
    }

    // MARK: - A connection

    private enum ConnectionEnd {
        case clientGone
        case readerFailed(StreamSessionError)
        /// The client broke the WebSocket protocol (WebSocketKit's error, which carries the close code).
        case brokeProtocol(any Error)
        case writer(SessionOutlet.WriterEnd)
    }

    /// Runs one connection until the session closes it, lets it go, or its client leaves. Returns the error of a
    /// client that broke the WebSocket protocol: the session is over, and the caller rethrows it.
    private func serve(
        _ connection: SessionOutlet.Connection, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        clientClose: ClientCloseRecord, waitsForReady: Bool
    ) async -> (any Error)? {
        await withTaskGroup(of: ConnectionEnd.self) { group in
            group.addTask {
                do {
                    try await self.waitForStart(first: waitsForReady)
                    try await self.read(inbound: inbound)
                    return .clientGone
                } catch let error as StreamSessionError {
                    return .readerFailed(error)
                } catch is CancellationError {
                    return .clientGone
                } catch is IOError, is ChannelError {
                    return .clientGone  // the connection dropped (a reset)
                } catch {
                    return .brokeProtocol(error)
                }
            }
            group.addTask {
                do {
                    return .writer(try await SessionOutlet.write(connection, to: outbound))
                } catch {
                    return .clientGone
                }
            }
            switch await group.next() {
            case .readerFailed(let error):
                // The session ends with the reader's error: the writer sends it, then the close.
                self.abandon(error)
                _ = await group.next()
            case .clientGone:
                group.cancelAll()
                self.connectionLost(connection.id, clientClose: clientClose)
            case .brokeProtocol(let error):
                group.cancelAll()
                self.core.outlet.detach(connection.id)
                self.abandon(nil)
                return error
            case .writer, nil:
                group.cancelAll()
            }
            return nil
        }
    }

    /// The first reader waits for `ready`; a resumed one, if the session has not started yet, polls for it.
    private func waitForStart(first: Bool) async throws {
        if first {
            for await _ in self.core.started.stream {}
        } else {
            while !self.core.state.withLockedValue({ $0.isStarted || $0.isOver }) { try await Task.sleep(for: .milliseconds(50)) }
        }
        try Task.checkCancellation()
    }

    /// A connection's client left: a close with 1000 (or a server without resumes) ends the session, as before
    /// resumes; a dropped connection detaches it for the resume window.
    private func connectionLost(_ id: Int, clientClose: ClientCloseRecord) {
        guard self.core.outlet.detach(id) else { return }  // another connection has taken over
        let closedNormally = clientClose.closeCode == 1000
        // Before `ready` the client has no token to resume with.
        guard let resumption, !closedNormally, self.core.state.withLockedValue({ $0.isStarted && !$0.isOver }),
            resumption.registry.detached(resumption.token)
        else {
            self.abandon(nil)
            return
        }
        let window = resumption.registry.window
        self.logger.info("Stream connection dropped; waiting for a resume", metadata: ["session.resume_window": "\(window)"])
        let timer = Task {
            try? await Task.sleep(for: window)
            guard !Task.isCancelled else { return }
            self.logger.info("Stream session not resumed within its window")
            self.abandon(nil)
        }
        self.core.state.withLockedValue {
            $0.isDetached = true
            $0.windowTimer = timer
        }
    }

    /// Reads the socket until the client leaves. Returns normally only when the client is gone.
    private func read(inbound: WebSocketInboundStream) async throws {
        let core = self.core
        // Frames up to twice the limit get through NIO so that they are refused here with an explanation.
        for try await message in inbound.messages(maxSize: self.limits.maxFrameBytes * 2) {
            switch message {
            case .binary(let bytes):
                guard bytes.readableBytes <= self.limits.maxFrameBytes else {
                    throw StreamSessionError.frameTooLarge(size: bytes.readableBytes, limit: self.limits.maxFrameBytes)
                }
                guard !core.state.withLockedValue({ $0.clientSentEnd }) else { throw StreamSessionError.audioAfterEnd() }
                try core.intake.push(bytes.readableBytesView)
                let now = ContinuousClock.now
                core.state.withLockedValue { $0.lastActivity = now }
            case .text(let text):
                guard text.utf8.count <= self.limits.maxFrameBytes else {
                    throw StreamSessionError.frameTooLarge(size: text.utf8.count, limit: self.limits.maxFrameBytes)
                }
                switch try ClientMessage.parse(text) {
                case .ping:
                    core.outlet.send(.pong)
                case .end:
                    let first = core.state.withLockedValue { state -> Bool in
                        defer { state.clientSentEnd = true }
                        if state.ending == nil, !state.clientSentEnd { state.ending = .clientEnd }
                        return !state.clientSentEnd
                    }
                    if first { try core.intake.finish() }
                }
            }
        }
    }
}
