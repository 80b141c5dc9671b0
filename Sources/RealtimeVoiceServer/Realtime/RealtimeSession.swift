import Foundation
import HummingbirdWebSocket
import Logging
import NIOConcurrencyHelpers
import RealtimeVoiceAudio
import RealtimeVoiceErrors
import SpeechEngine

/// One client on `GET /v1/realtime` (OpenAI's Realtime API in transcription mode): events in, items with live
/// deltas out. README "/v1/realtime" and docs/openai-realtime.md §8 say how it maps onto the engines.
///
/// Audio goes to the engines through the same ``EngineFeed`` as protocol v1, one feed a *turn*:
/// - manual commit (`turn_detection: null`): a turn is the audio between two commits, and becomes one item;
/// - server VAD: a turn is the audio until a commit, a clear, an update or `--idle-timeout` without audio, and the
///   engine's own endpointing cuts it into items, one per segment (as protocol v1 cuts finals). So transcripts
///   and latency equal protocol v1's for the same audio.
/// Turns run one after another on the engine (a session never holds two engine slots); the next turn's audio
/// queues meanwhile. The child tasks are ``SessionTasks``', as in ``StreamSession``: the reader, the engine (the
/// turns in order), the watchdog (idle turns, the maximum length) and the shutdown.
struct RealtimeSession: Sendable {
    let id: String
    let engines: EngineRegistry
    /// The engine a model name that is not an engine's selects: the query's `model` when it names one, else the default.
    let defaultEngine: String
    let initialSettings: RealtimeSettings
    let limits: StreamLimits
    let logger: Logger
    let metrics: GatewayMetrics

    /// Commits need this much audio, as at OpenAI.
    static let minimumCommitMilliseconds = 100
    /// Turns created but not yet recognised; more means the client commits faster than the engine can follow.
    static let maxPendingTurns = 8

    /// One engine call.
    final class Turn: Sendable {
        let number: Int
        let feed: EngineFeed
        let settings: RealtimeSettings
        /// Session audio (input milliseconds) before this turn's.
        let offsetMs: Int
        /// Manual commit: the item this turn becomes.
        let itemID: String?
        /// Triggered by `clear`: the call is cancelled and its audio dropped.
        let cancellation = ShutdownSignal(drainTime: .zero)

        init(number: Int, feed: EngineFeed, settings: RealtimeSettings, offsetMs: Int, itemID: String?) {
            self.number = number
            self.feed = feed
            self.settings = settings
            self.offsetMs = offsetMs
            self.itemID = itemID
        }
    }

    enum Ending: Sendable {
        case shutdown, maxDuration
    }

