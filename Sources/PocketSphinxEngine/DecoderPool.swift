import SpeechEngine

/// Lends decoders to sessions, one session a decoder; sessions beyond the pool wait in a bounded queue.
///
/// A queued session is refused as ``RecognitionError/busy(_:)`` when the queue is full or when its wait
/// exceeds the timeout. A cancelled waiter leaves the queue at once.
actor DecoderPool {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<PocketSphinxDecoder, any Error>
        var timer: Task<Void, Never>?
    }

    private var idle: [PocketSphinxDecoder] = []
    private var waiters: [Waiter] = []
    private var nextWaiterID = 0
    private var isClosed = false
    private let queueCapacity: Int
    private let queueTimeout: Duration

    /// Decoders lent out now.
    private(set) var inUse = 0
    /// Sessions waiting now.
    var queued: Int { self.waiters.count }

    init(queueCapacity: Int, queueTimeout: Duration) {
        self.queueCapacity = queueCapacity
        self.queueTimeout = queueTimeout
    }

    /// A new decoder joins the pool (at start-up).
    func add(_ decoder: PocketSphinxDecoder) {
        self.inUse += 1
        self.release(decoder)
    }

    func acquire() async throws -> PocketSphinxDecoder {
        if self.isClosed { throw RecognitionError.shuttingDown }
        if let decoder = self.idle.popLast() {
            self.inUse += 1
            return decoder
        }
        guard self.waiters.count < self.queueCapacity else {
            throw RecognitionError.busy("All \(self.inUse) recognizers are in use and \(self.waiters.count) sessions are waiting; try again shortly.")
        }
        let id = self.nextWaiterID
        self.nextWaiterID += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let timeout = self.queueTimeout
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    await self?.fail(waiter: id, with: RecognitionError.busy("No recognizer became free within \(timeout); try again shortly."))
                }
                self.waiters.append(Waiter(id: id, continuation: continuation, timer: timer))
            }
        } onCancel: {
            Task { await self.fail(waiter: id, with: CancellationError()) }
        }
    }

    /// A session is done with its decoder: the longest waiter gets it, else it goes idle.
    func release(_ decoder: PocketSphinxDecoder) {
        if !self.waiters.isEmpty {
            let waiter = self.waiters.removeFirst()
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: decoder)
            return
        }
        self.inUse -= 1
        self.idle.append(decoder)
    }

    /// Refuse new sessions and waiting ones; hands back the idle decoders.
    func close() -> [PocketSphinxDecoder] {
        self.isClosed = true
        for waiter in self.waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: RecognitionError.shuttingDown)
        }
        self.waiters.removeAll()
        defer { self.idle.removeAll() }
        return self.idle
    }

    private func fail(waiter id: Int, with error: any Error) {
        guard let index = self.waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = self.waiters.remove(at: index)
        waiter.timer?.cancel()
        waiter.continuation.resume(throwing: error)
    }
}
