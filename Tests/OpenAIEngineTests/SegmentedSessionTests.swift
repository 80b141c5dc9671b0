import Foundation
import Logging
import RealtimeVoiceErrors
import SpeechEngine
import Synchronization
import TestAudio
import Testing

@testable import OpenAIEngine

/// The streaming logic of the openai/whisper engines (``SegmentedSession``: VAD segments, one request in flight,
/// partials, one final per segment) against ``FakeTranscriptionServer``, on flite speech.
@Suite("Streaming sessions of the openai engine against a fake upstream")
struct SegmentedSessionTests {
    static let rate = 16_000

    /// Two sentences 1.5 s apart, with 1.5 s of silence after; the first sentence's length in ms, and what the fake
    /// says of each whole sentence.
    static func twoSentences() throws -> (samples: [Int16], firstMs: Int, wholeSentences: [String]) {
        let first = try TestAudio.speech("please turn off the lights in the kitchen")
        let second = try TestAudio.speech("what is the weather like tomorrow")
        let joined = try TestAudio.join([first, second], gapMilliseconds: 1_500)
        let clips = try [first, second].map { try TestAudio.samples(ofWAV: $0).samples }
        let firstMs = clips[0].count * 1000 / Self.rate
        return (joined.samples + TestAudio.silence(milliseconds: 1_500), firstMs, clips.map { "voiced \(FakeTranscriptionServer.voiced($0))" })
    }

    /// Runs one stream of `samples` through an engine pointed at `server`, in 100 ms chunks, every `pace` (nil: at
    /// once), and returns its events, or the error that ended it.
    static func stream(
        _ samples: [Int16], through server: FakeTranscriptionServer, pace: Duration? = .milliseconds(100), marksPartials: Bool = false
    ) async throws -> (events: [RecognitionEvent], error: RecognitionError?) {
        let events = Mutex<[RecognitionEvent]>([])
        let failure = Mutex<RecognitionError?>(nil)
        try await server.run { baseURL in
            var logger = Logger(label: "segmented-session-test")
            logger.logLevel = .warning
            var configuration = OpenAIConfiguration(baseURL: baseURL, retryBackoff: .milliseconds(10), maxConcurrentRequests: 1)
            configuration.marksPartials = marksPartials
            let engine = OpenAIRecognizer(configuration: configuration, logger: logger)
            let pool = Task { try await engine.run() }  // closes the HTTP client when cancelled
            defer { pool.cancel() }
            let chunk = Self.rate / 10
            let audio = AsyncStream<[Int16]> { continuation in
                let feeder = Task {
                    for start in stride(from: 0, to: samples.count, by: chunk) {
                        continuation.yield(Array(samples[start..<min(start + chunk, samples.count)]))
                        if let pace { try? await Task.sleep(for: pace) }
                    }
                    continuation.finish()
                }
                continuation.onTermination = { _ in feeder.cancel() }
            }
            do {
                try await engine.recognize(audio, options: RecognitionOptions(sampleRate: Self.rate), onStart: {}) { event in
                    events.withLock { $0.append(event) }
                }
            } catch let error as RecognitionError {
                failure.withLock { $0 = error }
            }
            pool.cancel()
            _ = await pool.result
        }
        return (events.withLock { $0 }, failure.withLock { $0 })
    }

