import Synchronization

/// Audio on its way from a session's socket reader to its engine, bounded by how much audio it holds.
///
/// The reader never waits on the engine: it must keep draining the socket so that pings, pongs and `ping`
/// messages flow even while the engine is busy. Instead the queue holds at most `limit` samples; when the
/// engine falls that far behind the client, ``append(_:)`` refuses and the session ends with `overloaded`.
final class AudioQueue: AsyncSequence, Sendable {
    typealias Element = [Int16]

    private let stream: AsyncStream<[Int16]>
    private let continuation: AsyncStream<[Int16]>.Continuation
    private let buffered = Atomic<Int>(0)
    let limit: Int

    init(limitSamples: Int) {
        (self.stream, self.continuation) = AsyncStream.makeStream(of: [Int16].self)
        self.limit = limitSamples
    }

    /// Queues samples; false when that would put more than `limit` samples in the queue.
    func append(_ samples: [Int16]) -> Bool {
        let total = self.buffered.add(samples.count, ordering: .relaxed).newValue
        guard total <= self.limit else {
            self.buffered.subtract(samples.count, ordering: .relaxed)
            return false
        }
        self.continuation.yield(samples)
        return true
    }

    /// No more audio: the engine flushes once it has taken what is queued.
    func finish() {
        self.continuation.finish()
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<[Int16]>.AsyncIterator
        let queue: AudioQueue

        mutating func next() async -> [Int16]? {
            guard let samples = await self.base.next() else { return nil }
            self.queue.buffered.subtract(samples.count, ordering: .relaxed)
            return samples
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.stream.makeAsyncIterator(), queue: self)
    }
}
