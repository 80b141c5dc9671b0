import Foundation
import Logging
import SpeechEngine
import Synchronization
import TestAudio
import Testing

@testable import TencentEngine

/// The Tencent engine's streaming sessions (``RealtimeUpstream`` under ``TencentRecognizer``) against
/// ``FakeTencentRealtime``, on a real recording: the signed URL, 40 ms packets, pacing, keep-alive silence taken
/// out of result times, the end and `final:1`, and how each failure of Tencent's or the connection's ends a session.
@Suite("Streaming sessions of the Tencent engine against a fake real-time ASR")
struct RealtimeUpstreamTests {
    static let rate = 16_000
    /// 40 ms packets of 16-bit samples at 16 kHz.
    static let packetBytes = 1_280

    /// The first `milliseconds` of a pocketsphinx-testdata recording (a whole number of 40 ms packets).
    static func recording(milliseconds: Int) throws -> [Int16] {
        let (url, _) = try #require(TestAudio.librivox().first)
        let samples = try TestAudio.samples(ofWAV: url).samples
        let count = milliseconds * Self.rate / 1000
        try #require(samples.count >= count, "the recording is shorter than \(milliseconds) ms")
        return Array(samples.prefix(count))
    }

    struct Outcome: Sendable {
        var events: [RecognitionEvent] = []
        var started = 0
        /// Events emitted before onStart was called.
        var eventsBeforeStart = 0
        var error: (any Error)?
        var elapsed: Duration = .zero
    }

    /// Streams `parts` (samples, then a pause before the next part) through a Tencent engine pointed at `fake`.
    static func stream(
        _ parts: [(samples: [Int16], pauseAfter: Duration)],
        through fake: FakeTencentRealtime,
        configure: (inout TencentConfiguration) -> Void = { _ in },
        emitFails: (any Error & Sendable)? = nil
    ) async throws -> Outcome {
        var configuration = TencentConfiguration(
            credentials: TencentCredentials(
                secretID: FakeTencentRealtime.secretID, secretKey: FakeTencentRealtime.defaultSecretKey, appID: FakeTencentRealtime.appID),
            pace: 4, responseTimeout: .seconds(2))
        configure(&configuration)
        let outcome = Mutex(Outcome())
        try await fake.run { [configuration] url in
            var configuration = configuration
            configuration.realtimeURL = url
            var logger = Logger(label: "realtime-upstream-test")
            logger.logLevel = .critical
            let engine = TencentRecognizer(configuration: configuration, logger: logger)
            let audio = AsyncStream<[Int16]> { continuation in
                let feeder = Task {
                    for part in parts {
                        for start in stride(from: 0, to: part.samples.count, by: 1_600) {
                            continuation.yield(Array(part.samples[start..<min(start + 1_600, part.samples.count)]))
                        }
                        try? await Task.sleep(for: part.pauseAfter)
                    }
                    continuation.finish()
                }
                continuation.onTermination = { _ in feeder.cancel() }
            }
            let start = ContinuousClock.now
            do {
                try await engine.recognize(
                    audio, options: RecognitionOptions(language: "zh-CN", sampleRate: Self.rate),
                    onStart: { outcome.withLock { $0.started += 1 } }
                ) { event in
                    outcome.withLock {
                        $0.events.append(event)
                        if $0.started == 0 { $0.eventsBeforeStart += 1 }
                    }
                    if let emitFails { throw emitFails }
                }
            } catch {
                outcome.withLock { $0.error = error }
            }
            outcome.withLock { $0.elapsed = .now - start }
        }
        return outcome.withLock { $0 }
    }

    static func finals(_ events: [RecognitionEvent]) -> [RecognizedSegment] {
        events.compactMap { event -> RecognizedSegment? in
            guard case .final(let segment) = event else { return nil }
            return segment
        }
    }

    static func code(_ error: (any Error)?) -> String? {
        (error as? RecognitionError)?.code.name
    }

