import SpeechEngine

/// The words PocketSphinx can recognise (its language model's) and the pronunciations it has (its dictionary's),
/// to decide what a session's hotwords change: a word the model lacks is added to the session's decoder when a
/// pronunciation is given or found; everything else is reported as ignored (docs/pocketsphinx.md, "Hotwords").
struct PocketSphinxVocabulary: Sendable {
    /// Lower-case words of the language model: only these are ever recognised.
    let modelWords: Set<String>
    /// Lower-case dictionary words and their phones (`K AE T`); alternate pronunciations left out.
    let pronunciations: [String: String]

    /// A word to add to a decoder for one session, spelled as the hypothesis should show it.
    struct Addition: Sendable, Equatable {
        var spelling: String
        var phones: String
    }

    /// What a session's hotwords do on PocketSphinx.
    struct Plan: Sendable, Equatable {
        var additions: [Addition] = []
        var ignored: [IgnoredHotword] = []
    }

    /// The phones of Debian's en-us acoustic model (CMUdict's ARPAbet without stress marks).
    static let phones: Set<String> = [
        "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY", "JH", "K",
        "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y", "Z", "ZH",
    ]

    /// The shortest dictionary word a derived pronunciation is built from (`pocketsphinx` = `pocket` + `sphinx`).
    static let minimumPartLength = 3
    static let maximumParts = 3

    func plan(for hotwords: [Hotword]) -> Plan {
        var plan = Plan()
        var added: Set<String> = []
        for hotword in hotwords {
            let words = hotword.phrase.split(whereSeparator: \.isWhitespace).map(String.init)
            guard words.allSatisfy(Self.isEnglishWord) else {
                plan.ignored.append(IgnoredHotword(phrase: hotword.phrase, reason: "PocketSphinx recognises US English words only."))
                continue
            }
            var unknown: [String] = []
            var addedHere = false
            for word in words where !self.modelWords.contains(word.lowercased()) {
                let given = words.count == 1 ? hotword.pronunciation.flatMap(Self.checkedPhones) : nil
                guard let phones = given ?? self.pronunciations[word.lowercased()] ?? self.derivedPhones(word.lowercased()) else {
                    unknown.append(word)
                    continue
                }
                let spelling = self.spelling(for: word)
                if added.insert(spelling).inserted { plan.additions.append(Addition(spelling: spelling, phones: phones)) }
                addedHere = true
            }
            if !unknown.isEmpty {
                let list = unknown.map { "'\($0)'" }.joined(separator: ", ")
                let hint = hotword.pronunciation != nil && words.count > 1 ? " (a pronunciation is used for a one-word phrase only)" : ""
                plan.ignored.append(
                    IgnoredHotword(
                        phrase: hotword.phrase,
                        reason: "\(list) not in PocketSphinx's dictionary and no pronunciation could be derived; "
                            + "give one as 'phrase|weight|PHONES' (ARPAbet)\(hint)."))
            } else if !addedHere {
                plan.ignored.append(
                    IgnoredHotword(phrase: hotword.phrase, reason: "PocketSphinx already knows these words and cannot weight them."))
            }
        }
        return plan
    }

    /// Letters, digits and apostrophes (`o'brien`), as in CMUdict.
    static func isEnglishWord(_ word: String) -> Bool {
        !word.isEmpty
            && word.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "'-".unicodeScalars.contains($0)
            }
    }

    /// Stress marks dropped (`AH0` → `AH`), upper case; nil when a phone is not the model's.
    static func checkedPhones(_ raw: String) -> String? {
        let phones = raw.uppercased().split(separator: " ").map { $0.filter { !$0.isNumber } }
        guard !phones.isEmpty, phones.allSatisfy(Self.phones.contains) else { return nil }
        return phones.joined(separator: " ")
    }

    /// The word as the hypothesis shows it: as written, unless that spelling is a dictionary entry already (which
    /// PocketSphinx refuses to add twice), then capitalised.
    private func spelling(for word: String) -> String {
        guard self.pronunciations[word] != nil else { return word }
        return word.prefix(1).uppercased() + word.dropFirst()
    }

    /// A pronunciation made of dictionary words that spell the word (`pocketsphinx` = `pocket` + `sphinx`), in
    /// the fewest parts, at most ``maximumParts``, each at least ``minimumPartLength`` letters.
    func derivedPhones(_ word: String) -> String? {
        let letters = Array(word)
        guard letters.count >= 2 * Self.minimumPartLength else { return nil }
        // best[i]: the fewest parts spelling letters[..<i], with their phones.
        var best: [(parts: Int, phones: [String])?] = Array(repeating: nil, count: letters.count + 1)
        best[0] = (0, [])
        for end in stride(from: Self.minimumPartLength, through: letters.count, by: 1) {
            for start in stride(from: 0, through: end - Self.minimumPartLength, by: 1) {
                guard let before = best[start], before.parts < Self.maximumParts,
                    let phones = self.pronunciations[String(letters[start..<end])]
                else { continue }
                if best[end] == nil || best[end]!.parts > before.parts + 1 {
                    best[end] = (before.parts + 1, before.phones + [phones])
                }
            }
        }
        guard let whole = best[letters.count], whole.parts >= 2 else { return nil }
        return whole.phones.joined(separator: " ")
    }
}
