import Crypto
import Foundation
import NIOConcurrencyHelpers
import SpeechEngine

/// The streams a client may resume, by resume token, and which of them are detached (no connection) now.
///
/// A token is 32 random bytes (base64url); only its SHA-256 is kept, and it is never logged. A resume must come from
/// the caller the session was started by (``Authenticator/authenticate(headers:uri:)``).
final class ResumableSessions: Sendable {
    /// Why a resume was refused: the `reason` of `resume_failed`.
    enum Refusal: String, Error, Sendable {
        case unknown, foreign, ended
    }

    private struct Entry {
        let caller: String
        let session: StreamSession
        var detachedAt: ContinuousClock.Instant?
    }

    private let entries = NIOLockedValueBox<[SHA256Digest: Entry]>([:])
    let window: Duration
    let maxDetached: Int
    private let metrics: GatewayMetrics

    init(window: Duration, maxDetached: Int, metrics: GatewayMetrics) {
        self.window = window
        self.maxDetached = maxDetached
        self.metrics = metrics
    }

    var isEnabled: Bool { self.window > .zero }

    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    func register(_ session: StreamSession, token: String, caller: String) {
        self.entries.withLockedValue { $0[SHA256.hash(data: Data(token.utf8))] = Entry(caller: caller, session: session) }
    }

    /// The session `token` resumes for `caller`, or why not.
    func session(for token: String, caller: String) -> Result<StreamSession, Refusal> {
        self.entries.withLockedValue { entries in
            guard let entry = entries[SHA256.hash(data: Data(token.utf8))] else { return .failure(.unknown) }
            guard entry.caller == caller else { return .failure(.foreign) }
            return .success(entry.session)
        }
    }

    /// The session's connection dropped; false when no more may wait detached (the session then ends at once).
    func detached(_ token: String) -> Bool {
        let accepted = self.entries.withLockedValue { entries -> Bool in
            let key = SHA256.hash(data: Data(token.utf8))
            guard entries[key] != nil else { return false }
            guard entries.values.filter({ $0.detachedAt != nil }).count < self.maxDetached else { return false }
            entries[key]?.detachedAt = .now
            return true
        }
        if accepted { self.metrics.detachedSessions(+1) }
        return accepted
    }

    /// A connection took the session back.
    func reattached(_ token: String) {
        let was = self.entries.withLockedValue { entries -> Bool in
            let key = SHA256.hash(data: Data(token.utf8))
            defer { entries[key]?.detachedAt = nil }
            return entries[key]?.detachedAt != nil
        }
        if was { self.metrics.detachedSessions(-1) }
    }

    /// The session is over: its token resumes nothing from now on.
    func remove(_ token: String) {
        let was = self.entries.withLockedValue { entries -> Bool in
            entries.removeValue(forKey: SHA256.hash(data: Data(token.utf8)))?.detachedAt != nil
        }
        if was { self.metrics.detachedSessions(-1) }
    }

    /// A new session (a stream, an upload) that would wait for `engine` ends the engine's longest-detached stream
    /// instead: the client that is here comes before one that may come back.
    func makeRoom(on engine: any SpeechRecognizer) async {
        guard self.isEnabled, let reporting = engine as? any CapacityReporting, await !reporting.hasIdleCapacity() else { return }
        self.oldestDetached(engine: engine.name)?.abandonDetached()
    }

    /// The detached session of `engine` that has waited longest.
    private func oldestDetached(engine: String) -> StreamSession? {
        self.entries.withLockedValue { entries in
            entries.values.filter { $0.detachedAt != nil && $0.session.parameters.engine.name == engine }
                .min { $0.detachedAt! < $1.detachedAt! }?.session
        }
    }
}
