import Hummingbird
import NIOPosix
import RealtimeVoiceAudio
import RealtimeVoiceErrors
import SpeechEngine
import Synchronization

/// One-shot recognition of an uploaded recording: sniff, decode with ffmpeg on a dedicated thread pool, recognise.
///
/// At most `maxConcurrent` uploads are decoded or recognised at once; the next is answered `busy` (503 with
/// `Retry-After`) rather than queued without bound.
final class UploadRecognizer: Sendable {
    struct Result: Sendable {
        var text: String
        var durationMs: Int
        var engine: String
        /// The language asked for; with `auto`, the one the engine detected (nil when it heard nothing).
        var language: String?
        var segments: [RecognizedSegment]
        /// The session's hotwords the engine does not use, with the reasons (``SpeechRecognizer/ignoredHotwords(_:)``).
        var ignoredHotwords: [IgnoredHotword] = []
    }

    let engines: EngineRegistry
    let limits: UploadLimits
    private let decodePool: NIOThreadPool
    private let inFlight = Atomic<Int>(0)
    private let metrics: GatewayMetrics
    /// Detached streams, which an upload that would wait for its engine ends first.
    private let detached: ResumableSessions?

    init(engines: EngineRegistry, limits: UploadLimits, decodePool: NIOThreadPool, metrics: GatewayMetrics, detached: ResumableSessions? = nil) {
        self.detached = detached
        self.engines = engines
        self.limits = limits
        self.decodePool = decodePool
        self.metrics = metrics
    }

    /// Form fields the gateway reads itself; the others are handed to the engine (e.g. Tencent's `hotwords`).
    static let gatewayFields: Set<String> = [
        "lang", "language", "engine", "sample_rate", "model", "response_format", "temperature", "timestamp_granularities[]",
        "timestamp_granularities", "hotwords",
    ]

    /// Recognises an upload; `endpoint` (`recognize`, `transcriptions`) labels its metrics.
    func recognize(
        _ upload: UploadedAudio, endpoint: String, engineName: String?, language: String?, sampleRate: String?
    ) async throws(GatewayError) -> Result {
        let (engine, language) = try self.engines.resolve(engine: engineName, language: language)
        let hotwords = try self.engines.hotwords(upload.fields["hotwords"], prompt: upload.fields["prompt"], engine: engine)
        guard self.inFlight.add(1, ordering: .relaxed).newValue <= self.limits.maxConcurrent else {
            self.inFlight.subtract(1, ordering: .relaxed)
            self.metrics.sessionStarted(endpoint: endpoint, engine: engine.name)
            self.metrics.sessionEnded(endpoint: endpoint, engine: engine.name, outcome: "busy", audioSeconds: 0)
            throw Self.busy("\(self.limits.maxConcurrent) recordings are being recognised; try again shortly.")
        }
        defer { self.inFlight.subtract(1, ordering: .relaxed) }

        self.metrics.uploadSize(bytes: upload.bytes.count)
        self.metrics.sessionStarted(endpoint: endpoint, engine: engine.name)
        var outcome = "completed"
        var audioSeconds = 0.0
        defer { self.metrics.sessionEnded(endpoint: endpoint, engine: engine.name, outcome: outcome, audioSeconds: audioSeconds) }
        do throws(GatewayError) {
            var result = try await self.recognize(upload, engine: engine, language: language, hotwords: hotwords, sampleRate: sampleRate)
            if !hotwords.isEmpty { result.ignoredHotwords = await engine.ignoredHotwords(hotwords) }
            audioSeconds = Double(result.durationMs) / 1000
            return result
        } catch {
            outcome = error.code.name
            throw error
        }
    }

    private func recognize(
        _ upload: UploadedAudio, engine: any SpeechRecognizer, language: String, hotwords: [Hotword], sampleRate: String?
    ) async throws(GatewayError) -> Result {
        let samples = try await self.decode(upload, to: engine.sampleRate, rawSampleRate: sampleRate)
        await self.detached?.makeRoom(on: engine)
        let started = ContinuousClock.now
        let segments: [RecognizedSegment]
        do {
            let parameters = upload.fields.filter { !Self.gatewayFields.contains($0.key) }
            let options = RecognitionOptions(language: language, sampleRate: engine.sampleRate, parameters: parameters, hotwords: hotwords)
            if let recordings = engine as? any RecordingRecognizer {
                segments = try await recordings.recognizeRecording(samples, options: options)
            } else {
                segments = try await engine.transcribe(samples, options: options)
            }
        } catch let error as RecognitionError {
            // The catalogue's status: busy and engine_unavailable 503 with Retry-After, a cloud engine's 502, …
            throw GatewayError(error.code, error.message)
        } catch {
            throw GatewayError(.engineFailed, "Recognition failed.")
        }
        if !samples.isEmpty {
            let elapsed = ContinuousClock.now - started
            self.metrics.realTimeFactor(
                engine: engine.name, Double(elapsed.milliseconds) / (Double(samples.count) * 1000 / Double(engine.sampleRate)))
        }
        return Result(
            text: segments.transcript,
            durationMs: samples.count * 1000 / engine.sampleRate,
            engine: engine.name,
            // With `auto`, the language the engine heard (`zh-CN`, `en-US`), when it says.
            language: language == LanguageTag.auto ? segments.detectedLanguage : language,
            segments: segments
        )
    }

    private func decode(_ upload: UploadedAudio, to rate: Int, rawSampleRate: String?) async throws(GatewayError) -> [Int16] {
        let declaredRate = try rawSampleRate.map(EngineRegistry.sampleRate)
        let decoder = RecordingDecoder(outputSampleRate: rate, maxDuration: self.limits.maxDuration, timeout: self.limits.decodeTimeout)
        let (bytes, pcmRate) = (upload.bytes, declaredRate)
        do {
            return try await self.decodePool.runIfActive { () throws(AudioFormatError) -> [Int16] in
                try decoder.decode(bytes, rawSampleRate: pcmRate)
            }
        } catch let error as AudioFormatError {
            throw Self.gatewayError(error)
        } catch {
            throw GatewayError(.serverShuttingDown, "The server is shutting down.")
        }
    }

    static func gatewayError(_ error: AudioFormatError) -> GatewayError {
        GatewayError(error.code, error.message)
    }

    static func busy(_ message: String) -> GatewayError {
        GatewayError(.busy, message)
    }
}
