import Synchronization

/// The client's audio between the session and the upstream attempts: one pump task reads the client's sequence,
/// each attempt reads from here with its own cursor. An attempt ending (cancelled mid-read) never touches the
/// client's sequence, whose iterator ends for good when cancelled, and a retried attempt (5000–5002, new voice_id)
/// hears the stream again from its start, as long as no result has reached the client.
///
/// At most `maxAhead` samples wait here unread; the pump then waits, and the session's own bounded queue absorbs
/// the rest (so an engine that lags still ends the session as `overloaded`).
final class ReplayableAudio: Sendable {
    private struct State {
        /// `chunks[i]` is chunk number `base + i`.
        var chunks: [[Int16]] = []
        var base = 0
        /// Chunks handed to a reader at least once, and the samples appended but not read yet.
        var read = 0
        var unreadSamples = 0
        var recordedSamples = 0
        var replayable = true
        var ended = false
        var failure: (any Error)?
        /// Tasks waiting for a change (data, room, the end): all are woken by any, and check again.
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let maxReplaySamples: Int
    private let maxAhead: Int

    init(maxReplaySamples: Int, maxAheadSamples: Int) {
        self.maxReplaySamples = maxReplaySamples
        self.maxAhead = maxAheadSamples
    }

    /// Reads `audio` into the buffer until it ends, fails, or the task is cancelled.
    func pump<Audio: AsyncSequence & Sendable>(_ audio: Audio) async where Audio.Element == [Int16] {
        do {
            for try await chunk in audio {
                await self.waitUntil { $0.unreadSamples < self.maxAhead }
                try Task.checkCancellation()
                self.append(chunk)
            }
            self.end(nil)
        } catch {
            self.end(error)
        }
    }

    /// Chunk number `index`: waits for it; nil at the end of the audio; throws the client audio's error.
    func chunk(at index: Int) async throws -> [Int16]? {
        while true {
            try Task.checkCancellation()
            enum Step { case chunk([Int16]), end, failure(any Error), wait }
            let step: Step = self.state.withLock { state in
                if index - state.base < state.chunks.count, index >= state.base {
                    let chunk = state.chunks[index - state.base]
                    if index >= state.read {
                        state.read = index + 1
                        state.unreadSamples -= chunk.count
                        Self.resume(&state.waiters)
                    }
                    if !state.replayable { Self.drop(&state, before: index + 1) }
                    return .chunk(chunk)
                }
                if state.ended { return state.failure.map(Step.failure) ?? .end }
                return .wait
            }
            switch step {
            case .chunk(let chunk): return chunk
            case .end: return nil
            case .failure(let error): throw error
            case .wait: await self.waitUntil { state in index - state.base < state.chunks.count || state.ended }
            }
        }
    }

    /// No replay from now on: a result reached the client, and a retry would send it twice.
    func stopRecording() {
        self.state.withLock { state in
            state.replayable = false
            Self.drop(&state, before: state.read)
        }
    }

    /// Whether a new attempt may start over from chunk 0.
    var canReplay: Bool { self.state.withLock { $0.replayable } }

    private func append(_ chunk: [Int16]) {
        self.state.withLock { state in
            state.chunks.append(chunk)
            state.unreadSamples += chunk.count
            if state.replayable {
                state.recordedSamples += chunk.count
                if state.recordedSamples > self.maxReplaySamples {
                    state.replayable = false
                    Self.drop(&state, before: state.read)
                }
            }
            Self.resume(&state.waiters)
        }
    }

    private func end(_ error: (any Error)?) {
        self.state.withLock { state in
            state.ended = true
            state.failure = error
            Self.resume(&state.waiters)
        }
    }

    /// Waits until `condition` holds, the audio ended, or the task is cancelled (callers check which).
    private func waitUntil(_ condition: @escaping (State) -> Bool) async {
        while !Task.isCancelled {
            let satisfied = self.state.withLock { condition($0) || $0.ended }
            if satisfied { return }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLock { state in
                        if condition(state) || state.ended || Task.isCancelled { return true }
                        state.waiters.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                self.state.withLock { Self.resume(&$0.waiters) }
            }
        }
    }

    private static func resume(_ waiters: inout [CheckedContinuation<Void, Never>]) {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
    }

    private static func drop(_ state: inout State, before index: Int) {
        let count = min(max(0, index - state.base), state.chunks.count)
        state.chunks.removeFirst(count)
        state.base += count
    }
}
