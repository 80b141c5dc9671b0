import Foundation

/// How the gateway runs its Whisper sidecar (`sidecars/whisper/server.py`): engine `whisper`. Every field is a flag
/// and an environment variable of `realtime-voice serve` (docs/whisper.md).
public struct WhisperSidecarConfiguration: Sendable {
    /// The folder holding `server.py` (and, after `make whisper-sidecar`, its `.venv`).
    public var directory: String
    /// The Python that runs it; default `<directory>/.venv/bin/python`.
    public var python: String
    /// `base` (multilingual, the default), `tiny.en` (English only), or a CTranslate2 Whisper model folder.
    public var model: String
    /// Loopback port of the sidecar; 0 picks a free one at start (kept across restarts).
    public var port: Int
    /// CPU threads of one inference (default: all cores, as one inference runs at a time).
    public var threads: Int
    /// Inferences the sidecar runs at once; the gateway sends no more, so that waiting happens in its own queue.
    public var maxConcurrent: Int
    /// Live streams engine whisper takes at once; more are refused `busy` (default: 2 per CPU core, what base kept
    /// real time with on a 2-core machine: bench/RESULTS.md).
    public var maxStreams: Int
    /// Longest wait for a started sidecar to answer `/health`; then it is killed and started again.
    public var startTimeout: Duration
    /// Interval of health checks once it is ready.
    public var healthInterval: Duration
    /// Health checks in a row that may fail before a running sidecar is killed and started again.
    public var maxFailedHealthChecks: Int
    /// Pause before the first restart; doubled after each quick failure, up to ``maxRestartBackoff``.
    public var restartBackoff: Duration
    public var maxRestartBackoff: Duration
    /// On shutdown: time between SIGTERM and SIGKILL.
    public var stopTimeout: Duration
    /// More sidecar flags, passed as they are (e.g. `--beam-size 5`).
    public var extraArguments: [String]
    /// Sidecar processes, each with the model loaded, on ports of their own (``port``, ``port`` + 1, … when it is not
    /// 0): requests go to the one with the fewest in flight, and one that dies is restarted while the others serve.
    /// ``threads`` and ``maxConcurrent`` are per worker.
    public var workers = 1

    /// The models the sidecar ships (`--model`); anything else is a folder (`--model-dir`).
    public static let packagedModels = ["base", "tiny.en"]
    public static let defaultModel = "base"

    public init(
        directory: String = WhisperSidecarConfiguration.defaultDirectory,
        python: String? = nil,
        model: String = WhisperSidecarConfiguration.defaultModel,
        port: Int = 0,
        threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        maxConcurrent: Int = 1,
        maxStreams: Int = 2 * ProcessInfo.processInfo.activeProcessorCount,
        startTimeout: Duration = .seconds(120),
        healthInterval: Duration = .seconds(2),
        maxFailedHealthChecks: Int = 3,
        restartBackoff: Duration = .seconds(1),
        maxRestartBackoff: Duration = .seconds(30),
        stopTimeout: Duration = .seconds(5),
        extraArguments: [String] = []
    ) {
        self.directory = directory
        self.python = python ?? "\(directory)/.venv/bin/python"
        self.model = model
        self.port = port
        self.threads = threads
        self.maxConcurrent = maxConcurrent
        self.maxStreams = maxStreams
        self.startTimeout = startTimeout
        self.healthInterval = healthInterval
        self.maxFailedHealthChecks = maxFailedHealthChecks
        self.restartBackoff = restartBackoff
        self.maxRestartBackoff = maxRestartBackoff
        self.stopTimeout = stopTimeout
        self.extraArguments = extraArguments
    }

    /// `sidecars/whisper` under the working directory (a checkout, `make run`), else next to the installed
    /// executable's prefix (`/app/bin/realtime-voice` → `/app/sidecars/whisper`, as the Docker image lays it out).
    public static var defaultDirectory: String {
        let local = FileManager.default.currentDirectoryPath + "/sidecars/whisper"
        if FileManager.default.fileExists(atPath: local + "/server.py") { return local }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
        for levels in [2, 3] {
            var prefix = executable
            for _ in 0..<levels { prefix.deleteLastPathComponent() }
            let candidate = prefix.appendingPathComponent("sidecars/whisper").path
            if FileManager.default.fileExists(atPath: candidate + "/server.py") { return candidate }
        }
        return local
    }

    /// The server script.
    public var script: String { "\(self.directory)/server.py" }

    /// `--model base` for a packaged model, `--model-dir F` for a folder.
    var modelArguments: [String] {
        Self.packagedModels.contains(self.model) ? ["--model", self.model] : ["--model-dir", self.model]
    }

    /// The model's languages when they are known before it answers: English only for an `.en` model.
    var knownLanguages: Set<String>? {
        let name = URL(fileURLWithPath: self.model).lastPathComponent.lowercased()
        return name.hasSuffix(".en") || name.hasSuffix("-en") ? ["en"] : nil
    }

    /// What is wrong with this configuration before anything is started, with the remedy; nil when it can run.
    public var problem: String? {
        let files = FileManager.default
        guard files.fileExists(atPath: self.script) else {
            return "The Whisper sidecar is not at \(self.directory) (no server.py): set --whisper-sidecar DIR, or use --engine pocketsphinx."
        }
        guard files.isExecutableFile(atPath: self.python) else {
            return "The Whisper sidecar is not set up (no \(self.python)): run 'make whisper-sidecar', or use --engine pocketsphinx (no Python)."
        }
        if !Self.packagedModels.contains(self.model), !files.fileExists(atPath: self.model + "/model.bin") {
            return "--whisper-model '\(self.model)' is neither base, tiny.en nor a CTranslate2 Whisper folder (no model.bin in it)."
        }
        guard self.threads >= 1, self.maxConcurrent >= 1, self.maxStreams >= 1, (0...65535).contains(self.port) else {
            return "The Whisper sidecar needs at least 1 thread, 1 inference and 1 stream at once, and a port 0-65535."
        }
        guard (1...16).contains(self.workers), self.port == 0 || self.port + self.workers - 1 <= 65535 else {
            return "--whisper-workers must be 1 to 16, with room for that many ports from --whisper-port."
        }
        return nil
    }
}
