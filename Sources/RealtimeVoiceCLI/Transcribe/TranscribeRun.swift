import Foundation
import Logging
import PocketSphinxEngine
import RealtimeVoiceServer

/// One `transcribe` invocation's engine: local PocketSphinx or a remote server, behind one call.
struct TranscribeRun {
    let command: TranscribeCommand
    let serverURL: String?

    struct Transcriber {
        let transcribe: (_ bytes: [UInt8], _ path: String, _ progress: ProgressBar) async throws(TranscribeFailure) -> TranscriptBody
        let shutdown: () async -> Void
        let progressEnabled: Bool

        /// Recognises one file, with a progress bar named after it (erased when done).
        func transcribe(_ bytes: [UInt8], path: String) async throws(TranscribeFailure) -> TranscriptBody {
            let progress = ProgressBar(label: URL(fileURLWithPath: path).lastPathComponent, enabled: self.progressEnabled)
            defer { progress.clear() }
            return try await self.transcribe(bytes, path, progress)
        }
    }

    func start(token: String?, modelDirectory: String?) async throws(TranscribeFailure) -> Transcriber {
        let command = self.command
        let progressEnabled = !command.noProgress
        if let serverURL {
            let remote = try RemoteTranscriber(server: serverURL, token: token, timeout: .milliseconds(Int64(command.timeout * 1000)))
            var fields = ["lang": command.lang]
            if let engine = command.engine { fields["engine"] = engine }
            if let rate = command.sampleRate { fields["sample_rate"] = String(rate) }
            return Transcriber(
                transcribe: { bytes, path, progress throws(TranscribeFailure) in
                    try await remote.transcribe(bytes, filename: URL(fileURLWithPath: path).lastPathComponent, fields: fields, progress: progress)
                },
                shutdown: {},
                progressEnabled: progressEnabled
            )
        }
        if let engine = command.engine, engine != "pocketsphinx" {
            throw .usage("unknown_engine", "Only the embedded engine 'pocketsphinx' runs locally; '\(engine)' needs --server.")
        }
        let directory = modelDirectory ?? PocketSphinxConfiguration.defaultModelDirectory
        guard FileManager.default.fileExists(atPath: "\(directory)/en-us.lm.bin") else {
            throw .usage(
                "model_missing",
                "No PocketSphinx model in \(directory): install it (apt-get install pocketsphinx-en-us), set --model-dir, or use --server.")
        }
        var logger = Logger(label: "realtime-voice.transcribe")
        logger.logLevel = .warning
        let local = try await LocalTranscriber.start(
            modelDirectory: directory, maxDuration: .milliseconds(Int64(command.maxSeconds * 1000)), logger: logger)
        return Transcriber(
            transcribe: { bytes, _, progress throws(TranscribeFailure) in
                try await local.transcribe(bytes, language: command.lang, rawSampleRate: command.sampleRate, progress: progress)
            },
            shutdown: { await local.shutdown() },
            progressEnabled: progressEnabled
        )
    }
}
