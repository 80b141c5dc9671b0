import RealtimeVoiceErrors

/// The effective settings of a `/v1/realtime` transcription session, changed by `session.update` (GA shape) or
/// `transcription_session.update` (beta shape), and written back in full in `session.updated`. Where each field
/// lives in either shape: docs/openai-realtime.md §2.
struct RealtimeSettings: Sendable, Equatable {
    /// Which of OpenAI's two event shapes the client speaks.
    enum Shape: Sendable, Equatable {
        case ga, beta
    }

    /// `audio/pcm` (PCM16 mono at 24 kHz, OpenAI's only PCM rate), `audio/pcmu`, `audio/pcma` (G.711 at 8 kHz).
    enum AudioFormat: String, Sendable, CaseIterable {
        case pcm = "audio/pcm"
        case pcmu = "audio/pcmu"
        case pcma = "audio/pcma"

        /// The beta shape's name.
        var betaName: String {
            switch self {
            case .pcm: "pcm16"
            case .pcmu: "g711_ulaw"
            case .pcma: "g711_alaw"
            }
        }

        var sampleRate: Int { self == .pcm ? 24_000 : 8_000 }
        var bytesPerSample: Int { self == .pcm ? 2 : 1 }
    }

    /// `server_vad` / `semantic_vad`; nil (`turn_detection: null`) is manual commit.
    enum TurnDetection: Sendable, Equatable {
        case serverVAD(threshold: Double, prefixPaddingMs: Int, silenceDurationMs: Int)
        case semanticVAD(eagerness: String)
    }

    static let logprobsInclude = "item.input_audio_transcription.logprobs"
    static let eagernessValues = ["low", "medium", "high", "auto"]
    static let noiseReductionTypes = ["near_field", "far_field"]
    /// OpenAI's defaults for transcription sessions.
    static let defaultTurnDetection = TurnDetection.serverVAD(threshold: 0.5, prefixPaddingMs: 300, silenceDurationMs: 500)

    var shape: Shape
    var format = AudioFormat.pcm
    /// `transcription.model` as the client wrote it; a name of one of this server's engines selects that engine.
    var model: String
    /// `transcription.language` as the client wrote it (ISO-639-1 or a BCP-47 tag); nil lets the engine choose.
    var language: String?
    var prompt = ""
    /// `transcription.keywords` (GA, SDK 3.63): the session's hotwords, at weight 10 (README, "Hotwords").
    var keywords: [String] = []
    var turnDetection: TurnDetection? = Self.defaultTurnDetection
    var noiseReduction: String?
    var include: [String] = []

    /// Whether `other` changes how audio is taken or recognised (format, engine, language, prompt, turn detection).
    func changesAudio(_ other: RealtimeSettings) -> Bool {
        self.format != other.format || self.model != other.model || self.language != other.language || self.prompt != other.prompt
            || self.keywords != other.keywords
            || (self.turnDetection == nil) != (other.turnDetection == nil)
    }

    var wantsLogprobs: Bool { self.include.contains(Self.logprobsInclude) }

    /// What the engines take of the transcription settings besides the keywords, which become the session's
    /// hotwords (``RealtimeSession/hotwords(_:)``): `prompt`, Whisper's context.
    var engineParameters: [String: String] {
        self.prompt.isEmpty ? [:] : ["prompt": self.prompt]
    }
}

// MARK: - Updates

extension RealtimeSettings {
    /// The shape of an update's `session`: GA when it has `type` or `audio`, else the flat beta fields (also when an
    /// old client sends them in `session.update`).
    static func shape(of session: EventFields) -> Shape {
        session["type"] != nil || session["audio"] != nil ? .ga : .beta
    }

    /// These settings with `session` applied (fields absent stay as they are; `null` clears); nothing changes when
    /// it throws.
    func applying(_ session: EventFields) throws(RealtimeEventError) -> RealtimeSettings {
        var next = self
        next.shape = Self.shape(of: session)
        switch next.shape {
        case .ga: try next.applyGA(session)
        case .beta: try next.applyBeta(session)
        }
        return next
    }

