import Foundation
import HummingbirdTesting
import HummingbirdWSClient
import HummingbirdWSTesting
import NIOCore
import NIOWebSocket
import TestAudio
import Testing

@testable import RealtimeVoiceServer

@Suite("Streaming errors and limits")
struct StreamErrorTests {
    @Test(
        "invalid JSON and unknown message types end the session with invalid_message and 1008",
        arguments: ["not json", #"{"type":"dance"}"#, #"{"kind":"end"}"#, "[1,2]"])
    func invalidMessage(text: String) async throws {
        try await withGateway { client in
            let result = try await stream(client, frames: [], sendEnd: false, text: [text])
            #expect(result.error?.code == "invalid_message")
            #expect((result.error?.message?.count ?? 0) > 10)
            #expect(result.closeCode == .policyViolation)
        }
    }

    @Test("a frame over the limit closes with 1009, explained when it is up to twice the limit", arguments: [6_000, 20_000])
    func frameTooLarge(size: Int) async throws {
        let configuration = testConfiguration(limits: .init(maxFrameBytes: 4_096))
        try await withGateway(configuration) { client in
            let result = try await stream(client, frames: [[UInt8](repeating: 0, count: size)], sendEnd: false)
            #expect(result.closeCode == .messageTooLarge)
            if size <= 8_192 {
                #expect(result.error?.code == "frame_too_large")
            }
        }
    }

    @Test("no audio for the idle time ends the session with idle_timeout and 1000, after the finals")
    func idleTimeout() async throws {
        let configuration = testConfiguration(limits: .init(idleTimeout: .milliseconds(1500)))
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech("go forward ten meters"))
        try await withGateway(configuration) { client in
            let clock = ContinuousClock()
            let start = clock.now
            let result = try await stream(client, frames: frames(audio.samples), sendEnd: false)
            #expect(result.error?.code == "idle_timeout")
            #expect(result.closeCode == .normalClosure)
            #expect(!result.finals.isEmpty, "the open segment's final is sent before the error")
            #expect(clock.now - start >= .milliseconds(1500))
        }
    }

    @Test("the maximum session length sends the finals, then max_duration and 1000")
    func maxDuration() async throws {
        let configuration = testConfiguration(limits: .init(maxSessionDuration: .seconds(2)))
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech("turn off the lights in the kitchen please"))
        try await withGateway(configuration) { client in
            // Paced at real time, the client would go on past the limit.
            let result = try await stream(
                client, frames: frames(audio.samples + TestAudio.silence(milliseconds: 3000)), sendEnd: false, pause: .milliseconds(100))
            #expect(result.error?.code == "max_duration")
            #expect(result.closeCode == .normalClosure)
            let errorIndex = result.events.firstIndex { $0.type == "error" } ?? 0
            #expect(result.events[..<errorIndex].contains { $0.type == "final" })
        }
    }

    @Test("pool and queue full: the next session gets busy and 1013")
    func busy() async throws {
        let configuration = testConfiguration(decoders: 1, queue: 0, limits: .init(idleTimeout: .seconds(300)))
        try await withGateway(configuration) { client in
            let (holding, release) = AsyncStream.makeStream(of: Void.self)
            let (ready, readySignal) = AsyncStream.makeStream(of: Void.self)
            async let holder: Void = {
                // However the holder ends, the waiting below ends too (no hang if it was refused).
                defer { readySignal.finish() }
                _ = try await client.ws("/api/realtime-voice/stream?token=\(testToken)") { inbound, outbound, _ in
                    for try await message in inbound.messages(maxSize: 1 << 16) {
                        if case .text(let text) = message, text.contains("ready") { readySignal.yield() }
                        break
                    }
                    for await _ in holding {}
                }
            }()
            var iterator = ready.makeAsyncIterator()
            let holderReady: Void? = await iterator.next()
            #expect(holderReady != nil, "the first session must get the decoder")
            let result = try await streamRefusedAtOnce(client)
            #expect(result.error?.code == "busy")
            #expect(result.closeCode == .unknown(1013))
            release.finish()
            try await holder
        }
    }

    @Test("a client that disconnects mid-stream frees its decoder for the next session")
    func disconnectFreesDecoder() async throws {
        let configuration = testConfiguration(decoders: 1, queue: 0)
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech("go forward ten meters"))
        try await withGateway(configuration) { client in
            // Half the sentence, then the client closes without `end`.
            let first = try await stream(
                client, frames: frames(Array(audio.samples.prefix(audio.samples.count / 2))), sendEnd: false, closeAfterSending: true)
            #expect(first.events.first?.type == "ready")
            // The decoder comes back: readiness (room for a stream) returns, and the next session is served.
            let deadline = ContinuousClock.now + .seconds(20)
            while try await client.execute(uri: "/health/ready", method: .get).status != .ok {
                guard ContinuousClock.now < deadline else { throw TestAudio.Failure(description: "the decoder did not come back within 20 s") }
                try await Task.sleep(for: .milliseconds(50))
            }
            let second = try await stream(client, frames: frames(audio.samples))
            #expect(second.error == nil)
            #expect(TestAudio.wordErrorRate(reference: "go forward ten meters", hypothesis: second.transcript) <= 0.25, "heard: \(second.transcript)")
        }
    }

    @Test("audio beyond what the engine may queue ends the session with overloaded and 1013; pings still answered")
    func overloaded() async throws {
        let configuration = testConfiguration(limits: .init(maxBufferedAudio: .seconds(1)))
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech("turn off the lights in the kitchen and go forward ten meters"))
        try await withGateway(configuration) { client in
            // Sent in one burst: far more than a second of audio waits for the engine.
            let result = try await stream(client, frames: frames(audio.samples + audio.samples), sendEnd: false)
            #expect(result.error?.code == "overloaded")
            #expect(result.closeCode == .unknown(1013))
        }
    }

    @Test("a recording sent in one burst, within the queue limit, is recognised whole")
    func burstWithinLimit() async throws {
        let sentence = "turn off the lights in the kitchen"
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech(sentence))
        try await withGateway { client in
            let burst = frames(audio.samples, milliseconds: 1000)
            let result = try await stream(client, frames: burst)
            #expect(result.error == nil)
            #expect(result.events.last?.type == "completed")
            #expect(TestAudio.wordErrorRate(reference: sentence, hypothesis: result.transcript) <= 0.3, "heard: \(result.transcript)")
        }
    }
}
