import NIOPosix
import ServiceLifecycle

/// Threads for blocking work that is not decoding speech (ffmpeg runs), started eagerly and stopped after the
/// server has drained.
struct BlockingWorkPool: Service {
    let pool: NIOThreadPool

    init(numberOfThreads: Int) {
        self.pool = NIOThreadPool(numberOfThreads: numberOfThreads)
        self.pool.start()
    }

    func run() async throws {
        try? await gracefulShutdown()
        try await self.pool.shutdownGracefully()
    }
}