    private struct State {
        var settings: RealtimeSettings
        var engine: any SpeechRecognizer
        var language: String
        /// The session's keywords merged with the server's hotwords.
        var hotwords: [Hotword]
        var openTurn: Turn?
        var pendingTurns = 0
        var turnsCreated = 0
        var itemsCreated = 0
        /// Audio of the turns no longer open, in input milliseconds.
        var closedMilliseconds = 0
        var lastItemID: String?
        /// Server VAD: the item of the engine's open segment, once it has a partial.
        var vadItem: String?
        /// Where the last segment of the running turn ended (turn milliseconds), for the next `speech_started`.
        var lastSegmentEndMs = 0
        var deltas = TranscriptDeltas()
        /// Manual commit: the finals of the running turn.
        var finals: [RecognizedSegment] = []
        var lastAudioAt: ContinuousClock.Instant
        var ending: Ending?
        var outcome = "completed"
    }

    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, shutdown: ShutdownSignal) async throws {
        let clock = ContinuousClock()
        let startedAt = clock.now
        let events = RealtimeEventWriter(outbound: outbound, sessionID: self.id)
        let resolved = try? self.resolve(self.initialSettings)
        guard let (engine, language) = resolved ?? self.engines.defaultEngine.map({ ($0, $0.defaultLanguage) }) else { return }
        let hotwords = (try? self.hotwords(self.initialSettings)) ?? self.engines.serverHotwords
        let state = NIOLockedValueBox(
            State(settings: self.initialSettings, engine: engine, language: language, hotwords: hotwords, lastAudioAt: startedAt))
        let (turns, turnSink) = AsyncStream.makeStream(of: Turn.self)
        self.metrics.sessionStarted(endpoint: "realtime", engine: engine.name)
        defer {
            let (outcome, received) = state.withLockedValue { ($0.outcome, $0.closedMilliseconds + ($0.openTurn?.feed.receivedMilliseconds ?? 0)) }
            self.metrics.sessionEnded(endpoint: "realtime", engine: engine.name, outcome: outcome, audioSeconds: Double(received) / 1000)
            self.logger.info(
                "Realtime session ended",
                metadata: [
                    "session.id": "\(self.id)", "session.engine": "\(engine.name)", "session.audio_ms": "\(received)",
                    "session.items": "\(state.withLockedValue { $0.itemsCreated })", "session.wall_ms": "\((clock.now - startedAt).milliseconds)",
                    "session.outcome": "\(outcome)",
                ]
            )
        }
        let created = self.initialSettings.shape == .ga ? "session.created" : "transcription_session.created"
        try await events.send(created, ["session": self.initialSettings.encoded(sessionID: self.id)])
        do {
            let ended = try await SessionTasks.run(
                shutdown: shutdown,
                reader: { try await self.read(inbound: inbound, events: events, state: state, turnSink: turnSink, clock: clock) },
                engine: { try await self.recognize(turns: turns, events: events, state: state) },
                watchdog: { await self.watch(state: state, turnSink: turnSink, events: events, clock: clock, startedAt: startedAt) },
                onShutdown: { await self.end(.shutdown, state: state, turnSink: turnSink, events: events) }
            )
            // The engine task ends only when the turns do: on shutdown or at the maximum length.
            if ended == .recognitionDone {
                switch state.withLockedValue({ $0.ending }) {
                case .shutdown: throw StreamSessionError.shuttingDown()
                case .maxDuration: throw StreamSessionError.maxDuration(self.limits.maxSessionDuration)
                case nil: break
                }
            }
        } catch let error as StreamSessionError {
            state.withLockedValue { $0.outcome = error.code.name }
            try await self.fail(error, events: events, outbound: outbound)
        } catch let error as RecognitionError {
            state.withLockedValue { $0.outcome = error.code.name }
            try await self.fail(.engine(error), events: events, outbound: outbound)
        }
    }

    /// An error that ends the session: an `error` event, then the catalogue's close code (1013 for `busy`, 1001 on
    /// shutdown), as on protocol v1.
    private func fail(_ error: StreamSessionError, events: RealtimeEventWriter, outbound: WebSocketOutboundWriter) async throws {
        try await events.error(RealtimeEventError(error.code, error.message))
        try await outbound.close(error.closeCode, reason: error.code.name)
    }

    /// The engine and language tag for `settings`: a model naming an engine selects it, any other name (`whisper-1`,
    /// `gpt-4o-transcribe`) the session's default engine.
    func resolve(_ settings: RealtimeSettings) throws(RealtimeEventError) -> (any SpeechRecognizer, String) {
        let engine = self.engines[settings.model] != nil ? settings.model : self.defaultEngine
        do {
            return try self.engines.resolve(engine: engine, language: settings.language)
        } catch {
            let param = settings.shape == .ga ? "session.audio.input.transcription.language" : "session.input_audio_transcription.language"
            throw RealtimeEventError(error.code, error.message, param: param)
        }
    }

    /// The settings' keywords (weight ``Hotword/defaultWeight``) merged with the server's hotwords; without keywords,
    /// on an engine that has no use for a prompt, the prompt read as a hotword list when it is one.
    func hotwords(_ settings: RealtimeSettings) throws(RealtimeEventError) -> [Hotword] {
        do {
            if settings.keywords.isEmpty, !settings.prompt.isEmpty, let (engine, _) = try? self.resolve(settings) {
                return try self.engines.hotwords(nil, prompt: settings.prompt, engine: engine)
            }
            return try self.engines.hotwords(session: settings.keywords.map { Hotword(phrase: $0) })
        } catch {
            let param = settings.shape == .ga ? "session.audio.input.transcription.keywords" : "session.input_audio_transcription.keywords"
            throw RealtimeEventError(.invalidValue, error.message, param: param)
        }
    }
}

