import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RealtimeVoiceAudio
import RealtimeVoiceErrors
import SpeechEngine

/// One client on `/api/realtime-voice/stream`: PCM in, partials and finals out (protocol v1).
///
/// The child tasks of ``SessionTasks``:
/// - the reader drains the socket (so pings and pongs keep flowing while the engine works), normalises PCM and
///   queues it for the engine (one ``EngineFeed``, bounded by `maxBufferedAudio`): when the engine falls that far
///   behind the client, the session ends with `overloaded` instead of lagging without bound;
/// - the engine task recognises and writes events;
/// - the watchdog ends the audio on idle time-out or maximum duration.
struct StreamSession: Sendable {
    let id: String
    let parameters: StreamParameters
    let limits: StreamLimits
    let logger: Logger
    let metrics: GatewayMetrics

    /// Why the audio stream was finished.
    enum Ending: Sendable {
        case clientEnd, idle, maxDuration, shutdown
    }

    private struct State {
        var lastActivity: ContinuousClock.Instant
        var ending: Ending?
        /// A decoder is serving the session (idle time counts only from then on).
        var isStarted = false
        var outcome = "client_gone"
    }

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, shutdown: ShutdownSignal) async throws {
        let clock = ContinuousClock()
        let startedAt = clock.now
        let audio = EngineFeed(
            engine: self.parameters.engine, options: self.parameters.recognitionOptions, maxBuffered: self.limits.maxBufferedAudio,
            metrics: self.metrics)
        let state = NIOLockedValueBox(State(lastActivity: startedAt))
        // `ready` is the first message: the reader waits for it (audio could not be taken earlier anyway).
        let (started, startedSignal) = AsyncStream.makeStream(of: Never.self)
        let engine = self.parameters.engine.name
        self.metrics.sessionStarted(endpoint: "stream", engine: engine)
        defer {
            let outcome = state.withLockedValue { $0.outcome }
            let received = audio.receivedMilliseconds
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
        do {
            _ = try await SessionTasks.run(
                shutdown: shutdown,
                reader: {
                    for await _ in started {}
                    try Task.checkCancellation()
                    try await self.read(inbound: inbound, outbound: outbound, audio: audio, state: state, clock: clock)
                },
                engine: {
                    try await self.recognize(audio: audio, outbound: outbound, state: state, clock: clock, onStart: { startedSignal.finish() })
                },
                watchdog: { await self.watch(audio: audio, state: state, clock: clock, started: startedAt) },
                onShutdown: { self.end(.shutdown, audio: audio, state: state) }
            )
        } catch let error as StreamSessionError {
            // Once `completed` is out the session is over: what the client sent after it (audio after end) is dropped.
            guard state.withLockedValue({ $0.outcome }) != "completed" else { return }
            state.withLockedValue { $0.outcome = error.code.name }
            try await self.fail(error, outbound: outbound)
        } catch let error as RecognitionError {
            guard state.withLockedValue({ $0.outcome }) != "completed" else { return }
            state.withLockedValue { $0.outcome = error.code.name }
            try await self.fail(.engine(error), outbound: outbound)
        }
    }

    private func fail(_ error: StreamSessionError, outbound: WebSocketOutboundWriter) async throws {
        try await outbound.write(.text(ServerMessage.error(code: error.code.name, message: error.message).jsonText))
        try await outbound.close(error.closeCode, reason: error.code.name)
    }

    /// Reads the socket until the client leaves. Returns normally only when the client is gone.
    private func read(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        audio: EngineFeed,
        state: NIOLockedValueBox<State>,
        clock: ContinuousClock
    ) async throws {
        var intake = FeedIntake(
            feed: audio,
            input: PCMStreamInput(declaredSampleRate: self.parameters.sampleRate, targetSampleRate: self.parameters.engineSampleRate),
            maxBuffered: self.limits.maxBufferedAudio
        )
        var ended = false
        // Frames up to twice the limit get through NIO so that they are refused here with an explanation.
        for try await message in inbound.messages(maxSize: self.limits.maxFrameBytes * 2) {
            switch message {
            case .binary(let bytes):
                guard bytes.readableBytes <= self.limits.maxFrameBytes else {
                    throw StreamSessionError.frameTooLarge(size: bytes.readableBytes, limit: self.limits.maxFrameBytes)
                }
                guard !ended else { throw StreamSessionError.audioAfterEnd() }
                try intake.push(bytes.readableBytesView)
                let now = clock.now
                state.withLockedValue { $0.lastActivity = now }
            case .text(let text):
                guard text.utf8.count <= self.limits.maxFrameBytes else {
                    throw StreamSessionError.frameTooLarge(size: text.utf8.count, limit: self.limits.maxFrameBytes)
                }
                switch try ClientMessage.parse(text) {
                case .ping:
                    try await outbound.write(.text(ServerMessage.pong.jsonText))
                case .end where !ended:
                    ended = true
                    state.withLockedValue {
                        if $0.ending == nil { $0.ending = .clientEnd }
                    }
                    try intake.finish()
                case .end:
                    break
                }
            }
        }
    }

    /// Recognises until the audio ends, then sends what the ending calls for.
    private func recognize(
        audio: EngineFeed,
        outbound: WebSocketOutboundWriter,
        state: NIOLockedValueBox<State>,
        clock: ContinuousClock,
        onStart: @escaping @Sendable () -> Void
    ) async throws {
        let ready = ServerMessage.ready(sessionID: self.id, engine: self.parameters.engine.name, sampleRate: self.parameters.sampleRate)
        let hotwords = self.parameters.hotwords
        let ignored = hotwords.isEmpty ? [] : await self.parameters.engine.ignoredHotwords(hotwords)
        try await audio.run(
            onStart: {
                state.withLockedValue {
                    $0.lastActivity = clock.now
                    $0.isStarted = true
                }
                try await outbound.write(.text(ready.jsonText))
                if !ignored.isEmpty { try await outbound.write(.text(ServerMessage.hotwordsIgnored(ignored, of: hotwords.count).jsonText)) }
                onStart()
            },
            emit: { event in
                switch event {
                case .partial(let segment, let text):
                    try await outbound.write(.text(ServerMessage.partial(segment: segment, text: text).jsonText))
                case .final(let segment):
                    try await outbound.write(
                        .text(
                            ServerMessage.final(segment, language: self.parameters.language == LanguageTag.auto ? nil : self.parameters.language)
                                .jsonText))
                }
            }
        )
        let ending = state.withLockedValue { $0.ending }
        let received = audio.receivedMilliseconds
        switch ending {
        case .idle:
            throw StreamSessionError.idleTimeout(self.limits.idleTimeout)
        case .maxDuration:
            throw StreamSessionError.maxDuration(self.limits.maxSessionDuration)
        case .shutdown:
            throw StreamSessionError.shuttingDown()
        case .clientEnd, nil:
            try await outbound.write(.text(ServerMessage.completed(sessionID: self.id, durationMs: received).jsonText))
            state.withLockedValue { $0.outcome = "completed" }
        }
    }

    /// Ends the audio when the client has been silent too long or the session is too old.
    private func watch(audio: EngineFeed, state: NIOLockedValueBox<State>, clock: ContinuousClock, started: ContinuousClock.Instant) async {
        let maxDeadline = started + self.limits.maxSessionDuration
        while !Task.isCancelled {
            let (ending, lastActivity, isStarted) = state.withLockedValue { ($0.ending, $0.lastActivity, $0.isStarted) }
            guard ending == nil else { return }
            let now = clock.now
            let idleDeadline = (isStarted ? lastActivity : now) + self.limits.idleTimeout
            let fired: Ending? = now >= maxDeadline ? .maxDuration : (now >= idleDeadline ? .idle : nil)
            if let fired {
                self.end(fired, audio: audio, state: state)
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
    private func end(_ reason: Ending, audio: EngineFeed, state: NIOLockedValueBox<State>) {
        let won = state.withLockedValue { current -> Bool in
            guard current.ending == nil else { return false }
            current.ending = reason
            return true
        }
        if won { audio.finish() }
    }
}
