import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One run of the sidecar: a child process whose exit can be awaited. Its output goes to the gateway's own
/// stdout and stderr, so that `make run` shows both in one terminal and a container runtime collects both.
final class SidecarProcess: Sendable {
    private let process: Process
    /// The exit, once known, and whoever waits for it.
    private let exit = Mutex<(outcome: String?, waiters: [CheckedContinuation<String, Never>])>((nil, []))

    var pid: Int32 { self.process.processIdentifier }

    private init(process: Process) {
        self.process = process
    }

    /// Starts `executable arguments…` with `environment` added to the gateway's own.
    static func launch(executable: String, arguments: [String], environment: [String: String]) throws -> SidecarProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, added in added }
        process.standardInput = FileHandle.nullDevice
        let launched = SidecarProcess(process: process)
        process.terminationHandler = { [weak launched] finished in
            let outcome =
                switch finished.terminationReason {
                case .exit: "it exited with status \(finished.terminationStatus)"
                case .uncaughtSignal: "it was killed by signal \(finished.terminationStatus)"
                @unknown default: "it stopped"
                }
            launched?.finish(outcome)
        }
        try process.run()
        return launched
    }

    private func finish(_ outcome: String) {
        let waiters = self.exit.withLock { state in
            state.outcome = outcome
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    /// Waits for the process to end; says how it ended.
    func exited() async -> String {
        await withCheckedContinuation { continuation in
            let known = self.exit.withLock { state -> String? in
                if let outcome = state.outcome { return outcome }
                state.waiters.append(continuation)
                return nil
            }
            if let known { continuation.resume(returning: known) }
        }
    }

    var isRunning: Bool { self.exit.withLock { $0.outcome == nil } }

    /// SIGTERM: uvicorn finishes what it is doing and exits.
    func terminate() {
        guard self.isRunning else { return }
        kill(self.pid, SIGTERM)
    }

    /// SIGKILL: for a sidecar that hangs or ignored SIGTERM.
    func forceKill() {
        guard self.isRunning else { return }
        kill(self.pid, SIGKILL)
    }
}
