import ArgumentParser
import Foundation
import Logging
import PocketSphinxEngine
import RealtimeVoiceServer

/// `realtime-voice transcribe FILE…`: recognises recordings with the embedded engine, or on a server.
///
/// Exit status: 0 when every file was transcribed, 1 when a recognition failed (the other files are still done),
/// 2 for bad usage or an unreadable file (nothing is recognised then).
struct TranscribeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcribe",
        abstract: "Recognise recordings: locally with the embedded engine, or on a server with --server.",
        discussion: """
            Files may be WAV, MP3, AAC/M4A, Ogg/Opus, WebM/Opus or FLAC (told from their bytes), or raw PCM s16le \
            with --sample-rate. Without --server the embedded PocketSphinx engine (US English) runs in this process; \
            with --server the files are uploaded to its POST /api/realtime-voice/recognize, as a mini-program would.
            Exit status: 0 all transcribed; 1 a recognition failed (the other files are still done); 2 bad usage or \
            an unreadable file.
            """
    )

    @Argument(help: "Recordings to transcribe.")
    var files: [String] = []

    @Option(help: "Output: text, json (one object a line), srt or vtt.")
    var format: TranscriptFormat = .text

    @Option(help: "Recognise on this realtime-voice server (its root URL) instead of locally. [env: REALTIME_VOICE_SERVER]")
    var server: String?

    @Option(help: "Token for --server. [env: REALTIME_VOICE_TOKEN]")
    var token: String?

    @Option(help: "Language (BCP-47). The embedded engine has en-US only.")
    var lang: String = "en-US"

    @Option(help: "Engine on the server (--server only; default: the server's).")
    var engine: String?

    @Option(help: "The files are raw PCM s16le mono at this rate (Hz).")
    var sampleRate: Int?

    @Option(help: "Write each transcript to DIR/NAME.(txt|json|srt|vtt) instead of standard output.")
    var outputDir: String?

    @Option(help: "Longest recording recognised locally, in seconds. (default: 14400)")
    var maxSeconds: Double = 14_400

    @Option(help: "Seconds to wait for the server's answer to one file (--server only). (default: 300)")
    var timeout: Double = 300

    @Option(
        help: "PocketSphinx model folder (local only). [env: REALTIME_VOICE_MODEL_DIR] (default: \(PocketSphinxConfiguration.defaultModelDirectory))")
    var modelDir: String?

    @Flag(help: "Never draw a progress bar (it is drawn only on a terminal, for recordings over 5 s).")
    var noProgress = false

    func validate() throws {
        guard !self.files.isEmpty else { throw ValidationError("Name at least one recording to transcribe.") }
        if self.files.count > 1, self.outputDir == nil, !self.format.allowsSeveralFilesOnStandardOutput {
            throw ValidationError("Several files as \(self.format.rawValue) need --output-dir (subtitle files cannot be concatenated).")
        }
        if let rate = self.sampleRate, !(8_000...48_000).contains(rate) {
            throw ValidationError("--sample-rate must be 8000 to 48000 Hz.")
        }
        guard self.maxSeconds > 0, self.timeout > 0 else { throw ValidationError("--max-seconds and --timeout must be positive.") }
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let recordings: [(path: String, bytes: [UInt8])]
        do {
            recordings = try self.files.map { path throws(TranscribeFailure) in (path, try Self.read(path)) }
            try self.prepareOutputDirectory()
        } catch {
            throw Self.exit(after: error)
        }

        let run = TranscribeRun(command: self, serverURL: self.server ?? environment["REALTIME_VOICE_SERVER"].flatMap { $0.isEmpty ? nil : $0 })
        var worst: Int32 = 0
        do {
            let transcriber = try await run.start(
                token: self.token ?? environment["REALTIME_VOICE_TOKEN"], modelDirectory: self.modelDir ?? environment["REALTIME_VOICE_MODEL_DIR"])
            for recording in recordings {
                do {
                    let transcript = try await transcriber.transcribe(recording.bytes, path: recording.path)
                    try self.emit(transcript, for: recording.path)
                } catch {
                    Self.report(error, file: recording.path)
                    worst = max(worst, error.exitStatus)
                    if error.kind == .usage { break }
                }
            }
            await transcriber.shutdown()
        } catch {
            throw Self.exit(after: error)
        }
        if worst != 0 { throw ExitCode(worst) }
    }

    private static func read(_ path: String) throws(TranscribeFailure) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw .usage("unreadable_file", "\(path): no such file.")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw .usage("unreadable_file", "\(path): cannot be read (permissions?).")
        }
        guard !data.isEmpty else { throw .usage("unreadable_file", "\(path): the file is empty.") }
        return [UInt8](data)
    }

    private func prepareOutputDirectory() throws(TranscribeFailure) {
        guard let directory = self.outputDir else { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw .usage("unwritable_output", "--output-dir \(directory) cannot be created: \(error.localizedDescription)")
        }
    }

    private func emit(_ transcript: TranscriptBody, for path: String) throws(TranscribeFailure) {
        let text = self.format.render(transcript, file: path, label: self.files.count > 1 && self.outputDir == nil)
        guard let directory = self.outputDir else {
            Console.out(text)
            return
        }
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let output = URL(fileURLWithPath: directory).appendingPathComponent("\(name).\(self.format.fileExtension)")
        do {
            try Data(text.utf8).write(to: output, options: .atomic)
        } catch {
            throw .usage("unwritable_output", "\(output.path) cannot be written: \(error.localizedDescription)")
        }
    }

    private static func report(_ failure: TranscribeFailure, file: String) {
        Console.error("realtime-voice transcribe: \(file): \(failure.message) [\(failure.code)]\n")
    }

    private static func exit(after failure: TranscribeFailure) -> ExitCode {
        Console.error("realtime-voice transcribe: \(failure.message) [\(failure.code)]\n")
        return ExitCode(failure.exitStatus)
    }
}
