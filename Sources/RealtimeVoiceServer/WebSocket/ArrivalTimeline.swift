/// When each 100 ms of a stream's audio arrived, for the final-latency metric: a final's latency is the time from
/// the arrival of the audio at its `end_ms` to its sending. Keeps the last ``capacity`` steps (2 minutes).
struct ArrivalTimeline {
    static let stepMilliseconds = 100
    static let capacity = 1_200

    private var instants: [ContinuousClock.Instant] = []
    /// Step index of `instants[0]`.
    private var firstStep = 0

    /// Audio up to `milliseconds` (from the stream's start) has arrived by `instant`.
    mutating func received(upTo milliseconds: Int, at instant: ContinuousClock.Instant) {
        while self.firstStep + self.instants.count <= milliseconds / Self.stepMilliseconds {
            self.instants.append(instant)
        }
        if self.instants.count > 2 * Self.capacity {
            let drop = self.instants.count - Self.capacity
            self.instants.removeFirst(drop)
            self.firstStep += drop
        }
    }

    /// When the audio at `milliseconds` arrived; nil if it has not, or was forgotten.
    func arrival(of milliseconds: Int) -> ContinuousClock.Instant? {
        let index = milliseconds / Self.stepMilliseconds - self.firstStep
        return self.instants.indices.contains(index) ? self.instants[index] : nil
    }
}
