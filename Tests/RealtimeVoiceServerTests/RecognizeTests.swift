import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import TestAudio
import Testing

@testable import RealtimeVoiceServer

@Suite("One-shot recognition: POST /api/realtime-voice/recognize", .serialized)
struct RecognizeTests {
    static let sentence = "please turn off the lights in the kitchen"
    static let tokenHeader: HTTPFields = [HTTPField.Name("token")!: testToken]

    struct Envelope: Decodable {
        struct Payload: Decodable {
            struct Segment: Decodable {
                let text: String
                let start_ms: Int
                let end_ms: Int
            }
            let text: String
            let duration_ms: Int
            let engine: String
            let segments: [Segment]
        }
        let code: Int
        let message: String
        let data: Payload?
        let error: String?
    }

    /// A multipart/form-data body as `wx.uploadFile` sends it.
    static func upload(file: [UInt8], field: String = "audio", fields: [String: String] = [:]) -> Upload {
        let (body, headers) = Self.multipart(file: file, field: field, fields: fields)
        return Upload(body: body, headers: headers)
    }

    static func multipart(
        file: [UInt8], field: String = "audio", filename: String = "recording.bin", fields: [String: String] = [:]
    ) -> (ByteBuffer, HTTPFields) {
        let boundary = "----realtimevoice\(UUID().uuidString)"
        var body = ByteBuffer()
        for (name, value) in fields {
            body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n")
        }
        body.writeString(
            """
            --\(boundary)\r\nContent-Disposition: form-data; name=\"\(field)\"; \
            filename=\"\(filename)\"\r\nContent-Type: application/octet-stream\r\n\r\n
            """
        )
        body.writeBytes(file)
        body.writeString("\r\n--\(boundary)--\r\n")
        var headers = Self.tokenHeader
        headers[.contentType] = "multipart/form-data; boundary=\(boundary)"
        return (body, headers)
    }

    static func post(
        _ client: some TestClientProtocol, _ body: ByteBuffer, _ headers: HTTPFields
    ) async throws -> (HTTPResponse.Status, Envelope, HTTPFields) {
        let response = try await client.execute(uri: "/api/realtime-voice/recognize", method: .post, headers: headers, body: body)
        return (response.status, try JSONDecoder().decode(Envelope.self, from: Data(buffer: response.body)), response.headers)
    }

    static func post(_ client: some TestClientProtocol, _ upload: Upload) async throws -> (HTTPResponse.Status, Envelope, HTTPFields) {
        try await Self.post(client, upload.body, upload.headers)
    }

    static func withServer(
        _ configuration: GatewayConfiguration = testConfiguration(), _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        try await withGateway(configuration, body)
    }

