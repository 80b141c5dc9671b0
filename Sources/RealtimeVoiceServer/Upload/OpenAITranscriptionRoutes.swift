import Foundation
import Hummingbird
import HummingbirdCore
import SpeechEngine

/// `POST /v1/audio/transcriptions`, compatible with OpenAI's API, so existing SDKs work with `base_url` pointed here.
///
/// Fields: `file` (required), `model` (an engine name selects that engine; any other value, e.g. `whisper-1`, means
/// the server's default engine), `language` (ISO-639-1 `en` or a tag `en-US`), `prompt` and `temperature` (accepted,
/// not used), `response_format` (`json`, `text`, `srt`, `vtt`, `verbose_json`), `timestamp_granularities[]`
/// (`word` adds `words` to `verbose_json`). Errors come in OpenAI's shape `{"error":{"message","type","code"}}`.
struct OpenAITranscriptionRoutes<Context: RequestContext>: Sendable {
    struct TextBody: Encodable {
        let text: String
        /// Our addition, present only when the engine did not use some of the request's `hotwords`.
        var hotwords_ignored: [IgnoredHotword]? = nil
    }

    struct VerboseBody: Encodable {
        struct Segment: Encodable {
            let id: Int
            let seek: Int
            let start: Double
            let end: Double
            let text: String
            let tokens: [Int]
            let temperature: Double
            let avg_logprob: Double
            let compression_ratio: Double
            let no_speech_prob: Double
        }

        struct Word: Encodable {
            let word: String
            let start: Double
            let end: Double
        }

        let task = "transcribe"
        let language: String
        let duration: Double
        let text: String
        let segments: [Segment]
        let words: [Word]?
        var hotwords_ignored: [IgnoredHotword]? = nil
    }

    let recognizer: UploadRecognizer

    func add(to router: Router<Context>) {
        router.post(RouterPath(Paths.openAITranscriptions)) { request, _ -> Response in
            let upload = try await UploadedAudio.read(from: request, maxBytes: self.recognizer.limits.maxBytes)
            let format = upload.fields["response_format"] ?? "json"
            guard ["json", "text", "srt", "vtt", "verbose_json"].contains(format) else {
                throw GatewayError.invalidParameter("response_format must be one of json, text, srt, vtt, verbose_json; got '\(format)'.")
            }
            let model = upload.fields["model"]
            let engine = model.flatMap { self.recognizer.engines[$0] != nil ? $0 : nil }
            let result = try await self.recognizer.recognize(
                upload, endpoint: "transcriptions", engineName: engine, language: upload.fields["language"], sampleRate: upload.fields["sample_rate"])
            let granularities = (upload.fieldValues["timestamp_granularities[]"] ?? []) + (upload.fieldValues["timestamp_granularities"] ?? [])
            let wantsWords = granularities.contains("word")
            switch format {
            case "text":
                return Self.plain(result.text + "\n", contentType: "text/plain; charset=utf-8")
            case "srt":
                return Self.plain(Subtitles.srt(result.segments), contentType: "application/x-subrip; charset=utf-8")
            case "vtt":
                return Self.plain(Subtitles.vtt(result.segments), contentType: "text/vtt; charset=utf-8")
            case "verbose_json":
                return JSONResponse.make(status: .ok, Self.verbose(result, words: wantsWords))
            default:
                return JSONResponse.make(status: .ok, TextBody(text: result.text, hotwords_ignored: result.ignoredHotwords.nilIfEmpty))
            }
        }
    }

    static func plain(_ text: String, contentType: String) -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func verbose(_ result: UploadRecognizer.Result, words: Bool) -> VerboseBody {
        VerboseBody(
            language: result.language.flatMap(LanguageTag.primary).flatMap {
                Locale(identifier: "en").localizedString(forLanguageCode: $0)?.lowercased()
            } ?? "unknown",
            duration: Double(result.durationMs) / 1000,
            text: result.text,
            segments: result.segments.enumerated().map { index, segment in
                VerboseBody.Segment(
                    id: index, seek: 0, start: Double(segment.startMs) / 1000, end: Double(segment.endMs) / 1000, text: segment.text,
                    tokens: [], temperature: 0, avg_logprob: 0, compression_ratio: 0, no_speech_prob: 0
                )
            },
            words: words
                ? result.segments.flatMap(\.words).map {
                    VerboseBody.Word(word: $0.text, start: Double($0.startMs) / 1000, end: Double($0.endMs) / 1000)
                }
                : nil,
            hotwords_ignored: result.ignoredHotwords.nilIfEmpty
        )
    }
}

extension Array {
    /// Nil for an empty array: JSON then leaves the key out.
    fileprivate var nilIfEmpty: Self? { self.isEmpty ? nil : self }
}
