import Foundation
import Hummingbird
import HummingbirdCore
import MultipartKit
import NIOCore

/// A recording as uploaded: its bytes and the form's text fields.
struct UploadedAudio: Sendable {
    var bytes: [UInt8]
    /// Text fields, first value of each name.
    var fields: [String: String]
    /// Every value of each text field, in order (`timestamp_granularities[]` repeats).
    var fieldValues: [String: [String]] = [:]

    /// The file's form field names, in order of preference: `wx.uploadFile` is given `audio`; OpenAI clients send `file`.
    static let fileFields = ["audio", "file"]
    /// Text fields longer than this are refused.
    static let maxFieldBytes = 4096

    /// Reads the body as it streams in, stopping as soon as it exceeds `maxBytes` (never buffering more).
    /// `multipart/form-data` (field `audio` or `file`) and raw bodies (`audio/*`, `application/octet-stream`) are accepted.
    static func read(from request: Request, maxBytes: Int) async throws(GatewayError) -> UploadedAudio {
        let contentType = request.headers[.contentType] ?? ""
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes + 64 * 1024 {
            throw Self.tooLarge(maxBytes)
        }
        if contentType.lowercased().hasPrefix("multipart/form-data") {
            guard let boundary = Self.boundary(of: contentType) else {
                throw GatewayError(status: .badRequest, code: "invalid_multipart", message: "The multipart/form-data Content-Type has no boundary.")
            }
            return try await Self.readMultipart(request.body, boundary: boundary, maxBytes: maxBytes)
        }
        var received = UploadBuffer(limit: maxBytes)
        do {
            for try await buffer in request.body {
                guard received.append(buffer) else { throw Self.tooLarge(maxBytes) }
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(status: .badRequest, code: "invalid_body", message: "The request body could not be read: \(error).")
        }
        guard received.count > 0 else { throw Self.missing() }
        return UploadedAudio(bytes: received.joined(), fields: [:])
    }

    private static func readMultipart(_ body: RequestBody, boundary: String, maxBytes: Int) async throws(GatewayError) -> UploadedAudio {
        final class Collector {
            var headers: [String: String] = [:]
            var data: UploadBuffer
            var file: [UInt8]?
            var fields: [String: String] = [:]
            var fieldValues: [String: [String]] = [:]
            var failure: GatewayError?
            init(maxBytes: Int) { self.data = UploadBuffer(limit: maxBytes) }
        }
        let collector = Collector(maxBytes: maxBytes)
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in collector.headers[name.lowercased()] = value }
        parser.onBody = { buffer in
            guard collector.failure == nil else { return }
            if !collector.data.append(buffer) { collector.failure = Self.tooLarge(maxBytes) }
        }
        parser.onPartComplete = {
            defer {
                collector.headers = [:]
                collector.data = UploadBuffer(limit: maxBytes)
            }
            guard collector.failure == nil, let name = Self.fieldName(collector.headers["content-disposition"]) else { return }
            if Self.fileFields.contains(name) {
                if collector.file == nil || name == Self.fileFields[0] { collector.file = collector.data.joined() }
            } else if collector.data.count <= Self.maxFieldBytes {
                let value = String(decoding: collector.data.joined(), as: UTF8.self)
                if collector.fields[name] == nil { collector.fields[name] = value }
                collector.fieldValues[name, default: []].append(value)
            }
        }
        var received = 0
        do {
            for try await buffer in body {
                received += buffer.readableBytes
                guard received <= maxBytes + 64 * 1024 else { throw Self.tooLarge(maxBytes) }
                try parser.execute(buffer)
                if let failure = collector.failure { throw failure }
            }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(status: .badRequest, code: "invalid_multipart", message: "The multipart body could not be parsed: \(error).")
        }
        guard let file = collector.file, !file.isEmpty else { throw Self.missing() }
        return UploadedAudio(bytes: file, fields: collector.fields, fieldValues: collector.fieldValues)
    }

    static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    /// `form-data; name="audio"; filename="x.mp3"` → `audio`.
    static func fieldName(_ disposition: String?) -> String? {
        guard let disposition else { return nil }
        for parameter in disposition.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "name" {
                return pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    static func tooLarge(_ maxBytes: Int) -> GatewayError {
        GatewayError(status: .contentTooLarge, code: "audio_too_large", message: "The upload is larger than this server's limit of \(maxBytes) bytes.")
    }

    static func missing() -> GatewayError {
        GatewayError(
            status: .badRequest,
            code: "missing_audio",
            message: "No audio: send the recording as multipart/form-data field 'audio' (or 'file'), or as the raw body with Content-Type audio/*."
        )
    }
}