// MARK: - The reader

extension RealtimeSession {
    /// Reads events until the client leaves. Event errors are answered and the session goes on; a
    /// ``StreamSessionError`` (audio that cannot be taken, an engine too far behind) ends it.
    private func read(
        inbound: WebSocketInboundStream,
        events: RealtimeEventWriter,
        state: NIOLockedValueBox<State>,
        turnSink: AsyncStream<Turn>.Continuation,
        clock: ContinuousClock
    ) async throws {
        var intake: (turn: Int, intake: FeedIntake, bytes: Int)?
        for try await message in inbound.messages(maxSize: self.limits.maxRealtimeEventBytes * 2) {
            let text: String
            switch message {
            case .binary:
                try await events.error(
                    RealtimeEventError(.invalidEvent, "Send events as JSON text frames; audio goes base64 in input_audio_buffer.append."))
                continue
            case .text(let received):
                text = received
            }
            guard text.utf8.count <= self.limits.maxRealtimeEventBytes else {
                try await events.error(
                    RealtimeEventError(
                        .eventTooLarge,
                        "An event of \(text.utf8.count) bytes is over this server's limit of \(self.limits.maxRealtimeEventBytes) bytes; "
                            + "append the audio in smaller pieces."))
                continue
            }
            let (eventID, parsed) = RealtimeClientEvent.parse(text)
            do {
                switch try parsed.get() {
                case .append(let bytes):
                    guard state.withLockedValue({ $0.ending == nil }) else { continue }
                    if intake == nil || state.withLockedValue({ $0.openTurn?.number }) != intake?.turn {
                        intake = try self.openTurn(state: state, turnSink: turnSink)
                    }
                    try intake?.intake.push(bytes)
                    intake?.bytes += bytes.count
                    let now = clock.now
                    state.withLockedValue { $0.lastAudioAt = now }
                case .commit:
                    try await self.commit(&intake, state: state, events: events)
                case .clear:
                    intake = nil
                    let turn = state.withLockedValue { state -> Turn? in
                        defer { state.openTurn = nil }
                        if let turn = state.openTurn {
                            state.closedMilliseconds += turn.feed.receivedMilliseconds
                            state.vadItem = nil
                        }
                        return state.openTurn
                    }
                    turn?.cancellation.trigger()
                    turn?.feed.finish()
                    try await events.send("input_audio_buffer.cleared")
                case .update(let name, let session):
                    try await self.update(name: name, session: session, intake: &intake, state: state, events: events)
                }
            } catch var error as RealtimeEventError {
                error.eventID = eventID
                try await events.error(error)
            }
        }
    }

