import Logging
import NIOPosix
import PocketSphinxEngine
import RealtimeVoiceAudio
import RealtimeVoiceErrors
import RealtimeVoiceServer
import SpeechEngine

/// Recognises files in this process with the embedded PocketSphinx engine: no server needed.
struct LocalTranscriber {
    let recognizer: PocketSphinxRecognizer
    let maxDuration: Duration

    /// Loads one decoder (~0.3 s).
    static func start(modelDirectory: String, maxDuration: Duration, logger: Logger) async throws(TranscribeFailure) -> LocalTranscriber {
        let configuration = PocketSphinxConfiguration(modelDirectory: modelDirectory, poolSize: 1, threads: 1, queueCapacity: 0)
        let recognizer = PocketSphinxRecognizer(configuration: configuration, logger: logger)
        do {
            try await recognizer.load()
        } catch {
            throw .recognition("engine_failed", "The PocketSphinx engine could not load its model from \(modelDirectory): \(error).")
        }
        return LocalTranscriber(recognizer: recognizer, maxDuration: maxDuration)
    }

    func transcribe(_ bytes: [UInt8], language: String, rawSampleRate: Int?, progress: ProgressBar) async throws(TranscribeFailure) -> TranscriptBody
    {
        guard self.recognizer.supports(language: language) else {
            throw .usage(
                "unsupported_language", "The embedded engine recognises US English only; '\(language)' needs --server with an engine that has it.")
        }
        let decoder = RecordingDecoder(outputSampleRate: self.recognizer.sampleRate, maxDuration: self.maxDuration, timeout: .seconds(600))
        let samples: [Int16]
        do {
            samples = try await NIOThreadPool.singleton.runIfActive { () throws(AudioFormatError) -> [Int16] in
                try decoder.decode(bytes, rawSampleRate: rawSampleRate)
            }
        } catch let error as AudioFormatError {
            throw .recognition(error.code.name, error.message)
        } catch {
            throw .recognition("internal_error", "\(error)")
        }
        let durationMs = samples.count * 1000 / self.recognizer.sampleRate
        // A bar is worth drawing for recordings longer than a few seconds.
        var report: (@Sendable (Double) -> Void)?
        if durationMs > 5_000 {
            report = { @Sendable fraction in progress.update(fraction) }
        }
        do {
            let segments = try await self.recognizer.transcribe(samples, options: RecognitionOptions(language: language), progress: report)
            return TranscriptBody(durationMs: durationMs, engine: self.recognizer.name, segments: segments)
        } catch let error as RecognitionError {
            throw .recognition(error.code.name, error.message)
        } catch {
            throw .recognition("engine_failed", "Recognition failed: \(error).")
        }
    }

    func shutdown() async {
        await self.recognizer.shutdown()
    }
}
