import Testing

@testable import PocketSphinxEngine
@testable import SpeechEngine

@Suite("What a session's hotwords change on PocketSphinx")
struct PocketSphinxVocabularyTests {
    static let vocabulary = PocketSphinxVocabulary(
        modelWords: ["the", "power", "bank", "pocket", "gateway"],
        pronunciations: [
            "the": "DH AH", "power": "P AW ER", "bank": "B AE NG K", "pocket": "P AA K AH T", "sphinx": "S F IH NG K S",
            "gateway": "G EY T W EY", "anthropic": "AE N TH R AA P IH K",
        ])

    @Test("a word the model lacks is added: from the dictionary, derived from dictionary words, or as given")
    func additions() {
        let plan = Self.vocabulary.plan(for: [
            Hotword(phrase: "powerbank"), Hotword(phrase: "PocketSphinx"), Hotword(phrase: "anthropic"),
            Hotword(phrase: "zorblax", pronunciation: "Z AO1 R B L AE K S"),
        ])
        #expect(
            plan.additions == [
                .init(spelling: "powerbank", phones: "P AW ER B AE NG K"),
                .init(spelling: "PocketSphinx", phones: "P AA K AH T S F IH NG K S"),
                // In the dictionary but not the model: PocketSphinx refuses the same spelling twice.
                .init(spelling: "Anthropic", phones: "AE N TH R AA P IH K"),
                .init(spelling: "zorblax", phones: "Z AO R B L AE K S"),
            ])
        #expect(plan.ignored.isEmpty)
    }

    @Test("known words, underivable words, bad phones and other scripts are reported, with the reason")
    func ignored() {
        let plan = Self.vocabulary.plan(for: [
            Hotword(phrase: "the gateway"), Hotword(phrase: "xyzzy"), Hotword(phrase: "zorblax", pronunciation: "Z QQ"),
            Hotword(phrase: "腾讯云"), Hotword(phrase: "power xyzzy"),
        ])
        #expect(plan.additions.isEmpty)
        #expect(plan.ignored.map(\.phrase) == ["the gateway", "xyzzy", "zorblax", "腾讯云", "power xyzzy"])
        #expect(plan.ignored[0].reason.contains("already knows"))
        #expect(plan.ignored[1].reason.contains("'xyzzy' not in PocketSphinx's dictionary"))
        #expect(plan.ignored[2].reason.contains("'zorblax'"))
        #expect(plan.ignored[3].reason.contains("English"))
    }

    @Test("a derived pronunciation takes the fewest parts, each of at least 3 letters, at most 3 of them")
    func derivation() {
        #expect(Self.vocabulary.derivedPhones("powerbank") == "P AW ER B AE NG K")
        #expect(Self.vocabulary.derivedPhones("thepower") == "DH AH P AW ER")
        #expect(Self.vocabulary.derivedPhones("powerpowerpowerbank") == nil)
        #expect(Self.vocabulary.derivedPhones("power") == nil)  // one part is the word itself, not a derivation
        #expect(Self.vocabulary.derivedPhones("powerbanks") == nil)
    }
}
