import Hummingbird
import HummingbirdCore
import SpeechEngine

/// The query of `/api/realtime-voice/stream`: `sample_rate`, `lang`, `engine` (and `token`, checked elsewhere).
struct StreamParameters: Sendable {
    static let sampleRates = 8_000...48_000

    var sampleRate: Int
    var language: String
    var engine: any SpeechRecognizer
    /// The rate the engine takes this session's audio at.
    var engineSampleRate: Int
    /// The query's other parameters, for the engine (e.g. Tencent's `hotwords`).
    var engineParameters: [String: String]

    /// Query parameters the gateway itself reads; the others are handed to the engine.
    static let gatewayNames: Set<String> = ["sample_rate", "lang", "engine", "token"]

    /// Validates the query; the error says which parameter is wrong and what is allowed.
    init(query: URI, engines: EngineRegistry) throws(GatewayError) {
        let parameters = query.queryParameters
        if let raw = parameters.get("sample_rate") {
            guard let rate = Int(raw), Self.sampleRates.contains(rate) else {
                throw GatewayError.invalidParameter(
                    "sample_rate must be an integer from \(Self.sampleRates.lowerBound) to \(Self.sampleRates.upperBound) (Hz); got '\(raw)'."
                )
            }
            self.sampleRate = rate
        } else {
            self.sampleRate = 16_000
        }
        let engineName = parameters.get("engine").flatMap { $0.isEmpty ? nil : $0 } ?? engines.defaultName
        guard let engine = engines[engineName] else {
            throw GatewayError.unknownEngine("Unknown engine '\(engineName)'; this server has: \(engines.names.joined(separator: ", ")).")
        }
        self.engine = engine
        self.language = parameters.get("lang").flatMap { $0.isEmpty ? nil : $0 } ?? "en-US"
        guard engine.supports(language: self.language) else {
            throw GatewayError.unsupportedLanguage("The \(engine.name) engine does not recognise '\(self.language)'.")
        }
        self.engineSampleRate = engine.sampleRate(forInput: self.sampleRate)
        var extra: [String: String] = [:]
        for (name, value) in parameters where !Self.gatewayNames.contains(String(name)) {
            extra[String(name)] = String(value)
        }
        self.engineParameters = extra
    }

    var recognitionOptions: RecognitionOptions {
        RecognitionOptions(language: self.language, sampleRate: self.engineSampleRate, parameters: self.engineParameters)
    }
}

/// The engines this server runs, by name.
public struct EngineRegistry: Sendable {
    private let engines: [String: any SpeechRecognizer]
    public let defaultName: String

    public init(_ engines: [any SpeechRecognizer], defaultName: String) {
        self.engines = Dictionary(engines.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.defaultName = defaultName
    }

    public subscript(name: String) -> (any SpeechRecognizer)? { self.engines[name] }
    public var names: [String] { self.engines.keys.sorted() }
    /// Every engine, by name.
    public var all: [any SpeechRecognizer] { self.names.compactMap { self.engines[$0] } }
    public var defaultEngine: (any SpeechRecognizer)? { self.engines[self.defaultName] }
}
