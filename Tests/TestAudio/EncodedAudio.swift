import Foundation

extension TestAudio {
    /// The formats uploads come in, each made with ffmpeg from a WAV: (file extension, ffmpeg codec arguments).
    public static let encodings: [(name: String, arguments: [String])] = [
        ("mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
        // Constant bit rate, MPEG-1 frames, no Xing/Info header (as simple encoders write).
        ("mp3cbr", ["-c:a", "libmp3lame", "-b:a", "48k", "-ar", "44100", "-write_xing", "0", "-f", "mp3"]),
        ("m4a", ["-c:a", "aac", "-b:a", "64k"]),  // moov atom at the end, as ffmpeg writes it by default
        ("ogg", ["-c:a", "libopus", "-b:a", "32k"]),
        ("webm", ["-c:a", "libopus", "-b:a", "32k"]),
        ("flac", ["-c:a", "flac"]),
        ("aac", ["-c:a", "aac", "-b:a", "64k", "-f", "adts"]),
        ("wav", ["-c:a", "pcm_s16le", "-ar", "44100", "-ac", "2"]),
        ("wav24", ["-c:a", "pcm_s24le", "-ar", "48000", "-f", "wav"]),
        ("wavf32", ["-c:a", "pcm_f32le", "-ar", "22050", "-f", "wav"]),
    ]

    /// `wav` re-encoded by ffmpeg as `name` (see ``encodings``).
    public static func encoded(_ wav: URL, as name: String) throws -> URL {
        guard let encoding = Self.encodings.first(where: { $0.name == name }) else {
            throw Failure(description: "no encoding \(name)")
        }
        let output = Self.directory.appendingPathComponent("\(wav.deletingPathExtension().lastPathComponent)-enc.\(name)")
        return try Self.generation.withLock {
            if FileManager.default.fileExists(atPath: output.path) { return output }
            let partial = Self.directory.appendingPathComponent("partial-\(UUID().uuidString).\(name)")
            try Self.run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", wav.path] + encoding.arguments + [partial.path])
            try FileManager.default.moveItem(at: partial, to: output)
            return output
        }
    }
}
