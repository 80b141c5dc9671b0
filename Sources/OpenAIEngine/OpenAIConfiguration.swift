/// Settings of the `openai` engine: any server that speaks OpenAI's transcription API (OpenAI, Groq, SiliconFlow,
/// speaches, whisper.cpp's server, vLLM, the bundled faster-whisper sidecar). Every field is a flag and an
/// environment variable of `realtime-voice serve`.
public struct OpenAIConfiguration: Sendable {
    /// The servers' base URLs, `/v1` included, as the OpenAI SDKs take one (`OPENAI_BASE_URL`, a comma list): requests
    /// are spread over them, and one that fails is retried on another (``UpstreamPool``).
    public var baseURLs: [String]
    /// The first of ``baseURLs``; setting it makes it the only one.
    public var baseURL: String {
        get { self.baseURLs[0] }
        set { self.baseURLs = [newValue] }
    }
    /// With several ``baseURLs``: how often each is asked `GET {base}/models` (any answer below 500 is up), so that
    /// a server that went down comes back, and one that stopped answering is left out before a request finds it.
    public var probeInterval: Duration = .seconds(5)
    /// Sent as `Authorization: Bearer …`; never logged, never in a message to a client (`OPENAI_API_KEY`).
    public var apiKey: String?
    /// The `model` field of every request (`REALTIME_VOICE_OPENAI_MODEL`).
    public var model: String
    /// Longest wait for one upstream answer; then the request counts as failed (and is retried once).
    public var requestTimeout: Duration
    /// Longest wait for a TCP/TLS connection to the upstream.
    public var connectTimeout: Duration
    /// Pause before the one retry of a request that failed with 5xx or a connection error.
    public var retryBackoff: Duration
    /// Upstream requests in flight at once, across all sessions and uploads.
    public var maxConcurrentRequests: Int
    /// Requests (finals, uploads) that may wait for one of those; more are answered `busy`. Partials never wait.
    public var requestQueue: Int
    /// Longest wait in that queue before `busy`.
    public var queueTimeout: Duration
    /// Streaming: how much new speech (stream time) triggers a new partial of the open segment.
    public var partialInterval: Duration
    /// Streaming: silence that closes a segment.
    public var endpoint: Duration
    /// Streaming: longest segment; a longer one is cut at its quietest 100 ms.
    public var maxSegment: Duration
    /// WebRTC VAD aggressiveness, 0 (keeps most audio as speech) to 3 (drops most noise).
    public var vadMode: Int
    /// Live streams at once; one more is refused `busy` at its start rather than served with a growing lag. Nil:
    /// no limit (an external upstream scales by itself); engine `whisper` sets it to what its sidecar keeps up with.
    public var maxStreams: Int?
    /// Marks the requests for partials with the form field `realtime_voice_partial=true`. Only for the managed
    /// sidecar (engine `whisper`), which then decodes them once, without its beam-search retry
    /// (sidecars/whisper/README.md, rule 6): a partial is a preview, and its retries delayed the finals. Other
    /// servers do not know the field, so it is off for engine `openai`.
    public var marksPartials = false
    /// Sends a session's hotwords in the form field `hotwords`, which the managed sidecar hands faster-whisper
    /// (engine `whisper`). Other servers get them at the end of `prompt` instead, the one field OpenAI's API has
    /// for context, so it is off for engine `openai`.
    public var takesHotwords = false

    public static let defaultBaseURL = "https://api.openai.com/v1"

    public init(
        baseURL: String = OpenAIConfiguration.defaultBaseURL,
        apiKey: String? = nil,
        model: String = "whisper-1",
        requestTimeout: Duration = .seconds(30),
        connectTimeout: Duration = .seconds(5),
        retryBackoff: Duration = .milliseconds(500),
        maxConcurrentRequests: Int = 4,
        requestQueue: Int = 16,
        queueTimeout: Duration = .seconds(10),
        partialInterval: Duration = .seconds(1),
        endpoint: Duration = .milliseconds(600),
        maxSegment: Duration = .seconds(15),
        vadMode: Int = 2,
        maxStreams: Int? = nil
    ) {
        self.maxStreams = maxStreams
        self.baseURLs = [baseURL]
        self.apiKey = apiKey
        self.model = model
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.retryBackoff = retryBackoff
        self.maxConcurrentRequests = maxConcurrentRequests
        self.requestQueue = requestQueue
        self.queueTimeout = queueTimeout
        self.partialInterval = partialInterval
        self.endpoint = endpoint
        self.maxSegment = maxSegment
        self.vadMode = vadMode
    }

    /// `{baseURL}/audio/transcriptions`, of the first server.
    public var transcriptionsURL: String { Self.transcriptionsURL(base: self.baseURL) }

    /// `{base}/audio/transcriptions`.
    public static func transcriptionsURL(base: String) -> String { Self.trimmed(base) + "/audio/transcriptions" }

    /// `{base}/models`, what the health probe asks.
    static func modelsURL(base: String) -> String { Self.trimmed(base) + "/models" }

    private static func trimmed(_ base: String) -> String {
        var base = base
        while base.hasSuffix("/") { base.removeLast() }
        return base
    }
}
