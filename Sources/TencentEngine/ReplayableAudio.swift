import Synchronization

/// The client's audio, read once, and replayable from its start until the first result reaches the client: a
/// retried upstream session (5000–5002, with a new voice_id) then hears the whole stream again.
final class ReplayableAudio<Audio: AsyncSequence & Sendable>: @unchecked Sendable where Audio.Element == [Int16] {
    // The iterator is used by one upstream sender at a time (attempts run one after the other); the recording is
    // shared with the receiver, which stops it, so it sits behind a lock.
    private var iterator: Audio.AsyncIterator
    private var replayPosition: Int?
    private let recording = Mutex<(chunks: [[Int16]], samples: Int, enabled: Bool)>(([], 0, true))
    private let maxReplaySamples: Int

    init(_ audio: Audio, maxReplaySamples: Int) {
        self.iterator = audio.makeAsyncIterator()
        self.maxReplaySamples = maxReplaySamples
    }

    /// The next chunk: recorded ones first after a ``rewind()``, then the client's.
    func next() async throws -> [Int16]? {
        if let position = self.replayPosition {
            let chunk = self.recording.withLock { position < $0.chunks.count ? $0.chunks[position] : nil }
            if let chunk {
                self.replayPosition = position + 1
                return chunk
            }
            self.replayPosition = nil
        }
        guard let chunk = try await self.iterator.next() else { return nil }
        self.recording.withLock { recording in
            guard recording.enabled else { return }
            recording.chunks.append(chunk)
            recording.samples += chunk.count
            if recording.samples > self.maxReplaySamples { recording = ([], 0, false) }
        }
        return chunk
    }

    /// No replay from now on (a result reached the client: a retry would send it twice).
    func stopRecording() {
        self.recording.withLock { $0 = ([], 0, false) }
    }

    /// Starts over from the first chunk; false when the recording was stopped.
    func rewind() -> Bool {
        guard self.recording.withLock({ $0.enabled }) else { return false }
        self.replayPosition = 0
        return true
    }
}
