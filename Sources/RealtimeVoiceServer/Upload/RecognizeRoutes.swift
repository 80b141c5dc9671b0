import Hummingbird
import HummingbirdCore
import SpeechEngine

/// `POST /api/realtime-voice/recognize`: one-shot recognition of an uploaded recording (what `wx.uploadFile` sends).
///
/// Answers `{"code":0,"message":"ok","data":{"text":…,"duration_ms":…,"engine":…,"segments":[…]}}`; failures keep the
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
            let upload = try await UploadedAudio.read(from: request, maxBytes: self.recognizer.limits.maxBytes)
            let query = request.uri.queryParameters
            func field(_ name: String) -> String? { upload.fields[name] ?? query.get(name) }
            let result = try await self.recognizer.recognize(upload, engineName: field("engine"), language: field("lang"), sampleRate: field("sample_rate"))
            return JSONResponse.make(status: .ok, Envelope(code: 0, message: "ok", data: Self.data(result)))
        }
    }

    static func data(_ result: UploadRecognizer.Result) -> TranscriptBody {
        TranscriptBody(durationMs: result.durationMs, engine: result.engine, segments: result.segments)
    }
}
