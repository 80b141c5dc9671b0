import Foundation
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import NIOCore
import NIOWebSocket
import TestAudio
import Testing

@testable import RealtimeVoiceServer

@Suite("Streaming recognition")
struct StreamTests {
    static let sentence = "turn off the lights in the kitchen"

    @Test("a sentence gives ready, partials, then a final with the words batch decoding gives, then completed")
    func streamsSentence() async throws {
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech(Self.sentence))
        let samples = TestAudio.silence(milliseconds: 300) + audio.samples + TestAudio.silence(milliseconds: 300)
        let direct = try await directTranscription(samples)
        try await withGateway { client in
            let result = try await stream(client, frames: frames(samples))
            #expect(result.events.first?.type == "ready")
            #expect(result.events.first?.engine == "pocketsphinx")
            #expect(result.events.first?.sample_rate == 16_000)
            #expect(!result.partials.isEmpty)
            let firstFinal = result.events.firstIndex { $0.type == "final" } ?? -1
            let firstPartial = result.events.firstIndex { $0.type == "partial" } ?? Int.max
            #expect(firstPartial < firstFinal)
            #expect(result.finalWords == direct, "gateway \(result.finalWords) vs direct \(direct)")
            #expect(TestAudio.wordErrorRate(reference: Self.sentence, hypothesis: result.transcript) <= 0.3, "heard: \(result.transcript)")
            let words = result.finals.flatMap { $0.words ?? [] }
            #expect(words.allSatisfy { !$0.text.contains("<") && !$0.text.contains("[") && !$0.text.contains("(") })
            // Times are in the stream: the first word starts after the 300 ms of lead-in silence.
            #expect((250...900).contains(words.first?.start_ms ?? -1), "first word at \(words.first?.start_ms ?? -1) ms")
            #expect(result.events.last?.type == "completed")
            let expectedMs = samples.count * 1000 / 16_000
            #expect(abs((result.events.last?.duration_ms ?? 0) - expectedMs) <= 1)
            #expect(result.closeCode == .normalClosure)
        }
    }

    @Test("48 kHz input is resampled and recognised")
    func wideband48k() async throws {
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech(Self.sentence, sampleRate: 48_000))
        try await withGateway { client in
            let result = try await stream(client, query: "sample_rate=48000", frames: frames(audio.samples, sampleRate: 48_000))
            #expect(result.events.first?.sample_rate == 48_000)
            #expect(TestAudio.wordErrorRate(reference: Self.sentence, hypothesis: result.transcript) <= 0.3, "heard: \(result.transcript)")
            #expect(abs((result.events.last?.duration_ms ?? 0) - audio.samples.count * 1000 / 48_000) <= 1)
        }
    }

    /// PocketSphinx's US English model is wideband: telephone-band audio is recognised poorly whoever resamples
    /// it (the words are not stable enough to compare). What the gateway must get right is the conversion: the
    /// speech must sit where it sits in the same sentence at 16 kHz, and the stream must last as long.
    @Test("8 kHz input is resampled: speech lands at the same times as at 16 kHz")
    func narrowband8k() async throws {
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech(Self.sentence, sampleRate: 8_000))
        let reference = try await directSegments(TestAudio.samples(ofWAV: TestAudio.speech(Self.sentence)).samples)
        try await withGateway { client in
            let result = try await stream(client, query: "sample_rate=8000", frames: frames(audio.samples, sampleRate: 8_000))
            #expect(result.events.first?.sample_rate == 8_000)
            let durationMs = audio.samples.count * 1000 / 8_000
            #expect(abs((result.events.last?.duration_ms ?? 0) - durationMs) <= 1)
            #expect(!result.finalWords.isEmpty)
            let start = result.finals.first?.start_ms ?? -1000
            let end = result.finals.last?.end_ms ?? -1000
            #expect(
                abs(start - (reference.first?.startMs ?? 0)) <= 300, "speech starts at \(start) ms, at 16 kHz \(reference.first?.startMs ?? 0) ms")
            #expect(abs(end - (reference.last?.endMs ?? 0)) <= 300, "speech ends at \(end) ms, at 16 kHz \(reference.last?.endMs ?? 0) ms")
        }
    }

    @Test("a WAV header at the start of the stream is skipped and its sample rate honoured")
    func wavHeaderSkipped() async throws {
        let file = try TestAudio.speech(Self.sentence, sampleRate: 22_050)
        let bytes = [UInt8](try Data(contentsOf: file))
        try await withGateway { client in
            // Declared 16 kHz; the header says 22.05 kHz and wins. Frames cut anywhere, header included.
            let chunks = stride(from: 0, to: bytes.count, by: 3001).map { Array(bytes[$0..<min(bytes.count, $0 + 3001)]) }
            let result = try await stream(client, frames: chunks)
            #expect(TestAudio.wordErrorRate(reference: Self.sentence, hypothesis: result.transcript) <= 0.3, "heard: \(result.transcript)")
            let expectedMs = (bytes.count - 44) / 2 * 1000 / 22_050
            #expect(abs((result.events.last?.duration_ms ?? 0) - expectedMs) <= 5)
        }
    }

    @Test("`end` flushes the open segment: its final arrives, then completed, then close 1000")
    func endFlushes() async throws {
        // No trailing silence: only `end` can close the segment.
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech("go forward ten meters"))
        try await withGateway { client in
            let result = try await stream(client, frames: frames(audio.samples))
            #expect(result.finals.count == 1)
            #expect(TestAudio.wordErrorRate(reference: "go forward ten meters", hypothesis: result.transcript) <= 0.25, "heard: \(result.transcript)")
            #expect(result.events.suffix(2).map(\.type) == ["final", "completed"])
            #expect(result.closeCode == .normalClosure)
        }
    }

    @Test("silence between sentences closes segments with increasing indexes and times")
    func segmentsOnSilence() async throws {
        let joined = try TestAudio.join(
            [TestAudio.speech("go forward ten meters"), TestAudio.speech("turn left at the corner")],
            gapMilliseconds: 1500
        )
        try await withGateway { client in
            let result = try await stream(client, frames: frames(joined.samples))
            #expect(result.finals.map(\.segment) == [0, 1], "finals: \(result.finals.map(\.text))")
            if result.finals.count == 2 {
                #expect((result.finals[0].end_ms ?? 0) < (result.finals[1].start_ms ?? 0))
                // The first final came before the second segment's partials: live, not at the end.
                let firstFinal = result.events.firstIndex { $0.type == "final" } ?? 0
                #expect(result.events[firstFinal...].contains { $0.type == "partial" && $0.segment == 1 })
            }
        }
    }

    @Test("{\"type\":\"ping\"} is answered with pong on the stream and the echo")
    func appLevelPing() async throws {
        try await withGateway { client in
            let result = try await stream(client, frames: [], text: [#"{"type":"ping"}"#])
            #expect(result.events.map(\.type) == ["ready", "pong", "completed"])
        }
    }

    @Test("echo returns text and binary unchanged")
    func echo() async throws {
        try await withGateway { client in
            let payload = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let received = NIOLockedValueBoxLite<[String]>([])
            let close = try await client.ws("/api/realtime-voice/echo?token=\(testToken)", configuration: .init(maxFrameSize: 1 << 20)) {
                inbound, outbound, _ in
                try await outbound.write(.text("héllo 🌍"))
                try await outbound.write(.binary(ByteBuffer(bytes: payload)))
                try await outbound.write(.text(#"{"type":"ping"}"#))
                var count = 0
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    switch message {
                    case .text(let text): received.mutate { $0.append(text) }
                    case .binary(let bytes): received.mutate { $0.append(Array(bytes.readableBytesView) == payload ? "binary-ok" : "binary-bad") }
                    }
                    count += 1
                    if count == 3 { break }
                }
            }
            #expect(received.value == ["héllo 🌍", "binary-ok", #"{"type":"pong"}"#])
            #expect(close?.closeCode == .normalClosure)
        }
    }
}
