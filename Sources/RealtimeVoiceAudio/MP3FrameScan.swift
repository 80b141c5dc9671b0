/// Tells a whole MP3 from one cut short, by walking its frame headers and reading its Xing/Info/VBRI header.
///
/// ffmpeg decodes a truncated MP3 without complaint (exit status 0), so an interrupted upload would be transcribed
/// as if it were the whole recording. A cut file is caught two ways: the last frame's header promises more bytes
/// than are left, or the encoder's Xing/Info (LAME, ffmpeg) or VBRI header declares more bytes than the file has.
public enum MP3FrameScan {
    /// How much a cut file should have held.
    public struct Truncation: Sendable, Equatable {
        /// Bytes the headers promise (from the start of the file).
        public var expectedBytes: Int
        /// Bytes the file has.
        public var actualBytes: Int
    }

    /// The truncation of an MP3 file, or nil when it is whole or cannot be told (no frame found, free format).
    public static func truncation(of bytes: some Collection<UInt8>) -> Truncation? {
        if let found = bytes.withContiguousStorageIfAvailable({ Self.truncation(in: $0) }) { return found }
        return Array(bytes).withUnsafeBufferPointer { Self.truncation(in: $0) }
    }

    private static func truncation(in bytes: UnsafeBufferPointer<UInt8>) -> Truncation? {
        let count = bytes.count
        var start = 0
        // ID3v2 tag: 10-byte header, synchsafe size, optional 10-byte footer.
        if count >= 10, bytes[0] == 0x49, bytes[1] == 0x44, bytes[2] == 0x33 {
            let tagSize = (6..<10).reduce(0) { ($0 << 7) | Int(bytes[$1] & 0x7F) }
            start = 10 + tagSize + (bytes[5] & 0x10 != 0 ? 10 : 0)
            if start > count { return Truncation(expectedBytes: start, actualBytes: count) }
        }
        guard let first = Self.firstFrame(in: bytes, from: start) else { return nil }
        if let declared = Self.declaredAudioBytes(in: bytes, frame: first), first + declared > count {
            return Truncation(expectedBytes: first + declared, actualBytes: count)
        }
        var position = first
        while position + 4 <= count, let header = FrameHeader(bytes, at: position) {
            if position + header.length > count {
                return Truncation(expectedBytes: position + header.length, actualBytes: count)
            }
            position += header.length
        }
        return nil
    }

    /// The first offset at or after `start` holding a frame header followed by another one (a lone `FF Ex` can be
    /// chance), searched over at most 64 KiB of padding.
    private static func firstFrame(in bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var position = start
        let limit = min(bytes.count, start + 64 * 1024)
        while position + 4 <= limit {
            if let header = FrameHeader(bytes, at: position) {
                let next = position + header.length
                if next + 4 > bytes.count || FrameHeader(bytes, at: next) != nil { return position }
            }
            position += 1
        }
        return nil
    }

    /// The byte count a Xing/Info or VBRI header in the first frame declares for the MPEG audio (that frame included).
    private static func declaredAudioBytes(in bytes: UnsafeBufferPointer<UInt8>, frame: Int) -> Int? {
        guard let header = FrameHeader(bytes, at: frame) else { return nil }
        func word(_ offset: Int) -> Int? {
            guard offset + 4 <= bytes.count else { return nil }
            return (0..<4).reduce(0) { ($0 << 8) | Int(bytes[offset + $1]) }
        }
        func tag(_ text: String, at offset: Int) -> Bool {
            let ascii = Array(text.utf8)
            return offset + ascii.count <= bytes.count && (0..<ascii.count).allSatisfy { bytes[offset + $0] == ascii[$0] }
        }
        let xing = frame + 4 + header.sideInformationBytes
        if tag("Xing", at: xing) || tag("Info", at: xing) {
            guard let flags = word(xing + 4), flags & 0x2 != 0 else { return nil }
            let bytesField = xing + 8 + (flags & 0x1 != 0 ? 4 : 0)
            return word(bytesField).flatMap { $0 > 0 ? $0 : nil }
        }
        if tag("VBRI", at: frame + 36) {
            return word(frame + 36 + 10).flatMap { $0 > 0 ? $0 : nil }
        }
        return nil
    }

    /// An MPEG-1/2/2.5 audio frame header (layers I-III), with its frame length.
    struct FrameHeader: Equatable {
        var length: Int
        var sideInformationBytes: Int

        init?(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) {
            guard offset + 4 <= bytes.count, bytes[offset] == 0xFF, bytes[offset + 1] & 0xE0 == 0xE0 else { return nil }
            let version = Int(bytes[offset + 1] >> 3) & 0x3  // 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
            let layer = 4 - (Int(bytes[offset + 1] >> 1) & 0x3)  // 1, 2 or 3 (4 = reserved)
            let bitrateIndex = Int(bytes[offset + 2] >> 4)
            let rateIndex = Int(bytes[offset + 2] >> 2) & 0x3
            let padding = Int(bytes[offset + 2] >> 1) & 0x1
            let mono = bytes[offset + 3] >> 6 == 0x3
            guard version != 1, layer != 4, bitrateIndex != 0, bitrateIndex != 15, rateIndex != 3 else { return nil }
            let mpeg1 = version == 3
            let kbps = Self.bitrates[mpeg1 ? layer - 1 : (layer == 1 ? 3 : 4)][bitrateIndex]
            let sampleRate = [44_100, 48_000, 32_000][rateIndex] >> (mpeg1 ? 0 : (version == 2 ? 1 : 2))
            switch layer {
            case 1: self.length = (12 * kbps * 1000 / sampleRate + padding) * 4
            case 3 where !mpeg1: self.length = 72 * kbps * 1000 / sampleRate + padding
            default: self.length = 144 * kbps * 1000 / sampleRate + padding
            }
            self.sideInformationBytes = mpeg1 ? (mono ? 17 : 32) : (mono ? 9 : 17)
        }

        /// kbit/s by bitrate index: MPEG-1 layers I, II, III; MPEG-2/2.5 layer I; MPEG-2/2.5 layers II and III.
        static let bitrates: [[Int]] = [
            [0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448],
            [0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384],
            [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
            [0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256],
            [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
        ]
    }
}
