import Synchronization

/// The Tencent accounts of ``TencentConfiguration/credentialSets`` in turn: each real-time session and each
/// SentenceRecognition request takes the next, so that the accounts' concurrency limits add up.
final class CredentialRotation: Sendable {
    let sets: [TencentCredentials]
    private let turn = Atomic<Int>(0)

    init(_ sets: [TencentCredentials]) {
        precondition(!sets.isEmpty, "the tencent engine needs credentials")
        self.sets = sets
    }

    func next() -> TencentCredentials {
        self.sets[(self.turn.add(1, ordering: .relaxed).oldValue) % self.sets.count]
    }
}