    /// A new turn for the audio that follows, queued for the engine task.
    private func openTurn(
        state: NIOLockedValueBox<State>, turnSink: AsyncStream<Turn>.Continuation
    ) throws -> (turn: Int, intake: FeedIntake, bytes: Int) {
        let (settings, engine, language, hotwords) = state.withLockedValue { ($0.settings, $0.engine, $0.language, $0.hotwords) }
        let engineRate = engine.sampleRate(forInput: settings.format.sampleRate)
        let input: PCMStreamInput
        do {
            switch settings.format {
            case .pcm: input = PCMStreamInput(declaredSampleRate: 24_000, targetSampleRate: engineRate)
            case .pcmu: input = try PCMStreamInput(companded: .muLaw, targetSampleRate: engineRate)
            case .pcma: input = try PCMStreamInput(companded: .aLaw, targetSampleRate: engineRate)
            }
        } catch {
            throw StreamSessionError.invalidAudio(error)
        }
        let options = RecognitionOptions(
            language: language, sampleRate: engineRate, parameters: settings.engineParameters, hotwords: hotwords)
        let feed = EngineFeed(engine: engine, options: options, maxBuffered: self.limits.maxBufferedAudio, metrics: self.metrics)
        let turn = try state.withLockedValue { state throws(StreamSessionError) -> Turn in
            guard state.pendingTurns < Self.maxPendingTurns else { throw StreamSessionError.overloaded(behind: self.limits.maxBufferedAudio) }
            state.turnsCreated += 1
            state.pendingTurns += 1
            let itemID = settings.turnDetection == nil ? self.newItemID(&state) : nil
            let turn = Turn(number: state.turnsCreated, feed: feed, settings: settings, offsetMs: state.closedMilliseconds, itemID: itemID)
            state.openTurn = turn
            return turn
        }
        turnSink.yield(turn)
        return (turn.number, FeedIntake(feed: feed, input: input, maxBuffered: self.limits.maxBufferedAudio), 0)
    }

    private func newItemID(_ state: inout State) -> String {
        state.itemsCreated += 1
        return "item_\(self.id.dropFirst("sess_".count).prefix(12))_\(state.itemsCreated)"
    }

    /// `input_audio_buffer.commit`: at least 100 ms of audio since the last commit, else
    /// `input_audio_buffer_commit_empty`. Manual commit answers `committed` and the item now; under server VAD the
    /// turn ends and the engine's last segment becomes the item.
    private func commit(
        _ intake: inout (turn: Int, intake: FeedIntake, bytes: Int)?, state: NIOLockedValueBox<State>, events: RealtimeEventWriter
    ) async throws {
        let open = state.withLockedValue { $0.openTurn }
        guard var current = intake, let turn = open, turn.number == current.turn,
            current.intake.receivedMilliseconds >= Self.minimumCommitMilliseconds
        else {
            let milliseconds = intake.map { $0.turn == open?.number ? $0.intake.receivedMilliseconds : 0 } ?? 0
            throw RealtimeEventError(
                .inputAudioBufferCommitEmpty,
                "Error committing input audio buffer: buffer too small. Expected at least \(Self.minimumCommitMilliseconds)ms of audio, "
                    + "but buffer only has \(milliseconds)ms of audio.")
        }
        intake = nil
        let previous = state.withLockedValue { state -> String? in
            state.openTurn = nil
            state.closedMilliseconds += turn.feed.receivedMilliseconds
            defer { if let item = turn.itemID { state.lastItemID = item } }
            return state.lastItemID
        }
        if let item = turn.itemID {
            try await events.committed(item: item, previous: previous, shape: turn.settings.shape)
        }
        try current.intake.finish()
    }

    /// `session.update` / `transcription_session.update`: applied whole or not at all, answered with the full
    /// session. Changing the audio while a turn is open is `session_update_during_turn`; under server VAD, with no
    /// speech open, the running turn ends and the next audio starts one with the new settings.
    private func update(
        name: String,
        session: EventFields,
        intake: inout (turn: Int, intake: FeedIntake, bytes: Int)?,
        state: NIOLockedValueBox<State>,
        events: RealtimeEventWriter
    ) async throws {
        let current = state.withLockedValue { $0.settings }
        let next = try current.applying(session)
        let (engine, language) = try self.resolve(next)
        let hotwords = try self.hotwords(next)
        let finishing = try state.withLockedValue { state throws(RealtimeEventError) -> Turn? in
            state.hotwords = hotwords
            guard let turn = state.openTurn, current.changesAudio(next) else {
                (state.settings, state.engine, state.language) = (next, engine, language)
                return nil
            }
            guard current.turnDetection != nil, state.vadItem == nil else {
                throw RealtimeEventError(
                    .sessionUpdateDuringTurn,
                    current.turnDetection == nil
                        ? "The input audio buffer holds audio of the current settings: commit or clear it before changing the audio settings."
                        : "Speech is being transcribed: wait for its completed event, or clear the buffer, before changing the audio settings.",
                    param: "session")
            }
            (state.settings, state.engine, state.language) = (next, engine, language)
            state.openTurn = nil
            state.closedMilliseconds += turn.feed.receivedMilliseconds
            return turn
        }
        if finishing != nil {
            try intake?.intake.finish()
            intake = nil
        }
        let reply = name == "transcription_session.update" ? "transcription_session.updated" : "session.updated"
        try await events.send(reply, ["session": next.encoded(sessionID: self.id)])
    }
}

