import Foundation
import PropertyBased
import RealtimeVoiceErrors
import Testing

@testable import RealtimeVoiceServer

/// `/v1/realtime`'s pure parts: deltas from revising hypotheses, session updates in both shapes, event parsing.
@Suite("/v1/realtime events")
struct RealtimeEventTests {
    @Test("deltas add only new text; a revision sends nothing until a hypothesis extends what was sent")
    func deltasAcrossRevisions() {
        var deltas = TranscriptDeltas()
        let hypotheses = ["hello wor", "hello world", "hollow world", "hollow world and", "hello world.", "hello world. and more"]
        let sent = hypotheses.map { deltas.delta(for: $0) }
        #expect(sent == ["hello wor", "ld", nil, nil, ".", " and more"])
        #expect(deltas.sent == "hello world. and more")
    }

    @Test("a combining mark is new text, not a changed last character")
    func combiningMark() {
        var deltas = TranscriptDeltas()
        #expect(deltas.delta(for: "cafe") == "cafe")
        #expect(deltas.delta(for: "cafe\u{301} au lait") == "\u{301} au lait")
        #expect(deltas.delta(for: "你好") == nil)
    }

    @Test("the deltas sent always concatenate to a prefix of the last hypothesis they were sent for")
    func deltasArePrefixes() async {
        let words = ["a", "b", "c", "hello", "你", "好", "."]
        await propertyCheck(count: 500, input: Gen.element(of: words).array(of: 0...6).array(of: 1...12)) { hypotheses in
            var deltas = TranscriptDeltas()
            var joined = ""
            for hypothesis in hypotheses.map({ $0.compactMap { $0 }.joined(separator: " ") }) {
                if let delta = deltas.delta(for: hypothesis) {
                    joined += delta
                    #expect(joined == hypothesis)
                }
                #expect(hypothesis.unicodeScalars.starts(with: joined.unicodeScalars) || joined == deltas.sent)
            }
            #expect(joined == deltas.sent)
        }
    }

    static func session(_ json: String) throws -> EventFields {
        try EventFields(try #require(JSONValue.parse(json)), path: "session")
    }

    @Test("a GA update sets format, transcription and turn detection; the reply carries the full session")
    func gaUpdate() throws {
        let initial = RealtimeSettings(shape: .ga, model: "whisper")
        let next = try initial.applying(
            Self.session(
                #"{"type":"transcription","audio":{"input":{"format":{"type":"audio/pcmu"},"transcription":{"model":"gpt-4o-transcribe","language":"zh","prompt":"会议"},"turn_detection":null,"noise_reduction":{"type":"near_field"}}},"include":["item.input_audio_transcription.logprobs"]}"#
            ))
        #expect(next.format == .pcmu && next.model == "gpt-4o-transcribe" && next.language == "zh" && next.prompt == "会议")
        #expect(next.turnDetection == nil && next.noiseReduction == "near_field" && next.wantsLogprobs)
        #expect(initial.changesAudio(next))
        guard case .object(let encoded) = next.encoded(sessionID: "sess_1"), case .object(let audio) = encoded["audio"],
            case .object(let input) = audio["input"]
        else {
            Issue.record("not an object")
            return
        }
        #expect(encoded["type"] == "transcription" && encoded["id"] == "sess_1")
        #expect(input["format"] == ["type": "audio/pcmu"] && input["turn_detection"] == .null)
        #expect(input["transcription"] == ["model": "gpt-4o-transcribe", "language": "zh", "prompt": "会议"])
    }

    @Test("a flat session in session.update is beta-shaped; fields left out keep their values")
    func betaUpdate() throws {
        var settings = RealtimeSettings(shape: .ga, model: "pocketsphinx")
        settings = try settings.applying(
            Self.session(#"{"input_audio_format":"g711_alaw","turn_detection":{"type":"server_vad","silence_duration_ms":800}}"#))
        #expect(settings.shape == .beta && settings.format == .pcma)
        #expect(settings.turnDetection == .serverVAD(threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 800))
        settings = try settings.applying(Self.session(#"{"input_audio_transcription":{"language":"en"}}"#))
        #expect(settings.format == .pcma && settings.language == "en" && settings.model == "pocketsphinx")
        guard case .object(let encoded) = settings.encoded(sessionID: "sess_2") else { return }
        #expect(encoded["input_audio_format"] == "g711_alaw" && encoded["audio"] == nil)
    }

    @Test("a bad update changes nothing and names the field")
    func badUpdateIsAtomic() throws {
        let settings = RealtimeSettings(shape: .ga, model: "whisper")
        #expect(throws: RealtimeEventError.self) {
            try settings.applying(
                Self.session(#"{"type":"transcription","audio":{"input":{"format":{"type":"audio/pcmu"},"turn_detection":{"type":"x"}}}}"#))
        }
        do {
            _ = try settings.applying(
                Self.session(#"{"type":"transcription","audio":{"input":{"turn_detection":{"type":"server_vad","threshold":7}}}}"#))
            Issue.record("a threshold of 7 was taken")
        } catch let error as RealtimeEventError {
            #expect(error.code == .invalidValue && error.param == "session.audio.input.turn_detection.threshold")
        }
        #expect(settings.format == .pcm)
    }

    @Test("client events: the four this API takes, the event_id kept even when the event is refused")
    func clientEvents() throws {
        #expect(try RealtimeClientEvent.parse(#"{"type":"input_audio_buffer.append","audio":"AAEC"}"#).result.get() == .append([0, 1, 2]))
        #expect(try RealtimeClientEvent.parse(#"{"type":"input_audio_buffer.commit"}"#).result.get() == .commit)
        #expect(try RealtimeClientEvent.parse(#"{"type":"input_audio_buffer.clear","event_id":"e1"}"#).result.get() == .clear)
        let refused = RealtimeClientEvent.parse(#"{"type":"response.create","event_id":"e2"}"#)
        #expect(refused.eventID == "e2")
        #expect(throws: RealtimeEventError.self) { try refused.result.get() }
        for text in ["", "[", "{\"type\":true}", "{\"type\":\"input_audio_buffer.append\",\"audio\":\"%%\"}"] {
            #expect(throws: RealtimeEventError.self) { try RealtimeClientEvent.parse(text).result.get() }
        }
    }
}
