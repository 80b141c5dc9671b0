import Foundation
import SpeechEngine

/// What the server sends on `/api/realtime-voice/stream` (protocol v1), one JSON text message each.
enum ServerMessage: Encodable, Sendable {
    /// `resumeToken`: nil when the server does not resume streams (`--resume-window 0`); `instance` names the gateway
    /// that holds the session, for a load balancer's resume rule.
    case ready(sessionID: String, engine: String, sampleRate: Int, resumeToken: String?, instance: String)
    /// `seq` numbers partials and finals from 1, for a resume's `last_seq`.
    case partial(segment: Int, text: String, seq: Int)
    /// A segment's final text; `language` is the segment's as the engine heard it, else the session's (nil for `auto`).
    case final(RecognizedSegment, language: String?, seq: Int)
    /// A resume was accepted: the results after the client's `last_seq` follow; `receivedMs` is the audio the
    /// server has, from which the client goes on sending.
    case resumed(sessionID: String, receivedMs: Int, instance: String)
    /// A resume was refused; `reason` is `unknown`, `foreign` or `ended`.
    case resumeFailed(reason: String, message: String)
    case completed(sessionID: String, durationMs: Int)
    case error(code: String, message: String)
    /// Something the client should know that ends nothing: `code` says what (`hotwords_ignored`).
    case notice(code: String, message: String, ignored: [IgnoredHotword])
    case pong

    /// The notice after `ready` when the engine will not use some of the session's hotwords.
    static func hotwordsIgnored(_ ignored: [IgnoredHotword], of count: Int) -> ServerMessage {
        .notice(code: "hotwords_ignored", message: "The engine ignores \(ignored.count) of the \(count) hotwords.", ignored: ignored)
    }

    private enum Key: String, CodingKey {
        case type, sessionID = "session_id", engine, sampleRate = "sample_rate", segment, text
        case startMs = "start_ms", endMs = "end_ms", words, language, durationMs = "duration_ms", code, message, hotwords
        case resumeToken = "resume_token", instance, seq, receivedMs = "received_ms", reason
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        switch self {
        case .ready(let sessionID, let engine, let sampleRate, let resumeToken, let instance):
            try container.encode("ready", forKey: .type)
            try container.encode(sessionID, forKey: .sessionID)
            try container.encode(engine, forKey: .engine)
            try container.encode(sampleRate, forKey: .sampleRate)
            try container.encodeIfPresent(resumeToken, forKey: .resumeToken)
            try container.encode(instance, forKey: .instance)
        case .partial(let segment, let text, let seq):
            try container.encode("partial", forKey: .type)
            try container.encode(segment, forKey: .segment)
            try container.encode(text, forKey: .text)
            try container.encode(seq, forKey: .seq)
        case .resumed(let sessionID, let receivedMs, let instance):
            try container.encode("resumed", forKey: .type)
            try container.encode(sessionID, forKey: .sessionID)
            try container.encode(receivedMs, forKey: .receivedMs)
            try container.encode(instance, forKey: .instance)
        case .resumeFailed(let reason, let message):
            try container.encode("error", forKey: .type)
            try container.encode("resume_failed", forKey: .code)
            try container.encode(reason, forKey: .reason)
            try container.encode(message, forKey: .message)
        case .final(let segment, let language, let seq):
            try container.encode("final", forKey: .type)
            try container.encode(seq, forKey: .seq)
            try container.encodeIfPresent(segment.language ?? language, forKey: .language)
            try container.encode(segment.index, forKey: .segment)
            try container.encode(segment.text, forKey: .text)
            try container.encode(segment.startMs, forKey: .startMs)
            try container.encode(segment.endMs, forKey: .endMs)
            try container.encode(segment.words.map(WordBody.init), forKey: .words)
        case .completed(let sessionID, let durationMs):
            try container.encode("completed", forKey: .type)
            try container.encode(sessionID, forKey: .sessionID)
            try container.encode(durationMs, forKey: .durationMs)
        case .error(let code, let message):
            try container.encode("error", forKey: .type)
            try container.encode(code, forKey: .code)
            try container.encode(message, forKey: .message)
        case .notice(let code, let message, let ignored):
            try container.encode("notice", forKey: .type)
            try container.encode(code, forKey: .code)
            try container.encode(message, forKey: .message)
            try container.encode(ignored, forKey: .hotwords)
        case .pong:
            try container.encode("pong", forKey: .type)
        }
    }

    var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self))
            ?? #"{"type":"error","code":"internal_error","message":"encoding failed"}"#
    }
}

/// What a client may send as text: `{"type":"end"}` or `{"type":"ping"}`.
enum ClientMessage: Equatable {
    case end
    case ping

    private struct Envelope: Decodable {
        let type: String
    }

    /// Parses a text message; the error is `invalid_message` with the reason.
    static func parse(_ text: String) throws(StreamSessionError) -> ClientMessage {
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(text.utf8)) else {
            throw .invalidMessage("Text messages must be JSON objects with a string 'type' (\"end\" or \"ping\"); got \(Self.excerpt(text)).")
        }
        switch envelope.type {
        case "end": return .end
        case "ping": return .ping
        default: throw .invalidMessage("Unknown message type '\(Self.excerpt(envelope.type))'; expected \"end\" or \"ping\".")
        }
    }

    private static func excerpt(_ text: String) -> String {
        text.count > 60 ? "'\(text.prefix(60))…'" : "'\(text)'"
    }
}
