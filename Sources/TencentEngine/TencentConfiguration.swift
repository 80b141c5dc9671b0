import Foundation

/// Settings of the Tencent Cloud ASR engine. `realtime-voice serve` reads them from the environment (see README).
public struct TencentConfiguration: Sendable {
    /// The accounts' API keys and AppIDs. With several (an account has its own concurrency limits), sessions and
    /// uploads take them in turn (``CredentialRotation``).
    public var credentialSets: [TencentCredentials]
    /// The first of ``credentialSets``; setting it makes it the only one.
    public var credentials: TencentCredentials {
        get { self.credentialSets[0] }
        set { self.credentialSets = [newValue] }
    }
    /// Real-time ASR endpoint without the AppID (`TENCENT_ASR_WS_URL`).
    public var realtimeURL: String
    /// API 3.0 endpoint for SentenceRecognition (`TENCENT_ASR_API_URL`).
    public var apiURL: String
    /// Engine model (`engine_model_type`) by language tag, lower-case; a tag not listed falls back to its primary
    /// language (`zh-TW` → `zh`). `TENCENT_ASR_MODELS="zh-CN=16k_zh,en-US=16k_en"` adds or replaces entries.
    public var models: [String: String]
    /// The model for 8 kHz Mandarin (telephone audio). Other languages at 8 kHz use their 16k model with
    /// `input_sample_rate=8000`.
    public var narrowbandModel: String
    /// Seconds of audio sent upstream per second at most, on average (`TENCENT_ASR_PACE`). Tencent fails a session
    /// that gets more than 3 s of audio in 1 s (4000) and recommends real time; a live client sends in real time
    /// anyway, and 1.5 lets one that stalled (a network hiccup, a burst) catch up: with the 200 ms burst, at most
    /// 1.7 s of audio goes up in any second.
    public var pace: Double
    /// Audio a burst may send ahead of the pace.
    public var burst: Duration
    /// After this long without client audio, 40 ms of silence is sent upstream, so that Tencent never sees a gap
    /// over 6 s (engine failure) or 15 s (4008) while the client pauses.
    public var keepAliveAfter: Duration
    /// How long to wait for Tencent's handshake, and for `final:1` after `end`.
    public var responseTimeout: Duration

    public static let defaultRealtimeURL = "wss://asr.cloud.tencent.com/asr/v2"
    public static let defaultAPIURL = "https://asr.tencentcloudapi.com/"
    public static let defaultModels = [
        "zh": "16k_zh", "zh-cn": "16k_zh", "en": "16k_en", "en-us": "16k_en", "yue": "16k_yue", "zh-hk": "16k_yue",
        "ja": "16k_ja", "ko": "16k_ko",
    ]

    public init(
        credentials: TencentCredentials,
        realtimeURL: String = Self.defaultRealtimeURL,
        apiURL: String = Self.defaultAPIURL,
        models: [String: String] = Self.defaultModels,
        narrowbandModel: String = "8k_zh",
        pace: Double = 1.5,
        burst: Duration = .milliseconds(200),
        keepAliveAfter: Duration = .seconds(4),
        responseTimeout: Duration = .seconds(10)
    ) {
        self.credentialSets = [credentials]
        self.realtimeURL = realtimeURL
        self.apiURL = apiURL
        self.models = models
        self.narrowbandModel = narrowbandModel
        self.pace = pace
        self.burst = burst
        self.keepAliveAfter = keepAliveAfter
        self.responseTimeout = responseTimeout
    }

    /// The 16 kHz model for a language tag, or nil when none is configured.
    public func model(for language: String) -> String? {
        let tag = language.lowercased().replacingOccurrences(of: "_", with: "-")
        if let model = self.models[tag] { return model }
        return tag.split(separator: "-").first.flatMap { self.models[String($0)] }
    }

    /// Parses `TENCENT_ASR_MODELS` (`tag=model,tag=model`) over the defaults.
    public static func models(parsing text: String) -> [String: String]? {
        var models = Self.defaultModels
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            models[parts[0].lowercased()] = parts[1]
        }
        return models
    }

    /// Session query parameters passed through to Tencent, by our name → Tencent's (hotwords are the session's
    /// ``RecognitionOptions/hotwords``, sent as `hotword_list`).
    static let passThrough: [String: String] = [
        "hotword_id": "hotword_id", "customization_id": "customization_id",
        "replace_text_id": "replace_text_id", "filter_dirty": "filter_dirty", "filter_modal": "filter_modal",
        "filter_punc": "filter_punc", "convert_num_mode": "convert_num_mode", "word_info": "word_info",
        "vad_silence_time": "vad_silence_time", "max_speak_time": "max_speak_time",
    ]
}
