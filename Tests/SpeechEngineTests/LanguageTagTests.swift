import Testing

@testable import SpeechEngine

@Suite("Language tags: what clients write, what engines are told, what answers say")
struct LanguageTagTests {
    @Test(
        "Mandarin and English spellings become one tag each",
        arguments: [
            ("zh", "zh-CN"), ("zh-CN", "zh-CN"), ("zh-cn", "zh-CN"), ("cmn", "zh-CN"), ("zh-Hans", "zh-CN"), (" ZH ", "zh-CN"),
            ("en", "en-US"), ("en-us", "en-US"), ("EN-US", "en-US"), ("auto", "auto"), ("AUTO", "auto"),
            ("", "en-US"), ("en-GB", "en-GB"), ("ja", "ja"), ("yue", "yue"),
        ])
    func normalized(raw: String, tag: String) {
        #expect(LanguageTag.normalized(raw) == tag)
    }

    @Test("The ISO 639-1 code Whisper takes; none for auto")
    func primary() {
        #expect(LanguageTag.primary("zh-CN") == "zh")
        #expect(LanguageTag.primary("cmn") == "zh")
        #expect(LanguageTag.primary("en-GB") == "en")
        #expect(LanguageTag.primary("yue") == "yue")
        #expect(LanguageTag.primary("auto") == nil)
    }

    @Test("A detected language, as Whisper names it, becomes a tag")
    func detected() {
        #expect(LanguageTag.detected("chinese") == "zh-CN")
        #expect(LanguageTag.detected("English") == "en-US")
        #expect(LanguageTag.detected("zh") == "zh-CN")
        #expect(LanguageTag.detected("japanese") == "ja")
        #expect(LanguageTag.detected("") == nil)
        #expect(LanguageTag.detected("auto") == nil)
        #expect(LanguageTag.detected("haitian creole") == nil)
    }
}

@Suite("Joining segments into a transcript")
struct TranscriptTests {
    static func segment(_ text: String, language: String? = nil) -> RecognizedSegment {
        RecognizedSegment(index: 0, text: text, startMs: 0, endMs: 0, words: [], language: language)
    }

    @Test("Spaces between English segments, none between Chinese ones, one between the two scripts")
    func joins() {
        #expect([Self.segment("turn off the lights"), Self.segment("thank you")].transcript == "turn off the lights thank you")
        #expect(
            [Self.segment("明天会不会下雨？"), Self.segment("把空调调到二十六度。")].transcript
                == "明天会不会下雨？把空调调到二十六度。")
        #expect([Self.segment("我们去"), Self.segment("Starbucks"), Self.segment("喝咖啡")].transcript == "我们去 Starbucks 喝咖啡")
        #expect([Self.segment(""), Self.segment("你好")].transcript == "你好")
    }

    @Test("The detected language is the one most segments report")
    func detectedLanguage() {
        #expect(
            [Self.segment("a", language: "en-US"), Self.segment("b", language: "zh-CN"), Self.segment("c", language: "zh-CN")].detectedLanguage
                == "zh-CN")
        #expect([Self.segment("a")].detectedLanguage == nil)
    }
}
