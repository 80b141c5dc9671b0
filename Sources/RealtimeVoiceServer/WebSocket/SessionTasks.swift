/// The child tasks every streaming session runs (``StreamSession``, ``RealtimeSession``), and how they end.
///
/// - the reader drains the socket until the client leaves;
/// - the engine task recognises until its audio is finished and flushed;
/// - the watchdog ends the audio on the session's limits (it returning ends nothing);
/// - on graceful shutdown, `onShutdown` ends the audio so that the engine sends its finals, and the session is cut
///   (`server_shutting_down`) if they are not out within the drain time.
/// The first of reader and engine to end cancels the others; a cancelled engine gives its decoder back.
enum SessionTasks {
    enum Ended: Sendable {
        /// The reader returned: the client is gone.
        case clientGone
        /// The engine task returned.
        case recognitionDone
    }

    private enum ChildOutcome {
        case ended(Ended), watchdogDone, drainTimeUp
    }

    /// Runs the four tasks; throws `server_shutting_down` when the drain time ran out, or what a task threw.
    static func run(
        shutdown: ShutdownSignal,
        reader: @escaping @Sendable () async throws -> Void,
        engine: @escaping @Sendable () async throws -> Void,
        watchdog: @escaping @Sendable () async -> Void,
        onShutdown: @escaping @Sendable () async -> Void
    ) async throws -> Ended {
        try await withThrowingTaskGroup(of: ChildOutcome.self) { group in
            group.addTask {
                try await reader()
                return .ended(.clientGone)
            }
            group.addTask {
                try await engine()
                return .ended(.recognitionDone)
            }
            group.addTask {
                await watchdog()
                return .watchdogDone
            }
            group.addTask {
                await shutdown.wait()
                guard !Task.isCancelled else { return .watchdogDone }
                await onShutdown()
                try? await Task.sleep(for: shutdown.drainTime)
                return Task.isCancelled ? .watchdogDone : .drainTimeUp
            }
            while let outcome = try await group.next() {
                switch outcome {
                case .watchdogDone:
                    continue
                case .drainTimeUp:
                    group.cancelAll()
                    throw StreamSessionError.shuttingDown()
                case .ended(let ended):
                    group.cancelAll()
                    return ended
                }
            }
            return .clientGone
        }
    }
}
