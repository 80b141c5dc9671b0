/// ITU-T G.711 companded audio (8-bit μ-law and A-law, 8 kHz in telephony) to 16-bit linear PCM.
///
/// The expansion of the recommendation, as in the reference C code most tools use (Sun's `g711.c`, which sox and
/// ffmpeg follow): a byte is a sign, a 3-bit segment and a 4-bit step; each law decodes to its own 14- or 13-bit
/// range scaled to 16 bits (μ-law up to ±32124, A-law up to ±32256). OpenAI's Realtime API takes both as
/// `audio/pcmu` and `audio/pcma` (docs/openai-realtime.md). A 256-entry table per law: no state, any chunking.
public enum G711: Sendable {
    case muLaw, aLaw

    /// The linear sample of every byte value.
    public var table: [Int16] {
        switch self {
        case .muLaw: Self.muLawTable
        case .aLaw: Self.aLawTable
        }
    }

    /// Decodes companded bytes, one sample each.
    public func decode(_ bytes: some Sequence<UInt8>) -> [Int16] {
        let table = self.table
        return bytes.map { table[Int($0)] }
    }

    private static let muLawTable: [Int16] = (0...255).map { byte in
        let value = ~UInt8(byte)
        let step = Int(value & 0x0F)
        let segment = Int((value & 0x70) >> 4)
        let magnitude = ((step << 3) + 0x84) << segment
        return Int16((value & 0x80) != 0 ? 0x84 - magnitude : magnitude - 0x84)
    }

    private static let aLawTable: [Int16] = (0...255).map { byte in
        let value = UInt8(byte) ^ 0x55
        let segment = Int((value & 0x70) >> 4)
        var magnitude = Int(value & 0x0F) << 4
        switch segment {
        case 0: magnitude += 8
        case 1: magnitude += 0x108
        default: magnitude = (magnitude + 0x108) << (segment - 1)
        }
        return Int16((value & 0x80) != 0 ? magnitude : -magnitude)
    }
}
