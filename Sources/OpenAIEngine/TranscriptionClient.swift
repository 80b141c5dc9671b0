import AsyncHTTPClient
import Foundation
import Logging
import MultipartKit
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import RealtimeVoiceAudio
import RealtimeVoiceErrors
import SpeechEngine
import Synchronization

/// Posts audio to `{base}/audio/transcriptions` as OpenAI documents it: a multipart form with a 16 kHz WAV `file`,
/// `model`, `language`, `prompt`, and `response_format=verbose_json` with word and segment timestamps.
///
/// - A server that answers 400 to `verbose_json` / `timestamp_granularities[]` is asked again with plain `json`,
///   and from then on always so.
/// - Each request goes to a server of the ``UpstreamPool`` (one, or several `--openai-base-url`).
/// - 5xx answers and connection failures are retried once: at once on another server when there are several (the
///   failed one is taken out until it answers again), else on the same one after ``OpenAIConfiguration/retryBackoff``.
/// - Errors: 4xx → `upstream_rejected`, 429 → `busy`, 5xx / connection / timeout → `upstream_failed`, each with the
///   upstream's status and message. The API key is removed from any text that could reach a client or a log.
final class TranscriptionClient: Sendable {
    let configuration: OpenAIConfiguration
    let pool: UpstreamPool
    private let http: HTTPClient
    /// The managed process behind the URL, if the gateway runs it: a failure while it is down is `engine_unavailable`.
    private let upstream: (any ManagedUpstream)?
    private let logger: Logger
    /// False once the server refused the verbose request form.
    private let verboseSupported = Atomic<Bool>(true)

    init(configuration: OpenAIConfiguration, http: HTTPClient, upstream: (any ManagedUpstream)? = nil, logger: Logger) {
        self.configuration = configuration
        var supervised: (@Sendable (Int) -> Bool)?
        if let upstream { supervised = { index in upstream.isReady(server: index) } }
        self.pool = UpstreamPool(baseURLs: configuration.baseURLs, supervised: supervised)
        self.http = http
        self.upstream = upstream
        self.logger = logger
    }

    /// Transcribes PCM at `sampleRate`. `language` is an ISO-639-1 code or nil (the server detects it). `partial`:
    /// the audio is speech still going on (marked as such when ``OpenAIConfiguration/marksPartials``).
    func transcribe(
        _ samples: ArraySlice<Int16>, sampleRate: Int, language: String?, context: TranscriptionContext, partial: Bool = false
    ) async throws(RecognitionError) -> Transcription {
        let wav = WAVFile.bytes(samples, sampleRate: sampleRate)
        var verbose = self.verboseSupported.load(ordering: .relaxed)
        var attempt = 1
        var failedOn: Int?
        while true {
            let server = self.pool.lease(excluding: failedOn)
            let outcome = await self.post(
                wav: wav, url: server.transcriptionsURL, language: language, context: context, partial: partial, verbose: verbose)
            switch outcome {
            case .success: self.pool.finish(server, succeeded: true, takesItDown: false)
            case .retryable: self.pool.finish(server, succeeded: false, takesItDown: true)
            case .failed, .refusedVerbose: self.pool.finish(server, succeeded: false, takesItDown: false)
            }
            switch outcome {
            case .success(let transcription):
                return transcription
            case .refusedVerbose where verbose:
                self.logger.notice(
                    "The transcription server refused verbose_json with timestamps; asking for plain json from now on (no word times).")
                self.verboseSupported.store(false, ordering: .relaxed)
                verbose = false
            case .retryable(let error) where attempt == 1:
                attempt += 1
                if self.pool.count > 1 {
                    self.logger.warning(
                        "Transcription request failed; retrying once on another server",
                        metadata: ["upstream.url": "\(server.baseURL)", "upstream.error": "\(error.message)"])
                    failedOn = server.index
                } else {
                    self.logger.warning("Transcription request failed; retrying once", metadata: ["upstream.error": "\(error.message)"])
                    try? await Task.sleep(for: self.configuration.retryBackoff)
                }
                if Task.isCancelled { throw RecognitionError(code: .upstreamFailed, message: "Cancelled.") }
            case .retryable(let error):
                // The managed sidecar died under this request (or was already restarting): say so, not "failed".
                if let upstream = self.upstream, upstream.state != .ready {
                    throw .engineUnavailable("The local Whisper engine is not available: \(upstream.unavailableReason). Try again in a few seconds.")
                }
                throw error
            case .failed(let error):
                throw error
            case .refusedVerbose(let error):
                throw error
            }
        }
    }

    private enum Outcome {
        case success(Transcription)
        /// A 400 to a verbose request: maybe only the verbose form is the problem.
        case refusedVerbose(RecognitionError)
        case retryable(RecognitionError)
        case failed(RecognitionError)
    }

