import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import SpeechEngine
import Synchronization

/// One WebSocket session with Tencent's real-time ASR: signed URL with a fresh voice_id, the handshake, the client's
/// audio re-chunked to 40 ms packets and paced, results mapped to ``RecognitionEvent``s, `final:1` awaited.
struct RealtimeUpstream: Sendable {
    let configuration: TencentConfiguration
    /// Tencent query parameters (model, formats, pass-through), without the signing ones.
    let parameters: [String: String]
    let sampleRate: Int
    let logger: Logger

    /// A session's shared state: what ended it early (first cause wins), whether `final:1` came, and the timeline.
    final class SessionState: Sendable {
        private let failure = Mutex<(any Error)?>(nil)
        private let finishedFlag = Atomic<Bool>(false)
        let timeline = Mutex(UpstreamTimeline())
        let lastSent = Mutex(ContinuousClock.now)

        func fail(_ error: any Error) { self.failure.withLock { if $0 == nil { $0 = error } } }
        /// Records Tencent's own error before throwing it, so that it wins over the connection error its
        /// closing the socket may cause in the sender meanwhile.
        func failed(_ error: UpstreamFailure) -> UpstreamFailure {
            self.fail(error)
            return error
        }
        var error: (any Error)? { self.failure.withLock { $0 } }
        func finish() { self.finishedFlag.store(true, ordering: .relaxed) }
        var finished: Bool { self.finishedFlag.load(ordering: .relaxed) }

        private let abandonment = AsyncStream<Never>.makeStream()
        /// Ends the session from outside the WebSocket's handler, with `error` (unless another came first): the
        /// connection is cancelled, not closed. A timeout cannot wait for the socket to close: when the server closes
        /// while swift-websocket's client is completing the upgrade, the client loses the frames and the close, and
        /// its inbound stream never ends, close handshake or not (docs/tencent.md, "A handshake that never arrives").
        func abandon(_ error: UpstreamFailure) {
            self.fail(error)
            self.abandonment.continuation.finish()
        }
        /// Returns once ``abandon(_:)`` was called, or when the task is cancelled.
        func abandoned() async {
            for await _ in self.abandonment.stream {}
        }
    }

    /// Thrown in ``run(audio:onStart:emit:)`` when the session was abandoned; its cause is in the session state.
    private struct Abandoned: Error {}

    /// Runs the session to `final:1`. Throws ``UpstreamFailure`` for Tencent's and the connection's failures, and
    /// the client audio's own errors as they are.
    func run(
        audio: ReplayableAudio,
        onStart: @escaping @Sendable () async throws -> Void,
        emit: @escaping @Sendable (RecognitionEvent) async throws -> Void
    ) async throws {
        let now = Int(Date().timeIntervalSince1970)
        var query = self.parameters
        query["voice_id"] = UUID().uuidString.lowercased()
        query["timestamp"] = String(now)
        query["expired"] = String(now + 86_400)
        query["nonce"] = String(Int.random(in: 1...9_999_999_999))
        let url = RealtimeURLSigner(credentials: self.configuration.credentials, baseURL: self.configuration.realtimeURL).url(parameters: query)
        var logger = self.logger
        logger[metadataKey: "tencent.voice_id"] = "\(query["voice_id"]!)"

        let outcome = SessionState()
        do {
            try await withThrowingTaskGroup(of: Void.self) { [logger] group in
                group.addTask {
                    try await WebSocketClient.connect(
                        url: url,
                        configuration: WebSocketClientConfiguration(maxFrameSize: 1 << 20, closeTimeout: .seconds(2)),
                        logger: logger
                    ) { inbound, outbound, _ in
                        do {
                            try await self.converse(
                                inbound: inbound, outbound: outbound, audio: audio, outcome: outcome, onStart: onStart, emit: emit)
                        } catch {
                            outcome.fail(error)
                            throw error
                        }
                    }
                }
                group.addTask {
                    await outcome.abandoned()
                    if !Task.isCancelled { throw Abandoned() }
                }
                // The first to end: the connection (then the watcher is cancelled), or the watcher (then the
                // connection is; leaving the group waits for it).
                try await group.next()
                group.cancelAll()
            }
        } catch {
            throw Self.failure(error, recorded: outcome.error)
        }
        if outcome.finished { return }
        throw Self.failure(outcome.error ?? Self.closedEarly, recorded: nil)
    }

