import PropertyBased
import Testing

@testable import RealtimeVoiceAudio

/// Property-based fuzzing of the parsers that see untrusted bytes first: the WAV header sniffer, the upload
/// container sniffer, the MP3 frame scan and the stream's PCM input. Each property runs on thousands of generated
/// inputs (random bytes, and mutations of real headers); a failure shrinks to a minimal input.
@Suite("Sniffers and PCM input under generated input")
struct SnifferPropertyTests {
    /// A real 44-byte header (16 kHz, mono, 16-bit) followed by a little audio.
    static let validWAV: [UInt8] = {
        var bytes = Array("RIFF".utf8) + [0xFF, 0xFF, 0xFF, 0xFF] + Array("WAVEfmt ".utf8)
        bytes += [16, 0, 0, 0, 1, 0, 1, 0, 0x80, 0x3E, 0, 0, 0, 0x7D, 0, 0, 2, 0, 16, 0]
        bytes += Array("data".utf8) + [0xFF, 0xFF, 0xFF, 0xFF]
        return bytes + [UInt8](repeating: 0x11, count: 64)
    }()

    static let bytes = Gen<UInt8>.value(in: 0...255).array(of: 0...300)

    @Test("random bytes: the WAV sniffer answers not-WAV, need-more, a header within the bytes, or invalid_audio")
    func wavSnifferOnRandomBytes() async {
        await propertyCheck(count: 3_000, input: Self.bytes) { bytes in
            Self.checkSniff(bytes)
        }
    }

    @Test("random bytes after RIFF/WAVE: the sniffer never crashes and never points past the input")
    func wavSnifferOnRandomChunks() async {
        await propertyCheck(count: 3_000, input: Self.bytes) { tail in
            Self.checkSniff(Array("RIFF".utf8) + [0, 0, 0, 0] + Array("WAVE".utf8) + tail)
        }
    }

    @Test("a real header with one byte changed, or cut anywhere, is still answered sensibly")
    func wavSnifferOnMutatedHeaders() async {
        await propertyCheck(count: 3_000, input: Gen.int(in: 0...43), Gen<UInt8>.value(in: 0...255), Gen.int(in: 0...108)) { index, value, cut in
            var mutated = Self.validWAV
            mutated[index] = value
            Self.checkSniff(mutated)
            let prefix = Array(Self.validWAV.prefix(cut))
            do {
                switch try WAVHeader.sniff(prefix) {
                case .header(let header): #expect(cut >= 44 && header.dataOffset == 44)
                case .needMoreData: #expect(cut < 44)
                case .notWAV: Issue.record("a prefix of a WAV file was called not-WAV")
                }
            } catch {
                Issue.record("a prefix of a valid WAV file was refused: \(error)")
            }
        }
    }

    static func checkSniff(_ bytes: [UInt8]) {
        do {
            if case .header(let header) = try WAVHeader.sniff(bytes) {
                #expect(header.dataOffset <= bytes.count, "data offset \(header.dataOffset) past \(bytes.count) bytes")
                #expect(header.dataOffset >= 12)
            }
        } catch {
            #expect(error.code.name == "invalid_audio")
        }
    }

    @Test("random bytes: the container sniffer and the MP3 scan always answer, and agree on what is not MP3")
    func containerSniffer() async {
        await propertyCheck(count: 3_000, input: Self.bytes) { bytes in
            let container = AudioContainer.sniff(bytes)
            #expect(AudioContainer.allCases.contains(container))
            if let truncation = MP3FrameScan.truncation(of: bytes) {
                #expect(truncation.actualBytes < truncation.expectedBytes)
            }
        }
    }

    @Test("PCM pushed in any split gives the same samples, and keeps an odd byte for the next push")
    func pcmSplitsDoNotMatter() async {
        await propertyCheck(count: 1_000, input: Self.bytes, Gen.int(in: 1...40).array(of: 1...20)) { bytes, splits in
            guard bytes.count >= 4, !(bytes.starts(with: Array("RIFF".utf8))) else { return }
            var whole = PCMStreamInput(declaredSampleRate: 16_000, targetSampleRate: 16_000)
            var pieces = PCMStreamInput(declaredSampleRate: 16_000, targetSampleRate: 16_000)
            do {
                let expected = try whole.push(bytes) + whole.finish()
                var got: [Int16] = []
                var offset = 0
                for size in splits where offset < bytes.count {
                    got += try pieces.push(bytes[offset..<min(bytes.count, offset + size)])
                    offset += size
                }
                if offset < bytes.count { got += try pieces.push(bytes[offset...]) }
                got += try pieces.finish()
                #expect(got == expected)
                #expect(expected.count == bytes.count / 2)
            } catch {
                Issue.record("raw PCM refused: \(error)")
            }
        }
    }
}
