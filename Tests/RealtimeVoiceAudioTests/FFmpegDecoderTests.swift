import Foundation
import RealtimeVoiceErrors
import TestAudio
import Testing

@testable import RealtimeVoiceAudio

@Suite("Format sniffing and ffmpeg decoding")
struct FFmpegDecoderTests {
    static let expected: [String: AudioContainer] = [
        "mp3": .mp3, "mp3cbr": .mp3, "m4a": .mp4, "ogg": .ogg, "webm": .webm, "flac": .flac, "aac": .aac, "wav": .wav, "wav24": .wav, "wavf32": .wav,
    ]

    @Test("each upload format is told from its bytes and decodes to 16 kHz mono of the right length", arguments: TestAudio.encodings.map(\.name))
    func decodesFormat(name: String) throws {
        let wav = try TestAudio.speech("go forward ten meters")
        let original = try TestAudio.samples(ofWAV: wav)
        let file = try TestAudio.encoded(wav, as: name)
        let bytes = [UInt8](try Data(contentsOf: file))
        #expect(AudioContainer.sniff(bytes) == Self.expected[name])
        let decoded = try FFmpegDecoder().decode(bytes)
        #expect(decoded.sampleRate == 16_000)
        let originalMs = original.samples.count * 1000 / original.sampleRate
        // Encoders pad a little (MP3 and AAC frames, Opus pre-skip).
        #expect(abs(decoded.durationMs - originalMs) <= 120, "\(name): \(decoded.durationMs) ms vs \(originalMs) ms")
    }

    @Test("raw PCM starting with a sample of -1 looks like an MPEG frame sync, and is known as a weak signature")
    func frameSyncIsWeak() {
        let pcm: [UInt8] = [0xFF, 0xFF, 0xFE, 0xFF, 0x01, 0x00]
        #expect(AudioContainer.sniff(pcm) == .mp3)
        #expect(AudioContainer.isFrameSyncOnly(pcm))
        #expect(!AudioContainer.isFrameSyncOnly(Array("ID3".utf8) + pcm))
    }

    @Test("SILK is named and refused; random bytes and truncated files are clear errors")
    func refusals() throws {
        let wechatSilk = Self.error { _ = try FFmpegDecoder().decode([0x02] + Array("#!SILK_V3".utf8) + [UInt8](repeating: 7, count: 100)) }
        #expect(wechatSilk?.code.name == "unsupported_format")
        var silkMessage = ""
        do { _ = try FFmpegDecoder().decode(Array("#!SILK_V3".utf8) + [1, 2, 3]) } catch { silkMessage = error.message }
        #expect(silkMessage.contains("SILK"))

        var generator = SystemRandomNumberGenerator()
        let random = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let randomError = Self.error { _ = try FFmpegDecoder().decode([0x00, 0x01] + random) }
        #expect(randomError?.code.name == "unsupported_format")

        let mp3 = [UInt8](try Data(contentsOf: TestAudio.encoded(TestAudio.speech("go forward ten meters"), as: "mp3")))
        let truncated = Self.error { _ = try FFmpegDecoder().decode(Array(mp3.prefix(300))) }
        #expect(["undecodable_audio"].contains(truncated?.code.name ?? "decoded"), "\(String(describing: truncated))")

        let m4a = [UInt8](try Data(contentsOf: TestAudio.encoded(TestAudio.speech("go forward ten meters"), as: "m4a")))
        let cut = Self.error { _ = try FFmpegDecoder().decode(Array(m4a.prefix(m4a.count / 2))) }
        #expect(cut?.code.name == "undecodable_audio", "\(String(describing: cut))")
    }

    @Test("a cut MP3 is told from a whole one, with a Xing header and without", arguments: ["mp3", "mp3cbr"])
    func truncatedMP3(name: String) throws {
        let mp3 = [UInt8](try Data(contentsOf: TestAudio.encoded(TestAudio.speech("go forward ten meters"), as: name)))
        #expect(MP3FrameScan.truncation(of: mp3) == nil)
        #expect(MP3FrameScan.truncation(of: mp3 + Array("TAG".utf8) + [UInt8](repeating: 0x20, count: 125)) == nil, "an ID3v1 tag is not a frame")
        let cuts = Array(stride(from: 200, to: mp3.count - 1, by: 37))
        let missed = cuts.filter { MP3FrameScan.truncation(of: mp3.prefix($0)) == nil }
        if name == "mp3" {
            #expect(missed.isEmpty, "the Info header declares the length: \(missed)")
        } else {
            // Without one, only a cut exactly between two frames (1 in ~150 bytes) looks whole.
            #expect(missed.count * 20 < cuts.count, "\(missed.count) of \(cuts.count) cuts missed")
        }
        let error = Self.error { _ = try FFmpegDecoder().decode(Array(mp3.prefix(mp3.count / 2 + 1))) }
        #expect(error?.code.name == "undecodable_audio")
        #expect(error?.message.contains("cut short") == true, "\(String(describing: error))")
    }

    @Test("audio longer than the limit is audio_too_long, and decoding stops just past the limit")
    func tooLong() throws {
        let wav = try TestAudio.speech("go forward ten meters and then turn left at the corner of the street")
        let error = Self.error { _ = try FFmpegDecoder(maxDuration: .seconds(1)).decode([UInt8](try Data(contentsOf: wav))) }
        #expect(error?.code.name == "audio_too_long")
    }

    static func error(_ body: () throws -> Void) -> AudioFormatError? {
        do {
            try body()
            return nil
        } catch let error as AudioFormatError {
            return error
        } catch {
            return AudioFormatError(code: .internalError, message: "\(error)")
        }
    }
}
