import NIOWebSocket
import RealtimeVoiceAudio
import SpeechEngine

/// Why a streaming session ends with an error: the `error` message's code, and the close code after it.
struct StreamSessionError: Error, Sendable {
    let code: String
    let message: String
    let closeCode: WebSocketErrorCode

    static func invalidMessage(_ message: String) -> Self {
        .init(code: "invalid_message", message: message, closeCode: .policyViolation)
    }

    static func invalidAudio(_ error: AudioFormatError) -> Self {
        .init(code: error.code, message: error.message, closeCode: .unacceptableData)
    }

    static func idleTimeout(_ limit: Duration) -> Self {
        .init(code: "idle_timeout", message: "No audio for \(limit); the session was closed.", closeCode: .normalClosure)
    }

    static func maxDuration(_ limit: Duration) -> Self {
        .init(code: "max_duration", message: "The session reached its maximum length of \(limit).", closeCode: .normalClosure)
    }

    /// Engine errors: `busy` and `engine_unavailable` close with 1013 (try again later), others with 1011.
    static func engine(_ error: RecognitionError) -> Self {
        switch error.code {
        case "busy", RecognitionError.engineUnavailableCode: .init(code: error.code, message: error.message, closeCode: .unknown(1013))
        case "server_shutting_down": .init(code: error.code, message: error.message, closeCode: .goingAway)
        default: .init(code: error.code, message: error.message, closeCode: .unexpectedServerError)
        }
    }
}

extension StreamSessionError {
    static func frameTooLarge(size: Int, limit: Int) -> Self {
        .init(
            code: "frame_too_large",
            message: "A message of \(size) bytes is over this server's limit of \(limit) bytes; send smaller frames (e.g. 100 ms of audio).",
            closeCode: .messageTooLarge
        )
    }

    /// The engine fell too far behind the client's audio.
    static func overloaded(behind limit: Duration) -> Self {
        .init(
            code: "overloaded",
            message: "The recognizer fell more than \(limit) behind your audio; the server is overloaded, try again shortly.",
            closeCode: .unknown(1013)
        )
    }

    /// Graceful shutdown: sent after the session's finals, then close 1001.
    static func shuttingDown() -> Self {
        .init(code: "server_shutting_down", message: "The server is shutting down; reconnect to continue.", closeCode: .goingAway)
    }

    static func audioAfterEnd() -> Self {
        .invalidMessage("Audio arrived after {\"type\":\"end\"}; open a new session for new audio.")
    }
}
