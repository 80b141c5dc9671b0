import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import SpeechEngine

/// Tencent's one-shot API, SentenceRecognition (API 3.0, version 2019-06-14, TC3-HMAC-SHA256, no Region):
/// a recording of at most 60 s sent inline as Base64 PCM (docs/tencent.md, “SentenceRecognition: one-shot
/// recognition (API 3.0)”).
struct SentenceRecognition: Sendable {
    static let maxSeconds = 60

    struct Response: Decodable {
        struct Body: Decodable {
            struct Word: Decodable {
                let Word: String
                let StartTime: Int
                let EndTime: Int
            }

            struct Failure: Decodable {
                let Code: String
                let Message: String
            }

            let Result: String?
            let AudioDuration: Int?
            let WordList: [Word]?
            let Error: Failure?
            let RequestId: String?
        }

        let Response: Body
    }

    let configuration: TencentConfiguration
    let credentials: CredentialRotation
    let limiter: RateLimiter
    let client: HTTPClient

    /// Form fields passed through, by our name → Tencent's.
    static let passThrough: [String: String] = [
        "hotword_id": "HotwordId", "customization_id": "CustomizationId",
        "filter_dirty": "FilterDirty", "filter_modal": "FilterModal", "filter_punc": "FilterPunc", "convert_num_mode": "ConvertNumMode",
    ]

    /// Recognises one piece (≤ 60 s of 16-bit PCM at `sampleRate`); times relative to the piece.
    func recognize(
        _ samples: ArraySlice<Int16>, sampleRate: Int, model: String, parameters: [String: String], hotwords: [Hotword] = []
    ) async throws(UpstreamFailure) -> (text: String, words: [RecognizedWord], durationMs: Int) {
        var pcm = Data(capacity: samples.count * 2)
        for sample in samples { withUnsafeBytes(of: sample.littleEndian) { pcm.append(contentsOf: $0) } }
        var body: [String: Any] = [
            "EngSerViceType": model, "SourceType": 1, "VoiceFormat": "pcm", "Data": pcm.base64EncodedString(), "DataLen": pcm.count, "WordInfo": 1,
        ]
        if sampleRate == 8_000 { body["InputSampleRate"] = 8_000 }
        for (ours, theirs) in Self.passThrough {
            guard let value = parameters[ours], !value.isEmpty else { continue }
            body[theirs] = Int(value).map { $0 as Any } ?? value
        }
        if !hotwords.isEmpty { body["HotwordList"] = hotwords.tencentList }
        guard let json = try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]) else {
            throw .failed("The SentenceRecognition request could not be encoded.")
        }
        guard let url = URL(string: self.configuration.apiURL), let host = url.host else {
            throw .rejected(code: 0, message: "TENCENT_ASR_API_URL is not a URL")
        }
        let hostHeader = url.port.map { "\(host):\($0)" } ?? host
        let contentType = "application/json; charset=utf-8"
        let timestamp = Int(Date().timeIntervalSince1970)
        let account = self.credentials.next()
        let signer = TC3Signer(secretID: account.secretID, secretKey: account.secretKey, service: "asr")
        let signed = signer.sign(headers: [("content-type", contentType), ("host", hostHeader)], body: json, timestamp: timestamp)

        var request = HTTPClientRequest(url: self.configuration.apiURL)
        request.method = .POST
        request.headers.add(name: "Host", value: hostHeader)
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "X-TC-Action", value: "SentenceRecognition")
        request.headers.add(name: "X-TC-Version", value: "2019-06-14")
        request.headers.add(name: "X-TC-Timestamp", value: String(timestamp))
        request.headers.add(name: "Authorization", value: signed.authorization)
        request.body = .bytes(ByteBuffer(data: json))

        do {
            try await self.limiter.acquire()
        } catch {
            throw .failed("Cancelled while waiting for Tencent's request rate limit.")
        }
        let answer: Response
        do {
            let response = try await self.client.execute(
                request, timeout: .seconds(Int64(self.configuration.responseTimeout.components.seconds) + 20))
            let bytes = try await response.body.collect(upTo: 4 * 1024 * 1024)
            answer = try JSONDecoder().decode(Response.self, from: Data(buffer: bytes))
        } catch {
            throw .failed("Tencent SentenceRecognition did not answer usably: \(error).")
        }
        if let failure = answer.Response.Error {
            throw Self.failure(code: failure.Code, message: failure.Message)
        }
        let words = (answer.Response.WordList ?? []).map { RecognizedWord(text: $0.Word, startMs: $0.StartTime, endMs: $0.EndTime, confidence: 1) }
        return (answer.Response.Result ?? "", words, answer.Response.AudioDuration ?? samples.count * 1000 / sampleRate)
    }

    /// API 3.0 error codes: account and request problems are not retried; the rate limit is `busy`.
    static func failure(code: String, message: String) -> UpstreamFailure {
        if code == "RequestLimitExceeded" || code.hasPrefix("LimitExceeded") { return .busy(message: "\(code): \(message)") }
        if code.hasPrefix("AuthFailure") || code.hasPrefix("InvalidParameter") || code.hasPrefix("MissingParameter")
            || code.hasPrefix("UnknownParameter")
            || code.hasPrefix("UnauthorizedOperation") || code.hasPrefix("FailedOperation") || code.hasPrefix("ResourceUnavailable")
            || code == "InvalidAction" || code == "NoSuchVersion"
        {
            return .rejectedAPI(code: code, message: message)
        }
        return .failed("Tencent SentenceRecognition failed (\(code): \(message)).")
    }
}
