import Foundation
import RealtimeVoiceErrors

/// Decodes a recording of any container ffmpeg knows to mono 16-bit PCM at a given rate, with ffmpeg as a
/// subprocess (Debian's `ffmpeg` package).
///
/// ``decode(_:container:)`` blocks for the length of the decode: call it on a thread pool, never on an event loop
/// or the cooperative pool. The recording goes to a private temporary file (mode 0600, always removed): MP4/M4A
/// keep their index at the end and cannot be decoded from a pipe, and one path for all keeps the limits uniform.
public struct FFmpegDecoder: Sendable {
    /// Decoded audio.
    public struct Decoded: Sendable {
        public var samples: [Int16]
        public var sampleRate: Int
        public var durationMs: Int { self.samples.count * 1000 / max(1, self.sampleRate) }
    }

    public var executable: String
    public var outputSampleRate: Int
    /// Longest audio accepted; longer is `audio_too_long`. ffmpeg stops decoding just past it, so a lying header
    /// or a huge file costs no more than this much audio.
    public var maxDuration: Duration
    /// Wall-clock limit for one ffmpeg run; past it the process is killed and the upload is `undecodable_audio`.
    public var timeout: Duration

    public init(executable: String = "ffmpeg", outputSampleRate: Int = 16_000, maxDuration: Duration = .seconds(60), timeout: Duration = .seconds(30))
    {
        self.executable = executable
        self.outputSampleRate = outputSampleRate
        self.maxDuration = maxDuration
        self.timeout = timeout
    }

    public func decode(_ data: some Collection<UInt8>, container: AudioContainer? = nil) throws(AudioFormatError) -> Decoded {
        let container = container ?? AudioContainer.sniff(data)
        switch container {
        case .silk:
            throw AudioFormatError(
                code: .unsupportedFormat,
                message: """
                    This is a SILK recording (a WeChat voice message); \
                    convert it to PCM/WAV (e.g. with silk-v3-decoder) or use an engine that accepts SILK.
                    """
            )
        case .unknown:
            throw AudioFormatError(
                code: .unsupportedFormat,
                message: """
                    Not a recording this server understands: send WAV, MP3, AAC/M4A, Ogg/Opus, \
                    WebM/Opus or FLAC (the format is told from the file's first bytes).
                    """
            )
        case .mp3:
            if let cut = MP3FrameScan.truncation(of: data) {
                throw AudioFormatError(
                    code: .undecodableAudio,
                    message: """
                        The MP3 file is cut short (\(cut.actualBytes) of the \(cut.expectedBytes) bytes its frames declare): \
                        was the upload interrupted?
                        """
                )
            }
        default:
            if let reason = ContainerTruncation.reason(Array(data), container: container) {
                throw AudioFormatError(
                    code: .undecodableAudio, message: "The \(container.displayName) file is cut short (\(reason)): was the upload interrupted?")
            }
        }
        let file = try Self.writePrivateFile(data)
        defer { try? FileManager.default.removeItem(at: file) }
        let maxSeconds = self.maxDuration / .seconds(1)
        let output = try self.run(
            [
                "-nostdin", "-hide_banner", "-loglevel", "error",
                "-i", file.path,
                // A little past the limit, so that "longer than the limit" can be told from "exactly the limit".
                "-t", String(format: "%.3f", maxSeconds + 0.5),
                "-vn", "-f", "s16le", "-acodec", "pcm_s16le", "-ac", "1", "-ar", "\(self.outputSampleRate)", "pipe:1",
            ], container: container)
        let samples = output.withUnsafeBytes { raw in
            (0..<(raw.count / 2)).map { Int16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: Int16.self)) }
        }
        let decoded = Decoded(samples: samples, sampleRate: self.outputSampleRate)
        guard !samples.isEmpty else {
            throw AudioFormatError(code: .undecodableAudio, message: "The \(container.displayName) file holds no audio.")
        }
        guard Double(samples.count) / Double(self.outputSampleRate) <= maxSeconds else {
            throw AudioFormatError(code: .audioTooLong, message: "The recording is longer than this server's limit of \(Int(maxSeconds)) s.")
        }
        return decoded
    }

    private func run(_ arguments: [String], container: AudioContainer) throws(AudioFormatError) -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [self.executable] + arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw AudioFormatError(code: .decoderUnavailable, message: "ffmpeg could not be started (apt-get install ffmpeg): \(error).")
        }
        let timedOut = TimeoutFlag()
        let seconds = self.timeout / .seconds(1)
        let killer = DispatchWorkItem { [process] in
            if process.isRunning {
                timedOut.set()
                // SIGKILL: ffmpeg inherits the server threads' blocked signals, so a SIGTERM would stay pending.
                kill(process.processIdentifier, SIGKILL)
            }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds, execute: killer)
        // Both pipes are drained at once: a corrupt file makes ffmpeg write megabytes of complaints, and a full
        // stderr pipe would stop it before it finishes stdout. Only the last few KiB of stderr are kept.
        let errorsTail = StderrTail()
        let drained = DispatchGroup()
        DispatchQueue.global().async(group: drained) { errorsTail.drain(stderr.fileHandleForReading) }
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        drained.wait()
        let errors = errorsTail.data
        process.waitUntilExit()
        killer.cancel()
        if timedOut.isSet {
            throw AudioFormatError(code: .undecodableAudio, message: "Decoding the \(container.displayName) file took longer than \(self.timeout).")
        }
        guard process.terminationStatus == 0 || !output.isEmpty else {
            let reason = String(decoding: errors, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? "ffmpeg failed"
            throw AudioFormatError(code: .undecodableAudio, message: "The \(container.displayName) file could not be decoded: \(reason).")
        }
        return output
    }

    private static func writePrivateFile(_ data: some Collection<UInt8>) throws(AudioFormatError) -> URL {
        var template = Array(FileManager.default.temporaryDirectory.appendingPathComponent("realtime-voice-upload-XXXXXX").path.utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard descriptor >= 0 else {
            throw AudioFormatError(code: .internalError, message: "Could not create a temporary file for decoding.")
        }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: Array(data))
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(atPath: path)
            throw AudioFormatError(code: .internalError, message: "Could not write a temporary file for decoding: \(error).")
        }
        return URL(fileURLWithPath: path)
    }
}

/// The last few KiB a process wrote to a pipe, read on its own thread until the pipe closes.
private final class StderrTail: @unchecked Sendable {
    static let keep = 8 * 1024
    // Written by the draining thread, read after DispatchGroup.wait(): ordered by the group.
    private(set) var data = Data()

    func drain(_ handle: FileHandle) {
        while true {
            let chunk = handle.availableData
            if chunk.isEmpty { return }
            self.data.append(chunk)
            if self.data.count > 2 * Self.keep { self.data = self.data.suffix(Self.keep) }
        }
    }
}

/// Set once by the timeout, read after the process ended.
private final class TimeoutFlag: @unchecked Sendable {
    // Written on a Dispatch queue before the process is terminated, read after waitUntilExit: ordered by the lock.
    private let lock = NSLock()
    private var value = false
    func set() { self.lock.withLock { self.value = true } }
    var isSet: Bool { self.lock.withLock { self.value } }
}
