import ArgumentParser
import Foundation
import RealtimeVoiceServer

/// How `realtime-voice transcribe` prints a transcript.
enum TranscriptFormat: String, ExpressibleByArgument, CaseIterable {
    /// The text alone (several files: `FILE: text`, one a line).
    case text
    /// One JSON object a line: the recognize endpoint's `data` plus `file`.
    case json
    /// SubRip subtitles, one cue a segment.
    case srt
    /// WebVTT subtitles, one cue a segment.
    case vtt

    var fileExtension: String { self == .text ? "txt" : self.rawValue }

    /// Subtitles cannot be concatenated into one valid file.
    var allowsSeveralFilesOnStandardOutput: Bool { self == .text || self == .json }

    struct JSONLine: Encodable {
        let file: String
        let text: String
        let duration_ms: Int
        let engine: String
        let segments: [TranscriptBody.Segment]
    }

    /// The rendering of one file's transcript; `label` names the file when several share standard output.
    func render(_ transcript: TranscriptBody, file: String, label: Bool) -> String {
        switch self {
        case .text:
            return label ? "\(file): \(transcript.text)\n" : "\(transcript.text)\n"
        case .json:
            let line = JSONLine(
                file: file, text: transcript.text, duration_ms: transcript.duration_ms, engine: transcript.engine, segments: transcript.segments)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: (try? encoder.encode(line)) ?? Data("{}".utf8), as: UTF8.self) + "\n"
        case .srt:
            return Subtitles.srt(transcript.recognizedSegments)
        case .vtt:
            return Subtitles.vtt(transcript.recognizedSegments)
        }
    }
}
