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
    /// The language the engine heard, as a tag (`zh-CN`, `en-US`), when it reports one (Whisper does); nil otherwise.
    public var language: String?

    public init(index: Int, text: String, startMs: Int, endMs: Int, words: [RecognizedWord], language: String? = nil) {
        self.index = index
        self.text = text
        self.startMs = startMs
        self.endMs = endMs
        self.words = words
        self.language = language
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
    /// Phrases to favour, the server's list and the session's merged (``Hotword``).
    public var hotwords: [Hotword]

    public init(language: String = "en-US", sampleRate: Int? = nil, parameters: [String: String] = [:], hotwords: [Hotword] = []) {
        self.language = language
        self.sampleRate = sampleRate
        self.parameters = parameters
        self.hotwords = hotwords
    }
}

extension Array where Element == RecognizedSegment {
    /// The transcript: the segments' texts, empty ones skipped, joined by spaces, except between two Chinese
    /// (or Japanese) characters or after Chinese punctuation, which are written without spaces.
    public var transcript: String {
        self.map(\.text).filter { !$0.isEmpty }.reduce(into: "") { text, next in
            if let last = text.unicodeScalars.last, let first = next.unicodeScalars.first, !(last.isWideScript && first.isWideScript) {
                text += " "
            }
            text += next
        }
    }

    /// The language the engine reported most often over these segments, if any did.
    public var detectedLanguage: String? {
        let counts = self.compactMap(\.language).reduce(into: [String: Int]()) { $0[$1, default: 0] += $1.isEmpty ? 0 : 1 }
        return counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
    }
}

extension Unicode.Scalar {
    /// CJK ideographs, kana, and the full-width punctuation written with them: scripts written without spaces.
    var isWideScript: Bool {
        switch self.value {
        case 0x3000...0x303F, 0x3040...0x30FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0xFF00...0xFF60, 0x20000...0x2FA1F:
            true
        default:
            false
        }
    }
}
