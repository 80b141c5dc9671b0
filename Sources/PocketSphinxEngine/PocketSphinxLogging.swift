import CPocketSphinx
import Synchronization

/// PocketSphinx's log destination is process-wide state: passing `-logfn` to each decoder made concurrent
/// `ps_init` calls crash (docs/pocketsphinx.md, “Logging: silence it once, never use -logfn”). It is silenced
/// once, before the first decoder.
enum PocketSphinxLogging {
    private static let silenced = Mutex(false)

    static func silenceOnce() {
        Self.silenced.withLock { done in
            guard !done else { return }
            err_set_logfp(nil)
            done = true
        }
    }
}