    /// 150 ms: the request started when speech stops is answered before the endpoint, and the final reuses it.
    /// 900 ms (longer than the 600 ms endpoint): a partial still in flight when speech stops delays that request, so
    /// the latest answer at the endpoint misses the end of the speech and the final must ask again.
    @Test(
        "one final per sentence, each answered from a request that heard its whole segment; one request at a time",
        arguments: [150, 900]
    )
    func finalsPerSentence(upstreamMilliseconds: Int) async throws {
        let (samples, firstMs, wholeSentences) = try Self.twoSentences()
        let server = FakeTranscriptionServer(delay: .milliseconds(upstreamMilliseconds))
        let (events, error) = try await Self.stream(samples, through: server)
        #expect(error == nil)
        let finals = events.compactMap { event -> RecognizedSegment? in if case .final(let s) = event { s } else { nil } }
        try #require(finals.count == 2, "events: \(events)")
        #expect(finals.map(\.index) == [0, 1])
        // The fake's text counts the speech samples it heard: each final comes from a request that heard all of its
        // sentence, not from an earlier partial that missed the end.
        #expect(finals.map(\.text) == wholeSentences)
        #expect(finals[0].startMs < 300 && finals[0].endMs >= firstMs)  // the first sentence from its start (pre-roll)
        #expect(finals[1].startMs > firstMs + 1_000 && finals[1].startMs > finals[0].endMs)  // the second after the gap
        #expect(server.log.withLock { $0.maxInFlight } == 1)
        // Partials come while a sentence is spoken, for the open segment only, never after its final.
        var closed = Set<Int>()
        var partials = 0
        for event in events {
            switch event {
            case .partial(let segment, _):
                #expect(!closed.contains(segment))
                partials += 1
            case .final(let segment): closed.insert(segment.index)
            }
        }
        #expect(partials >= 1)
    }

    /// 2.5 s: longer than a sentence and its endpoint, so each sentence's first request (after 0.5 s of speech) is
    /// answered only once the sentence has closed, as on a loaded machine. Its words still come as a partial first.
    @Test("an answer that comes after its segment closed is still sent as a partial, before the final")
    func lateAnswerIsAPartial() async throws {
        let (samples, _, wholeSentences) = try Self.twoSentences()
        let server = FakeTranscriptionServer(delay: .milliseconds(2_500))
        let (events, error) = try await Self.stream(samples, through: server)
        #expect(error == nil)
        var partialOf: [Int: String] = [:]
        var finals: [String] = []
        for event in events {
            switch event {
            case .partial(let segment, let text):
                #expect(segment == finals.count, "a partial after its final: \(events)")
                partialOf[segment] = partialOf[segment] ?? text
            case .final(let segment): finals.append(segment.text)
            }
        }
        #expect(finals == wholeSentences)
        for (index, whole) in wholeSentences.enumerated() {
            let partial = try #require(partialOf[index], "no partial before final \(index): \(events)")
            #expect(partial != whole)  // it heard the first part of the sentence only
        }
    }

    @Test("for the managed sidecar, requests for partials are marked, and those that may give a final are not", arguments: [true, false])
    func partialsAreMarked(marksPartials: Bool) async throws {
        let (samples, _, wholeSentences) = try Self.twoSentences()
        let server = FakeTranscriptionServer(delay: .milliseconds(150))
        let (events, error) = try await Self.stream(samples, through: server, marksPartials: marksPartials)
        #expect(error == nil)
        let finals = events.compactMap { event -> String? in if case .final(let s) = event { s.text } else { nil } }
        #expect(finals == wholeSentences)
        let marked = server.log.withLock { $0.markedPartial }
        // Each sentence: partials while it is spoken, then the request at the end of its speech, which the final reuses;
        // `finals == wholeSentences` also says that no final is a marked partial's answer ("…, partial").
        #expect(marked.filter { !$0 }.count >= wholeSentences.count, "\(marked)")
        #expect(marked.contains(true) == marksPartials, "\(marked)")
    }

    @Test("silence sends no request and gives no final")
    func silenceIsFree() async throws {
        let server = FakeTranscriptionServer()
        let (events, error) = try await Self.stream(TestAudio.silence(milliseconds: 4_000), through: server, pace: nil)
        #expect(error == nil)
        #expect(events.isEmpty)
        #expect(server.log.withLock { $0.audioMilliseconds }.isEmpty)
    }

    @Test("an upstream answering 500 is retried once, then the stream ends with upstream_failed")
    func failingUpstream() async throws {
        let (samples, _, _) = try Self.twoSentences()
        let server = FakeTranscriptionServer(delay: .milliseconds(10), failing: true)
        let (events, error) = try await Self.stream(samples, through: server)
        #expect(error?.code == .upstreamFailed)
        #expect(events.isEmpty)
        #expect(server.log.withLock { $0.audioMilliseconds }.count == 2)
    }
}
