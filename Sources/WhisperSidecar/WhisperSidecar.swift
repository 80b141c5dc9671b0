import Foundation
import Logging
import OpenAIEngine
import ServiceLifecycle
import SpeechEngine
import Synchronization

/// Runs the Whisper sidecar as a child of the gateway and keeps it up: starts it, waits for `/health`, checks it
/// every ``WhisperSidecarConfiguration/healthInterval``, starts it again (with backoff) when it exits or stops
/// answering, and stops it last on graceful shutdown (SIGTERM, then SIGKILL after
/// ``WhisperSidecarConfiguration/stopTimeout``). Engine `whisper` (an ``OpenAIRecognizer``) talks to it on loopback
/// and asks it, as a ``ManagedUpstream``, whether it is up.
///
/// The sidecar gets `--parent-pid`: it exits by itself if the gateway dies without stopping it (SIGKILL, a crash).
public final class WhisperSidecar: ManagedUpstream, Service {
    public let configuration: WhisperSidecarConfiguration
    /// The loopback port it listens on (chosen at start when the configuration says 0).
    public let port: Int
    private let logger: Logger

    private struct Status {
        var state: EngineState = .loading
        var reason = "it is starting (loading its model)"
        var languages: Set<String>?
        var restarts = 0
        var process: SidecarProcess?
        /// Set by the health monitor when it killed the process, to say why.
        var killedBecause: String?
        var stopping = false
    }
    private let status = Mutex(Status())

    public init(configuration: WhisperSidecarConfiguration, port: Int, logger: Logger) {
        self.configuration = configuration
        self.port = port
        self.logger = logger
        self.status.withLock { $0.languages = configuration.knownLanguages }
    }

    /// `http://127.0.0.1:PORT/v1`, for the engine's ``OpenAIConfiguration/baseURL``.
    public var baseURL: String { "http://127.0.0.1:\(self.port)/v1" }
    var healthURL: String { "http://127.0.0.1:\(self.port)/health" }

    // MARK: ManagedUpstream

    public var state: EngineState { self.status.withLock { $0.state } }
    public var languages: Set<String>? { self.status.withLock { $0.languages } }
    public var unavailableReason: String { self.status.withLock { $0.reason } }
    /// Times it was started again since the gateway started.
    public var restarts: Int { self.status.withLock { $0.restarts } }
    /// The running sidecar's pid, nil between runs.
    public var pid: Int32? { self.status.withLock { $0.process?.pid } }

