import Foundation

/// Real speech for tests: synthesised at test time with flite (PocketSphinx recognises its voices well),
/// converted with sox, and Debian's pocketsphinx-testdata recordings.
public enum TestAudio {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Where generated audio is kept for the test run.
    public static let directory: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("realtime-voice-test-audio-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static let generation = NSLock()

    /// Debian's pocketsphinx-testdata recordings (16 kHz mono), with their reference transcripts.
    public static let librivoxDirectory = "/usr/share/pocketsphinx/test/data/librivox"

    /// Speaks `text` with a flite voice and returns a mono 16-bit WAV at `sampleRate`.
    public static func speech(_ text: String, voice: String = "rms", sampleRate: Int = 16_000) throws -> URL {
        let name = "\(voice)-\(sampleRate)-\(String(UInt64(bitPattern: Int64(Self.stableHash(text))), radix: 16))"
        let output = Self.directory.appendingPathComponent("\(name).wav")
        // Tests run in parallel: one generates, the others wait for the finished file.
        return try Self.generation.withLock {
            if FileManager.default.fileExists(atPath: output.path) { return output }
            let raw = Self.directory.appendingPathComponent("\(name)-flite.wav")
            let converted = Self.directory.appendingPathComponent("\(name)-sox.wav")
            try Self.run("flite", ["-voice", voice, "-t", text, "-o", raw.path])
            try Self.run("sox", [raw.path, "-r", "\(sampleRate)", "-c", "1", "-b", "16", converted.path])
            try FileManager.default.moveItem(at: converted, to: output)
            return output
        }
    }

    /// Joins WAV files with `gapMilliseconds` of silence between them (mono 16-bit, same rate).
    public static func join(_ files: [URL], gapMilliseconds: Int) throws -> (samples: [Int16], sampleRate: Int) {
        var samples: [Int16] = []
        var rate = 16_000
        for (index, file) in files.enumerated() {
            let pcm = try Self.samples(ofWAV: file)
            rate = pcm.sampleRate
            if index > 0 { samples += Self.silence(milliseconds: gapMilliseconds, sampleRate: rate) }
            samples += pcm.samples
        }
        return (samples, rate)
    }

    public static func silence(milliseconds: Int, sampleRate: Int = 16_000) -> [Int16] {
        [Int16](repeating: 0, count: milliseconds * sampleRate / 1000)
    }

    /// The samples of a mono 16-bit PCM WAV file.
    public static func samples(ofWAV url: URL) throws -> (samples: [Int16], sampleRate: Int) {
        let bytes = [UInt8](try Data(contentsOf: url))
        guard bytes.count > 44, String(decoding: bytes[0..<4], as: UTF8.self) == "RIFF" else {
            throw Failure(description: "\(url.path) is not a WAV file")
        }
        var offset = 12
        var rate = 0
        while offset + 8 <= bytes.count {
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let size = Int(bytes[offset + 4]) | Int(bytes[offset + 5]) << 8 | Int(bytes[offset + 6]) << 16 | Int(bytes[offset + 7]) << 24
            if id == "fmt " {
                rate = Int(bytes[offset + 12]) | Int(bytes[offset + 13]) << 8 | Int(bytes[offset + 14]) << 16
            }
            if id == "data" {
                let start = offset + 8
                let end = min(bytes.count, start + size)
                let samples = stride(from: start, to: end - 1, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
                return (samples, rate)
            }
            offset += 8 + size + (size & 1)
        }
        throw Failure(description: "\(url.path) has no data chunk")
    }

    /// Little-endian bytes of samples.
    public static func bytes(of samples: some Collection<Int16>) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(samples.count * 2)
        for sample in samples {
            let value = UInt16(bitPattern: sample)
            bytes.append(UInt8(value & 0xFF))
            bytes.append(UInt8(value >> 8))
        }
        return bytes
    }

    /// The pocketsphinx-testdata LibriVox recordings and their transcripts.
    public static func librivox() throws -> [(url: URL, transcript: String)] {
        let transcription = try String(contentsOfFile: "\(Self.librivoxDirectory)/transcription", encoding: .utf8)
        return transcription.split(separator: "\n").compactMap { line in
            // "text (file-id)"
            guard let open = line.lastIndex(of: "("), let close = line.lastIndex(of: ")") else { return nil }
            let id = line[line.index(after: open)..<close]
            let text = line[..<open].trimmingCharacters(in: .whitespaces).lowercased()
            return (URL(fileURLWithPath: "\(Self.librivoxDirectory)/\(id).wav"), text)
        }
    }

    /// Word error rate of `hypothesis` against `reference` (Levenshtein over words, case-insensitive).
    public static func wordErrorRate(reference: String, hypothesis: String) -> Double {
        let ref = Self.words(reference)
        let hyp = Self.words(hypothesis)
        guard !ref.isEmpty else { return hyp.isEmpty ? 0 : 1 }
        var previous = Array(0...hyp.count)
        for (i, r) in ref.enumerated() {
            var current = [i + 1] + [Int](repeating: 0, count: hyp.count)
            for (j, h) in hyp.enumerated() {
                current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (r == h ? 0 : 1))
            }
            previous = current
        }
        return Double(previous[hyp.count]) / Double(ref.count)
    }

    public static func words(_ text: String) -> [String] {
        text.lowercased().split { !$0.isLetter && !$0.isNumber && $0 != "'" }.map(String.init)
    }

    @discardableResult
    public static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(tool) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text
    }

    private static func stableHash(_ text: String) -> Int {
        var hash: UInt64 = 1469598103934665603
        for byte in text.utf8 {
            hash = (hash ^ UInt64(byte)) &* 1099511628211
        }
        return Int(bitPattern: UInt(hash))
    }
}
