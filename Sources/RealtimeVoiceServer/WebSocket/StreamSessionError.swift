import NIOWebSocket
import RealtimeVoiceAudio
import RealtimeVoiceErrors
import SpeechEngine

/// Why a streaming session ends with an error: the `error` message's code, and the close code the catalogue gives
/// it (``ErrorCode/closeCode``).
struct StreamSessionError: Error, Sendable {
    let code: ErrorCode
    let message: String

    init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The close code after the `error` message (1011 for a code that has none, which would be a bug).
    var closeCode: WebSocketErrorCode {
        WebSocketErrorCode(codeNumber: Int(self.code.closeCode ?? 1011))
    }

    static func invalidMessage(_ message: String) -> Self {
        .init(.invalidMessage, message)
    }

    /// A WAV header or PCM the stream cannot take (1003).
    static func invalidAudio(_ error: AudioFormatError) -> Self {
        .init(error.code.closeCode == nil ? .invalidAudio : error.code, error.message)
    }

    static func idleTimeout(_ limit: Duration) -> Self {
        .init(.idleTimeout, "No audio for \(limit); the session was closed.")
    }

    static func maxDuration(_ limit: Duration) -> Self {
        .init(.maxDuration, "The session reached its maximum length of \(limit).")
    }

    /// An engine's error, closed as the catalogue says: `busy` and `engine_unavailable` with 1013 (try again later),
    /// `server_shutting_down` with 1001, failures with 1011.
    static func engine(_ error: RecognitionError) -> Self {
        .init(error.code.closeCode == nil ? .engineFailed : error.code, error.message)
    }
}

extension StreamSessionError {
    static func frameTooLarge(size: Int, limit: Int) -> Self {
        .init(.frameTooLarge, "A message of \(size) bytes is over this server's limit of \(limit) bytes; send smaller frames (e.g. 100 ms of audio).")
    }

    /// The engine fell too far behind the client's audio.
    static func overloaded(behind limit: Duration) -> Self {
        .init(.overloaded, "The recognizer fell more than \(limit) behind your audio; the server is overloaded, try again shortly.")
    }

    /// Graceful shutdown: sent after the session's finals, then close 1001.
    static func shuttingDown() -> Self {
        .init(.serverShuttingDown, "The server is shutting down; reconnect to continue.")
    }

    static func audioAfterEnd() -> Self {
        .invalidMessage("Audio arrived after {\"type\":\"end\"}; open a new session for new audio.")
    }
}
