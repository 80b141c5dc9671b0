import CSoxr
import RealtimeVoiceErrors

/// Streaming sample-rate conversion of mono 16-bit PCM, by libsoxr.
///
/// Not thread-safe: one stream, one task.
public final class Resampler {
    private let handle: soxr_t
    public let inputRate: Int
    public let outputRate: Int

    public init(from inputRate: Int, to outputRate: Int) throws(AudioFormatError) {
        var error: soxr_error_t?
        var ioSpec = soxr_io_spec(SOXR_INT16_I, SOXR_INT16_I)
        var quality = soxr_quality_spec(UInt(SOXR_HQ), 0)
        guard let handle = soxr_create(Double(inputRate), Double(outputRate), 1, &error, &ioSpec, &quality, nil), error == nil else {
            throw AudioFormatError(code: .invalidAudio, message: "Cannot resample \(inputRate) Hz to \(outputRate) Hz.")
        }
        self.handle = handle
        self.inputRate = inputRate
        self.outputRate = outputRate
    }

    deinit {
        soxr_delete(self.handle)
    }

    /// Converts a chunk; the resampler keeps a few milliseconds of look-ahead until ``flush()``.
    public func process(_ samples: [Int16]) -> [Int16] {
        guard !samples.isEmpty else { return [] }
        let capacity = samples.count * self.outputRate / self.inputRate + 256
        var output = [Int16](repeating: 0, count: capacity)
        var produced = 0
        var consumed = 0
        samples.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                _ = soxr_process(self.handle, input.baseAddress, input.count, &consumed, out.baseAddress, out.count, &produced)
            }
        }
        output.removeSubrange(produced...)
        return output
    }

    /// Returns the samples still held back, at the end of the stream.
    public func flush() -> [Int16] {
        var result: [Int16] = []
        var chunk = [Int16](repeating: 0, count: 4096)
        while true {
            var produced = 0
            chunk.withUnsafeMutableBufferPointer { out in
                _ = soxr_process(self.handle, nil, 0, nil, out.baseAddress, out.count, &produced)
            }
            guard produced > 0 else { break }
            result.append(contentsOf: chunk[0..<produced])
        }
        return result
    }
}
