/// The gateway's public paths.
enum Paths {
    static let health = "/health"
    /// For orchestrators: the process answers (liveness); it would take a new session now (readiness).
    static let healthLive = "/health/live"
    static let healthReady = "/health/ready"
    static let echo = "/api/realtime-voice/echo"
    static let stream = "/api/realtime-voice/stream"
    static let recognize = "/api/realtime-voice/recognize"
    static let openAITranscriptions = "/v1/audio/transcriptions"
    /// OpenAI's Realtime API, transcription sessions (WebSocket).
    static let realtime = "/v1/realtime"
    /// Echoes the request headers as received, so that `doctor` sees what a proxy stripped or added.
    static let debugHeaders = "/api/realtime-voice/debug/headers"
    /// Prometheus metrics (token required unless `--public-metrics`).
    static let metrics = "/metrics"
    static let webSocketPaths: Set<String> = [echo, stream, realtime]
    /// Routes as they are labelled in the HTTP metrics; any other path is `other`.
    static let known: Set<String> = [
        "/", "/app.js", health, healthLive, healthReady, echo, stream, realtime, recognize, openAITranscriptions, debugHeaders, metrics,
    ]

    /// Paths whose requests need a token.
    static func requiresAuth(_ path: String, publicMetrics: Bool) -> Bool {
        path.hasPrefix("/api/") || path.hasPrefix("/v1/") || (path == metrics && !publicMetrics)
    }
}