    private mutating func applyGA(_ session: EventFields) throws(RealtimeEventError) {
        try session.allowOnly(["type", "audio", "include", "object", "id", "expires_at"])
        if let type = try session.string("type"), type != "transcription" {
            throw RealtimeEventError(
                .invalidValue,
                "Invalid value: '\(type.prefix(40))'. This server runs transcription sessions only: 'session.type' must be 'transcription'.",
                param: session.param("type"))
        }
        try self.applyInclude(session)
        guard case .some(.some(let audio)) = try session.object("audio") else { return }
        try audio.allowOnly(["input"])
        guard case .some(.some(let input)) = try audio.object("input") else { return }
        try input.allowOnly(["format", "transcription", "turn_detection", "noise_reduction"])
        switch try input.object("format") {
        case .some(.some(let format)):
            try format.allowOnly(["type", "rate"])
            guard let type = try format.string("type") else { throw .missing(format.param("type")) }
            guard let parsed = AudioFormat(rawValue: type) else {
                throw .invalidValue(format.param("type"), type, supported: AudioFormat.allCases.map(\.rawValue))
            }
            if let rate = try format.number("rate", in: 0...1_000_000), parsed == .pcm, rate != 24_000 {
                throw RealtimeEventError(.invalidValue, "audio/pcm is 24000 Hz; got rate \(Int(rate)).", param: format.param("rate"))
            }
            self.format = parsed
        case .some(nil):
            self.format = .pcm
        case nil:
            break
        }
        try self.applyTranscription(input.object("transcription"), known: ["model", "language", "prompt", "languages", "keywords", "delay"])
        try self.applyTurnDetection(input.object("turn_detection"))
        try self.applyNoiseReduction(input.object("noise_reduction"), known: ["type", "strength"])
    }

    private mutating func applyBeta(_ session: EventFields) throws(RealtimeEventError) {
        try session.allowOnly([
            "input_audio_format", "input_audio_transcription", "turn_detection", "input_audio_noise_reduction", "include", "modalities",
            "client_secret", "object", "id", "expires_at",
        ])
        if let name = try session.string("input_audio_format") {
            guard let format = AudioFormat.allCases.first(where: { $0.betaName == name }) else {
                throw .invalidValue(session.param("input_audio_format"), name, supported: AudioFormat.allCases.map(\.betaName))
            }
            self.format = format
        }
        _ = try session.strings("modalities")
        try self.applyInclude(session)
        try self.applyTranscription(session.object("input_audio_transcription"), known: ["model", "language", "prompt"])
        try self.applyTurnDetection(session.object("turn_detection"))
        try self.applyNoiseReduction(session.object("input_audio_noise_reduction"), known: ["type"])
    }

    private mutating func applyInclude(_ session: EventFields) throws(RealtimeEventError) {
        guard session["include"] != nil else { return }
        let include = try session.strings("include") ?? []
        if let bad = include.first(where: { $0 != Self.logprobsInclude }) {
            throw .invalidValue(session.param("include"), bad, supported: [Self.logprobsInclude])
        }
        self.include = include
    }

    private mutating func applyTranscription(_ field: EventFields??, known: Set<String>) throws(RealtimeEventError) {
        switch field {
        case nil:
            return
        case .some(nil):
            (self.language, self.prompt, self.keywords) = (nil, "", [])
        case .some(.some(let transcription)):
            try transcription.allowOnly(known)
            if let model = try transcription.string("model", maxLength: 200) { self.model = model }
            if transcription["language"] != nil {
                self.language = try transcription.string("language", maxLength: 35).flatMap { $0.isEmpty ? nil : $0 }
            }
            if self.language == nil, let first = try transcription.strings("languages", maxCount: 20)?.first {
                self.language = first
            }
            if transcription["prompt"] != nil { self.prompt = try transcription.string("prompt", maxLength: 4_000) ?? "" }
            if let keywords = try transcription.strings("keywords", maxCount: 100) {
                if let bad = keywords.first(where: { $0.isEmpty || $0.count > 30 || $0.contains(",") || $0.contains("|") }) {
                    throw RealtimeEventError(
                        .invalidValue, "A keyword must be 1 to 30 characters without ',' or '|'; got '\(bad.prefix(40))'.",
                        param: transcription.param("keywords"))
                }
                self.keywords = keywords
            }
            _ = try transcription.string("delay")
        }
    }

