/// Paces audio sent upstream: a token bucket that lets `pace` seconds of audio through per second on average and
/// at most `burst` ahead of that, so a client that sends a whole file at once never breaks Tencent's "at most 3 s
/// of audio in 1 s" rule (error 4000), while a stalled real-time client catches up (pace > 1).
struct AudioPacer {
    let pace: Double
    let burstMs: Double
    private var tokensMs: Double
    private var last: ContinuousClock.Instant

    init(pace: Double, burst: Duration, now: ContinuousClock.Instant) {
        self.pace = pace
        self.burstMs = Double(burst.components.seconds) * 1000 + Double(burst.components.attoseconds) / 1e15
        self.tokensMs = self.burstMs
        self.last = now
    }

    /// Takes `milliseconds` of audio and returns nil, or returns how long to wait before asking again.
    mutating func take(_ milliseconds: Double, now: ContinuousClock.Instant) -> Duration? {
        let elapsed = now - self.last
        self.last = now
        let elapsedMs = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        self.tokensMs = min(self.burstMs, self.tokensMs + elapsedMs * self.pace)
        if self.tokensMs >= milliseconds {
            self.tokensMs -= milliseconds
            return nil
        }
        return .microseconds(Int64((milliseconds - self.tokensMs) / self.pace * 1000) + 1)
    }
}

/// The upstream audio timeline against the client's: silence sent upstream while the client paused shifts every
/// later upstream time, and is taken out again when results are mapped back.
struct UpstreamTimeline {
    /// (upstream ms where silence was inserted, its length in ms), in order.
    private(set) var insertions: [(at: Int, length: Int)] = []
    /// Audio sent upstream so far, in ms.
    private(set) var upstreamMs = 0

    mutating func sentAudio(milliseconds: Int) {
        self.upstreamMs += milliseconds
    }

    mutating func sentSilence(milliseconds: Int) {
        self.insertions.append((self.upstreamMs, milliseconds))
        self.upstreamMs += milliseconds
    }

    /// The client-stream time of an upstream time.
    func clientMs(_ upstream: Int) -> Int {
        var shift = 0
        for insertion in self.insertions where insertion.at < upstream {
            shift += min(insertion.length, upstream - insertion.at)
        }
        return upstream - shift
    }
}
