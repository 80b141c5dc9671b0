import Synchronization
import Testing

@testable import TencentEngine

/// The buffer between a Tencent session and its upstream attempts: a retried attempt hears the audio again from
/// its start until a result reached the client or the recording is too long; the pump stays a bounded distance
/// ahead of the readers; the end and a failure of the client's audio reach every reader.
@Suite("The Tencent engine's replayable audio buffer")
struct ReplayableAudioTests {
    /// Client audio that counts how many chunks were taken from it, and may fail after the last one.
    struct CountedAudio: AsyncSequence, Sendable {
        struct ClientGone: Error, Equatable {}
        let chunks: [[Int16]]
        let failAtEnd: Bool
        let counter = Counter()
        var taken: Int { self.counter.value.load(ordering: .relaxed) }

        final class Counter: Sendable {
            let value = Atomic<Int>(0)
        }

        struct AsyncIterator: AsyncIteratorProtocol {
            let audio: CountedAudio
            var index = 0
            mutating func next() async throws -> [Int16]? {
                guard self.index < self.audio.chunks.count else {
                    if self.audio.failAtEnd { throw ClientGone() }
                    return nil
                }
                defer { self.index += 1 }
                self.audio.counter.value.add(1, ordering: .relaxed)
                return self.audio.chunks[self.index]
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(audio: self) }
    }

    static func chunks(_ count: Int, samples: Int = 100) -> [[Int16]] {
        (0..<count).map { [Int16](repeating: Int16($0), count: samples) }
    }

    /// Reads chunks from `first` until the end.
    static func readAll(_ buffer: ReplayableAudio, from first: Int = 0) async throws -> [[Int16]] {
        var result: [[Int16]] = []
        var index = first
        while let chunk = try await buffer.chunk(at: index) {
            result.append(chunk)
            index += 1
        }
        return result
    }

    /// Polls `condition` (within 10 s, for a loaded machine).
    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test("a second attempt hears the whole stream again from its start")
    func replayFromTheStart() async throws {
        let audio = CountedAudio(chunks: Self.chunks(8), failAtEnd: false)
        let buffer = ReplayableAudio(maxReplaySamples: 10_000, maxAheadSamples: 10_000)
        let pump = Task { await buffer.pump(audio) }
        let first = try await Self.readAll(buffer)
        #expect(buffer.canReplay)
        let second = try await Self.readAll(buffer)
        #expect(first == audio.chunks && second == audio.chunks)
        await pump.value
    }

    @Test("no replay once a result reached the client, or once the recording is longer than the replay limit")
    func replayEnds() async throws {
        let stopped = ReplayableAudio(maxReplaySamples: 10_000, maxAheadSamples: 10_000)
        let audio = CountedAudio(chunks: Self.chunks(4), failAtEnd: false)
        let pump = Task { await stopped.pump(audio) }
        #expect(try await stopped.chunk(at: 0) == audio.chunks[0])
        stopped.stopRecording()
        #expect(!stopped.canReplay)
        #expect(try await Self.readAll(stopped, from: 1) == Array(audio.chunks[1...]))  // the rest still comes once
        await pump.value

        let long = ReplayableAudio(maxReplaySamples: 250, maxAheadSamples: 10_000)
        await long.pump(CountedAudio(chunks: Self.chunks(2), failAtEnd: false))
        #expect(long.canReplay)  // 200 samples: within the limit
        let longer = ReplayableAudio(maxReplaySamples: 250, maxAheadSamples: 10_000)
        await longer.pump(CountedAudio(chunks: Self.chunks(3), failAtEnd: false))
        #expect(!longer.canReplay)  // 300 samples
    }

    @Test("the pump stays at most maxAhead samples ahead of the readers")
    func pumpIsBounded() async throws {
        let audio = CountedAudio(chunks: Self.chunks(20), failAtEnd: false)
        let buffer = ReplayableAudio(maxReplaySamples: 100_000, maxAheadSamples: 300)
        let pump = Task { await buffer.pump(audio) }
        // Three chunks (300 samples) fill it; the fourth is taken from the client and waits for room, and no more.
        try await Self.waitUntil { audio.taken == 4 }
        try await Task.sleep(for: .milliseconds(100))
        #expect(audio.taken == 4)
        _ = try await buffer.chunk(at: 0)
        try await Self.waitUntil { audio.taken == 5 }
        try await Task.sleep(for: .milliseconds(100))
        #expect(audio.taken == 5)
        #expect(try await Self.readAll(buffer, from: 1).count == 19)
        await pump.value
    }

    @Test("the client audio's failure reaches the reader after the chunks before it")
    func failureReachesReaders() async throws {
        let audio = CountedAudio(chunks: Self.chunks(3), failAtEnd: true)
        let buffer = ReplayableAudio(maxReplaySamples: 10_000, maxAheadSamples: 10_000)
        await buffer.pump(audio)
        for index in 0..<3 { #expect(try await buffer.chunk(at: index) == audio.chunks[index]) }
        await #expect(throws: CountedAudio.ClientGone.self) { try await buffer.chunk(at: 3) }
    }
}
