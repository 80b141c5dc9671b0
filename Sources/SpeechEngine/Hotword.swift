/// A phrase a session (or the server's `--hotwords-file`) asks the engine to favour: a product, a person, a place.
///
/// Written `phrase`, `phrase|weight` or `phrase|weight|pronunciation`; a list separates entries with `,` (a file,
/// with new lines). The weight is Tencent's: 1–11, or 100 to force the phrase; engines without weights ignore it.
/// The pronunciation (ARPAbet phones, `K UW B ER N EH T IY Z`) is for PocketSphinx, which can then add a word its
/// dictionary lacks. How each engine uses hotwords: README, "Hotwords".
public struct Hotword: Sendable, Hashable {
    public var phrase: String
    public var weight: Int
    public var pronunciation: String?

    /// The weight of an entry that names none.
    public static let defaultWeight = 10
    /// Tencent's weights: 1–11 boost, 100 forces.
    public static func isValid(weight: Int) -> Bool { (1...11).contains(weight) || weight == 100 }

    public init(phrase: String, weight: Int = Self.defaultWeight, pronunciation: String? = nil) {
        self.phrase = phrase
        self.weight = weight
        self.pronunciation = pronunciation
    }

    /// `phrase|weight`, as Tencent's `hotword_list` takes an entry.
    public var weighted: String { "\(self.phrase)|\(self.weight)" }
}

extension Array where Element == Hotword {
    /// The list as Tencent's `hotword_list` (real-time) and `HotwordList` (SentenceRecognition) take it.
    public var tencentList: String { self.map(\.weighted).joined(separator: ",") }
}

/// How many hotwords a session may carry and how long one may be (`--max-hotwords`, `--max-hotword-length`).
public struct HotwordLimits: Sendable, Equatable {
    /// Entries after the server's list and the session's are merged (Tencent takes at most 128).
    public var maxCount: Int
    /// Characters of one phrase.
    public var maxLength: Int

    public static let defaultMaxCount = 128
    public static let defaultMaxLength = 30

    public init(maxCount: Int = Self.defaultMaxCount, maxLength: Int = Self.defaultMaxLength) {
        self.maxCount = maxCount
        self.maxLength = maxLength
    }
}

/// A hotword list that cannot be used; the message names the entry and what is allowed.
public struct HotwordError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { self.message }
}

extension Hotword {
    /// Parses a list: entries separated by `,` or `，` (and new lines), blanks skipped; in a file, lines starting with `#`
    /// are comments. The same phrase twice (ignoring case) is one entry, the later weight winning.
    public static func parseList(_ raw: String, limits: HotwordLimits = HotwordLimits()) throws(HotwordError) -> [Hotword] {
        var entries: [Hotword] = []
        let lines = raw.split(omittingEmptySubsequences: true) { $0 == "\n" || $0 == "\r" }
        for line in lines where !line.trimmingWhitespace.hasPrefix("#") {
            for entry in line.split(whereSeparator: { $0 == "," || $0 == "，" }) where !entry.trimmingWhitespace.isEmpty {
                entries.append(try Self.parse(entry.trimmingWhitespace, limits: limits))
            }
        }
        return try Self.merged(entries, [], limits: limits)
    }

    /// One entry: `phrase`, `phrase|weight` or `phrase|weight|pronunciation`.
    public static func parse(_ entry: String, limits: HotwordLimits = HotwordLimits()) throws(HotwordError) -> Hotword {
        let fields = entry.split(separator: "|", omittingEmptySubsequences: false).map(\.trimmingWhitespace)
        let phrase = fields[0]
        guard !phrase.isEmpty, phrase.count <= limits.maxLength, fields.count <= 3 else {
            throw HotwordError(
                message: "Hotword '\(Self.excerpt(entry))' must be 'phrase', 'phrase|weight' or 'phrase|weight|pronunciation', "
                    + "with a phrase of 1 to \(limits.maxLength) characters.")
        }
        var hotword = Hotword(phrase: phrase)
        if fields.count > 1, !fields[1].isEmpty {
            guard let weight = Int(fields[1]), Self.isValid(weight: weight) else {
                throw HotwordError(message: "Hotword '\(Self.excerpt(entry))': the weight must be 1 to 11, or 100 to force it; got '\(fields[1])'.")
            }
            hotword.weight = weight
        }
        if fields.count > 2, !fields[2].isEmpty {
            let phones = fields[2].split(separator: " ")
            guard phones.allSatisfy({ $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) } }) else {
                throw HotwordError(
                    message:
                        "Hotword '\(Self.excerpt(entry))': a pronunciation is ARPAbet phones separated by spaces (e.g. 'K AH M P'); got '\(fields[2])'."
                )
            }
            hotword.pronunciation = phones.joined(separator: " ").uppercased()
        }
        return hotword
    }

    /// The server's list with a session's: a phrase in both takes the session's entry. Refuses more than
    /// `limits.maxCount` entries in all.
    public static func merged(_ server: [Hotword], _ session: [Hotword], limits: HotwordLimits) throws(HotwordError) -> [Hotword] {
        var merged: [Hotword] = []
        var position: [String: Int] = [:]
        for hotword in server + session {
            let key = hotword.phrase.lowercased()
            if let index = position[key] {
                merged[index] = hotword
            } else {
                position[key] = merged.count
                merged.append(hotword)
            }
        }
        guard merged.count <= limits.maxCount else {
            let serverPart = server.isEmpty ? "" : " (\(server.count) of them from the server's list)"
            throw HotwordError(message: "At most \(limits.maxCount) hotwords are allowed; got \(merged.count)\(serverPart).")
        }
        return merged
    }

    private static func excerpt(_ text: some StringProtocol) -> String {
        text.count > 40 ? "\(text.prefix(40))…" : String(text)
    }
}

/// A hotword an engine could not use, and why; a stream's `notice`, an upload answer's `hotwords_ignored`.
public struct IgnoredHotword: Sendable, Equatable, Codable {
    public var phrase: String
    public var reason: String

    public init(phrase: String, reason: String) {
        self.phrase = phrase
        self.reason = reason
    }
}

extension StringProtocol {
    fileprivate var trimmingWhitespace: String {
        String(self.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