    private static var closedEarly: UpstreamFailure {
        UpstreamFailure.failed("Tencent ASR closed the connection before the end of the recognition.")
    }

    /// What ends the session for its caller: cancellation only when this task was cancelled (the client left, the
    /// drain time ran out); the client's own failures (its audio, its socket) as they are; Tencent's failures as
    /// they are; anything else that ended the conversation (the connection reset, or closed, which cancels its
    /// handler) as the connection's failure, never a bare error the session could not name.
    private static func failure(_ error: any Error, recorded: (any Error)?) -> any Error {
        if Task.isCancelled { return CancellationError() }
        let cause = recorded.flatMap { $0 is CancellationError ? nil : $0 } ?? error
        switch cause {
        case let client as ClientSideError: return client.error
        case let upstream as UpstreamFailure: return upstream
        case is CancellationError: return Self.closedEarly
        // Never the URL: it carries the SecretId.
        default: return UpstreamFailure.failed("The connection to Tencent ASR failed: \(Self.describe(cause)).")
        }
    }

    /// A failure of the client's side of a conversation: reading its audio, or sending it a result.
    private struct ClientSideError: Error {
        let error: any Error
    }

    /// Runs `body`, a call to the client's side, marking what it throws (but cancellation) as ``ClientSideError``.
    private static func clientSide<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw ClientSideError(error: error)
        }
    }

    /// The session once connected: handshake, then sending and receiving until `final:1`.
    private func converse(
        inbound: WebSocketInboundStream,
        outbound: WebSocketOutboundWriter,
        audio: ReplayableAudio,
        outcome: SessionState,
        onStart: @escaping @Sendable () async throws -> Void,
        emit: @escaping @Sendable (RecognitionEvent) async throws -> Void
    ) async throws {
        var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
        // The handshake: one text frame, code 0, within the response timeout.
        let timeout = self.configuration.responseTimeout
        let watchdog = Task {
            try await Task.sleep(for: timeout)
            outcome.abandon(UpstreamFailure.unanswered("Tencent ASR did not answer the handshake within \(timeout)."))
        }
        let received: WebSocketMessage?
        do {
            received = try await messages.next()
        } catch {
            watchdog.cancel()
            throw error
        }
        watchdog.cancel()
        guard let handshake = received else { return }
        let greeting = try Self.decode(handshake)
        guard greeting.code == 0 else { throw outcome.failed(UpstreamFailure(code: greeting.code, message: greeting.message ?? "")) }
        try await Self.clientSide { try await onStart() }

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.send(audio: audio, outbound: outbound, state: outcome)
            }
            defer { group.cancelAll() }
            while let frame = try await messages.next() {
                let message = try Self.decode(frame)
                guard message.code == 0 else { throw outcome.failed(UpstreamFailure(code: message.code, message: message.message ?? "")) }
                if let result = message.result {
                    let event = Self.event(result, timeline: outcome.timeline.withLock { $0 })
                    try await Self.clientSide { try await emit(event) }
                }
                if message.final == 1 {
                    outcome.finish()
                    return
                }
            }
        }
    }

    /// Sends the client's audio in 40 ms packets at the configured pace, silence while the client pauses, then
    /// `{"type":"end"}`; waits for `final:1` up to the response timeout. Failures are recorded in `outcome` and
    /// close the connection, which ends the receiving loop.
    private func send(audio: ReplayableAudio, outbound: WebSocketOutboundWriter, state: SessionState) async {
        let clock = ContinuousClock()
        let packetSamples = self.sampleRate / 25
        state.lastSent.withLock { $0 = clock.now }
        let keepAliveAfter = self.configuration.keepAliveAfter
        let silence = ByteBuffer(bytes: [UInt8](repeating: 0, count: packetSamples * 2))
        // While the client pauses, 40 ms of silence every keepAliveAfter: Tencent fails gaps over 6 s and 15 s.
        let keepAlive = Task {
            while !Task.isCancelled {
                // Sleeps until the keep-alive would be due (one timer a session, not a poll).
                let due = state.lastSent.withLock({ $0 }) + keepAliveAfter
                if clock.now < due {
                    try await Task.sleep(until: due, clock: clock)
                    continue
                }
                state.timeline.withLock { $0.sentSilence(milliseconds: 40) }
                state.lastSent.withLock { $0 = clock.now }
                try await outbound.write(.binary(silence))
            }
        }
        defer { keepAlive.cancel() }
        do {
            var pacer = AudioPacer(pace: self.configuration.pace, burst: self.configuration.burst, now: clock.now)
            var pending: [Int16] = []
            func flush(_ samples: ArraySlice<Int16>) async throws {
                let milliseconds = samples.count * 1000 / self.sampleRate
                while let wait = pacer.take(Double(milliseconds), now: clock.now) {
                    try await Task.sleep(for: wait)
                }
                var packet = ByteBuffer()
                packet.reserveCapacity(samples.count * 2)
                #if _endian(little)
                    samples.withUnsafeBytes { _ = packet.writeBytes($0) }
                #else
                    for sample in samples { packet.writeInteger(sample, endianness: .little) }
                #endif
                state.timeline.withLock { $0.sentAudio(milliseconds: milliseconds) }
                state.lastSent.withLock { $0 = clock.now }
                try await outbound.write(.binary(packet))
            }
            var index = 0
            while let chunk = try await Self.clientSide({ try await audio.chunk(at: index) }) {
                index += 1
                pending.append(contentsOf: chunk)
                var offset = 0
                while pending.count - offset >= packetSamples {
                    try await flush(pending[offset..<offset + packetSamples])
                    offset += packetSamples
                }
                pending.removeFirst(offset)
            }
            if !pending.isEmpty { try await flush(pending[...]) }
            keepAlive.cancel()
            try await outbound.write(.text(#"{"type":"end"}"#))
            try await Task.sleep(for: self.configuration.responseTimeout)
            state.abandon(
                UpstreamFailure.failed("Tencent ASR sent no final result within \(self.configuration.responseTimeout) of the end of the audio."))
            return
        } catch is CancellationError {
            return
        } catch {
            state.fail(error)
        }
        try? await outbound.close(.normalClosure, reason: nil)
        // The receiving side ends this task once the connection closes; if it never does, this ends the session.
        try? await Task.sleep(for: .seconds(2))
        if !Task.isCancelled { state.abandon(Self.closedEarly) }
    }

    private static func decode(_ frame: WebSocketMessage) throws -> UpstreamMessage {
        guard case .text(let text) = frame else { throw UpstreamFailure.failed("Tencent ASR sent a binary message.") }
        do {
            return try JSONDecoder().decode(UpstreamMessage.self, from: Data(text.utf8))
        } catch {
            throw UpstreamFailure.failed("Tencent ASR sent a message this gateway does not understand: \(text.prefix(200))")
        }
    }

    /// slice_type 0/1 → partial; 2 → final, times mapped back to the client's stream.
    static func event(_ result: UpstreamMessage.Result, timeline: UpstreamTimeline) -> RecognitionEvent {
        guard result.slice_type == 2 else { return .partial(segment: result.index, text: result.voice_text_str) }
        let words = (result.word_list ?? []).map {
            RecognizedWord(text: $0.word, startMs: timeline.clientMs($0.start_time), endMs: timeline.clientMs($0.end_time), confidence: 1)
        }
        return .final(
            RecognizedSegment(
                index: result.index,
                text: result.voice_text_str,
                startMs: timeline.clientMs(result.start_time),
                endMs: timeline.clientMs(result.end_time),
                words: words
            )
        )
    }

    private static func describe(_ error: any Error) -> String {
        String(describing: error).replacingOccurrences(of: #"secretid=[^&\s"]*"#, with: "secretid=…", options: .regularExpression)
    }
}
