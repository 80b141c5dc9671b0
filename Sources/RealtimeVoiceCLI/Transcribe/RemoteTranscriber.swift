import AsyncHTTPClient
import Foundation
import MultipartKit
import NIOCore
import NIOFoundationCompat
import RealtimeVoiceServer

/// Recognises files on a realtime-voice server through `POST /api/realtime-voice/recognize`, as `wx.uploadFile`
/// would: multipart/form-data with the recording in field `audio`.
struct RemoteTranscriber {
    struct Envelope: Decodable {
        let code: Int
        let message: String
        let data: TranscriptBody?
        let error: String?
    }

    let endpoint: String
    let token: String?
    let timeout: Duration
    let client: HTTPClient

    /// `server` is the base URL (`http://host:8080`, or with a path prefix behind a gateway).
    init(server: String, token: String?, timeout: Duration, client: HTTPClient = .shared) throws(TranscribeFailure) {
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
            throw .usage("invalid_server", "--server must be an http:// or https:// URL; got '\(server)'.")
        }
        self.endpoint = server.hasSuffix("/") ? "\(server.dropLast())/api/realtime-voice/recognize" : "\(server)/api/realtime-voice/recognize"
        self.token = token
        self.timeout = timeout
        self.client = client
    }

    func transcribe(
        _ bytes: [UInt8], filename: String, fields: [String: String], progress: ProgressBar
    ) async throws(TranscribeFailure) -> TranscriptBody {
        let boundary = "realtime-voice-\(UUID().uuidString)"
        var request = HTTPClientRequest(url: self.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
        if let token = self.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.body = .bytes(try Self.form(bytes, filename: filename, fields: fields, boundary: boundary))

        let started = ContinuousClock.now
        let ticker = Task {
            while !Task.isCancelled {
                progress.waiting(seconds: Int((ContinuousClock.now - started).components.seconds))
                try? await Task.sleep(for: .seconds(1))
            }
        }
        defer { ticker.cancel() }

        let status: UInt
        let body: ByteBuffer
        do {
            let response = try await self.client.execute(
                request, timeout: .milliseconds(self.timeout.components.seconds * 1000 + self.timeout.components.attoseconds / 1_000_000_000_000_000))
            status = response.status.code
            body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        } catch {
            throw .recognition("server_unreachable", "No answer from \(self.endpoint): \(error).")
        }
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(buffer: body)) else {
            let snippet = String(buffer: body).prefix(200)
            throw .recognition(
                "unexpected_response",
                """
                \(self.endpoint) answered HTTP \(status) \
                without the recognize envelope (is this a realtime-voice server, and the URL its root?): \(snippet)
                """
            )
        }
        if let data = envelope.data, envelope.code == 0 { return data }
        let code = envelope.error ?? "http_\(status)"
        let message = "\(envelope.message) (HTTP \(status))"
        // A refused token is a usage error: the command line is what needs fixing.
        throw status == 401 || status == 403 ? .usage(code, message) : .recognition(code, message)
    }

    private static func form(_ bytes: [UInt8], filename: String, fields: [String: String], boundary: String) throws(TranscribeFailure) -> ByteBuffer {
        var parts = fields.sorted { $0.key < $1.key }.map { name, value in
            MultipartPart(headers: ["Content-Disposition": "form-data; name=\"\(name)\""], body: value)
        }
        let safeName = filename.replacingOccurrences(of: "\"", with: "_")
        parts.append(
            MultipartPart(
                headers: ["Content-Disposition": "form-data; name=\"audio\"; filename=\"\(safeName)\"", "Content-Type": "application/octet-stream"],
                body: ByteBuffer(bytes: bytes)
            )
        )
        var buffer = ByteBuffer()
        do {
            try MultipartSerializer().serialize(parts: parts, boundary: boundary, into: &buffer)
        } catch {
            throw .usage("invalid_request", "The upload form could not be built: \(error).")
        }
        return buffer
    }
}
