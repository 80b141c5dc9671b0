import Hummingbird
import HummingbirdCore
import SpeechEngine

/// `POST /api/realtime-voice/recognize`: one-shot recognition of an uploaded recording (what `wx.uploadFile` sends).
///
/// Answers `{"code":0,"message":"ok","data":{"text":…,"duration_ms":…,"engine":…,"language":…,"segments":[…]}}`; failures keep the
/// envelope with a non-zero `code` (the HTTP status) and a stable `error`.
struct RecognizeRoutes<Context: RequestContext>: Sendable {
    struct Envelope: Encodable {
        let code: Int
        let message: String
        let data: TranscriptBody
    }

    let recognizer: UploadRecognizer

    func add(to router: Router<Context>) {
        router.post(RouterPath(Paths.recognize)) { request, _ -> Response in
            var upload = try await UploadedAudio.read(from: request, maxBytes: self.recognizer.limits.maxBytes)
            // Query parameters count as form fields (a raw body has no others); a form field wins.
            for (name, value) in request.uri.queryParameters where upload.fields[String(name)] == nil && name != "token" {
                upload.fields[String(name)] = String(value)
            }
            func field(_ name: String) -> String? { upload.fields[name] }
            let result = try await self.recognizer.recognize(
                upload, endpoint: "recognize", engineName: field("engine"), language: field("lang"), sampleRate: field("sample_rate"))
            return JSONResponse.make(status: .ok, Envelope(code: 0, message: "ok", data: Self.data(result)))
        }
    }

    static func data(_ result: UploadRecognizer.Result) -> TranscriptBody {
        TranscriptBody(
            durationMs: result.durationMs, engine: result.engine, language: result.language, segments: result.segments,
            ignoredHotwords: result.ignoredHotwords)
    }
}
