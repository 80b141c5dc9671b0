import OpenAIEngine
import ServiceLifecycle
import SpeechEngine

/// Engine `whisper`'s sidecar processes (``WhisperSidecarConfiguration/workers``, one by default), each a
/// ``WhisperSidecar`` that restarts itself, seen by the engine as one ``ManagedUpstream``: ready while any worker
/// is, so that a worker that dies costs only a retry of its requests on another (the engine's ``UpstreamPool``).
public final class WhisperWorkers: ManagedUpstream, Service {
    public let sidecars: [WhisperSidecar]

    public init(sidecars: [WhisperSidecar]) {
        precondition(!sidecars.isEmpty, "engine whisper needs a sidecar")
        self.sidecars = sidecars
    }

    /// Each worker's `http://127.0.0.1:PORT/v1`, for the engine's ``OpenAIConfiguration/baseURLs``.
    public var baseURLs: [String] { self.sidecars.map(\.baseURL) }

    /// `ready` while any worker is; else `loading` while any is still loading, else `restarting` (or `stopped`).
    public var state: EngineState {
        let states = self.sidecars.map(\.state)
        if states.contains(.ready) { return .ready }
        if states.contains(.loading) { return .loading }
        return states.allSatisfy { $0 == .stopped } ? .stopped : .restarting
    }

    public var languages: Set<String>? { self.sidecars.lazy.compactMap(\.languages).first }

    public var unavailableReason: String {
        guard self.sidecars.count > 1 else { return self.sidecars[0].unavailableReason }
        return "none of its \(self.sidecars.count) workers is ready (the first: \(self.sidecars[0].unavailableReason))"
    }

    public var restarts: Int { self.sidecars.reduce(0) { $0 + $1.restarts } }

    public func isReady(server index: Int) -> Bool { self.sidecars[index].state == .ready }

    /// Runs every worker until graceful shutdown, which stops each.
    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for sidecar in self.sidecars {
                group.addTask { try await sidecar.run() }
            }
        }
    }
}
