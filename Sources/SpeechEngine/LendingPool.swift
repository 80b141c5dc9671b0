/// Lends a fixed set of resources (PocketSphinx decoders, permits for upstream requests) one borrower at a time;
/// borrowers beyond the pool wait in a bounded queue.
///
/// A queued borrower is refused as ``RecognitionError/busy(_:)`` when the queue is full or when its wait
/// exceeds the timeout. A cancelled waiter leaves the queue at once.
public actor LendingPool<Resource: Sendable> {
    private struct Waiter {
        let id: Int
        let continuation: CheckedContinuation<Resource, any Error>
        var timer: Task<Void, Never>?
    }

    private var idle: [Resource] = []
    private var waiters: [Waiter] = []
    private var nextWaiterID = 0
    private var isClosed = false
    private let queueCapacity: Int
    private let queueTimeout: Duration
    /// What the resources are, for the busy messages ("recognizers", "upstream requests").
    private let noun: String

    /// Resources lent out now.
    public private(set) var inUse = 0
    /// Borrowers waiting now.
    public var queued: Int { self.waiters.count }
    /// Whether a resource is idle now.
    public var hasIdle: Bool { !self.isClosed && !self.idle.isEmpty }
    /// Whether one more borrower would be served or may wait (not refused as busy at once).
    public var hasRoom: Bool { !self.isClosed && (!self.idle.isEmpty || self.waiters.count < self.queueCapacity) }

    /// - Parameters:
    ///   - resources: lendable from the start (more can join with ``add(_:)``).
    ///   - queueCapacity: borrowers that may wait when none is idle; more are refused as busy.
    ///   - queueTimeout: longest wait before busy.
    ///   - noun: what the resources are, for the busy messages ("recognizers", "upstream requests").
    public init(resources: [Resource] = [], queueCapacity: Int, queueTimeout: Duration, noun: String = "recognizers") {
        self.idle = resources
        self.queueCapacity = queueCapacity
        self.queueTimeout = queueTimeout
        self.noun = noun
    }

    /// A new resource joins the pool.
    public func add(_ resource: Resource) {
        self.inUse += 1
        self.release(resource)
    }

    /// A resource if one is idle now, else nil (never waits).
    public func tryAcquire() -> Resource? {
        guard !self.isClosed, let resource = self.idle.popLast() else { return nil }
        self.inUse += 1
        return resource
    }

    /// A resource, waiting in the bounded queue for one if none is idle.
    public func acquire() async throws -> Resource {
        if self.isClosed { throw RecognitionError.shuttingDown }
        if let resource = self.idle.popLast() {
            self.inUse += 1
            return resource
        }
        guard self.waiters.count < self.queueCapacity else {
            throw RecognitionError.busy("All \(self.inUse) \(self.noun) are in use and \(self.waiters.count) more are waiting; try again shortly.")
        }
        let id = self.nextWaiterID
        self.nextWaiterID += 1
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let (timeout, noun) = (self.queueTimeout, self.noun)
                let timer = Task { [weak self] in
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    await self?.fail(waiter: id, with: RecognitionError.busy("None of the \(noun) became free within \(timeout); try again shortly."))
                }
                self.waiters.append(Waiter(id: id, continuation: continuation, timer: timer))
            }
        } onCancel: {
            Task { await self.fail(waiter: id, with: CancellationError()) }
        }
    }

    /// Runs `body` with a resource (waiting for one like ``acquire()``) and gives it back afterwards, whether `body`
    /// returns or throws. `body` runs on the caller's executor, not the pool's.
    public nonisolated(nonsending) func withResource<T>(_ body: (Resource) async throws -> T) async throws -> T {
        let resource = try await self.acquire()
        do {
            let result = try await body(resource)
            await self.release(resource)
            return result
        } catch {
            await self.release(resource)
            throw error
        }
    }

    /// A borrower is done with its resource: the longest waiter gets it, else it goes idle.
    public func release(_ resource: Resource) {
        if !self.waiters.isEmpty {
            let waiter = self.waiters.removeFirst()
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: resource)
            return
        }
        self.inUse -= 1
        self.idle.append(resource)
    }

    /// Refuse new borrowers and waiting ones; hands back the idle resources.
    public func close() -> [Resource] {
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
