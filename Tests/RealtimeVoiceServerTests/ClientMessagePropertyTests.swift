import Foundation
import PropertyBased
import Testing

@testable import RealtimeVoiceServer

/// Property-based fuzzing of the stream's control-message parser: any text gives `end`, `ping`, or
/// `invalid_message` (close 1008), never a crash, and the error text stays short whatever the input.
@Suite("Control messages under generated input")
struct ClientMessagePropertyTests {
    static let fragments = ["{", "}", "\"type\"", ":", "\"end\"", "\"ping\"", ",", "[", "]", "null", "1e999", "\\u0000", "\"", " ", "true", "\"x\""]

    @Test("random JSON-ish text: end, ping or invalid_message")
    func randomJSONishText() async {
        await propertyCheck(count: 5_000, input: Gen.element(of: Self.fragments).array(of: 0...24)) { pieces in
            Self.check(pieces.compactMap { $0 }.joined())
        }
    }

    @Test("random letters and digits, up to 200 of them")
    func randomCharacters() async {
        await propertyCheck(count: 3_000, input: Gen<Character>.letterOrNumber.string(of: 0...200)) { text in
            Self.check(text)
        }
    }

    @Test("objects with a string type and extra fields parse by their type only")
    func extraFields() async {
        await propertyCheck(count: 2_000, input: Gen.element(of: ["end", "ping", "dance", ""]), Gen.letterOrNumber.string(of: 1...10)) { type, key in
            guard let type else { return }
            let text = "{\"\(key)\":[1,2,{}],\"type\":\"\(type)\"}"
            let parsed = try? ClientMessage.parse(text)
            switch type {
            case "end": #expect(parsed == .end)
            case "ping": #expect(parsed == .ping || key == "type")
            default: #expect(parsed == nil || key == "type")
            }
        }
    }

    static func check(_ text: String) {
        do {
            let message = try ClientMessage.parse(text)
            let type = (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["type"] as? String
            #expect(type == (message == .end ? "end" : "ping"), "\(text) parsed as \(message)")
        } catch {
            #expect(error.code == .invalidMessage)
            #expect(error.closeCode == .policyViolation)
            #expect(error.message.count < 300)
        }
    }
}
