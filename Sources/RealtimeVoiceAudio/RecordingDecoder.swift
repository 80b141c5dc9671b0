import RealtimeVoiceErrors

/// Turns a whole recording (any container ffmpeg knows, or raw PCM s16le announced by its sample rate) into mono
/// 16-bit PCM at the engine's rate. Used by uploads and by `realtime-voice transcribe`.
///
/// ``decode(_:rawSampleRate:)`` blocks (ffmpeg, resampling): call it on a thread pool.
public struct RecordingDecoder: Sendable {
    public var outputSampleRate: Int
    /// Longest recording accepted; longer is `audio_too_long`.
    public var maxDuration: Duration
    /// Wall-clock limit for one ffmpeg run.
    public var timeout: Duration

    public init(outputSampleRate: Int, maxDuration: Duration, timeout: Duration) {
        self.outputSampleRate = outputSampleRate
        self.maxDuration = maxDuration
        self.timeout = timeout
    }

    /// `rawSampleRate` (Hz) says the bytes may be headerless PCM: it wins unless the bytes carry a real container
    /// signature (a lone MPEG frame sync does not count: a PCM sample of -1 looks like one).
    public func decode(_ bytes: [UInt8], rawSampleRate: Int? = nil) throws(AudioFormatError) -> [Int16] {
        let container = AudioContainer.sniff(bytes)
        if let rawSampleRate, container == .unknown || AudioContainer.isFrameSyncOnly(bytes) {
            var input = PCMStreamInput(declaredSampleRate: rawSampleRate, targetSampleRate: self.outputSampleRate)
            let samples = try input.push(bytes) + input.finish()
            guard Double(samples.count) <= (self.maxDuration / .seconds(1)) * Double(self.outputSampleRate) else {
                throw AudioFormatError(code: .audioTooLong, message: "The recording is longer than the limit of \(self.maxDuration).")
            }
            return samples
        }
        let decoder = FFmpegDecoder(outputSampleRate: self.outputSampleRate, maxDuration: self.maxDuration, timeout: self.timeout)
        return try decoder.decode(bytes, container: container).samples
    }
}
