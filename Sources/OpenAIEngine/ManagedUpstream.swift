import SpeechEngine

/// The process behind an upstream when the gateway runs it itself (the managed Whisper sidecar): whether it is up,
/// and what its model can do.
public protocol ManagedUpstream: Sendable {
    /// `loading` until its first health check passes, `restarting` after it died, `ready` in between.
    var state: EngineState { get }
    /// ISO 639-1 codes the loaded model takes (`["en"]` for an English-only model); nil while not known.
    var languages: Set<String>? { get }
    /// A sentence saying why it is not ready, for `engine_unavailable` (e.g. "it exited with status 9 and is restarting").
    var unavailableReason: String { get }
    /// Times the process was started again since the gateway started.
    var restarts: Int { get }
    /// Whether the process behind server `index` of the engine's base URLs is up (several workers); the pool takes
    /// this instead of an HTTP probe.
    func isReady(server index: Int) -> Bool
}

extension ManagedUpstream {
    public func isReady(server index: Int) -> Bool { self.state == .ready }
}
