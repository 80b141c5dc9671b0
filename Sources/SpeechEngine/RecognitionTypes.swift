/// One recognised word with its position in the stream.
public struct RecognizedWord: Sendable, Equatable, Codable {
    public var text: String
    /// Milliseconds from the start of the stream.
    public var startMs: Int
    public var endMs: Int
    /// 0...1, as reported by the engine.
    public var confidence: Double

    public init(text: String, startMs: Int, endMs: Int, confidence: Double) {
        self.text = text
        self.startMs = startMs
        self.endMs = endMs
        self.confidence = confidence
    }
}

/// A closed segment (an utterance between two endpoints).
public struct RecognizedSegment: Sendable, Equatable {
    public var index: Int
    public var text: String
    public var startMs: Int
    public var endMs: Int
    public var words: [RecognizedWord]

    public init(index: Int, text: String, startMs: Int, endMs: Int, words: [RecognizedWord]) {
        self.index = index
        self.text = text
        self.startMs = startMs
        self.endMs = endMs
        self.words = words
    }
}

/// What an engine reports while it recognises a stream.
public enum RecognitionEvent: Sendable, Equatable {
    /// The hypothesis of the open segment changed.
    case partial(segment: Int, text: String)
    /// A segment closed (endpoint reached or the stream ended).
    case final(RecognizedSegment)
}

/// Per-session choices a client makes.
public struct RecognitionOptions: Sendable, Equatable {
    /// BCP-47 language tag, e.g. `en-US`.
    public var language: String
    /// The rate of the PCM this session hands the engine (see ``SpeechRecognizer/sampleRate(forInput:)``).
    public var sampleRate: Int?
    /// Engine-specific parameters from the session's query or form (e.g. Tencent's `hotwords`); an engine uses
    /// the ones it documents and ignores the others.
    public var parameters: [String: String]

    public init(language: String = "en-US", sampleRate: Int? = nil, parameters: [String: String] = [:]) {
        self.language = language
        self.sampleRate = sampleRate
        self.parameters = parameters
    }
}

extension Array where Element == RecognizedSegment {
    /// The transcript: the segments' texts, empty ones skipped, joined by spaces.
    public var transcript: String {
        self.map(\.text).filter { !$0.isEmpty }.joined(separator: " ")
    }
}
