import CWebRTCVAD

/// WebRTC's voice activity detector (a Gaussian-mixture model over six sub-bands, the one in every browser)
/// from Debian's libwebrtc-audio-processing: says of each 30 ms frame whether it holds speech.
///
/// One detector per stream: it adapts to the stream's noise. Not thread-safe; a session uses it from one task.
final class VoiceActivityDetector {
    let sampleRate: Int
    /// Samples in one frame: 30 ms.
    let frameSamples: Int
    private let handle: OpaquePointer

    /// - Parameters:
    ///   - sampleRate: 8000, 16000, 32000 or 48000.
    ///   - mode: aggressiveness 0...3; higher calls more noise "not speech" (and risks clipping soft speech).
    init(sampleRate: Int, mode: Int) throws(VADError) {
        guard let handle = WebRtcVad_Create() else { throw VADError(message: "WebRtcVad_Create failed (out of memory).") }
        self.handle = handle
        self.sampleRate = sampleRate
        self.frameSamples = sampleRate * 30 / 1000
        guard WebRtcVad_Init(handle) == 0, WebRtcVad_set_mode(handle, Int32(mode)) == 0,
            WebRtcVad_ValidRateAndFrameLength(Int32(sampleRate), self.frameSamples) == 0
        else {
            WebRtcVad_Free(handle)
            throw VADError(message: "The WebRTC VAD takes 8, 16, 32 or 48 kHz and modes 0-3 (got \(sampleRate) Hz, mode \(mode)).")
        }
    }

    deinit { WebRtcVad_Free(self.handle) }

    /// Whether `frame` (exactly ``frameSamples`` samples) holds speech.
    func isSpeech(_ frame: ArraySlice<Int16>) -> Bool {
        precondition(frame.count == self.frameSamples)
        return frame.withUnsafeBufferPointer { WebRtcVad_Process(self.handle, Int32(self.sampleRate), $0.baseAddress, $0.count) } == 1
    }
}

struct VADError: Error, CustomStringConvertible {
    let message: String
    var description: String { self.message }
}
