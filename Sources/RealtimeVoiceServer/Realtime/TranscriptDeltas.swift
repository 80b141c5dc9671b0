/// Turns an engine's hypotheses of one item into `…transcription.delta` texts.
///
/// Engines report a partial as the whole hypothesis of the open segment, and a later hypothesis may revise earlier
/// words (Whisper re-transcribes the segment, PocketSphinx re-decodes it, Tencent resends its text). A delta can
/// only add text, so: when the new hypothesis extends what was sent, the rest is the delta; when it revises it,
/// nothing is sent until a later hypothesis extends the sent text again. The `completed` event's `transcript` is
/// always the engine's final text, so a client that concatenates deltas may show stale words until `completed`
/// replaces them (README, /v1/realtime). Compared by Unicode scalars, so that a combining mark is not lost.
struct TranscriptDeltas: Sendable {
    /// What the deltas so far add up to.
    private(set) var sent = ""

    /// The delta to send for `hypothesis`, if it extends what was sent.
    mutating func delta(for hypothesis: String) -> String? {
        let sentScalars = self.sent.unicodeScalars
        let scalars = hypothesis.unicodeScalars
        guard scalars.count > sentScalars.count, scalars.starts(with: sentScalars) else { return nil }
        let rest = String(String.UnicodeScalarView(scalars.dropFirst(sentScalars.count)))
        self.sent = hypothesis
        return rest
    }
}
