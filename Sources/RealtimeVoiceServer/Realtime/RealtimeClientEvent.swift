import Foundation
import RealtimeVoiceErrors

/// A client event of `/v1/realtime` in transcription mode (docs/openai-realtime.md §3), checked field by field.
enum RealtimeClientEvent: Sendable, Equatable {
    /// `session.update` or `transcription_session.update`; `name` is the event's type, for the reply's.
    case update(name: String, session: EventFields)
    /// `input_audio_buffer.append`: the raw audio bytes, in the session's format.
    case append([UInt8])
    case commit
    case clear

    static let updateNames: Set<String> = ["session.update", "transcription_session.update"]
    /// Events of OpenAI's conversation API, which a transcription session does not take.
    static let conversationEvents: Set<String> = [
        "response.create", "response.cancel", "conversation.item.create", "conversation.item.delete", "conversation.item.truncate",
        "conversation.item.retrieve", "output_audio_buffer.clear",
    ]
    static let maxEventIDLength = 512

    /// Parses one text frame: the event, and its `event_id` (also when the event is refused: the error echoes it).
    static func parse(_ text: String) -> (eventID: String?, result: Result<RealtimeClientEvent, RealtimeEventError>) {
        guard let value = JSONValue.parse(text), case .object(let fields) = value else {
            return (nil, .failure(RealtimeEventError(.invalidEvent, "The event is not a JSON object; send one JSON object per text frame.")))
        }
        var eventID: String?
        if case .string(let id) = fields["event_id"], id.count <= Self.maxEventIDLength { eventID = id }
        return (eventID, Result { () throws(RealtimeEventError) in try Self.event(fields) })
    }

    private static func event(_ object: [String: JSONValue]) throws(RealtimeEventError) -> RealtimeClientEvent {
        let fields = try EventFields(.object(object), path: "")
        switch fields["event_id"] {
        case nil, .string?: break
        case let other?: throw .invalidType("event_id", expected: "a string", got: other)
        }
        if let id = try fields.string("event_id"), id.count > Self.maxEventIDLength {
            throw RealtimeEventError(.invalidValue, "'event_id' is longer than \(Self.maxEventIDLength) characters.", param: "event_id")
        }
        guard let typeValue = fields["type"] else {
            throw RealtimeEventError(.invalidEvent, "The 'type' field is missing.", param: "type")
        }
        guard case .string(let type) = typeValue else { throw .invalidType("type", expected: "a string", got: typeValue) }
        switch type {
        case _ where Self.updateNames.contains(type):
            try fields.allowOnly(["type", "event_id", "session"])
            guard let session = fields["session"] else { throw .missing("session") }
            return .update(name: type, session: try EventFields(session, path: "session"))
        case "input_audio_buffer.append":
            try fields.allowOnly(["type", "event_id", "audio"])
            guard let audio = try fields.string("audio", maxLength: .max) else { throw .missing("audio") }
            guard let bytes = Data(base64Encoded: audio) else {
                throw RealtimeEventError(
                    .invalidValue, "Invalid 'audio'. Expected base64-encoded audio bytes in the session's format (e.g. mono PCM16 at 24kHz).",
                    param: "audio")
            }
            return .append([UInt8](bytes))
        case "input_audio_buffer.commit":
            try fields.allowOnly(["type", "event_id"])
            return .commit
        case "input_audio_buffer.clear":
            try fields.allowOnly(["type", "event_id"])
            return .clear
        case _ where Self.conversationEvents.contains(type):
            throw RealtimeEventError(
                .unsupportedEvent, "'\(type)' belongs to conversation sessions; this server runs transcription sessions only.", param: "type")
        default:
            throw RealtimeEventError(.invalidEvent, "Unknown event type '\(type.prefix(60))'.", param: "type")
        }
    }
}

extension EventFields: Equatable {
    static func == (lhs: EventFields, rhs: EventFields) -> Bool { lhs.fields == rhs.fields && lhs.path == rhs.path }
}
