/// A message from Tencent's real-time ASR: the handshake, results, the final, or an error (docs/tencent.md,
/// “Handshake, results, final and errors”).
struct UpstreamMessage: Decodable, Sendable {
    struct Result: Decodable, Sendable {
        struct Word: Decodable, Sendable {
            let word: String
            let start_time: Int
            let end_time: Int
            let stable_flag: Int?
        }

        /// 0 sentence start, 1 in progress, 2 sentence end.
        let slice_type: Int
        let index: Int
        let start_time: Int
        let end_time: Int
        let voice_text_str: String
        let word_list: [Word]?
    }

    let code: Int
    let message: String?
    let voice_id: String?
    let result: Result?
    let final: Int?
}

/// How an upstream error code is answered.
enum UpstreamFailure: Error, Equatable {
    /// Configuration or account problems (4001–4007 but 4006, 6001): retrying cannot help.
    case rejected(code: Int, message: String)
    /// An API 3.0 request refused for its credentials, account or parameters (string codes like `AuthFailure.…`).
    case rejectedAPI(code: String, message: String)
    /// Tencent's concurrency limit (4006).
    case busy(message: String)
    /// Overload or network jitter (5000–5002): a new session with a new voice_id may work.
    case retryable(code: Int, message: String)
    /// No handshake within the response timeout: nothing was recognised yet, and a new session may work.
    case unanswered(String)
    /// Anything else: our pacing was broken (4000, 4008), the connection dropped, no answer in time.
    case failed(String)

    init(code: Int, message: String) {
        switch code {
        case 4006: self = .busy(message: message)
        case 4001...4007, 6001: self = .rejected(code: code, message: message)
        case 5000...5002: self = .retryable(code: code, message: message)
        default: self = .failed("Tencent ASR ended the session with code \(code): \(message)")
        }
    }
}
