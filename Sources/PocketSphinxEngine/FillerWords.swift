/// PocketSphinx's non-words and pronunciation variants, which must never reach clients.
enum FillerWords {
    /// `<s>`, `</s>`, `<sil>`, `[NOISE]`, `++GARBAGE++` and the like.
    static func isFiller(_ word: some StringProtocol) -> Bool {
        guard let first = word.first else { return true }
        return first == "<" || first == "[" || word.hasPrefix("++")
    }

    /// `read(2)` → `read`.
    static func baseForm(_ word: some StringProtocol) -> String {
        if word.last == ")", let open = word.lastIndex(of: "(") {
            return String(word[..<open])
        }
        return String(word)
    }

    /// A hypothesis string with fillers dropped and variants reduced to their base form.
    static func clean(_ hypothesis: String) -> String {
        hypothesis.split(separator: " ")
            .filter { !Self.isFiller($0) }
            .map { Self.baseForm($0) }
            .joined(separator: " ")
    }
}
