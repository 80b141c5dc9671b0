import OpenAIEngine
import PocketSphinxEngine
import RealtimeVoiceServer
import SpeechEngine
import WhisperSidecar

/// The defaults of `serve`, each read from the one place that defines it (the configuration types' initialisers),
/// for ``ServeSettings`` and for the help text of ``ServeCommand``.
enum ServeDefaults {
    static let gateway = GatewayConfiguration()
    static let limits = StreamLimits()
    static let uploads = UploadLimits()
    static let pocketSphinx = PocketSphinxConfiguration()
    static let openAI = OpenAIConfiguration()
    static let whisper = WhisperSidecarConfiguration()
    static let hotwordLimits = HotwordLimits()
    /// `serve`'s default engine (the configuration's own, pocketsphinx, is what the Swift tests build).
    static let engine = "whisper"
    static let logLevel = "info"
    static let logFormat = "text"
}

extension Duration {
    /// Whole or fractional seconds as the help text writes them: `15`, `0.5`.
    var secondsText: String {
        let milliseconds = self.components.seconds * 1000 + self.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? String(milliseconds / 1000) : String(Double(milliseconds) / 1000)
    }

    /// Seconds as a number, for settings given in seconds.
    var secondsValue: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}
