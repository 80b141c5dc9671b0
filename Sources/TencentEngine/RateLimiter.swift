/// At most `limit` starts in any `window`: callers beyond it wait their turn (first come, first served).
/// Tencent's API 3.0 allows SentenceRecognition 30 requests a second; more are refused with RequestLimitExceeded.
/// The engine uses a 1.1 s window: requests arrive a little bunched after the network, and Tencent counts arrivals.
actor RateLimiter {
    let limit: Int
    let window: Duration
    private var starts: [ContinuousClock.Instant] = []

    init(limit: Int, window: Duration = .seconds(1)) {
        self.limit = limit
        self.window = window
    }

    /// Waits until a start is allowed, then records it.
    func acquire() async throws {
        let clock = ContinuousClock()
        while true {
            let now = clock.now
            self.starts.removeAll { now - $0 >= self.window }
            if self.starts.count < self.limit {
                self.starts.append(now)
                return
            }
            // The oldest start leaves the window first. The actor is free while this task sleeps; callers that
            // wake together re-check in turn.
            try await Task.sleep(until: self.starts[0] + self.window, clock: clock)
        }
    }
}
