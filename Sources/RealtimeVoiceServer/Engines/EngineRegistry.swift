import RealtimeVoiceErrors
import SpeechEngine

/// The engines this server runs, by name, and the one place that turns what a request asked for (`engine`, `lang`
/// on the stream's query, an upload's form fields) into an engine and a language tag it takes, and checks a
/// declared sample rate.
public struct EngineRegistry: Sendable {
    private let engines: [String: any SpeechRecognizer]
    public let defaultName: String
    /// The server's hotwords, merged into every session's list.
    public let serverHotwords: [Hotword]
    public let hotwordLimits: HotwordLimits

    public init(
        _ engines: [any SpeechRecognizer], defaultName: String, hotwords: [Hotword] = [], hotwordLimits: HotwordLimits = .init()
    ) {
        self.engines = Dictionary(engines.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.defaultName = defaultName
        self.serverHotwords = hotwords
        self.hotwordLimits = hotwordLimits
    }

    public subscript(name: String) -> (any SpeechRecognizer)? { self.engines[name] }
    public var names: [String] { self.engines.keys.sorted() }
    /// Every engine, by name.
    public var all: [any SpeechRecognizer] { self.names.compactMap { self.engines[$0] } }
    public var defaultEngine: (any SpeechRecognizer)? { self.engines[self.defaultName] }

    /// The engine named (else the default one) and the language asked for, normalised (`zh`, `cmn` → `zh-CN`;
    /// ``LanguageTag``), else that engine's default. Refuses, before any audio is read, an unknown engine
    /// (`unknown_engine`) and a language the engine cannot recognise (`unsupported_language`).
    func resolve(
        engine requestedEngine: String?, language requestedLanguage: String?
    ) throws(GatewayError) -> (engine: any SpeechRecognizer, language: String) {
        let name = requestedEngine.flatMap { $0.isEmpty ? nil : $0 } ?? self.defaultName
        guard let engine = self.engines[name] else {
            throw GatewayError.unknownEngine("Unknown engine '\(name)'; this server has: \(self.names.joined(separator: ", ")).")
        }
        let language = requestedLanguage.flatMap { $0.isEmpty ? nil : LanguageTag.normalized($0) } ?? engine.defaultLanguage
        guard engine.supports(language: language) else {
            let others = self.all.filter { $0.name != engine.name && $0.supports(language: language) }.map(\.name)
            let hint = others.isEmpty ? "" : " Engines here that do: \(others.joined(separator: ", ")) (engine=\(others[0]))."
            throw GatewayError.unsupportedLanguage("The \(engine.name) engine does not recognise '\(language)'.\(hint)")
        }
        return (engine, language)
    }

    /// A request's `hotwords` (the stream's query, an upload's form field: `phrase[|weight[|pronunciation]]`, by `,`)
    /// merged with the server's list; `invalid_hotwords` names the bad entry or the limit.
    func hotwords(_ raw: String?) throws(GatewayError) -> [Hotword] {
        try self.hotwords(session: Hotword.parseList(raw ?? "", limits: self.hotwordLimits))
    }

    /// An OpenAI-shaped request's hotwords: its `hotwords` field; else, for an engine that has no use for a prompt
    /// (tencent, pocketsphinx), its `prompt` read as a hotword list when it is one (a prompt that is not, such as a
    /// sentence over the length limit, stays unused, as before).
    func hotwords(_ raw: String?, prompt: String?, engine: any SpeechRecognizer) throws(GatewayError) -> [Hotword] {
        if raw == nil, !engine.usesPrompt, let prompt, let list = try? Hotword.parseList(prompt, limits: self.hotwordLimits), !list.isEmpty {
            return try self.hotwords(session: list)
        }
        return try self.hotwords(raw)
    }

    /// Hotwords a request already parsed (`/v1/realtime`'s `keywords`) merged with the server's list.
    func hotwords(session: @autoclosure () throws(HotwordError) -> [Hotword]) throws(GatewayError) -> [Hotword] {
        do {
            return try Hotword.merged(self.serverHotwords, session(), limits: self.hotwordLimits)
        } catch {
            throw GatewayError(.invalidHotwords, error.message)
        }
    }

    /// Sample rates a client may declare (`sample_rate` on the stream's query, an upload's form field for raw PCM).
    static let sampleRates = 8_000...48_000

    /// A declared `sample_rate`, checked against ``sampleRates`` (`invalid_parameter` naming what is allowed).
    static func sampleRate(_ raw: String) throws(GatewayError) -> Int {
        guard let rate = Int(raw), Self.sampleRates.contains(rate) else {
            throw GatewayError.invalidParameter(
                "sample_rate must be an integer from \(Self.sampleRates.lowerBound) to \(Self.sampleRates.upperBound) (Hz); got '\(raw)'.")
        }
        return rate
    }
}
