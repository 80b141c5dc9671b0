/// The container or codec of an uploaded recording, told from its first bytes (never from a file name or a
/// declared content type, which clients get wrong: WeChat's PC client records WebM whatever format is asked).
public enum AudioContainer: String, Sendable, CaseIterable {
    case wav, mp3, mp4, ogg, webm, flac, aac, amr
    /// WeChat voice messages (`#!SILK_V3`): no open decoder in Debian.
    case silk
    case unknown

    /// A human name for messages.
    public var displayName: String {
        switch self {
        case .wav: "WAV"
        case .mp3: "MP3"
        case .mp4: "MP4/M4A (AAC)"
        case .ogg: "Ogg"
        case .webm: "WebM/Matroska"
        case .flac: "FLAC"
        case .aac: "AAC (ADTS)"
        case .amr: "AMR"
        case .silk: "SILK (WeChat voice message)"
        case .unknown: "unknown"
        }
    }

    /// Containers whose index may sit at the end of the file (MP4's `moov`): they must be decoded from a file.
    public var needsSeekableInput: Bool { self == .mp4 }

    /// True when `bytes` were recognised only by an MPEG/ADTS frame sync (`0xFFF…`): a weak signature that raw PCM
    /// can carry by chance (a sample of -1 is `FF FF`). Raw PCM announced by a sample rate wins over it.
    public static func isFrameSyncOnly(_ bytes: some Collection<UInt8>) -> Bool {
        let container = Self.sniff(bytes)
        return (container == .mp3 || container == .aac) && !bytes.starts(with: Array("ID3".utf8))
    }

    /// Looks at the magic numbers at the start of `bytes` (the first 64 are enough).
    public static func sniff(_ bytes: some Collection<UInt8>) -> AudioContainer {
        let head = Array(bytes.prefix(64))
        func matches(_ magic: [UInt8], at offset: Int = 0) -> Bool {
            head.count >= offset + magic.count && Array(head[offset..<offset + magic.count]) == magic
        }
        func ascii(_ text: String, at offset: Int = 0) -> Bool { matches(Array(text.utf8), at: offset) }

        if ascii("RIFF") && ascii("WAVE", at: 8) { return .wav }
        if ascii("#!SILK_V3") || (head.first == 0x02 && ascii("#!SILK_V3", at: 1)) { return .silk }
        if ascii("#!AMR") { return .amr }
        if ascii("ftyp", at: 4) { return .mp4 }
        if ascii("OggS") { return .ogg }
        if matches([0x1A, 0x45, 0xDF, 0xA3]) { return .webm }
        if ascii("fLaC") { return .flac }
        if ascii("ID3") { return .mp3 }
        if head.count >= 2, head[0] == 0xFF {
            // Frame sync: 11 set bits. Layer bits 00 = AAC in ADTS; otherwise an MPEG audio frame.
            if head[1] & 0xF6 == 0xF0 { return .aac }
            if head[1] & 0xE0 == 0xE0 { return .mp3 }
        }
        return .unknown
    }
}
