import Testing

@testable import SpeechEngine

@Suite("Hotwords: the list a session or the server's file gives, checked and merged")
struct HotwordTests {
    @Test("phrase, phrase|weight and phrase|weight|pronunciation, separated by , or ， or new lines")
    func forms() throws {
        let list = try Hotword.parseList("腾讯云, 语音识别|5，zorblax|11|z ao1 r b l ae k s\n# a comment\nPocketSphinx|100")
        #expect(
            list == [
                Hotword(phrase: "腾讯云", weight: 10), Hotword(phrase: "语音识别", weight: 5),
                Hotword(phrase: "zorblax", weight: 11, pronunciation: "Z AO1 R B L AE K S"), Hotword(phrase: "PocketSphinx", weight: 100),
            ])
        #expect(list.map(\.weighted) == ["腾讯云|10", "语音识别|5", "zorblax|11", "PocketSphinx|100"])
        #expect(try Hotword.parseList(" , ,\n") == [])
        #expect(try Hotword.parseList("Kubernetes|") == [Hotword(phrase: "Kubernetes")])
    }

    @Test(
        "a malformed entry is refused with a message that names it",
        arguments: ["|10", "word|0", "word|12", "word|99", "word|ten", "word|10|K AE T|x", "word|10|K-AE", String(repeating: "长", count: 31)])
    func refused(entry: String) {
        #expect(throws: HotwordError.self) { try Hotword.parseList(entry) }
        do {
            _ = try Hotword.parseList(entry)
        } catch {
            #expect(error.message.contains("Hotword") && error.message.contains(String(entry.prefix(10))))
        }
    }

    @Test("the limits on length and count are the configured ones")
    func limits() throws {
        let limits = HotwordLimits(maxCount: 2, maxLength: 4)
        #expect(try Hotword.parseList("abcd,efgh", limits: limits).count == 2)
        #expect(throws: HotwordError.self) { try Hotword.parseList("abcde", limits: limits) }
        #expect(throws: HotwordError.self) { try Hotword.parseList("a,b,c", limits: limits) }
        #expect(try Hotword.parseList((1...128).map { "w\($0)" }.joined(separator: ",")).count == 128)
        #expect(throws: HotwordError.self) { try Hotword.parseList((1...129).map { "w\($0)" }.joined(separator: ",")) }
    }

    @Test("a session's entry replaces the server's for the same phrase (any case); the count includes both")
    func merged() throws {
        let server = [Hotword(phrase: "Tencent", weight: 5), Hotword(phrase: "WeChat")]
        let merged = try Hotword.merged(server, [Hotword(phrase: "tencent", weight: 11), Hotword(phrase: "Mini Program")], limits: .init())
        #expect(merged == [Hotword(phrase: "tencent", weight: 11), Hotword(phrase: "WeChat"), Hotword(phrase: "Mini Program")])
        #expect(try Hotword.parseList("a|3,A|7") == [Hotword(phrase: "A", weight: 7)])
        #expect(throws: HotwordError.self) { try Hotword.merged(server, [Hotword(phrase: "x")], limits: .init(maxCount: 2)) }
    }
}