    @Test(
        "every upload format gives the WAV original's text, in the mini-program's envelope",
        arguments: ["mp3", "m4a", "ogg", "webm", "wav", "wav24", "wavf32", "flac", "aac"])
    func formats(name: String) async throws {
        let wav = try TestAudio.speech(Self.sentence)
        let file = [UInt8](try Data(contentsOf: TestAudio.encoded(wav, as: name)))
        let original = [UInt8](try Data(contentsOf: wav))
        try await Self.withServer { client in
            let (status, envelope, _) = try await Self.post(client, Self.upload(file: file))
            let (_, reference, _) = try await Self.post(client, Self.upload(file: original))
            #expect(status == .ok)
            #expect(envelope.code == 0 && envelope.message == "ok")
            #expect(envelope.data?.engine == "pocketsphinx")
            #expect(envelope.data?.text == reference.data?.text, "\(name)")
            #expect(
                TestAudio.wordErrorRate(reference: Self.sentence, hypothesis: envelope.data?.text ?? "") <= 0.3, "heard: \(envelope.data?.text ?? "")"
            )
            #expect(abs((envelope.data?.duration_ms ?? 0) - 2900) < 1500)
        }
    }

    @Test("field 'file', a raw audio/* body and raw PCM with sample_rate are accepted")
    func otherShapes() async throws {
        let wav = try TestAudio.speech(Self.sentence)
        let bytes = [UInt8](try Data(contentsOf: wav))
        let pcm48k = try TestAudio.samples(ofWAV: TestAudio.speech(Self.sentence, sampleRate: 48_000))
        try await Self.withServer { client in
            let asFile = Self.multipart(file: bytes, field: "file")
            #expect(try await Self.post(client, asFile.0, asFile.1).1.data?.text.isEmpty == false)
            var raw = Self.tokenHeader
            raw[.contentType] = "audio/wav"
            #expect(try await Self.post(client, ByteBuffer(bytes: bytes), raw).1.data?.text.isEmpty == false)
            // Starts with a sample of -1 (bytes FF FF), which a frame-sync sniffer would take for MP3.
            let pcm = Self.multipart(file: TestAudio.bytes(of: [-1, -1] + pcm48k.samples), fields: ["sample_rate": "48000"])
            let (status, envelope, _) = try await Self.post(client, pcm.0, pcm.1)
            #expect(status == .ok)
            #expect(TestAudio.wordErrorRate(reference: Self.sentence, hypothesis: envelope.data?.text ?? "") <= 0.3)
        }
    }

    @Test("silence is 200 with empty text, never invented words")
    func silence() async throws {
        let silence = TestAudio.bytes(of: TestAudio.silence(milliseconds: 2000))
        try await Self.withServer { client in
            let upload = Self.multipart(file: silence, fields: ["sample_rate": "16000"])
            let (status, envelope, _) = try await Self.post(client, upload.0, upload.1)
            #expect(status == .ok)
            #expect(envelope.data?.text == "")
            #expect(envelope.data?.duration_ms == 2000)
        }
    }

    @Test("bad input gets its documented error in the same envelope")
    func errors() async throws {
        let wav = try TestAudio.speech("go forward ten meters and then turn left at the corner")
        let m4a = [UInt8](try Data(contentsOf: TestAudio.encoded(wav, as: "m4a")))
        let mp3 = [UInt8](try Data(contentsOf: TestAudio.encoded(wav, as: "mp3")))
        var generator = SystemRandomNumberGenerator()
        let random = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var configuration = testConfiguration()
        configuration.uploads = UploadLimits(maxBytes: 200_000, maxDuration: .seconds(2))
        try await Self.withServer(configuration) { client in
            let cases: [(ByteBuffer, HTTPFields, HTTPResponse.Status, String)] = [
                Self.upload(file: [], field: "audio").tuple(.badRequest, "missing_audio"),
                Self.upload(file: [1, 2, 3], field: "other").tuple(.badRequest, "missing_audio"),
                Self.upload(file: [0x00, 0x00] + random).tuple(.unsupportedMediaType, "unsupported_format"),
                Self.upload(file: [0x02] + Array("#!SILK_V3".utf8) + random).tuple(.unsupportedMediaType, "unsupported_format"),
                Self.upload(file: Array(m4a.prefix(m4a.count / 2))).tuple(.unprocessableContent, "undecodable_audio"),
                Self.upload(file: Array(mp3.prefix(mp3.count / 2))).tuple(.unprocessableContent, "undecodable_audio"),
                Self.upload(file: [UInt8](try Data(contentsOf: wav))).tuple(.contentTooLarge, "audio_too_long"),
                Self.upload(file: [UInt8](repeating: 1, count: 300_000)).tuple(.contentTooLarge, "audio_too_large"),
            ]
            for (body, headers, status, code) in cases {
                let (actual, envelope, _) = try await Self.post(client, body, headers)
                #expect(actual == status, "\(code)")
                #expect(envelope.error == code)
                #expect(envelope.code == Int(status.code))
            }
            // The server still serves after all of them.
            let ok = Self.multipart(file: [UInt8](try Data(contentsOf: TestAudio.speech("go forward ten meters"))))
            #expect(try await Self.post(client, ok.0, ok.1).0 == .ok)
        }
    }

    @Test("no token is 401; a full server answers busy with Retry-After")
    func authAndBusy() async throws {
        let bytes = [UInt8](try Data(contentsOf: TestAudio.speech("go forward ten meters")))
        var configuration = testConfiguration()
        configuration.uploads.maxConcurrent = 0
        try await Self.withServer(configuration) { client in
            var upload = Self.multipart(file: bytes)
            upload.1[HTTPField.Name("token")!] = nil
            #expect(try await Self.post(client, upload.0, upload.1).0 == .unauthorized)
            let (status, envelope, headers) = try await Self.post(client, Self.upload(file: bytes))
            #expect(status == .serviceUnavailable)
            #expect(envelope.error == "busy")
            #expect(headers[.retryAfter] != nil)
        }
    }
}

struct Upload {
    let body: ByteBuffer
    let headers: HTTPFields
    func tuple(_ status: HTTPResponse.Status, _ code: String) -> (ByteBuffer, HTTPFields, HTTPResponse.Status, String) {
        (self.body, self.headers, status, code)
    }
}
