import Logging
import RealtimeVoiceErrors
import Synchronization
import TestAudio
import Testing

@testable import PocketSphinxEngine
@testable import SpeechEngine

@Suite("PocketSphinx engine")
struct PocketSphinxRecognizerTests {
    static let sentence = "turn off the lights in the kitchen"

    func loadedRecognizer(poolSize: Int = 1, queueCapacity: Int = 4, queueTimeout: Duration = .seconds(10)) async throws -> PocketSphinxRecognizer {
        let recognizer = PocketSphinxRecognizer(
            configuration: .init(poolSize: poolSize, queueCapacity: queueCapacity, queueTimeout: queueTimeout),
            logger: Logger(label: "test")
        )
        try await recognizer.load()
        return recognizer
    }

    @Test("recognises flite speech")
    func recognisesSpeech() async throws {
        let recognizer = try await self.loadedRecognizer()
        defer { Task { await recognizer.shutdown() } }
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech(Self.sentence))
        let segments = try await recognizer.transcribe(audio.samples)
        let text = segments.map(\.text).joined(separator: " ")
        #expect(TestAudio.wordErrorRate(reference: Self.sentence, hypothesis: text) <= 0.3, "heard: \(text)")
        let words = segments.flatMap(\.words)
        #expect(!words.isEmpty)
        #expect(words.allSatisfy { !$0.text.contains("<") && !$0.text.contains("(") && !$0.text.contains("[") })
        #expect(zip(words, words.dropFirst()).allSatisfy { $0.startMs <= $1.startMs })
    }

    @Test("a reused decoder gives the same words and stream-relative times as a fresh one")
    func reuseIsDeterministic() async throws {
        let recognizer = try await self.loadedRecognizer(poolSize: 1)
        defer { Task { await recognizer.shutdown() } }
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech(Self.sentence))
        let leadIn = TestAudio.silence(milliseconds: 500) + audio.samples
        let first = try await recognizer.transcribe(leadIn)
        let second = try await recognizer.transcribe(leadIn)
        #expect(first.map(\.text) == second.map(\.text))
        let firstStarts = first.flatMap(\.words).map(\.startMs)
        let secondStarts = second.flatMap(\.words).map(\.startMs)
        #expect(firstStarts.count == secondStarts.count)
        for (a, b) in zip(firstStarts, secondStarts) {
            #expect(abs(a - b) <= 30, "start times \(firstStarts) vs \(secondStarts)")
        }
        // The first word starts after the half second of lead-in silence, not at decoder-lifetime time.
        #expect((400...1200).contains(secondStarts.first ?? -1), "first word at \(secondStarts)")
    }

    @Test("silence between sentences closes segments")
    func endpointing() async throws {
        let recognizer = try await self.loadedRecognizer()
        defer { Task { await recognizer.shutdown() } }
        let joined = try TestAudio.join(
            [TestAudio.speech("go forward ten meters"), TestAudio.speech("turn left at the corner")],
            gapMilliseconds: 1500
        )
        let segments = try await recognizer.transcribe(joined.samples)
        #expect(segments.count == 2, "segments: \(segments.map(\.text))")
        #expect(segments.map(\.index) == Array(0..<segments.count))
        if segments.count == 2 {
            #expect(segments[0].endMs < segments[1].startMs)
        }
    }

    /// PocketSphinx keeps process-wide state (its log file): decoders created concurrently crashed in our trials
    /// when each was given `-logfn`. Here N decoders are created at the same moment on N threads, then decode at
    /// the same time, several rounds over.
    @Test("N decoders created and decoding in parallel give identical results")
    func parallelDecoders() async throws {
        let parallel = 4
        let recordings = try TestAudio.librivox().prefix(2)
        for round in 0..<3 {
            let recognizers = try await withThrowingTaskGroup(of: PocketSphinxRecognizer.self) { group in
                for _ in 0..<parallel {
                    group.addTask {
                        let recognizer = PocketSphinxRecognizer(configuration: .init(poolSize: 1), logger: Logger(label: "test"))
                        try await recognizer.load()
                        return recognizer
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for recording in recordings {
                let audio = try TestAudio.samples(ofWAV: recording.url)
                let results = try await withThrowingTaskGroup(of: [String].self) { group in
                    for recognizer in recognizers {
                        group.addTask { try await recognizer.transcribe(audio.samples).map(\.text) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(results.count == parallel)
                #expect(Set(results).count == 1, "round \(round): different results \(results)")
                let text = results.first?.joined(separator: " ") ?? ""
                #expect(TestAudio.wordErrorRate(reference: recording.transcript, hypothesis: text) <= 0.6, "heard: \(text)")
            }
            for recognizer in recognizers { await recognizer.shutdown() }
        }
    }

    @Test("sessions beyond the pool wait in the queue, and beyond the queue are busy")
    func busyWhenFull() async throws {
        let recognizer = try await self.loadedRecognizer(poolSize: 1, queueCapacity: 1, queueTimeout: .milliseconds(300))
        defer { Task { await recognizer.shutdown() } }
        let (holdStream, hold) = AsyncStream.makeStream(of: [Int16].self)
        let started = AsyncStream.makeStream(of: Void.self)
        let holder = Task {
            try await recognizer.recognize(holdStream, options: .init(), onStart: { started.continuation.yield() }) { _ in }
        }
        var iterator = started.stream.makeAsyncIterator()
        await iterator.next()
        // One waits in the queue and times out as busy; a second, with the queue full, is refused at once.
        async let queued: RecognitionError? = Self.busyError(recognizer)
        try await Task.sleep(for: .milliseconds(100))
        let refused = await Self.busyError(recognizer)
        #expect(refused?.code.name == "busy")
        #expect(refused?.message.contains("recognizers are in use and 1 more are waiting") == true, "\(String(describing: refused))")
        let timedOut = await queued
        #expect(timedOut?.code.name == "busy")
        #expect(timedOut?.message.contains("None of the recognizers became free") == true, "\(String(describing: timedOut))")
        // Once the holder is done, the decoder is lent again.
        hold.finish()
        try await holder.value
        #expect(await Self.busyError(recognizer) == nil)
    }

    @Test("a cancelled session gives its decoder back")
    func cancellationReleases() async throws {
        let recognizer = try await self.loadedRecognizer(poolSize: 1, queueCapacity: 0)
        defer { Task { await recognizer.shutdown() } }
        let audio = try TestAudio.samples(ofWAV: TestAudio.speech(Self.sentence)).samples
        let (stream, continuation) = AsyncStream.makeStream(of: [Int16].self)
        continuation.yield(Array(audio.prefix(8000)))
        let session = Task {
            try await recognizer.recognize(stream, options: .init(), onStart: {}) { _ in }
        }
        try await Task.sleep(for: .milliseconds(300))
        session.cancel()
        _ = try? await session.value
        let segments = try await recognizer.transcribe(audio)
        #expect(!segments.isEmpty)
    }

    static func busyError(_ recognizer: PocketSphinxRecognizer) async -> RecognitionError? {
        do {
            _ = try await recognizer.transcribe([])
            return nil
        } catch let error as RecognitionError {
            return error
        } catch {
            return RecognitionError(code: .internalError, message: "\(error)")
        }
    }
}