    private func post(
        wav: [UInt8], url: String, language: String?, context: TranscriptionContext, partial: Bool, verbose: Bool
    ) async -> Outcome {
        let boundary = "realtime-voice-\(UInt64.random(in: 0...UInt64.max))"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
        request.headers.add(name: "Accept", value: "application/json")
        if let key = self.configuration.apiKey, !key.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        do {
            request.body = .bytes(
                try self.form(wav: wav, language: language, context: context, partial: partial, verbose: verbose, boundary: boundary))
        } catch {
            return .failed(RecognitionError(code: .engineFailed, message: "The transcription request could not be encoded."))
        }

        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await self.http.execute(request, timeout: TimeAmount(self.configuration.requestTimeout))
            body = try await response.body.collect(upTo: 16 * 1024 * 1024)
        } catch {
            return .retryable(self.failure("could not be reached at \(url): \(Self.describe(error))"))
        }
        let status = Int(response.status.code)
        if (200..<300).contains(status) {
            do {
                return .success(Transcription(try JSONDecoder().decode(Transcription.Body.self, from: Data(buffer: body))))
            } catch {
                return .failed(self.failure("answered HTTP \(status) with a body that is not a transcription: \(self.excerpt(body))"))
            }
        }
        let detail = "HTTP \(status): \(self.upstreamMessage(body))"
        switch status {
        case 429:
            return .failed(.busy(self.redact("The transcription server is rate-limiting us (\(detail)); try again shortly.")))
        case 500...:
            return .retryable(self.failure("failed (\(detail))"))
        case 400 where verbose:
            return .refusedVerbose(self.rejection(detail))
        default:
            return .failed(self.rejection(detail))
        }
    }

    private func form(
        wav: [UInt8], language: String?, context: TranscriptionContext, partial: Bool, verbose: Bool, boundary: String
    ) throws -> ByteBuffer {
        func field(_ name: String, _ value: String) -> MultipartPart {
            MultipartPart(headers: ["Content-Disposition": "form-data; name=\"\(name)\""], body: value)
        }
        var parts = [
            MultipartPart(
                headers: ["Content-Disposition": "form-data; name=\"file\"; filename=\"audio.wav\"", "Content-Type": "audio/wav"],
                body: ByteBuffer(bytes: wav)
            ),
            field("model", self.configuration.model),
            field("temperature", "0"),
        ]
        if let language, !language.isEmpty { parts.append(field("language", language)) }
        if let prompt = context.prompt, !prompt.isEmpty { parts.append(field("prompt", prompt)) }
        if let hotwords = context.hotwords, !hotwords.isEmpty { parts.append(field("hotwords", hotwords)) }
        if partial, self.configuration.marksPartials { parts.append(field("realtime_voice_partial", "true")) }
        if verbose {
            parts.append(field("response_format", "verbose_json"))
            parts.append(field("timestamp_granularities[]", "segment"))
            parts.append(field("timestamp_granularities[]", "word"))
        } else {
            parts.append(field("response_format", "json"))
        }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(wav.count + 1024)
        try MultipartSerializer().serialize(parts: parts, boundary: boundary, into: &buffer)
        return buffer
    }

    private func failure(_ what: String) -> RecognitionError {
        RecognitionError(code: .upstreamFailed, message: self.redact("The transcription server \(what)."))
    }

    private func rejection(_ detail: String) -> RecognitionError {
        RecognitionError(
            code: .upstreamRejected,
            message: self.redact("The transcription server refused the request (\(detail)); check the server's openai engine settings."))
    }

    /// The error text of an OpenAI-style body (`{"error":{"message":…}}`, `{"detail":…}`), else the body's start.
    private func upstreamMessage(_ body: ByteBuffer) -> String {
        struct OpenAIError: Decodable {
            struct Inner: Decodable { let message: String? }
            let error: Inner?
        }
        struct Detail: Decodable { let detail: String? }
        let data = Data(buffer: body)
        if let message = (try? JSONDecoder().decode(OpenAIError.self, from: data))?.error?.message { return String(message.prefix(300)) }
        if let detail = (try? JSONDecoder().decode(Detail.self, from: data))?.detail { return String(detail.prefix(300)) }
        return self.excerpt(body)
    }

    private func excerpt(_ body: ByteBuffer) -> String {
        let text = String(buffer: body).trimmingWhitespace
        return text.isEmpty ? "(empty body)" : String(text.prefix(300))
    }

    /// The text with the API key (and any long part of it an upstream echoes back) replaced by `***`.
    func redact(_ text: String) -> String {
        guard let key = self.configuration.apiKey, key.count >= 4 else { return text }
        var result = text.replacingOccurrences(of: key, with: "***")
        // Providers echo a key partly ("sk-abc…wxyz"): hide any 8-character run of it.
        if key.count >= 8 {
            let characters = Array(key)
            for start in 0...(characters.count - 8) {
                let piece = String(characters[start..<start + 8])
                if result.contains(piece) { result = result.replacingOccurrences(of: piece, with: "***") }
            }
        }
        return result
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connect timed out"
            case .deadlineExceeded, .readTimeout: return "no answer within the request timeout"
            default: return "\(error)"
            }
        }
        return "\(error)"
    }
}