    // MARK: Service

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await self.supervise()
            } onCancel: {
                self.stop(force: true)
            }
        } onGracefulShutdown: {
            self.stop(force: false)
        }
    }

    /// SIGTERM to the sidecar (SIGKILL when `force`, or when it has not exited after the stop timeout); no restart.
    private func stop(force: Bool) {
        let process = self.status.withLock { status -> SidecarProcess? in
            status.stopping = true
            return status.process
        }
        guard let process else { return }
        if force {
            process.forceKill()
            return
        }
        self.logger.info("Stopping the Whisper sidecar", metadata: ["pid": "\(process.pid)"])
        process.terminate()
        let timeout = self.configuration.stopTimeout
        Task {
            try? await Task.sleep(for: timeout)
            if process.isRunning {
                self.logger.warning("The Whisper sidecar ignored SIGTERM: killing it", metadata: ["pid": "\(process.pid)"])
                process.forceKill()
            }
        }
    }

    private var isStopping: Bool { self.status.withLock { $0.stopping } }

    private func supervise() async {
        var backoff = self.configuration.restartBackoff
        while !self.isStopping {
            let started = ContinuousClock.now
            let outcome: String
            do {
                let process = try self.launch()
                let stopNow = self.status.withLock { status in
                    status.process = process
                    status.killedBecause = nil
                    return status.stopping
                }
                if stopNow { process.terminate() }
                self.logger.info(
                    "Started the Whisper sidecar",
                    metadata: ["pid": "\(process.pid)", "port": "\(self.port)", "model": "\(self.configuration.model)"])
                let exit = await self.watch(process)
                outcome = self.status.withLock { status in
                    status.process = nil
                    return status.killedBecause.map { "\($0), so it was killed" } ?? exit
                }
            } catch {
                outcome = "it could not be started (\(error))"
            }
            if self.isStopping { break }
            // A sidecar that ran well for a minute starts again quickly; one that keeps failing waits longer each time.
            if ContinuousClock.now - started > .seconds(60) { backoff = self.configuration.restartBackoff }
            self.status.withLock { status in
                status.state = .restarting
                status.reason = "\(outcome) and is restarting"
                status.restarts += 1
            }
            self.logger.error(
                "The Whisper sidecar stopped: starting it again",
                metadata: ["cause": "\(outcome)", "in": "\(backoff)"]
            )
            await self.pause(backoff)
            backoff = min(backoff * 2, self.configuration.maxRestartBackoff)
        }
        self.status.withLock { status in
            status.state = .stopped
            status.reason = "the gateway is shutting down"
        }
    }

    private func launch() throws -> SidecarProcess {
        let arguments =
            [self.configuration.script, "--host", "127.0.0.1", "--port", String(self.port)]
            + self.configuration.modelArguments
            + ["--threads", String(self.configuration.threads), "--max-concurrent", String(self.configuration.maxConcurrent)]
            + ["--parent-pid", String(getpid())]
            + self.configuration.extraArguments
        return try SidecarProcess.launch(
            executable: self.configuration.python,
            arguments: arguments,
            environment: ["HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"]
        )
    }

    /// Until the process exits: health checks, which mark it ready, or kill it when it never answers or stops answering.
    private func watch(_ process: SidecarProcess) async -> String {
        await withTaskGroup(of: String?.self) { group in
            group.addTask { await process.exited() }
            group.addTask {
                await self.monitorHealth(process)
                return nil
            }
            var exit = "it stopped"
            for await result in group {
                if let result {
                    exit = result
                    group.cancelAll()
                }
            }
            return exit
        }
    }

    private func monitorHealth(_ process: SidecarProcess) async {
        let deadline = ContinuousClock.now + self.configuration.startTimeout
        while !Task.isCancelled {
            if let health = await SidecarHealth.probe(self.healthURL, timeout: .seconds(2)) {
                self.ready(health, pid: process.pid)
                break
            }
            if ContinuousClock.now > deadline {
                self.kill(process, because: "it did not answer /health within \(self.configuration.startTimeout)")
                return
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        var failures = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: self.configuration.healthInterval)
            if Task.isCancelled { return }
            // An inference runs in a thread of its own: a healthy sidecar answers within the timeout even when busy.
            if await SidecarHealth.probe(self.healthURL, timeout: .seconds(5)) != nil {
                failures = 0
                continue
            }
            failures += 1
            if failures >= self.configuration.maxFailedHealthChecks {
                self.kill(process, because: "it stopped answering /health (\(failures) checks in a row)")
                return
            }
        }
    }

    private func ready(_ health: SidecarHealth, pid: Int32) {
        let languages = health.languages.map { Set($0) } ?? (health.multilingual == false ? ["en"] : nil)
        self.status.withLock { status in
            guard !status.stopping else { return }
            status.state = .ready
            status.reason = "it is ready"
            status.languages = languages ?? status.languages
        }
        self.logger.info(
            "The Whisper sidecar is ready",
            metadata: ["pid": "\(pid)", "model": "\(health.model ?? self.configuration.model)", "languages": "\(languages?.count ?? 0)"]
        )
    }

    private func kill(_ process: SidecarProcess, because reason: String) {
        self.status.withLock { $0.killedBecause = reason }
        process.forceKill()
    }

    /// Sleeps, waking early when the gateway stops.
    private func pause(_ duration: Duration) async {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end, !self.isStopping {
            try? await Task.sleep(for: min(.milliseconds(100), end - ContinuousClock.now))
        }
    }
}