    @Test("a recording sent at once reaches Tencent signed, in paced 40 ms packets, then the end; the final comes back")
    func wholeRecording() async throws {
        let samples = try Self.recording(milliseconds: 3_000)
        let fake = FakeTencentRealtime()
        let outcome = try await Self.stream([(samples, .zero)], through: fake)
        #expect(outcome.error == nil, "\(String(describing: outcome.error))")

        let session = try #require(fake.sessions.withLock { $0 }.first)
        #expect(fake.sessions.withLock { $0.count } == 1)
        #expect(session.signatureMatched)
        #expect(session.query["engine_model_type"] == "16k_zh" && session.query["voice_format"] == "1")
        #expect(session.query["voice_id"]?.count == 36 && session.query["nonce"] != nil)
        let packets = session.packets
        #expect(packets.allSatisfy { $0.bytes.count == Self.packetBytes })
        #expect(packets.flatMap(\.bytes) == TestAudio.bytes(of: samples), "the audio arrived changed")
        guard case .text(let end) = try #require(session.frames.last) else {
            Issue.record("the last frame was not the end message")
            return
        }
        #expect(end == #"{"type":"end"}"#)
        // At 4× real time with 200 ms ahead, 3 s of audio cannot arrive in less than 700 ms.
        let spread = try #require(packets.last).at - packets[0].at
        #expect(spread >= .milliseconds(650), "3 s of audio arrived in \(spread)")

