import AsyncHTTPClient
import Logging
import RealtimeVoiceErrors
import SpeechEngine
import Synchronization

/// Tencent Cloud ASR (Mandarin and more) behind the gateway's engine protocol. The SecretKey stays on the server:
/// every upstream request is signed here, clients only ever hold the gateway's own tokens.
///
/// Streams go through the real-time WebSocket API (``RealtimeUpstream``); a session Tencent fails with
/// 5000–5002 before any result reached the client is retried once, with a new voice_id, from the start of its audio.
public final class TencentRecognizer: SpeechRecognizer {
    public let name = "tencent"
    public let sampleRate = 16_000
    public let configuration: TencentConfiguration
    let credentials: CredentialRotation
    private let logger: Logger

    /// Audio kept for a retry: beyond this much, a failed session is not retried.
    static let maxReplaySeconds = 30

    private let sentences: SentenceRecognition

    public init(configuration: TencentConfiguration, logger: Logger, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.logger = logger
        self.credentials = CredentialRotation(configuration.credentialSets)
        self.sentences = SentenceRecognition(
            configuration: configuration, credentials: self.credentials, limiter: RateLimiter(limit: 30, window: .milliseconds(1100)),
            client: httpClient)
    }

    public var isReady: Bool { true }

    public func supports(language: String) -> Bool {
        self.configuration.model(for: language) != nil
    }

    /// 8 kHz audio goes upstream as it is (telephone models); anything else at 16 kHz.
    public func sampleRate(forInput inputRate: Int) -> Int {
        inputRate <= 8_000 ? 8_000 : 16_000
    }

    /// The real-time API's query for a session (without the signing parameters).
    func parameters(for options: RecognitionOptions, sampleRate: Int) -> [String: String] {
        let model = self.configuration.model(for: options.language) ?? "16k_zh"
        var query = ["voice_format": "1", "needvad": "1", "word_info": "1"]
        if sampleRate == 8_000 {
            if model == "16k_zh" {
                query["engine_model_type"] = self.configuration.narrowbandModel
            } else {
                query["engine_model_type"] = model
                query["input_sample_rate"] = "8000"
            }
        } else {
            query["engine_model_type"] = model
        }
        for (ours, theirs) in TencentConfiguration.passThrough {
            if let value = options.parameters[ours], !value.isEmpty { query[theirs] = value }
        }
        if !options.hotwords.isEmpty { query["hotword_list"] = options.hotwords.tencentList }
        return query
    }

    public func recognize<Audio: AsyncSequence & Sendable>(
        _ audio: Audio,
        options: RecognitionOptions,
        onStart: @Sendable () async throws -> Void,
        emit: @Sendable (RecognitionEvent) async throws -> Void
    ) async throws where Audio.Element == [Int16] {
        let rate = options.sampleRate ?? self.sampleRate
        let source = ReplayableAudio(maxReplaySamples: Self.maxReplaySeconds * rate, maxAheadSamples: 5 * rate)
        let pump = Task { await source.pump(audio) }
        defer { pump.cancel() }
        // This session's account (the next in turn): its retries and reconnections stay on it.
        var account = self.configuration
        account.credentials = self.credentials.next()
        let upstream = RealtimeUpstream(
            configuration: account, parameters: self.parameters(for: options, sampleRate: rate), sampleRate: rate, logger: self.logger)
        let started = Atomic<Bool>(false)
        try await withoutActuallyEscaping(onStart) { onStart in
            try await withoutActuallyEscaping(emit) { emit in
                var attempt = 1
                while true {
                    do {
                        try await upstream.run(
                            audio: source,
                            onStart: {
                                if !started.exchange(true, ordering: .relaxed) { try await onStart() }
                            },
                            emit: { event in
                                source.stopRecording()
                                try await emit(event)
                            }
                        )
                        return
                    } catch let failure as UpstreamFailure {
                        if let (code, message) = failure.retryCause, attempt == 1, source.canReplay {
                            self.logger.warning(
                                "Tencent ASR failed a session; retrying once with a new voice_id",
                                metadata: ["tencent.code": "\(code)", "tencent.message": "\(message)"])
                            attempt += 1
                            continue
                        }
                        throw failure.recognitionError
                    }
                }
            }
        }
    }
}

extension TencentRecognizer: RecordingRecognizer {
    /// Uploads go to SentenceRecognition: one request per ≤ 60 s piece, longer recordings cut between words.
    public func recognizeRecording(_ samples: [Int16], options: RecognitionOptions) async throws -> [RecognizedSegment] {
        let rate = options.sampleRate ?? self.sampleRate
        let model = self.configuration.model(for: options.language) ?? "16k_zh"
        // A little under the limit, so that a header or rounding on Tencent's side never tips a piece over it.
        let pieces = RecordingSplitter.pieces(
            samples, maxSamples: (SentenceRecognition.maxSeconds * 1000 - 500) * rate / 1000, frameSamples: rate / 10)
        var segments: [RecognizedSegment] = []
        for piece in pieces {
            let offset = piece.lowerBound * 1000 / rate
            let answer: (text: String, words: [RecognizedWord], durationMs: Int)
            do {
                answer = try await self.sentences.recognize(
                    samples[piece], sampleRate: rate, model: model, parameters: options.parameters, hotwords: options.hotwords)
            } catch {
                throw error.recognitionError
            }
            guard !answer.text.isEmpty else { continue }
            let words = answer.words.map {
                RecognizedWord(text: $0.text, startMs: offset + $0.startMs, endMs: offset + $0.endMs, confidence: $0.confidence)
            }
            segments.append(
                RecognizedSegment(
                    index: segments.count,
                    text: answer.text,
                    startMs: words.first?.startMs ?? offset,
                    endMs: words.last?.endMs ?? offset + answer.durationMs,
                    words: words
                )
            )
        }
        return segments
    }
}

extension UpstreamFailure {
    /// Tencent's code (none: "-") and message when a new session with a new voice_id may succeed.
    var retryCause: (code: String, message: String)? {
        switch self {
        case .retryable(let code, let message): ("\(code)", message)
        case .unanswered(let message): ("-", message)
        default: nil
        }
    }

    /// The gateway's error for a Tencent failure: stable codes, Tencent's own code and message in the text.
    var recognitionError: RecognitionError {
        switch self {
        case .rejected(let code, let message):
            RecognitionError(
                code: .upstreamRejected,
                message: "Tencent ASR refused the request (\(code): \(message)); check the server's Tencent configuration and account.")
        case .rejectedAPI(let code, let message):
            RecognitionError(
                code: .upstreamRejected,
                message: "Tencent ASR refused the request (\(code): \(message)); check the server's Tencent configuration and account.")
        case .busy(let message):
            .busy("Tencent ASR's concurrency limit is reached (4006: \(message)); try again shortly.")
        case .retryable(let code, let message):
            RecognitionError(code: .upstreamFailed, message: "Tencent ASR is overloaded (\(code): \(message)); try again shortly.")
        case .failed(let message), .unanswered(let message):
            RecognitionError(code: .upstreamFailed, message: message)
        }
    }
}
