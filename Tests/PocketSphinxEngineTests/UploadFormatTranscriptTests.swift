import Foundation
import Logging
import RealtimeVoiceAudio
import TestAudio
import Testing

@testable import PocketSphinxEngine

@Suite("Upload formats recognised like the WAV original")
struct UploadFormatTranscriptTests {
    @Test("each format made with ffmpeg from flite speech gives the WAV original's text", arguments: TestAudio.encodings.map(\.name))
    func sameTranscript(name: String) async throws {
        let wav = try TestAudio.speech("please turn off the lights in the kitchen")
        let recognizer = PocketSphinxRecognizer(configuration: .init(poolSize: 1), logger: Logger(label: "test"))
        try await recognizer.load()
        defer { Task { await recognizer.shutdown() } }
        let original = try await recognizer.transcribe(TestAudio.samples(ofWAV: wav).samples).map(\.text).joined(separator: " ")
        let decoded = try FFmpegDecoder().decode([UInt8](try Data(contentsOf: TestAudio.encoded(wav, as: name))))
        let text = try await recognizer.transcribe(decoded.samples).map(\.text).joined(separator: " ")
        #expect(!original.isEmpty)
        #expect(text == original, "\(name): '\(text)' vs WAV '\(original)'")
    }
}
