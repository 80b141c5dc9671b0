import Hummingbird
import OpenAIEngine
import SpeechEngine

/// `GET /metrics`: the Prometheus text format. Engine capacity gauges are read at each scrape.
struct MetricsRoutes<Context: RequestContext>: Sendable {
    let metrics: GatewayMetrics
    let engines: EngineRegistry

    func add(to router: Router<Context>) {
        router.get(RouterPath(Paths.metrics)) { _, _ -> Response in
            for engine in self.engines.all {
                self.metrics.engineState(engine: engine.name, state: engine.state, restarts: (engine as? OpenAIRecognizer)?.upstreamRestarts)
                if let reporting = engine as? any UpstreamReporting {
                    self.metrics.upstreams(engine: engine.name, reporting.upstreamStatuses)
                }
                guard let reporting = engine as? any CapacityReporting else { continue }
                let usage = await reporting.usage()
                self.metrics.engineUsage(engine: engine.name, inUse: usage.inUse, queued: usage.queued)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.render()))
            )
        }
    }
}
