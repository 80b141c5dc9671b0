/// An engine that sends its work to servers of its own (engine `openai` with one or several `--openai-base-url`,
/// engine `whisper` with its sidecar): `/health` and `/metrics` show each.
public protocol UpstreamReporting: Sendable {
    var upstreamStatuses: [UpstreamStatus] { get }
}

/// One server of an engine, as `/health` and `/metrics` show it.
public struct UpstreamStatus: Sendable, Equatable {
    public let baseURL: String
    /// Out of the pool after a failed request or health probe, until it answers again.
    public let isUp: Bool
    public let inFlight: Int
    /// Requests it answered, and requests that failed on it (a failed one may have been retried on another).
    public let succeeded: Int
    public let failed: Int

    public init(baseURL: String, isUp: Bool, inFlight: Int, succeeded: Int, failed: Int) {
        self.baseURL = baseURL
        self.isUp = isUp
        self.inFlight = inFlight
        self.succeeded = succeeded
        self.failed = failed
    }
}
