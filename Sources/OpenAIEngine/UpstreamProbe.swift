import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import SpeechEngine

/// The health checks of an ``UpstreamPool`` of several servers: every ``OpenAIConfiguration/probeInterval`` each is
/// asked `GET {base}/models` (OpenAI's model list, which every compatible server has; the managed sidecar too). Any
/// answer below 500 is up, a connection error, a time-out or a 5xx is down. A server that went down is thus back in
/// the pool within one interval of answering again, and one that stopped answering is out before most requests
/// find it. A single server is not probed: there is nowhere else to send its requests. The workers of a managed
/// upstream (engine `whisper` with `--whisper-workers`) are not asked over HTTP: their supervisor's own health checks
/// say which is up (``ManagedUpstream/isReady(server:)``), read every second.
struct UpstreamProbe: Sendable {
    let pool: UpstreamPool
    let http: HTTPClient
    let configuration: OpenAIConfiguration
    let managed: (any ManagedUpstream)?
    let logger: Logger

    private var interval: Duration { self.managed == nil ? self.configuration.probeInterval : .seconds(1) }

    /// Probes until cancelled.
    func run() async {
        while !Task.isCancelled {
            await withDiscardingTaskGroup { group in
                for index in 0..<self.pool.count {
                    group.addTask { await self.probe(index) }
                }
            }
            try? await Task.sleep(for: self.interval)
        }
    }

    private func probe(_ index: Int) async {
        let base = self.pool.baseURLs[index]
        let wasUp = self.pool.statuses[index].isUp
        let isUp: Bool
        if let managed = self.managed {
            isUp = managed.isReady(server: index)
        } else {
            isUp = await self.answers(base)
        }
        // A supervised worker that is not ready is down through the pool's own view of its supervisor: only its
        // coming back (after a failed request took it out) is news here.
        guard !Task.isCancelled, isUp || self.managed == nil else { return }
        self.pool.probed(index, isUp: isUp)
        if wasUp != isUp {
            self.logger.notice(
                isUp ? "A transcription server answers again: back in the pool" : "A transcription server failed its health check: out of the pool",
                metadata: ["upstream.url": "\(base)"])
        }
    }

    /// `GET {base}/models` answers below 500.
    private func answers(_ base: String) async -> Bool {
        var request = HTTPClientRequest(url: OpenAIConfiguration.modelsURL(base: base))
        if let key = self.configuration.apiKey, !key.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        do {
            let response = try await self.http.execute(request, timeout: TimeAmount(min(self.configuration.probeInterval, .seconds(5))))
            _ = try? await response.body.collect(upTo: 1 << 20)
            return response.status.code < 500
        } catch {
            return false
        }
    }
}
