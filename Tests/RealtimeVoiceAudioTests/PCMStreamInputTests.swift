import Foundation
import TestAudio
import Testing

@testable import RealtimeVoiceAudio

@Suite("PCM stream input")
struct PCMStreamInputTests {
    static func wavHeader(
        rate: Int, channels: Int = 1, bits: Int = 16, format: Int = 1, dataSize: UInt32 = 0xFFFF_FFFF, extraChunk: Bool = false
    ) -> [UInt8] {
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }
        var bytes = Array("RIFF".utf8) + le32(0xFFFF_FFFF) + Array("WAVE".utf8)
        bytes += Array("fmt ".utf8) + le32(16) + le16(format) + le16(channels) + le32(UInt32(rate))
        bytes += le32(UInt32(rate * channels * bits / 8)) + le16(channels * bits / 8) + le16(bits)
        if extraChunk {
            bytes += Array("LIST".utf8) + le32(5) + Array("INFOx".utf8) + [0]  // odd size, padded
        }
        return bytes + Array("data".utf8) + le32(dataSize)
    }

    @Test("raw PCM passes through unchanged at the engine rate")
    func rawPassthrough() throws {
        var input = PCMStreamInput(declaredSampleRate: 16_000, targetSampleRate: 16_000)
        let samples: [Int16] = (0..<1000).map { Int16($0 * 7 % 3000 - 1500) }
        let out = try input.push(TestAudio.bytes(of: samples)) + input.finish()
        #expect(out == samples)
        #expect(input.wavHeader == nil)
    }

    @Test("odd-length chunks are buffered, not lost")
    func oddChunks() throws {
        var input = PCMStreamInput(declaredSampleRate: 16_000, targetSampleRate: 16_000)
        let samples: [Int16] = (0..<999).map { Int16(truncatingIfNeeded: $0 &* 131) }
        let bytes = TestAudio.bytes(of: samples)
        var out: [Int16] = []
        var offset = 0
        for size in [1, 3, 5, 2, 7, 11, 1, 13] where offset < bytes.count {
            out += try input.push(bytes[offset..<min(bytes.count, offset + size)])
            offset += size
        }
        out += try input.push(bytes[offset...])
        out += try input.finish()
        #expect(out == samples)
    }

    @Test("a WAV header is detected across chunk boundaries and skipped, its rate honoured")
    func wavHeaderSkipped() throws {
        let samples: [Int16] = (0..<8000).map { Int16(truncatingIfNeeded: $0 &* 37) }
        let stream = Self.wavHeader(rate: 16_000, extraChunk: true) + TestAudio.bytes(of: samples)
        var input = PCMStreamInput(declaredSampleRate: 8_000, targetSampleRate: 16_000)
        var out: [Int16] = []
        for start in stride(from: 0, to: stream.count, by: 7) {
            out += try input.push(stream[start..<min(stream.count, start + 7)])
        }
        out += try input.finish()
        #expect(input.wavHeader?.sampleRate == 16_000)
        #expect(input.inputSampleRate == 16_000)
        #expect(out == samples)
    }

    @Test("a stereo WAV header is mixed down to mono")
    func stereoDownmix() throws {
        let frames: [Int16] = [100, 300, -200, -400, 1000, 0]
        var input = PCMStreamInput(declaredSampleRate: 16_000, targetSampleRate: 16_000)
        let out = try input.push(Self.wavHeader(rate: 16_000, channels: 2) + TestAudio.bytes(of: frames)) + input.finish()
        #expect(out == [200, -300, 500])
    }

    @Test("non-16-bit WAV is refused with invalid_audio")
    func floatRefused() {
        var input = PCMStreamInput(declaredSampleRate: 16_000, targetSampleRate: 16_000)
        #expect(throws: AudioFormatError.self) {
            _ = try input.push(Self.wavHeader(rate: 16_000, bits: 32, format: 3))
        }
    }

    @Test("8 kHz and 48 kHz are resampled to 16 kHz with the right length and pitch", arguments: [8_000, 48_000])
    func resampled(rate: Int) throws {
        // One second of a 440 Hz tone.
        let tone: [Int16] = (0..<rate).map { Int16(8000 * sin(2 * Double.pi * 440 * Double($0) / Double(rate))) }
        var input = PCMStreamInput(declaredSampleRate: rate, targetSampleRate: 16_000)
        var out: [Int16] = []
        for start in stride(from: 0, to: tone.count, by: rate / 10) {
            out += try input.push(TestAudio.bytes(of: tone[start..<min(tone.count, start + rate / 10)]))
        }
        out += try input.finish()
        #expect(abs(out.count - 16_000) <= 16, "got \(out.count) samples")
        // Count zero crossings in the middle: 440 Hz gives ~880 a second.
        let middle = out[2000..<14000]
        let crossings = zip(middle, middle.dropFirst()).filter { ($0 < 0) != ($1 < 0) }.count
        #expect(abs(Double(crossings) / 0.75 - 880) < 15, "\(crossings) crossings")
        #expect(input.receivedMilliseconds == 1000)
    }

    @Test("WAV sniffing: not RIFF, partial, complete")
    func sniff() throws {
        #expect(try WAVHeader.sniff(Array("RIF".utf8)) == .needMoreData)
        #expect(try WAVHeader.sniff([1, 2, 3, 4]) == .notWAV)
        #expect(try WAVHeader.sniff(Array("RIFF\u{0}\u{0}\u{0}\u{0}AVIx".utf8)) == .notWAV)
        let header = Self.wavHeader(rate: 22_050)
        #expect(try WAVHeader.sniff(Array(header.prefix(30))) == .needMoreData)
        guard case .header(let parsed) = try WAVHeader.sniff(header) else {
            Issue.record("no header")
            return
        }
        #expect(parsed.sampleRate == 22_050)
        #expect(parsed.dataOffset == 44)
    }
}
