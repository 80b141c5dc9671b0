import Foundation
import Hummingbird
import HummingbirdTesting
import SpeechEngine
import Testing

@testable import RealtimeVoiceServer

@Suite("Health readiness")
struct HealthReadinessTests {
    /// An engine whose models are still loading: it is never asked to recognise anything here.
    struct LoadingEngine: SpeechRecognizer {
        let name = "loading"
        let sampleRate = 16_000
        let isReady = false
        func supports(language: String) -> Bool { true }
        func recognize<Audio: AsyncSequence & Sendable>(
            _ audio: Audio,
            options: RecognitionOptions,
            onStart: @Sendable () async throws -> Void,
            emit: @Sendable (RecognitionEvent) async throws -> Void
        ) async throws where Audio.Element == [Int16] {
            throw RecognitionError.busy()
        }
    }

    @Test("/health answers 503 loading while the default engine is not ready")
    func loading() async throws {
        let router = Router()
        GatewayRoutes(engines: EngineRegistry([LoadingEngine()], defaultName: "loading")).add(to: router)
        try await Application(router: router).test(.router) { client in
            let response = try await client.execute(uri: "/health", method: .get)
            #expect(response.status == .serviceUnavailable)
            let body = try JSONDecoder().decode([String: String].self, from: Data(buffer: response.body))
            #expect(body["status"] == "loading")
            #expect(body["engine"] == "loading")
        }
    }
}

@Suite("Subtitles")
struct SubtitleTests {
    @Test("SRT and WebVTT cue times")
    func cueTimes() {
        #expect(Subtitles.time(3_723_456, ",") == "01:02:03,456")
        #expect(Subtitles.time(110, ".") == "00:00:00.110")
        let segments = [RecognizedSegment(index: 0, text: "go forward", startMs: 110, endMs: 1_690, words: [])]
        #expect(Subtitles.srt(segments) == "1\n00:00:00,110 --> 00:00:01,690\ngo forward\n")
        #expect(Subtitles.vtt(segments) == "WEBVTT\n\n00:00:00.110 --> 00:00:01.690\ngo forward\n")
    }
}
