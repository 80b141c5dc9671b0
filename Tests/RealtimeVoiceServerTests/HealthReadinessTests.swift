import Foundation
import Hummingbird
import HummingbirdTesting
import SpeechEngine
import Testing

@testable import RealtimeVoiceServer

@Suite("Health readiness")
struct HealthReadinessTests {
    /// An engine that is ready or still loading its models: it is never asked to recognise anything here.
    struct FixedReadinessEngine: SpeechRecognizer {
        let name: String
        let isReady: Bool
        let sampleRate = 16_000
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

    struct Health: Decodable, Equatable {
        let status: String
        let engine: String
        let engines: [String: String]
    }

    func health(_ engines: [FixedReadinessEngine], defaultName: String) async throws -> (HTTPResponse.Status, Health) {
        let router = Router()
        GatewayRoutes(engines: EngineRegistry(engines, defaultName: defaultName)).add(to: router)
        return try await Application(router: router).test(.router) { client in
            let response = try await client.execute(uri: "/health", method: .get)
            return (response.status, try JSONDecoder().decode(Health.self, from: Data(buffer: response.body)))
        }
    }

    @Test("/health answers 503 loading while the default engine is not ready")
    func loading() async throws {
        let (status, body) = try await self.health([FixedReadinessEngine(name: "slow", isReady: false)], defaultName: "slow")
        #expect(status == .serviceUnavailable)
        #expect(body == Health(status: "loading", engine: "slow", engines: ["slow": "loading"]))
    }

    @Test("/health follows the default engine and lists every engine's readiness")
    func everyEngine() async throws {
        let engines = [FixedReadinessEngine(name: "fast", isReady: true), FixedReadinessEngine(name: "slow", isReady: false)]
        let (status, body) = try await self.health(engines, defaultName: "fast")
        #expect(status == .ok)
        #expect(body == Health(status: "ok", engine: "fast", engines: ["fast": "ready", "slow": "loading"]))
        let (otherStatus, otherBody) = try await self.health(engines, defaultName: "slow")
        #expect(otherStatus == .serviceUnavailable && otherBody.status == "loading")
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
