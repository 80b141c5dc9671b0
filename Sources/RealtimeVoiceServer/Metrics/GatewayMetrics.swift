import Metrics
import Prometheus
import SpeechEngine

/// The gateway's metrics, through the swift-metrics API into a Prometheus registry of this application's own
/// (no global bootstrap: tests build several applications in one process). `GET /metrics` renders the registry.
///
/// Label values are bounded sets: endpoints (`stream`, `realtime`, `echo`, `recognize`, `transcriptions`), engine names,
/// outcomes (`completed` or a documented error code), routes as registered and status codes.
public final class GatewayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    public init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        let latencyBuckets: [Duration] = [50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000].map { .milliseconds($0) }
        factory.durationHistogramBuckets = [
            Name.firstPartialLatency: latencyBuckets,
            Name.finalLatency: latencyBuckets,
            Name.httpDuration: [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000].map { .milliseconds($0) },
        ]
        factory.valueHistogramBuckets = [
            Name.realTimeFactor: [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5],
            Name.uploadBytes: [4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864],
        ]
        self.registry = registry
        self.factory = factory
    }

    enum Name {
        static let activeSessions = "realtime_voice_active_sessions"
        static let sessions = "realtime_voice_sessions_total"
        static let audioSeconds = "realtime_voice_audio_seconds_total"
        static let realTimeFactor = "realtime_voice_real_time_factor"
        static let firstPartialLatency = "realtime_voice_first_partial_latency_seconds"
        static let finalLatency = "realtime_voice_final_latency_seconds"
        static let engineInUse = "realtime_voice_engine_in_use"
        static let engineQueued = "realtime_voice_engine_queued"
        static let engineState = "realtime_voice_engine_state"
        static let engineRestarts = "realtime_voice_engine_restarts"
        static let uploadBytes = "realtime_voice_upload_bytes"
        static let httpRequests = "realtime_voice_http_requests_total"
        static let httpDuration = "realtime_voice_http_request_duration_seconds"
        static let detachedSessions = "realtime_voice_detached_sessions"
        static let resumes = "realtime_voice_resumes_total"
        static let upstreamUp = "realtime_voice_upstream_up"
        static let upstreamInFlight = "realtime_voice_upstream_in_flight"
        static let upstreamRequests = "realtime_voice_upstream_requests"
    }

    // MARK: Sessions (streams, echo connections, uploads)

    func sessionStarted(endpoint: String, engine: String) {
        Meter(label: Name.activeSessions, dimensions: [("endpoint", endpoint), ("engine", engine)], factory: self.factory).increment()
    }

    /// Streams whose connection dropped and that wait for a resume (`delta` +1 or −1).
    func detachedSessions(_ delta: Int) {
        let meter = Meter(label: Name.detachedSessions, factory: self.factory)
        if delta > 0 { meter.increment(by: Double(delta)) } else { meter.decrement(by: Double(-delta)) }
    }

    /// A resume attempt: `resumed`, or the refusal's reason (`unknown`, `foreign`, `ended`).
    func resume(outcome: String) {
        Counter(label: Name.resumes, dimensions: [("outcome", outcome)], factory: self.factory).increment()
    }

    /// A session ended with `outcome`: `completed`, `client_gone` or an error code.
    func sessionEnded(endpoint: String, engine: String, outcome: String, audioSeconds: Double) {
        Meter(label: Name.activeSessions, dimensions: [("endpoint", endpoint), ("engine", engine)], factory: self.factory).decrement()
        Counter(label: Name.sessions, dimensions: [("endpoint", endpoint), ("engine", engine), ("outcome", outcome)], factory: self.factory)
            .increment()
        if audioSeconds > 0 {
            FloatingPointCounter(label: Name.audioSeconds, dimensions: [("engine", engine)], factory: self.factory).increment(by: audioSeconds)
        }
    }

    /// Recognition time over audio duration, of an upload.
    func realTimeFactor(engine: String, _ value: Double) {
        Recorder(label: Name.realTimeFactor, dimensions: [("engine", engine)], factory: self.factory).record(value)
    }

    /// From a stream's first audio to its first partial.
    func firstPartialLatency(engine: String, _ latency: Duration) {
        Metrics.Timer(label: Name.firstPartialLatency, dimensions: [("engine", engine)], factory: self.factory).record(duration: latency)
    }

    /// From the arrival of the audio at a final's end to the final being sent.
    func finalLatency(engine: String, _ latency: Duration) {
        Metrics.Timer(label: Name.finalLatency, dimensions: [("engine", engine)], factory: self.factory).record(duration: latency)
    }

    func uploadSize(bytes: Int) {
        Recorder(label: Name.uploadBytes, dimensions: [], factory: self.factory).record(bytes)
    }

    func httpRequest(route: String, method: String, status: Int, duration: Duration) {
        let dimensions = [("route", route), ("method", method), ("status", String(status))]
        Counter(label: Name.httpRequests, dimensions: dimensions, factory: self.factory).increment()
        Metrics.Timer(label: Name.httpDuration, dimensions: [("route", route)], factory: self.factory).record(duration: duration)
    }

    /// An engine's capacity in use and its queue, set when `/metrics` is scraped.
    func engineUsage(engine: String, inUse: Int, queued: Int) {
        Gauge(label: Name.engineInUse, dimensions: [("engine", engine)], factory: self.factory).record(inUse)
        Gauge(label: Name.engineQueued, dimensions: [("engine", engine)], factory: self.factory).record(queued)
    }

    /// An engine's state as a Prometheus enum: 1 for the current one, 0 for the others; and, for an engine whose
    /// process the gateway runs (whisper), how often it was started again.
    func engineState(engine: String, state: EngineState, restarts: Int?) {
        for candidate in EngineState.allCases {
            Gauge(label: Name.engineState, dimensions: [("engine", engine), ("state", candidate.rawValue)], factory: self.factory)
                .record(candidate == state ? 1 : 0)
        }
        if let restarts {
            Gauge(label: Name.engineRestarts, dimensions: [("engine", engine)], factory: self.factory).record(restarts)
        }
    }

    /// Each server of an engine (read at each scrape): 1 when up, its requests in flight, and its requests so far by
    /// outcome (`succeeded`, `failed`: a gauge of the count, as `engine_restarts`, since the engine keeps the tally).
    func upstreams(engine: String, _ statuses: [UpstreamStatus]) {
        for status in statuses {
            let labels = [("engine", engine), ("upstream", status.baseURL)]
            Gauge(label: Name.upstreamUp, dimensions: labels, factory: self.factory).record(status.isUp ? 1 : 0)
            Gauge(label: Name.upstreamInFlight, dimensions: labels, factory: self.factory).record(status.inFlight)
            Gauge(label: Name.upstreamRequests, dimensions: labels + [("outcome", "succeeded")], factory: self.factory).record(status.succeeded)
            Gauge(label: Name.upstreamRequests, dimensions: labels + [("outcome", "failed")], factory: self.factory).record(status.failed)
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    func render() -> [UInt8] {
        self.registry.emitToBuffer()
    }
}
