import Synchronization

extension SpeechRecognizer {
    /// Recognises a whole recording (PCM at ``sampleRate``) as one session, fed in chunks like a stream.
    public func transcribe(_ samples: [Int16], options: RecognitionOptions = RecognitionOptions(), chunkSamples: Int = 1_600) async throws -> [RecognizedSegment] {
        let chunks = stride(from: 0, to: samples.count, by: chunkSamples).map {
            Array(samples[$0..<min(samples.count, $0 + chunkSamples)])
        }
        let collected = Mutex<[RecognizedSegment]>([])
        try await self.recognize(RecordingChunks(chunks: chunks), options: options, onStart: {}) { event in
            if case .final(let segment) = event { collected.withLock { $0.append(segment) } }
        }
        return collected.withLock { $0 }
    }
}

/// The chunks of a recording as an `AsyncSequence`.
struct RecordingChunks: AsyncSequence, Sendable {
    let chunks: [[Int16]]

    struct AsyncIterator: AsyncIteratorProtocol {
        var iterator: IndexingIterator<[[Int16]]>
        mutating func next() async -> [Int16]? { self.iterator.next() }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(iterator: self.chunks.makeIterator()) }
}