// MARK: - The engine task

extension RealtimeSession {
    /// Runs the turns in order. An engine failure fails the turn's item and the session goes on, except for the
    /// codes that end a stream at once (`busy`, `engine_unavailable`, `server_shutting_down`).
    private func recognize(turns: AsyncStream<Turn>, events: RealtimeEventWriter, state: NIOLockedValueBox<State>) async throws {
        for await turn in turns {
            defer { state.withLockedValue { $0.pendingTurns -= 1 } }
            state.withLockedValue {
                $0.lastSegmentEndMs = 0
                $0.deltas = TranscriptDeltas()
                $0.finals = []
                $0.vadItem = nil
            }
            do {
                try await self.run(turn, events: events, state: state)
            } catch is CancellationError where !Task.isCancelled {
                continue
            } catch let error as RecognitionError {
                let item = state.withLockedValue { state -> String? in
                    defer { state.vadItem = nil }
                    return turn.itemID ?? state.vadItem
                }
                let endsSession = [.busy, .engineUnavailable, .serverShuttingDown].contains(error.code)
                if let item {
                    try await events.failed(item: item, error)
                } else if !endsSession {
                    try await events.error(RealtimeEventError(error.code, error.message))
                }
                // The session's own error event and close follow (``fail``).
                if endsSession { throw error }
                // The turn is over; audio that follows opens a new one.
                state.withLockedValue { if $0.openTurn === turn { $0.openTurn = nil } }
            }
        }
    }

    private func run(_ turn: Turn, events: RealtimeEventWriter, state: NIOLockedValueBox<State>) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await turn.feed.run(onStart: {}) { event in
                    if turn.itemID != nil {
                        try await self.manualEvent(event, turn: turn, events: events, state: state)
                    } else {
                        try await self.vadEvent(event, turn: turn, events: events, state: state)
                    }
                }
            }
            group.addTask {
                await turn.cancellation.wait()
                throw CancellationError()
            }
            try await group.next()
            group.cancelAll()
        }
        guard let item = turn.itemID else { return }
        let finals = state.withLockedValue { $0.finals }
        try await events.completed(
            item: item, transcript: finals.transcript, seconds: Double(turn.feed.receivedMilliseconds) / 1000,
            words: turn.settings.wantsLogprobs ? finals.flatMap(\.words) : nil)
    }

    /// Manual commit: the turn is one item; its text is the turn's finals so far and the open partial.
    private func manualEvent(_ event: RecognitionEvent, turn: Turn, events: RealtimeEventWriter, state: NIOLockedValueBox<State>) async throws {
        guard let item = turn.itemID else { return }
        let delta = state.withLockedValue { state -> String? in
            switch event {
            case .partial(_, let text):
                return state.deltas.delta(for: (state.finals + [RecognizedSegment(index: 0, text: text, startMs: 0, endMs: 0, words: [])]).transcript)
            case .final(let segment):
                state.finals.append(segment)
                return state.deltas.delta(for: state.finals.transcript)
            }
        }
        if let delta { try await events.delta(item: item, delta) }
    }

    /// Server VAD: each engine segment is an item. Its first partial opens it (`speech_started`), its final closes it:
    /// `speech_stopped`, `committed`, the item, the last delta, `completed`. A final with no text and no partial
    /// before it (noise) makes no item.
    private func vadEvent(_ event: RecognitionEvent, turn: Turn, events: RealtimeEventWriter, state: NIOLockedValueBox<State>) async throws {
        let text: String
        let final: RecognizedSegment?
        switch event {
        case .partial(_, let partial): (text, final) = (partial, nil)
        case .final(let segment): (text, final) = (segment.text, segment)
        }
        let opened = state.withLockedValue { state -> (item: String, startMs: Int?, delta: String?, previous: String?)? in
            var startMs: Int?
            if state.vadItem == nil {
                guard !text.isEmpty else { return nil }
                state.vadItem = self.newItemID(&state)
                state.deltas = TranscriptDeltas()
                startMs = turn.offsetMs + (final?.startMs ?? state.lastSegmentEndMs)
            }
            let item = state.vadItem!
            let delta = state.deltas.delta(for: text)
            let previous = state.lastItemID
            if let final {
                state.vadItem = nil
                state.lastItemID = item
                state.lastSegmentEndMs = final.endMs
            }
            return (item, startMs, delta, previous)
        }
        guard let opened else { return }
        if let startMs = opened.startMs { try await events.speechStarted(item: opened.item, atMs: startMs) }
        if let delta = opened.delta, final == nil { try await events.delta(item: opened.item, delta) }
        guard let final else { return }
        try await events.speechStopped(item: opened.item, atMs: turn.offsetMs + final.endMs)
        try await events.committed(item: opened.item, previous: opened.previous, shape: turn.settings.shape)
        if let delta = opened.delta { try await events.delta(item: opened.item, delta) }
        try await events.completed(
            item: opened.item, transcript: final.text, seconds: Double(max(0, final.endMs - final.startMs)) / 1000,
            words: turn.settings.wantsLogprobs ? final.words : nil)
    }
}

