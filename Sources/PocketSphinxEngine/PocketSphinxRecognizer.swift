import Logging
import NIOPosix
import ServiceLifecycle
import SpeechEngine
import Synchronization

/// The embedded offline engine: PocketSphinx with Debian's US English model.
///
/// Decoders are created once, at start (``run()``), and pooled. Every decoder call runs on a dedicated
/// `NIOThreadPool`, never on an event loop or the cooperative pool. The pool has one thread per core (not one per
/// decoder): each 100 ms chunk is then decoded without being preempted by other decoders, which on 2 cores cost
/// ~20 % more CPU per stream at 8 streams (bench/RESULTS.md).
public final class PocketSphinxRecognizer: SpeechRecognizer, CapacityReporting, Service {
    public let name = "pocketsphinx"
    public let sampleRate = 16_000
    public let configuration: PocketSphinxConfiguration

    private let threadPool: NIOThreadPool
    private let pool: LendingPool<PocketSphinxDecoder>
    private let ready = Atomic<Bool>(false)
    /// Read from the first decoder at load, for hotwords.
    private let vocabulary = LoadedOnce<PocketSphinxVocabulary>()
    private let logger: Logger

    public init(configuration: PocketSphinxConfiguration, logger: Logger) {
        self.configuration = configuration
        self.threadPool = NIOThreadPool(numberOfThreads: configuration.effectiveThreads)
        self.threadPool.start()
        self.pool = LendingPool(queueCapacity: configuration.queueCapacity, queueTimeout: configuration.queueTimeout)
        self.logger = logger
    }

    public var isReady: Bool { self.ready.load(ordering: .acquiring) }

    /// US English; `auto` too, which for an English-only engine means English.
    public func supports(language: String) -> Bool {
        language == LanguageTag.auto || language.lowercased().hasPrefix("en")
    }

    /// Decoders in use and sessions waiting, for `/health` and metrics.
    public func usage() async -> (inUse: Int, queued: Int) {
        await (self.pool.inUse, self.pool.queued)
    }

    /// A stream holds a decoder: room while one is idle or the queue has a place.
    public func hasRoomForAStream() async -> Bool {
        await self.pool.hasRoom
    }

    /// A decoder is idle now.
    public func hasIdleCapacity() async -> Bool {
        await self.pool.hasIdle
    }

    /// Creates the decoders, one after the other (concurrent creation is where PocketSphinx's global state
    /// bites), each on the thread pool. Sessions may queue meanwhile.
    public func load() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        for index in 0..<max(1, self.configuration.poolSize) {
            let configuration = self.configuration
            let decoder = try await self.threadPool.runIfActive { try PocketSphinxDecoder(configuration: configuration) }
            if index == 0 {
                let started = clock.now
                await self.vocabulary.set(try await self.threadPool.runIfActive { try decoder.vocabulary() })
                self.logger.debug("PocketSphinx vocabulary read for hotwords", metadata: ["engine.load_time": "\(clock.now - started)"])
            }
            await self.pool.add(decoder)
        }
        self.ready.store(true, ordering: .releasing)
        self.logger.info(
            "PocketSphinx decoders loaded",
            metadata: ["engine.decoders": "\(self.configuration.poolSize)", "engine.load_time": "\(clock.now - start)"]
        )
    }

    /// Loads the pool, then serves until graceful shutdown; then frees the decoders.
    public func run() async throws {
        try await self.load()
        try? await gracefulShutdown()
        await self.shutdown()
    }

    /// Refuses new sessions, frees idle decoders and stops the threads once queued work is done.
    public func shutdown() async {
        self.ready.store(false, ordering: .releasing)
        let decoders = await self.pool.close()
        _ = try? await self.threadPool.runIfActive { withExtendedLifetime(decoders) {} }
        try? await self.threadPool.shutdownGracefully()
    }

    public func recognize<Audio: AsyncSequence & Sendable>(
        _ audio: Audio,
        options: RecognitionOptions,
        onStart: @Sendable () async throws -> Void,
        emit: @Sendable (RecognitionEvent) async throws -> Void
    ) async throws where Audio.Element == [Int16] {
        let additions = options.hotwords.isEmpty ? [] : await self.vocabulary.value.plan(for: options.hotwords).additions
        // A session that throws leaves the decoder mid-utterance: the next session's beginSession() discards that.
        let decoder = try await self.pool.acquire()
        do {
            try await self.recognize(audio, on: decoder, adding: additions, onStart: onStart, emit: emit)
            await self.giveBack(decoder)
        } catch {
            await self.giveBack(decoder)
            throw error
        }
    }

    private func recognize<Audio: AsyncSequence & Sendable>(
        _ audio: Audio,
        on decoder: PocketSphinxDecoder,
        adding additions: [PocketSphinxVocabulary.Addition],
        onStart: @Sendable () async throws -> Void,
        emit: @Sendable (RecognitionEvent) async throws -> Void
    ) async throws where Audio.Element == [Int16] {
        if !additions.isEmpty {
            let refused = try await self.threadPool.runIfActive { decoder.add(additions) }
            if !refused.isEmpty { self.logger.warning("PocketSphinx refused hotwords", metadata: ["hotwords.refused": "\(refused.count)"]) }
        }
        try await self.threadPool.runIfActive { try decoder.beginSession() }
        try await onStart()
        for try await chunk in audio where !chunk.isEmpty {
            for event in try await self.threadPool.runIfActive({ try decoder.process(chunk) }) {
                try await emit(event)
            }
        }
        for event in try await self.threadPool.runIfActive({ try decoder.finishSession() }) {
            try await emit(event)
        }
    }

    /// Hotwords PocketSphinx does nothing with: phrases of words it knows (it has no weights), words without a
    /// pronunciation, anything not English. Words it lacks are added for the session.
    public func ignoredHotwords(_ hotwords: [Hotword]) async -> [IgnoredHotword] {
        await self.vocabulary.value.plan(for: hotwords).ignored
    }

    /// A decoder back to the pool, unless a session's words were added to it: then a fresh one takes its place
    /// (~0.3 s on the thread pool, after the session has ended), so no session hears another's hotwords.
    private func giveBack(_ decoder: PocketSphinxDecoder) async {
        guard decoder.hasSessionWords else { return await self.pool.release(decoder) }
        let (pool, threadPool, configuration, logger) = (self.pool, self.threadPool, self.configuration, self.logger)
        Task {
            do {
                let fresh = try await threadPool.runIfActive { try PocketSphinxDecoder(configuration: configuration) }
                await pool.release(fresh)
            } catch {
                logger.warning("A fresh PocketSphinx decoder could not be made; the one with a session's words is reused")
                await pool.release(decoder)
            }
        }
    }
}
