import SpeechEngine
import TestAudio
import Testing

@testable import OpenAIEngine

@Suite("Segmenting a stream with the WebRTC VAD")
struct SpeechSegmenterTests {
    static let sentences = [
        "The quick brown fox jumps over the lazy dog.",
        "Please call me back when you arrive at the station.",
        "We will meet again next Tuesday afternoon.",
    ]

    /// Runs `samples` through a segmenter fed in 100 ms chunks, as a live client sends them.
    static func segments(
        of samples: [Int16], endpoint: Duration = .milliseconds(600), maxSegment: Duration = .seconds(15)
    ) throws -> [SpeechSegmenter.Segment] {
        let detector = try VoiceActivityDetector(sampleRate: 16_000, mode: 2)
        var segmenter = SpeechSegmenter(settings: .init(sampleRate: 16_000, endpoint: endpoint, maxSegment: maxSegment), isSpeech: detector.isSpeech)
        var closed: [SpeechSegmenter.Segment] = []
        for start in stride(from: 0, to: samples.count, by: 1_600) {
            closed += segmenter.append(Array(samples[start..<min(samples.count, start + 1_600)]))
        }
        if let last = segmenter.finish() { closed.append(last) }
        return closed
    }

    /// Where each sentence's sound starts and ends in the joined stream (first and last sample above a floor).
    static func speechSpans(_ files: [[Int16]], gap: Int) -> [Range<Int>] {
        var spans: [Range<Int>] = []
        var offset = 0
        for samples in files {
            let first = samples.firstIndex { abs(Int($0)) > 300 } ?? 0
            let last = samples.lastIndex { abs(Int($0)) > 300 } ?? samples.count
            spans.append(offset + first..<offset + last)
            offset += samples.count + gap
        }
        return spans
    }

    @Test("three sentences with 1.5 s pauses: three segments, each holding its whole sentence")
    func oneSegmentPerSentence() throws {
        let voices = try Self.sentences.map { try TestAudio.samples(ofWAV: TestAudio.speech($0)).samples }
        let joined = try TestAudio.join(Self.sentences.map { try TestAudio.speech($0) }, gapMilliseconds: 1_500).samples
        let segments = try Self.segments(of: joined)
        let spans = Self.speechSpans(voices, gap: 24_000)
        try #require(segments.count == 3, "segments at \(segments.map { ($0.start, $0.samples.count) })")
        for (segment, span) in zip(segments, spans) {
            #expect(segment.start <= span.lowerBound, "segment starts at \(segment.start), speech at \(span.lowerBound)")
            #expect(
                segment.start + segment.samples.count >= span.upperBound - 1_600,
                "segment ends at \(segment.start + segment.samples.count), speech at \(span.upperBound)")
            #expect(segment.speechEnd <= segment.samples.count)
        }
        #expect(zip(segments, segments.dropFirst()).allSatisfy { $0.start + $0.samples.count <= $1.start })
    }

    @Test("the same sentences under steady low-frequency noise still give three segments")
    func noiseIsNotSpeech() throws {
        let joined = try TestAudio.join(Self.sentences.map { try TestAudio.speech($0) }, gapMilliseconds: 1_500).samples
        var generator = SystemRandomNumberGenerator()
        var brown = 0.0
        let noisy = joined.map { sample -> Int16 in
            // Low-passed white noise: mostly low frequencies, like room and traffic noise.
            brown = 0.97 * brown + Double(Int.random(in: -1_000...1_000, using: &generator))
            return Int16(clamping: Int(sample) + Int(brown / 6))
        }
        let segments = try Self.segments(of: noisy)
        #expect(segments.count == 3, "segments at \(segments.map { ($0.start, $0.samples.count) })")
    }

    @Test("silence gives no segment; a stream ending mid-sentence closes its segment")
    func silenceAndEnd() throws {
        #expect(try Self.segments(of: TestAudio.silence(milliseconds: 5_000)).isEmpty)
        let speech = try TestAudio.samples(ofWAV: TestAudio.speech(Self.sentences[1])).samples
        let cut = Array(speech.prefix(speech.count * 2 / 3))
        let segments = try Self.segments(of: cut)
        #expect(segments.count == 1)
        #expect(segments.first.map { $0.start + $0.samples.count } == cut.count)
    }

    @Test("speech longer than the cap is cut into pieces no longer than the cap, at quiet points, with nothing lost")
    func longSpeechIsCut() throws {
        // Sentences with 200 ms gaps (shorter than the endpoint): one utterance of about 25 s.
        let files = try (0..<3).flatMap { _ in try Self.sentences.map { try TestAudio.speech($0) } }
        let joined = try TestAudio.join(files, gapMilliseconds: 200).samples
        let segments = try Self.segments(of: joined, maxSegment: .seconds(8))
        #expect(segments.count >= 3)
        #expect(segments.allSatisfy { $0.samples.count <= 8 * 16_000 })
        for (previous, next) in zip(segments, segments.dropFirst()) {
            #expect(previous.start + previous.samples.count == next.start, "a cut loses or repeats audio")
        }
        // Each cut falls where the audio is quiet.
        for segment in segments.dropLast() {
            let end = segment.start + segment.samples.count
            let around = joined[max(0, end - 400)..<min(joined.count, end + 400)]
            let rms = (around.map { Double($0) * Double($0) }.reduce(0, +) / Double(around.count)).squareRoot()
            #expect(rms < 500, "cut at \(end) with RMS \(rms)")
        }
    }
}
