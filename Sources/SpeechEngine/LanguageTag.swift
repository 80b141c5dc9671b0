/// The language tags the gateway speaks: what a client may write in `lang`, what it is told back, and the
/// ISO 639-1 code Whisper-style engines take.
///
/// Clients write `zh-CN`, `zh`, `cmn` (Mandarin) or `en-US`, `en`; all of them mean the same two tags inside the
/// gateway (`zh-CN`, `en-US`), so that an engine checks one spelling. `auto` asks the engine to detect the
/// language; the answer then names what it detected (``detected(_:)``), never `auto`.
public enum LanguageTag {
    /// Let the engine detect the language.
    public static let auto = "auto"
    /// What a session gets when it names no language.
    public static let defaultTag = "en-US"

    /// Spellings a client may use for the two first-class languages, lower-cased.
    private static let aliases: [String: String] = [
        "zh": "zh-CN", "zh-cn": "zh-CN", "cmn": "zh-CN", "cmn-cn": "zh-CN", "cmn-hans": "zh-CN", "cmn-hans-cn": "zh-CN",
        "zh-hans": "zh-CN", "zh-hans-cn": "zh-CN",
        "en": "en-US", "en-us": "en-US",
        "auto": LanguageTag.auto,
    ]

    /// The gateway's tag for what a client wrote: `zh`, `cmn`, `zh-cn` → `zh-CN`; `en` → `en-US`; `auto`; other tags
    /// as written (e.g. `en-GB`, `ja`), for engines that know them. Empty means "not given": ``defaultTag``.
    public static func normalized(_ raw: String) -> String {
        let trimmed = raw.trimmingSpaces
        if trimmed.isEmpty { return Self.defaultTag }
        return Self.aliases[trimmed.lowercased()] ?? trimmed
    }

    /// The ISO 639-1 code of a tag (`zh-CN` → `zh`, `en-GB` → `en`, `yue` stays); nil for ``auto``.
    public static func primary(_ tag: String) -> String? {
        if tag.lowercased() == Self.auto { return nil }
        let primary = tag.split(separator: "-").first.map { $0.lowercased() } ?? ""
        if primary == "cmn" { return "zh" }
        return primary.isEmpty ? nil : primary
    }

    /// Whisper's and OpenAI's language names (`verbose_json`'s `language`), for the ones a client is likely to see.
    private static let names: [String: String] = [
        "english": "en", "chinese": "zh", "mandarin": "zh", "cantonese": "yue", "japanese": "ja", "korean": "ko",
        "french": "fr", "german": "de", "spanish": "es", "russian": "ru", "portuguese": "pt", "italian": "it",
        "vietnamese": "vi", "thai": "th", "indonesian": "id", "malay": "ms", "arabic": "ar", "hindi": "hi",
    ]

    /// The tag for a language an engine detected, given as Whisper's name (`chinese`) or code (`zh`): `zh-CN`,
    /// `en-US`, else the code. Nil when it is empty or unknown.
    public static func detected(_ reported: String) -> String? {
        let lowered = reported.trimmingSpaces.lowercased()
        guard !lowered.isEmpty, lowered != Self.auto else { return nil }
        let code = Self.names[lowered] ?? lowered
        guard code.count <= 3, code.allSatisfy({ $0.isLetter }) else { return nil }
        return Self.normalized(code)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
