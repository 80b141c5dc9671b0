/// Whether an engine can take sessions now, as `/health` and `/metrics` report it.
public enum EngineState: String, Sendable, CaseIterable {
    /// Models or a process are still starting.
    case loading
    /// Sessions and uploads are served.
    case ready
    /// Its process died and is being started again; sessions get `engine_unavailable` meanwhile.
    case restarting
    /// Stopped (graceful shutdown).
    case stopped
}
