import Foundation
import SpeechEngine

/// SubRip and WebVTT renderings of segments, one cue per segment.
public enum Subtitles {
    public static func srt(_ segments: [RecognizedSegment]) -> String {
        segments.enumerated().map { index, segment in
            "\(index + 1)\n\(Self.time(segment.startMs, ",")) --> \(Self.time(segment.endMs, ","))\n\(segment.text)\n"
        }.joined(separator: "\n")
    }

    public static func vtt(_ segments: [RecognizedSegment]) -> String {
        "WEBVTT\n\n" + segments.map { "\(Self.time($0.startMs, ".")) --> \(Self.time($0.endMs, "."))\n\($0.text)\n" }.joined(separator: "\n")
    }

    /// `HH:MM:SS,mmm` (SRT) or `HH:MM:SS.mmm` (WebVTT).
    static func time(_ milliseconds: Int, _ separator: String) -> String {
        let ms = max(0, milliseconds)
        return String(format: "%02d:%02d:%02d%@%03d", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, separator, ms % 1000)
    }
}
