extension Duration {
    /// The duration in whole milliseconds (rounded down), for sample counts, TimeAmounts and messages.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
