import Hummingbird
import HummingbirdCore
import SpeechEngine

/// The query of `/api/realtime-voice/stream`: `sample_rate`, `lang`, `engine` (and `token`, checked elsewhere).
struct StreamParameters: Sendable {
    var sampleRate: Int
    var language: String
    var engine: any SpeechRecognizer
    /// The rate the engine takes this session's audio at.
    var engineSampleRate: Int
    /// The query's other parameters, for the engine (e.g. Tencent's `hotwords`).
    var engineParameters: [String: String]
    /// `hotwords` merged with the server's list.
    var hotwords: [Hotword]

    /// Query parameters the gateway itself reads; the others are handed to the engine.
    static let gatewayNames: Set<String> = ["sample_rate", "lang", "engine", "token", "hotwords"]

    /// Validates the query; the error says which parameter is wrong and what is allowed.
    init(query: URI, engines: EngineRegistry) throws(GatewayError) {
        let parameters = query.queryParameters
        self.sampleRate = try parameters.get("sample_rate").map(EngineRegistry.sampleRate) ?? 16_000
        (self.engine, self.language) = try engines.resolve(engine: parameters.get("engine"), language: parameters.get("lang"))
        let engine = self.engine
        self.hotwords = try engines.hotwords(parameters.get("hotwords"))
        self.engineSampleRate = engine.sampleRate(forInput: self.sampleRate)
        var extra: [String: String] = [:]
        for (name, value) in parameters where !Self.gatewayNames.contains(String(name)) {
            extra[String(name)] = String(value)
        }
        self.engineParameters = extra
    }

    var recognitionOptions: RecognitionOptions {
        RecognitionOptions(language: self.language, sampleRate: self.engineSampleRate, parameters: self.engineParameters, hotwords: self.hotwords)
    }
}
