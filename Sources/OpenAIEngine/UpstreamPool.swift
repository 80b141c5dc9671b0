import SpeechEngine
import Synchronization

/// The transcription servers one `openai` engine spreads its requests over (`--openai-base-url` given more than
/// once), and what it knows of each.
///
/// - A request goes to the server with the fewest requests in flight among those that are up (ties in turn).
/// - A server that fails a request (connection error, timeout, 5xx) or a health probe is down; the request is
///   retried once on another (``TranscriptionClient``). A probe (``UpstreamProbe``) or a request that succeeds
///   brings it back.
/// - When every server is down, requests still go out, to the one down the longest: the engine never refuses work
///   because of what it last saw.
final class UpstreamPool: Sendable {
    /// One server, as a request leases it.
    struct Lease: Sendable {
        let index: Int
        let baseURL: String
        var transcriptionsURL: String { OpenAIConfiguration.transcriptionsURL(base: self.baseURL) }
    }

    private struct Entry {
        var inFlight = 0
        var downSince: ContinuousClock.Instant?
        var succeeded = 0
        var failed = 0
    }

    let baseURLs: [String]
    /// For servers whose processes the gateway runs: whether server `index` is up now, by its supervisor.
    private let supervised: (@Sendable (Int) -> Bool)?
    private let entries: Mutex<(servers: [Entry], nextTurn: Int)>

    init(baseURLs: [String], supervised: (@Sendable (Int) -> Bool)? = nil) {
        precondition(!baseURLs.isEmpty, "an openai engine needs a base URL")
        self.baseURLs = baseURLs
        self.supervised = supervised
        self.entries = Mutex((servers: Array(repeating: Entry(), count: baseURLs.count), nextTurn: 0))
    }

    var count: Int { self.baseURLs.count }

    /// The server for the next request, not `excluded` (the one a retry comes from) when there is another.
    func lease(excluding excluded: Int? = nil) -> Lease {
        let index = self.entries.withLock { state -> Int in
            let candidates = state.servers.indices.filter { $0 != excluded || state.servers.count == 1 }
            let up = candidates.filter { self.isUp($0, state.servers[$0]) }
            let chosen: Int
            if up.isEmpty {
                // All down: the one down the longest (it is the likeliest to be back).
                chosen = candidates.min { (state.servers[$0].downSince ?? .now) < (state.servers[$1].downSince ?? .now) }!
            } else {
                let fewest = up.map { state.servers[$0].inFlight }.min()!
                let tied = up.filter { state.servers[$0].inFlight == fewest }
                chosen = tied[state.nextTurn % tied.count]
                state.nextTurn &+= 1
            }
            state.servers[chosen].inFlight += 1
            return chosen
        }
        return Lease(index: index, baseURL: self.baseURLs[index])
    }

    /// The leased request is over: `succeeded`, or failed in a way that says the server is unwell (`takesItDown`).
    func finish(_ lease: Lease, succeeded: Bool, takesItDown: Bool) {
        self.entries.withLock { state in
            state.servers[lease.index].inFlight -= 1
            if succeeded {
                state.servers[lease.index].succeeded += 1
                state.servers[lease.index].downSince = nil
            } else {
                state.servers[lease.index].failed += 1
                if takesItDown, state.servers[lease.index].downSince == nil { state.servers[lease.index].downSince = .now }
            }
        }
    }

    /// A health probe's verdict on server `index`.
    func probed(_ index: Int, isUp: Bool) {
        self.entries.withLock { state in
            if isUp {
                state.servers[index].downSince = nil
            } else if state.servers[index].downSince == nil {
                state.servers[index].downSince = .now
            }
        }
    }

    /// Up: no failure since it last answered, and, when supervised, its process is ready.
    private func isUp(_ index: Int, _ entry: Entry) -> Bool {
        entry.downSince == nil && (self.supervised?(index) ?? true)
    }

    var statuses: [UpstreamStatus] {
        self.entries.withLock { state in
            state.servers.indices.map { index in
                let entry = state.servers[index]
                return UpstreamStatus(
                    baseURL: self.baseURLs[index], isUp: self.isUp(index, entry), inFlight: entry.inFlight, succeeded: entry.succeeded,
                    failed: entry.failed)
            }
        }
    }
}
