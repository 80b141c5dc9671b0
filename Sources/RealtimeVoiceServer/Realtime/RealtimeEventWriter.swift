import Foundation
import HummingbirdWebSocket
import RealtimeVoiceErrors
import SpeechEngine
import Synchronization

/// Writes `/v1/realtime` server events (docs/openai-realtime.md §4), each with an `event_id` unique to the session.
/// Safe to use from the session's reader and engine tasks at once.
final class RealtimeEventWriter: Sendable {
    private let outbound: WebSocketOutboundWriter
    private let prefix: String
    private let counter = Atomic<Int>(0)

    init(outbound: WebSocketOutboundWriter, sessionID: String) {
        self.outbound = outbound
        self.prefix = "event_\(sessionID.dropFirst("sess_".count).prefix(12))_"
    }

    func send(_ type: String, _ fields: [String: JSONValue] = [:]) async throws {
        var object = fields
        object["type"] = .string(type)
        object["event_id"] = .string(self.prefix + String(self.counter.add(1, ordering: .relaxed).newValue))
        try await self.outbound.write(.text(JSONValue.object(object).jsonText))
    }

    func error(_ error: RealtimeEventError) async throws {
        try await self.send("error", ["error": error.body])
    }

    // MARK: Items

    func speechStarted(item: String, atMs: Int) async throws {
        try await self.send("input_audio_buffer.speech_started", ["item_id": .string(item), "audio_start_ms": .number(Double(atMs))])
    }

    func speechStopped(item: String, atMs: Int) async throws {
        try await self.send("input_audio_buffer.speech_stopped", ["item_id": .string(item), "audio_end_ms": .number(Double(atMs))])
    }

    /// `input_audio_buffer.committed`, then the user item (`conversation.item.added` in GA, `.created` in beta).
    func committed(item: String, previous: String?, shape: RealtimeSettings.Shape) async throws {
        try await self.send("input_audio_buffer.committed", ["item_id": .string(item), "previous_item_id": previous.json])
        let body: JSONValue = [
            "id": .string(item), "object": "realtime.item", "type": "message", "role": "user", "status": "completed",
            "content": [["type": "input_audio", "transcript": nil]],
        ]
        try await self.send(
            shape == .ga ? "conversation.item.added" : "conversation.item.created", ["previous_item_id": previous.json, "item": body])
    }

    func delta(item: String, _ text: String) async throws {
        try await self.send(
            "conversation.item.input_audio_transcription.delta", ["item_id": .string(item), "content_index": 0, "delta": .string(text)])
    }

    /// The item's transcript; `logprobs` (one per word, from the engine's confidence) when the session asked for them.
    func completed(item: String, transcript: String, seconds: Double, words: [RecognizedWord]?) async throws {
        var fields: [String: JSONValue] = [
            "item_id": .string(item), "content_index": 0, "transcript": .string(transcript),
            "usage": ["type": "duration", "seconds": .number((seconds * 1000).rounded() / 1000)],
        ]
        if let words {
            fields["logprobs"] = .array(
                words.map { word in
                    [
                        "token": .string(word.text), "logprob": .number(log(max(word.confidence, 1e-6))),
                        "bytes": .array(word.text.utf8.map { .number(Double($0)) }),
                    ]
                })
        }
        try await self.send("conversation.item.input_audio_transcription.completed", fields)
    }

    func failed(item: String, _ error: RecognitionError) async throws {
        try await self.send(
            "conversation.item.input_audio_transcription.failed",
            [
                "item_id": .string(item), "content_index": 0,
                "error": ["type": "transcription_error", "code": .string(error.code.name), "message": .string(error.message), "param": nil],
            ])
    }
}
