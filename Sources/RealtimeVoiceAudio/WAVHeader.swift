import RealtimeVoiceErrors

/// The parts of a RIFF/WAVE header that describe the PCM after it.
public struct WAVHeader: Sendable, Equatable {
    public var sampleRate: Int
    public var channels: Int
    public var bitsPerSample: Int
    /// 1 = integer PCM, 3 = IEEE float, 0xFFFE = extensible.
    public var formatTag: Int
    /// Offset of the first sample byte.
    public var dataOffset: Int

    /// The outcome of looking at the first bytes of a stream.
    public enum Sniff: Sendable, Equatable {
        /// Not a WAV file: the bytes are raw PCM.
        case notWAV
        /// A WAV header has started but is not complete yet.
        case needMoreData
        case header(WAVHeader)
    }

    /// Headers longer than this are refused (real ones are 44 bytes, a few hundred with metadata).
    public static let maximumHeaderLength = 64 * 1024

    /// Looks for a RIFF/WAVE header at the start of `bytes`.
    ///
    /// Streamed WAVs (sizes 0 or 0xFFFFFFFF, as ffmpeg writes to a pipe) are accepted: the `data` chunk's
    /// size is not used.
    public static func sniff(_ bytes: [UInt8]) throws(AudioFormatError) -> Sniff {
        let riff: [UInt8] = Array("RIFF".utf8)
        let prefix = min(bytes.count, 4)
        guard Array(bytes[0..<prefix]) == Array(riff[0..<prefix]) else { return .notWAV }
        guard bytes.count >= 12 else { return .needMoreData }
        guard Array(bytes[8..<12]) == Array("WAVE".utf8) else { return .notWAV }

        var offset = 12
        var format: (tag: Int, channels: Int, rate: Int, bits: Int)?
        while true {
            guard offset + 8 <= bytes.count else {
                if offset > Self.maximumHeaderLength { throw Self.invalid("WAV header longer than \(Self.maximumHeaderLength) bytes") }
                return .needMoreData
            }
            let id = String(decoding: bytes[offset..<offset + 4], as: UTF8.self)
            let size = Int(Self.uint32(bytes, offset + 4))
            let body = offset + 8
            if id == "data" {
                guard let format else { throw Self.invalid("WAV data chunk before its fmt chunk") }
                return .header(
                    WAVHeader(sampleRate: format.rate, channels: format.channels, bitsPerSample: format.bits, formatTag: format.tag, dataOffset: body)
                )
            }
            if id == "fmt " {
                guard size >= 16 else { throw Self.invalid("WAV fmt chunk too short") }
                guard body + 16 <= bytes.count else { return .needMoreData }
                format = (
                    tag: Int(Self.uint16(bytes, body)),
                    channels: Int(Self.uint16(bytes, body + 2)),
                    rate: Int(Self.uint32(bytes, body + 4)),
                    bits: Int(Self.uint16(bytes, body + 14))
                )
            }
            offset = body + size + (size & 1)
            if offset > Self.maximumHeaderLength { throw Self.invalid("WAV header longer than \(Self.maximumHeaderLength) bytes") }
        }
    }

    private static func invalid(_ what: String) -> AudioFormatError {
        AudioFormatError(code: .invalidAudio, message: "\(what).")
    }

    private static func uint16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
        UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8
    }

    private static func uint32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24
    }
}
