import Foundation
import TestAudio
import Testing

@testable import RealtimeVoiceAudio

@Suite("G.711 μ-law and A-law decoding")
struct G711Tests {
    /// flite speech at 8 kHz, companded by sox, decoded by us and by sox: the same samples, byte for byte.
    @Test("speech companded by sox decodes to what sox decodes it to", arguments: [("u-law", G711.muLaw), ("a-law", G711.aLaw)])
    func matchesSox(encoding: String, law: G711) throws {
        let wav = try TestAudio.speech("call me back at eight tonight", sampleRate: 8_000)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("g711-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let companded = folder.appendingPathComponent("speech.raw")
        let expanded = folder.appendingPathComponent("expanded.raw")
        _ = try TestAudio.run("sox", [wav.path, "-t", "raw", "-e", encoding, "-b", "8", "-r", "8000", "-c", "1", companded.path])
        _ = try TestAudio.run(
            "sox",
            ["-t", "raw", "-e", encoding, "-b", "8", "-r", "8000", "-c", "1", companded.path, "-t", "raw", "-e", "signed", "-b", "16", expanded.path])
        let bytes = [UInt8](try Data(contentsOf: companded))
        let reference = [UInt8](try Data(contentsOf: expanded))
        try #require(bytes.count > 8_000, "less than a second of audio")
        #expect(TestAudio.bytes(of: law.decode(bytes)) == reference)
        // Companding keeps the speech: the decoded audio is close to the original (a few % of its level).
        let original = try TestAudio.samples(ofWAV: wav).samples
        let decoded = law.decode(bytes)
        let error = zip(original, decoded).map { abs(Double($0) - Double($1)) }.reduce(0, +) / Double(original.count)
        let level = original.map { abs(Double($0)) }.reduce(0, +) / Double(original.count)
        #expect(error < 0.05 * level, "mean error \(error) against a mean level \(level)")
    }

    @Test("every byte of both laws: silence near zero, sign symmetric, largest magnitudes as the recommendation's")
    func table() {
        #expect(G711.muLaw.table[0xFF] == 0 && G711.muLaw.table[0x7F] == 0)
        #expect(G711.muLaw.table[0x00] == -32124 && G711.muLaw.table[0x80] == 32124)
        #expect(G711.aLaw.table[0xD5] == 8 && G711.aLaw.table[0x55] == -8)
        #expect(G711.aLaw.table[0xAA] == 32256 && G711.aLaw.table[0x2A] == -32256)
        for byte in 0..<128 {
            #expect(G711.muLaw.table[byte] == -G711.muLaw.table[byte | 0x80])
            #expect(G711.aLaw.table[byte] == -G711.aLaw.table[byte | 0x80])
        }
    }
}