    private mutating func applyTurnDetection(_ field: EventFields??) throws(RealtimeEventError) {
        switch field {
        case nil:
            return
        case .some(nil):
            self.turnDetection = nil
        case .some(.some(let detection)):
            guard let type = try detection.string("type") else { throw .missing(detection.param("type")) }
            switch type {
            case "server_vad":
                try detection.allowOnly([
                    "type", "threshold", "prefix_padding_ms", "silence_duration_ms", "idle_timeout_ms", "create_response", "interrupt_response",
                ])
                var (threshold, prefix, silence) = (0.5, 300, 500)
                if case .serverVAD(let t, let p, let s) = self.turnDetection { (threshold, prefix, silence) = (t, p, s) }
                self.turnDetection = .serverVAD(
                    threshold: try detection.number("threshold", in: 0...1) ?? threshold,
                    prefixPaddingMs: try detection.milliseconds("prefix_padding_ms", in: 0...10_000) ?? prefix,
                    silenceDurationMs: try detection.milliseconds("silence_duration_ms", in: 0...10_000) ?? silence
                )
                _ = try detection.milliseconds("idle_timeout_ms", in: 0...3_600_000)
            case "semantic_vad":
                try detection.allowOnly(["type", "eagerness", "create_response", "interrupt_response"])
                let eagerness = try detection.string("eagerness") ?? "auto"
                guard Self.eagernessValues.contains(eagerness) else {
                    throw .invalidValue(detection.param("eagerness"), eagerness, supported: Self.eagernessValues)
                }
                self.turnDetection = .semanticVAD(eagerness: eagerness)
            default:
                throw .invalidValue(detection.param("type"), type, supported: ["server_vad", "semantic_vad"])
            }
            _ = try detection.bool("create_response")
            _ = try detection.bool("interrupt_response")
        }
    }

    private mutating func applyNoiseReduction(_ field: EventFields??, known: Set<String>) throws(RealtimeEventError) {
        switch field {
        case nil:
            return
        case .some(nil):
            self.noiseReduction = nil
        case .some(.some(let reduction)):
            try reduction.allowOnly(known)
            guard let type = try reduction.string("type") else { throw .missing(reduction.param("type")) }
            guard Self.noiseReductionTypes.contains(type) else {
                throw .invalidValue(reduction.param("type"), type, supported: Self.noiseReductionTypes)
            }
            _ = try reduction.number("strength", in: 0...1)
            self.noiseReduction = type
        }
    }
}

// MARK: - The session as events show it

extension RealtimeSettings {
    /// The full effective session, in the client's shape.
    func encoded(sessionID: String) -> JSONValue {
        var transcription: JSONValue = ["model": .string(self.model), "language": self.language.json, "prompt": .string(self.prompt)]
        if self.shape == .ga, !self.keywords.isEmpty, case .object(var fields) = transcription {
            fields["keywords"] = .array(self.keywords.map(JSONValue.string))
            transcription = .object(fields)
        }
        let noiseReduction: JSONValue = self.noiseReduction.map { ["type": .string($0)] } ?? .null
        let turnDetection: JSONValue
        switch self.turnDetection {
        case nil:
            turnDetection = .null
        case .serverVAD(let threshold, let prefix, let silence):
            turnDetection = [
                "type": "server_vad", "threshold": .number(threshold), "prefix_padding_ms": .number(Double(prefix)),
                "silence_duration_ms": .number(Double(silence)),
            ]
        case .semanticVAD(let eagerness):
            turnDetection = ["type": "semantic_vad", "eagerness": .string(eagerness)]
        }
        let include = JSONValue.array(self.include.map(JSONValue.string))
        switch self.shape {
        case .ga:
            let format: JSONValue = self.format == .pcm ? ["type": "audio/pcm", "rate": 24_000] : ["type": .string(self.format.rawValue)]
            return [
                "type": "transcription", "object": "realtime.transcription_session", "id": .string(sessionID), "expires_at": 0,
                "audio": [
                    "input": ["format": format, "transcription": transcription, "noise_reduction": noiseReduction, "turn_detection": turnDetection]
                ],
                "include": self.include.isEmpty ? .null : include,
            ]
        case .beta:
            return [
                "object": "realtime.transcription_session", "id": .string(sessionID), "expires_at": 0, "modalities": ["text"],
                "input_audio_format": .string(self.format.betaName), "input_audio_transcription": transcription,
                "turn_detection": turnDetection, "input_audio_noise_reduction": noiseReduction, "include": include,
            ]
        }
    }
}
