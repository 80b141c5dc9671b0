import SpeechEngine

/// A recording's transcript as clients receive it: the `data` of `POST /api/realtime-voice/recognize`, and the
/// JSON `realtime-voice transcribe` prints.
public struct TranscriptBody: Codable, Sendable, Equatable {
    public struct Segment: Codable, Sendable, Equatable {
        public let text: String
        public let start_ms: Int
        public let end_ms: Int
        public let words: [WordBody]
    }

    public let text: String
    public let duration_ms: Int
    public let engine: String
    /// The recording's language as a tag: the one asked for, or with `lang=auto` the one the engine detected.
    /// Absent from servers older than 0.5.
    public let language: String?
    public let segments: [Segment]
    /// The request's hotwords the engine did not use, with the reasons; absent when it used them all.
    public let hotwords_ignored: [IgnoredHotword]?

    public init(
        durationMs: Int, engine: String, language: String? = nil, segments: [RecognizedSegment], ignoredHotwords: [IgnoredHotword] = []
    ) {
        self.hotwords_ignored = ignoredHotwords.isEmpty ? nil : ignoredHotwords
        self.text = segments.transcript
        self.duration_ms = durationMs
        self.engine = engine
        self.language = language
        self.segments = segments.map { segment in
            Segment(text: segment.text, start_ms: segment.startMs, end_ms: segment.endMs, words: segment.words.map(WordBody.init))
        }
    }

    /// The segments back in the engine's types (for subtitles).
    public var recognizedSegments: [RecognizedSegment] {
        self.segments.enumerated().map { index, segment in
            RecognizedSegment(
                index: index, text: segment.text, startMs: segment.start_ms, endMs: segment.end_ms, words: segment.words.map(\.recognizedWord))
        }
    }
}
