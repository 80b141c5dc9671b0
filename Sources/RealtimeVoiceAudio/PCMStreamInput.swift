import RealtimeVoiceErrors

/// Turns the bytes a client streams into mono 16-bit PCM at the engine's sample rate.
///
/// - A RIFF/WAV header at the start of the stream (a common client mistake) is skipped and its sample rate
///   and channel count honoured.
/// - An odd trailing byte is kept for the next chunk, not treated as an error.
/// - Any other rate is converted by libsoxr.
/// - G.711 (μ-law or A-law bytes at 8 kHz, ``init(companded:targetSampleRate:)``) is expanded first; no header.
///
/// Not thread-safe: one stream, one task.
public struct PCMStreamInput {
    private enum Phase {
        /// Looking at the first bytes for a WAV header.
        case sniffing([UInt8])
        case pcm
        /// One G.711 byte a sample, at 8 kHz.
        case companded(G711)
    }

    private var phase: Phase = .sniffing([])
    private var pending: [UInt8] = []
    private var resampler: Resampler?
    private var channels = 1
    public let targetSampleRate: Int
    /// The rate of the incoming PCM: the declared one, or the WAV header's.
    public private(set) var inputSampleRate: Int
    /// The WAV header found at the start of the stream, if any.
    public private(set) var wavHeader: WAVHeader?
    /// Input samples (per channel) received so far.
    public private(set) var receivedSamples = 0

    public init(declaredSampleRate: Int, targetSampleRate: Int) {
        self.inputSampleRate = declaredSampleRate
        self.targetSampleRate = targetSampleRate
    }

    /// A stream of G.711 bytes (8 kHz telephony audio), expanded to 16-bit PCM and resampled to `targetSampleRate`.
    public init(companded law: G711, targetSampleRate: Int) throws(AudioFormatError) {
        self.inputSampleRate = 8_000
        self.targetSampleRate = targetSampleRate
        self.phase = .companded(law)
        try self.configure(rate: 8_000, channels: 1)
    }

    /// Milliseconds of audio received so far.
    public var receivedMilliseconds: Int { self.receivedSamples * 1000 / max(1, self.inputSampleRate) }

    /// Feeds bytes; returns the samples ready for the engine (possibly none).
    public mutating func push(_ bytes: some Collection<UInt8>) throws(AudioFormatError) -> [Int16] {
        switch self.phase {
        case .sniffing(var head):
            head.append(contentsOf: bytes)
            switch try WAVHeader.sniff(head) {
            case .needMoreData:
                self.phase = .sniffing(head)
                return []
            case .notWAV:
                self.phase = .pcm
                try self.configure(rate: self.inputSampleRate, channels: 1)
                return self.convert(head)
            case .header(let header):
                guard header.formatTag == 1 || header.formatTag == 0xFFFE, header.bitsPerSample == 16 else {
                    throw AudioFormatError(
                        code: .invalidAudio,
                        message: "The stream's WAV header announces \(header.bitsPerSample)-bit format \(header.formatTag); send 16-bit PCM."
                    )
                }
                guard (1...2).contains(header.channels), (8_000...48_000).contains(header.sampleRate) else {
                    throw AudioFormatError(
                        code: .invalidAudio,
                        message: """
                            The stream's WAV header announces \(header.channels) channels at \(header.sampleRate) Hz; \
                            send mono or stereo at 8000-48000 Hz.
                            """
                    )
                }
                self.phase = .pcm
                self.wavHeader = header
                try self.configure(rate: header.sampleRate, channels: header.channels)
                return self.convert(head[header.dataOffset...])
            }
        case .pcm:
            return self.convert(bytes)
        case .companded(let law):
            let samples = law.decode(bytes)
            self.receivedSamples += samples.count
            return self.resampler.map { $0.process(samples) } ?? samples
        }
    }

    /// End of stream: whatever the sniffer or the resampler still holds.
    public mutating func finish() throws(AudioFormatError) -> [Int16] {
        var tail: [Int16] = []
        if case .sniffing(let head) = self.phase {
            self.phase = .pcm
            try self.configure(rate: self.inputSampleRate, channels: 1)
            tail = self.convert(head)
        }
        if let resampler = self.resampler {
            tail += resampler.flush()
        }
        return tail
    }

    private mutating func configure(rate: Int, channels: Int) throws(AudioFormatError) {
        self.inputSampleRate = rate
        self.channels = channels
        self.resampler = rate == self.targetSampleRate ? nil : try Resampler(from: rate, to: self.targetSampleRate)
    }

    private mutating func convert(_ bytes: some Collection<UInt8>) -> [Int16] {
        let frameBytes = 2 * self.channels
        var samples: [Int16]
        if self.pending.isEmpty {
            samples = Self.decode(bytes, channels: self.channels, pending: &self.pending, frameBytes: frameBytes)
        } else {
            let joined = self.pending + bytes
            self.pending.removeAll()
            samples = Self.decode(joined, channels: self.channels, pending: &self.pending, frameBytes: frameBytes)
        }
        self.receivedSamples += samples.count
        if let resampler = self.resampler {
            samples = resampler.process(samples)
        }
        return samples
    }

    /// Little-endian 16-bit frames to mono samples; a partial frame at the end goes to `pending`.
    private static func decode(_ bytes: some Collection<UInt8>, channels: Int, pending: inout [UInt8], frameBytes: Int) -> [Int16] {
        let whole = bytes.count - bytes.count % frameBytes
        if whole < bytes.count {
            pending.append(contentsOf: bytes.dropFirst(whole))
        }
        let frames = whole / frameBytes
        guard frames > 0 else { return [] }
        return [Int16](unsafeUninitializedCapacity: frames) { out, initialized in
            let copied: Void? = bytes.withContiguousStorageIfAvailable { raw in
                Self.decode(UnsafeRawBufferPointer(raw), frames: frames, channels: channels, into: out)
            }
            if copied == nil {
                Array(bytes.prefix(whole)).withUnsafeBytes { Self.decode($0, frames: frames, channels: channels, into: out) }
            }
            initialized = frames
        }
    }

    private static func decode(_ raw: UnsafeRawBufferPointer, frames: Int, channels: Int, into out: UnsafeMutableBufferPointer<Int16>) {
        if channels == 1 {
            for index in 0..<frames {
                out[index] = Int16(littleEndian: raw.loadUnaligned(fromByteOffset: index * 2, as: Int16.self))
            }
        } else {
            for index in 0..<frames {
                let left = Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: Int16.self)))
                let right = Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4 + 2, as: Int16.self)))
                out[index] = Int16((left + right) / 2)
            }
        }
    }
}
