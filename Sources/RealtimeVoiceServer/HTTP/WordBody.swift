import SpeechEngine

/// A recognised word as clients receive it, in stream finals and upload answers alike.
struct WordBody: Encodable, Sendable {
    let text: String
    let start_ms: Int
    let end_ms: Int
    let confidence: Double

    init(_ word: RecognizedWord) {
        self.text = word.text
        self.start_ms = word.startMs
        self.end_ms = word.endMs
        self.confidence = (word.confidence * 1000).rounded() / 1000
    }
}
