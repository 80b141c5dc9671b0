import SpeechEngine

/// A recognised word as clients receive it, in stream finals and upload answers alike.
public struct WordBody: Codable, Sendable, Equatable {
    public let text: String
    public let start_ms: Int
    public let end_ms: Int
    public let confidence: Double

    public init(_ word: RecognizedWord) {
        self.text = word.text
        self.start_ms = word.startMs
        self.end_ms = word.endMs
        self.confidence = (word.confidence * 1000).rounded() / 1000
    }

    public var recognizedWord: RecognizedWord {
        RecognizedWord(text: self.text, startMs: self.start_ms, endMs: self.end_ms, confidence: self.confidence)
    }
}