// MARK: - Watchdog and endings

extension RealtimeSession {
    /// Under server VAD, ends a turn that had no audio for `--idle-timeout` (its engine slot goes back; the session
    /// stays); ends the session at `--max-session`.
    private func watch(
        state: NIOLockedValueBox<State>, turnSink: AsyncStream<Turn>.Continuation, events: RealtimeEventWriter, clock: ContinuousClock,
        startedAt: ContinuousClock.Instant
    ) async {
        let maxDeadline = startedAt + self.limits.maxSessionDuration
        while !Task.isCancelled {
            let now = clock.now
            if now >= maxDeadline {
                await self.end(.maxDuration, state: state, turnSink: turnSink, events: events)
                return
            }
            let idle = state.withLockedValue { state -> (Turn?, ContinuousClock.Instant) in
                let deadline = state.lastAudioAt + self.limits.idleTimeout
                guard let turn = state.openTurn, turn.itemID == nil, state.ending == nil, now >= deadline else {
                    return (nil, deadline > now ? deadline : now + self.limits.idleTimeout)
                }
                state.openTurn = nil
                state.closedMilliseconds += turn.feed.receivedMilliseconds
                return (turn, now + self.limits.idleTimeout)
            }
            idle.0?.feed.finish()
            do {
                try await Task.sleep(until: min(idle.1, maxDeadline), clock: clock)
            } catch {
                return
            }
        }
    }

    /// Shutdown or the maximum length: the open turn is committed (its items complete), no new audio is taken,
    /// and the engine task ends once the queued turns are done.
    private func end(_ reason: Ending, state: NIOLockedValueBox<State>, turnSink: AsyncStream<Turn>.Continuation, events: RealtimeEventWriter) async {
        let (turn, previous) = state.withLockedValue { state -> (Turn?, String?) in
            guard state.ending == nil else { return (nil, nil) }
            state.ending = reason
            let turn = state.openTurn
            state.openTurn = nil
            let previous = state.lastItemID
            if let turn {
                state.closedMilliseconds += turn.feed.receivedMilliseconds
                if let item = turn.itemID { state.lastItemID = item }
            }
            return (turn, previous)
        }
        if let turn, let item = turn.itemID {
            try? await events.committed(item: item, previous: previous, shape: turn.settings.shape)
        }
        turn?.feed.finish()
        turnSink.finish()
    }
}
