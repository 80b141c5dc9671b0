import Foundation
import Hummingbird
import HummingbirdTesting
import SpeechEngine
import Testing

@testable import RealtimeVoiceServer

@Suite("Health readiness")
struct HealthReadinessTests {
    /// An engine that is ready or still loading its models, with room for another stream or not: it is never
    /// asked to recognise anything here.
    struct FixedReadinessEngine: SpeechRecognizer, CapacityReporting {
        let name: String
        let isReady: Bool
        var hasRoom = true
        let sampleRate = 16_000
        func supports(language: String) -> Bool { true }
        func usage() async -> (inUse: Int, queued: Int) { (self.hasRoom ? 0 : 1, 0) }
        func hasRoomForAStream() async -> Bool { self.hasRoom }
        func recognize<Audio: AsyncSequence & Sendable>(
            _ audio: Audio,
            options: RecognitionOptions,
            onStart: @Sendable () async throws -> Void,
            emit: @Sendable (RecognitionEvent) async throws -> Void
        ) async throws where Audio.Element == [Int16] {
            throw RecognitionError.busy()
        }
    }

    /// GET `path` (`/health/live` or `/health/ready`) of routes over `engines`.
    func get(_ path: String, _ engines: [any SpeechRecognizer], defaultName: String) async throws -> (HTTPResponse.Status, [String: String?]) {
        let router = Router()
        GatewayRoutes(engines: EngineRegistry(engines, defaultName: defaultName)).add(to: router)
        return try await Application(router: router).test(.router) { client in
            let response = try await client.execute(uri: path, method: .get)
            let object = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any] ?? [:]
            return (response.status, object.mapValues { $0 as? String })
        }
    }

    @Test("/health/live answers 200 while the process serves, engines loading or not")
    func live() async throws {
        let (status, body) = try await self.get("/health/live", [FixedReadinessEngine(name: "slow", isReady: false)], defaultName: "slow")
        #expect(status == .ok && body["status"] == "alive")
    }

    @Test("/health/ready: 503 while any engine is not ready or the default one is full, else 200")
    func ready() async throws {
        let loading: [any SpeechRecognizer] = [FixedReadinessEngine(name: "fast", isReady: true), FixedReadinessEngine(name: "slow", isReady: false)]
        let (notReady, why) = try await self.get("/health/ready", loading, defaultName: "fast")
        #expect(notReady == .serviceUnavailable && why["status"] == "not_ready" && why["reason"] == "engine slow is loading")

        let (full, fullWhy) = try await self.get(
            "/health/ready", [FixedReadinessEngine(name: "fast", isReady: true, hasRoom: false)], defaultName: "fast")
        #expect(full == .serviceUnavailable && fullWhy["reason"] == "engine fast has no room for another stream")

        let ready: [any SpeechRecognizer] = [FixedReadinessEngine(name: "fast", isReady: true), FixedReadinessEngine(name: "other", isReady: true)]
        let (ok, body) = try await self.get("/health/ready", ready, defaultName: "fast")
        #expect(ok == .ok && body["status"] == "ready")
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
