import Foundation
import Hummingbird
import HummingbirdCore
import MultipartKit
import NIOCore
import RealtimeVoiceErrors

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
            // Most clients write the whole body before they read: up to a bound it is read and dropped (memory stays
            // flat) so that they get the 413; a bigger one is refused at once, and the connection closes.
            if length <= Self.drainLimit(maxBytes) { await Self.drain(request.body, upTo: Self.drainLimit(maxBytes)) }
            throw Self.tooLarge(maxBytes)
        }
        if contentType.lowercased().hasPrefix("multipart/form-data") {
            guard let boundary = Self.boundary(of: contentType) else {
                throw GatewayError(.invalidMultipart, "The multipart/form-data Content-Type has no boundary, or one that is not 1 to 70 characters.")
            }
            return try await Self.readMultipart(request.body, boundary: boundary, maxBytes: maxBytes)
        }
        var received = UploadBuffer(limit: maxBytes)
        var overLimit = 0
        do {
            for try await buffer in request.body {
                if overLimit > 0 || !received.append(buffer) {
                    if overLimit == 0 { received = UploadBuffer(limit: 0) }  // nothing of it is needed any more
                    overLimit += buffer.readableBytes
                    if overLimit > Self.drainLimit(maxBytes) { break }
                }
            }
            if overLimit > 0 { throw Self.tooLarge(maxBytes) }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(.invalidBody, "The request body could not be read: \(error).")
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
            if !collector.data.append(buffer) {
                collector.failure = Self.tooLarge(maxBytes)
                collector.data = UploadBuffer(limit: 0)
                collector.file = nil
            }
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
                // Over the limit, the rest is read and dropped (bounded), so that the client gets the 413.
                if received > maxBytes + 64 * 1024 || collector.failure?.code == .audioTooLarge {
                    collector.data = UploadBuffer(limit: 0)
                    collector.file = nil
                    if received > Self.drainLimit(maxBytes) { break }
                    continue
                }
                try parser.execute(buffer)
                if let failure = collector.failure, failure.code != .audioTooLarge { throw failure }
            }
            if received > maxBytes + 64 * 1024 || collector.failure?.code == .audioTooLarge { throw Self.tooLarge(maxBytes) }
        } catch let error as GatewayError {
            throw error
        } catch {
            throw GatewayError(.invalidMultipart, "The multipart body could not be parsed: \(error).")
        }
        guard let file = collector.file, !file.isEmpty else { throw Self.missing() }
        return UploadedAudio(bytes: file, fields: collector.fields, fieldValues: collector.fieldValues)
    }

    static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                // RFC 2046: 1 to 70 characters. (MultipartKit traps on an empty one.)
                let boundary = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return (1...70).contains(boundary.utf8.count) ? boundary : nil
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

    /// How much of a too-large body is read and dropped before the 413 (more: the connection just closes).
    static func drainLimit(_ maxBytes: Int) -> Int { 4 * maxBytes + 1024 * 1024 }

    /// Reads and drops the body, up to `limit` bytes.
    static func drain(_ body: RequestBody, upTo limit: Int) async {
        var read = 0
        do {
            for try await buffer in body {
                read += buffer.readableBytes
                if read > limit { return }
            }
        } catch {}
    }

    static func tooLarge(_ maxBytes: Int) -> GatewayError {
        GatewayError(.audioTooLarge, "The upload is larger than this server's limit of \(maxBytes) bytes.")
    }

    static func missing() -> GatewayError {
        GatewayError(
            .missingAudio,
            "No audio: send the recording as multipart/form-data field 'audio' (or 'file'), or as the raw body with Content-Type audio/*."
        )
    }
}
