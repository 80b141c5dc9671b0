import Synchronization

extension SpeechRecognizer {
    /// Recognises a whole recording (PCM at ``sampleRate``) as one session, fed in chunks like a stream.
    /// `progress` is called with the fraction of the recording handed to the engine so far (0...1).
    public func transcribe(
        _ samples: [Int16],
        options: RecognitionOptions = RecognitionOptions(),
        chunkSamples: Int = 1_600,
        progress: (@Sendable (Double) -> Void)? = nil
    ) async throws -> [RecognizedSegment] {
        let chunks = stride(from: 0, to: samples.count, by: chunkSamples).map {
            Array(samples[$0..<min(samples.count, $0 + chunkSamples)])
        }
        let collected = Mutex<[RecognizedSegment]>([])
        try await self.recognize(RecordingChunks(chunks: chunks, progress: progress), options: options, onStart: {}) { event in
            if case .final(let segment) = event { collected.withLock { $0.append(segment) } }
        }
        return collected.withLock { $0 }
    }
}

/// The chunks of a recording as an `AsyncSequence`, reporting how far it has been read.
struct RecordingChunks: AsyncSequence, Sendable {
    let chunks: [[Int16]]
    let progress: (@Sendable (Double) -> Void)?

    struct AsyncIterator: AsyncIteratorProtocol {
        let chunks: [[Int16]]
        let progress: (@Sendable (Double) -> Void)?
        var position = 0

        mutating func next() async -> [Int16]? {
            guard self.position < self.chunks.count else { return nil }
            defer {
                self.position += 1
                self.progress?(Double(self.position) / Double(self.chunks.count))
            }
            return self.chunks[self.position]
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(chunks: self.chunks, progress: self.progress) }
}
