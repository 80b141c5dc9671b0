/// A value set once (an engine's vocabulary read at load); readers before that wait for it.
public actor LoadedOnce<Value: Sendable> {
    private var loaded: Value?
    private var waiters: [CheckedContinuation<Value, Never>] = []

    public init() {}

    public func set(_ value: Value) {
        self.loaded = value
        for waiter in self.waiters { waiter.resume(returning: value) }
        self.waiters.removeAll()
    }

    public var value: Value {
        get async {
            if let loaded = self.loaded { return loaded }
            return await withCheckedContinuation { self.waiters.append($0) }
        }
    }
}
