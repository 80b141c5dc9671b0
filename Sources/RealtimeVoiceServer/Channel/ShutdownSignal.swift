import Synchronization

/// Tells a WebSocket session that the server is shutting down, and how long it has to wrap up.
///
/// Hummingbird's WebSocket handler answers graceful shutdown by sending close 1000 at once, which would cut a
/// stream before its finals. The gateway keeps that handler out of graceful shutdown (see
/// ``GatewayServerChannel``) and hands each session one of these instead: a stream then ends its audio, sends its
/// finals, `server_shutting_down` and closes 1001; an echo closes 1001. A session still running after ``drainTime``
/// is closed anyway.
final class ShutdownSignal: Sendable {
    let drainTime: Duration

    private struct State {
        var triggered = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    init(drainTime: Duration) {
        self.drainTime = drainTime
    }

    func trigger() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.triggered else { return [] }
            state.triggered = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the signal is triggered, or at once when the calling task is cancelled.
    func wait() async {
        let id = self.state.withLock { state -> Int in
            defer { state.nextID += 1 }
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.triggered || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