        #expect(outcome.started == 1 && outcome.eventsBeforeStart == 0)
        let partials = outcome.events.filter { if case .partial = $0 { true } else { false } }
        #expect(partials.count >= 2, "\(outcome.events)")
        let final = try #require(Self.finals(outcome.events).first)
        #expect(final.text == "heard 3000 ms" && final.startMs == 0 && final.endMs == 3_000)
        #expect(final.words.map(\.startMs) == [2_600] && final.words.map(\.endMs) == [3_000])
        #expect(Self.finals(outcome.events).count == 1)
    }

    @Test("a client's pause is bridged with 40 ms of silence, which result times leave out")
    func pauseIsBridged() async throws {
        let samples = try Self.recording(milliseconds: 2_000)
        let quiet = stride(from: 0, to: samples.count, by: 640).filter { samples[$0..<$0 + 640].allSatisfy { $0 == 0 } }
        try #require(quiet.isEmpty, "the recording has digitally silent 40 ms packets, which the keep-alive's would hide among")
        let fake = FakeTencentRealtime()
        let outcome = try await Self.stream(
            [(Array(samples.prefix(16_000)), .milliseconds(2_000)), (Array(samples.suffix(16_000)), .zero)],
            through: fake, configure: { $0.keepAliveAfter = .milliseconds(200) })
        #expect(outcome.error == nil, "\(String(describing: outcome.error))")
        let packets = try #require(fake.sessions.withLock { $0 }.first).packets
        let silent = packets.filter { $0.bytes.allSatisfy { $0 == 0 } }
        #expect(silent.count >= 3 && silent.allSatisfy { $0.bytes.count == Self.packetBytes }, "\(silent.count) silent packets")
        #expect(packets.filter { !$0.bytes.allSatisfy { $0 == 0 } }.flatMap(\.bytes) == TestAudio.bytes(of: samples))
        let upstreamMs = packets.count * 40
        let final = try #require(Self.finals(outcome.events).first)
        #expect(final.text == "heard \(upstreamMs) ms", "Tencent's times include the silence")
        #expect(final.endMs == 2_000 && final.words.first?.endMs == 2_000, "the client's times do not")
    }

    @Test("a wrong signature is refused with 4002: upstream_rejected, not retried")
    func wrongSignature() async throws {
        let fake = FakeTencentRealtime(secretKey: "another-key")
        let outcome = try await Self.stream([(try Self.recording(milliseconds: 1_000), .zero)], through: fake)
        #expect(Self.code(outcome.error) == "upstream_rejected")
        #expect((outcome.error as? RecognitionError)?.message.contains("4002") == true)
        #expect(fake.sessions.withLock { $0.count } == 1 && outcome.started == 0)
    }

    @Test("Tencent's overload at the handshake is retried once with a new voice_id, which hears the audio from its start")
    func overloadIsRetried() async throws {
        let samples = try Self.recording(milliseconds: 2_000)
        let fake = FakeTencentRealtime(scripts: [.handshakeError(5001)])
        let outcome = try await Self.stream([(samples, .zero)], through: fake)
        #expect(outcome.error == nil, "\(String(describing: outcome.error))")
        let sessions = fake.sessions.withLock { $0 }
        #expect(sessions.count == 2 && sessions[0].query["voice_id"] != sessions[1].query["voice_id"])
        #expect(sessions[1].packets.flatMap(\.bytes) == TestAudio.bytes(of: samples))
        #expect(Self.finals(outcome.events).first?.endMs == 2_000 && outcome.started == 1)
    }

    @Test("overload twice ends the stream with upstream_failed")
    func overloadTwice() async throws {
        let twice = try await Self.stream(
            [(try Self.recording(milliseconds: 1_000), .zero)], through: FakeTencentRealtime(scripts: [.handshakeError(5000), .handshakeError(5000)]))
        #expect(Self.code(twice.error) == "upstream_failed")
    }

    @Test("Tencent's concurrency limit, 4006, ends the stream with busy")
    func concurrencyLimit() async throws {
        let busy = try await Self.stream(
            [(try Self.recording(milliseconds: 1_000), .zero)], through: FakeTencentRealtime(scripts: [.handshakeError(4006)]))
        #expect(Self.code(busy.error) == "busy")
    }

    @Test(
        "failures after results reached the client end the stream with upstream_failed, not retried, the SecretId never shown",
        arguments: [
            FakeTencentRealtime.Script.errorAfter(code: 5001, afterMs: 1_500), .errorAfter(code: 4008, afterMs: 1_500), .dropAfter(afterMs: 1_500),
        ]
    )
    func failureMidStream(script: FakeTencentRealtime.Script) async throws {
        let fake = FakeTencentRealtime(scripts: [script])
        let outcome = try await Self.stream([(try Self.recording(milliseconds: 3_000), .zero)], through: fake)
        #expect(Self.code(outcome.error) == "upstream_failed", "\(String(describing: outcome.error))")
        #expect(!outcome.events.isEmpty && Self.finals(outcome.events).isEmpty)
        #expect(fake.sessions.withLock { $0.count } == 1, "a session whose results were sent was replayed")
        let message = (outcome.error as? RecognitionError)?.message ?? ""
        #expect(!message.contains(FakeTencentRealtime.secretID), "\(message)")
        if case .errorAfter(let code, _) = script { #expect(message.contains("\(code)"), "\(message)") }
    }

    @Test("no handshake twice, or no final after the end, within the response timeout: upstream_failed, nothing hangs")
    func timeouts() async throws {
        for scripts in [[FakeTencentRealtime.Script.silentHandshake, .silentHandshake], [.noFinal]] {
            let fake = FakeTencentRealtime(scripts: scripts)
            let outcome = try await Self.stream(
                [(try Self.recording(milliseconds: 1_000), .zero)], through: fake, configure: { $0.responseTimeout = .seconds(1) })
            #expect(Self.code(outcome.error) == "upstream_failed", "\(scripts): \(String(describing: outcome.error))")
            // Each attempt: the timeout, then at most the client's 2 s close timeout; the rest is room for a loaded
            // machine (the suite runs beside all the others). Before 265cce7 a lost handshake hung for good.
            #expect(outcome.elapsed < .seconds(12), "\(scripts): the session took \(outcome.elapsed)")
            #expect(fake.sessions.withLock { $0.count } == scripts.count)
        }
    }

    @Test("a handshake that never comes is retried once with a new voice_id, which hears all the audio")
    func missingHandshakeIsRetried() async throws {
        let samples = try Self.recording(milliseconds: 2_000)
        let fake = FakeTencentRealtime(scripts: [.silentHandshake])
        let outcome = try await Self.stream([(samples, .zero)], through: fake, configure: { $0.responseTimeout = .milliseconds(500) })
        #expect(outcome.error == nil, "\(String(describing: outcome.error))")
        let sessions = fake.sessions.withLock { $0 }
        #expect(sessions.count == 2 && sessions[0].query["voice_id"] != sessions[1].query["voice_id"])
        #expect(sessions[1].packets.flatMap(\.bytes) == TestAudio.bytes(of: samples))
        #expect(Self.finals(outcome.events).first?.endMs == 2_000 && outcome.started == 1)
    }

    @Test("a failure of the client's side (sending it a result) ends the session with that failure, as it is")
    func clientFailureIsPassedOn() async throws {
        struct ClientGone: Error, Equatable {}
        let fake = FakeTencentRealtime()
        let outcome = try await Self.stream([(try Self.recording(milliseconds: 3_000), .zero)], through: fake, emitFails: ClientGone())
        #expect(outcome.error is ClientGone, "\(String(describing: outcome.error))")
        #expect(outcome.events.count == 1 && fake.sessions.withLock { $0.count } == 1)
    }
}
