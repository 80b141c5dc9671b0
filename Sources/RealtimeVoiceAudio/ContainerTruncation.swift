/// Tells a cut-short WAV, Ogg or FLAC upload from a whole one, from what its own headers declare (ffmpeg decodes a
/// cut file with exit status 0 and half the words). MP3 has ``MP3FrameScan``. WebM written live and ADTS AAC
/// declare no length, so a cut one cannot be told from a short one.
public enum ContainerTruncation {
    /// Why a file looks cut short, or nil when it looks whole (or cannot be told).
    public static func reason(_ bytes: [UInt8], container: AudioContainer) -> String? {
        switch container {
        case .wav: self.wav(bytes)
        case .ogg: self.ogg(bytes)
        default: nil
        }
    }

    /// The `data` chunk declares more bytes than follow it (sizes 0 and 0xFFFFFFFF mean "streamed", unknown).
    static func wav(_ bytes: [UInt8]) -> String? {
        guard case .header(let header)? = try? WAVHeader.sniff(bytes), header.dataOffset >= 8 else { return nil }
        let at = header.dataOffset - 4
        let declared = Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        let present = bytes.count - header.dataOffset
        guard declared != 0, declared != 0xFFFF_FFFF, present < declared else { return nil }
        return "its data chunk declares \(declared) bytes of audio but \(present) arrived"
    }

    /// The last Ogg page is incomplete, or the stream never reaches its end-of-stream page.
    static func ogg(_ bytes: [UInt8]) -> String? {
        var offset = 0
        var sawEnd = false
        while offset + 27 <= bytes.count {
            guard bytes[offset] == 0x4F, bytes[offset + 1] == 0x67, bytes[offset + 2] == 0x67, bytes[offset + 3] == 0x53 else { return nil }
            let segments = Int(bytes[offset + 26])
            guard offset + 27 + segments <= bytes.count else { return "its last Ogg page is cut in its header" }
            let body = bytes[(offset + 27)..<(offset + 27 + segments)].reduce(0) { $0 + Int($1) }
            let next = offset + 27 + segments + body
            guard next <= bytes.count else { return "its last Ogg page declares \(body) bytes but \(bytes.count - offset - 27 - segments) arrived" }
            sawEnd = bytes[offset + 5] & 0x04 != 0
            offset = next
        }
        guard offset == bytes.count else { return "it ends inside an Ogg page header" }
        return sawEnd ? nil : "the Ogg stream has no end-of-stream page"
    }
}
