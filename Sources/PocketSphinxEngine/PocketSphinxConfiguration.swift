import Foundation

/// Settings of the embedded PocketSphinx engine.
///
/// Every field is exposed by `realtime-voice serve` as a flag and an environment variable.
public struct PocketSphinxConfiguration: Sendable, Equatable {
    /// Folder holding `en-us/` (acoustic model), `en-us.lm.bin` and `cmudict-en-us.dict`
    /// (Debian's `pocketsphinx-en-us` installs them in `/usr/share/pocketsphinx/model/en-us`).
    public var modelDirectory: String
    /// Decoders created at start (default: one per CPU core); each costs ~90 MB and ~0.3 s.
    public var poolSize: Int
    /// Threads that run decoder calls; `nil` means one per CPU core (at most one per decoder). More threads than
    /// cores only makes decoders preempt each other mid-chunk and evict each other's data from the caches.
    public var threads: Int?
    /// Sessions allowed to wait for a decoder once all are in use.
    public var queueCapacity: Int
    /// How long a queued session waits before it is refused as busy.
    public var queueTimeout: Duration
    /// Silence that closes a segment.
    public var endpointMilliseconds: Int
    /// Cepstral mean every session starts from (13 comma-separated numbers). Each session starts from it, so a
    /// result depends on the session's own audio, never on what the decoder heard before. The default is the mean
    /// PocketSphinx settled on after decoding Debian's pocketsphinx-testdata recordings and flite speech; the
    /// model's own (`41.00,-5.29,…`) recognised flite's slt voice worse (34 % vs 28 % WER, same run).
    /// The model's `feat.params` overrides a `-cmninit` argument, so this is applied with `cmn_live_set`.
    public var cepstralMeanInit: String
    /// More `-key value` decoder arguments, appended last.
    public var extraArguments: [String]

    public static let defaultModelDirectory = "/usr/share/pocketsphinx/model/en-us"
    public static let defaultCepstralMeanInit = "54.80,2.09,15.47,14.39,-0.92,1.57,2.44,-3.12,-1.50,4.00,3.62,7.29,6.29"

    public init(
        modelDirectory: String = Self.defaultModelDirectory,
        poolSize: Int = ProcessInfo.processInfo.activeProcessorCount,
        threads: Int? = nil,
        queueCapacity: Int = 4,
        queueTimeout: Duration = .seconds(10),
        endpointMilliseconds: Int = 600,
        cepstralMeanInit: String = Self.defaultCepstralMeanInit,
        extraArguments: [String] = []
    ) {
        self.modelDirectory = modelDirectory
        self.poolSize = poolSize
        self.threads = threads
        self.queueCapacity = queueCapacity
        self.queueTimeout = queueTimeout
        self.endpointMilliseconds = endpointMilliseconds
        self.cepstralMeanInit = cepstralMeanInit
        self.extraArguments = extraArguments
    }

    /// The number of decoder threads in effect.
    var effectiveThreads: Int {
        max(1, min(self.poolSize, self.threads ?? ProcessInfo.processInfo.activeProcessorCount))
    }

    /// The decoder's command-line arguments (`cmd_ln` style, without argv[0]).
    var decoderArguments: [String] {
        [
            "-hmm", "\(self.modelDirectory)/en-us",
            "-lm", "\(self.modelDirectory)/en-us.lm.bin",
            "-dict", "\(self.modelDirectory)/cmudict-en-us.dict",
            // Finalisation drops from ~130 ms to ~40 ms with no accuracy loss (docs/pocketsphinx.md, “Finalisation cost”).
            "-fwdflat", "no",
            // The VAD keeps reporting speech for this many 10 ms frames of silence: our endpoint.
            "-vad_postspeech", "\(max(1, self.endpointMilliseconds / 10))",
        ] + self.extraArguments
    }
}
