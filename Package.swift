// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// Tests import what they use loosely; the sources keep the strict import rules.
let testSwiftSettings: [SwiftSetting] = []

let package = Package(
    name: "realtime-voice",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "realtime-voice", targets: ["RealtimeVoiceCLI"]),
        .executable(name: "pocketsphinx-direct", targets: ["PocketSphinxDirect"]),
        .executable(name: "tencent-relay-sink", targets: ["TencentRelaySink"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket.git", from: "1.6.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-async-algorithms.git", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // C libraries from Debian, declared only.
        .systemLibrary(
            name: "CPocketSphinx",
            pkgConfig: "pocketsphinx",
            providers: [.apt(["libpocketsphinx-dev", "pocketsphinx-en-us"]), .brew(["cmu-pocketsphinx"])]
        ),
        .systemLibrary(
            name: "CSoxr",
            pkgConfig: "soxr",
            providers: [.apt(["libsoxr-dev"]), .brew(["libsoxr"])]
        ),
        // Debian's libwebrtc-audio-processing-dev; linked directly (its pkg-config flags are C++ defines SwiftPM refuses).
        .systemLibrary(name: "CWebRTCVAD"),
        // The error catalogue: every code a client can receive, with its HTTP status and WebSocket close code.
        .target(
            name: "RealtimeVoiceErrors",
            swiftSettings: swiftSettings
        ),
        // PCM handling: WAV header sniffing, sample conversion, resampling.
        .target(
            name: "RealtimeVoiceAudio",
            dependencies: ["CSoxr", "RealtimeVoiceErrors"],
            swiftSettings: swiftSettings
        ),
        // The engine-neutral recognizer protocol and result types.
        .target(
            name: "SpeechEngine",
            dependencies: ["RealtimeVoiceErrors"],
            swiftSettings: swiftSettings
        ),
        // The embedded offline engine.
        .target(
            name: "PocketSphinxEngine",
            dependencies: [
                "RealtimeVoiceErrors",
                "CPocketSphinx",
                "SpeechEngine",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tencent Cloud ASR: real-time WebSocket and one-shot API 3.0, signed on the server.
        .target(
            name: "TencentEngine",
            dependencies: [
                "RealtimeVoiceErrors",
                "SpeechEngine",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Any server with OpenAI's transcription API; streams segmented by the WebRTC VAD in the gateway.
        .target(
            name: "OpenAIEngine",
            dependencies: [
                "RealtimeVoiceErrors",
                "CWebRTCVAD",
                "SpeechEngine",
                "RealtimeVoiceAudio",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Engine `whisper`: the gateway runs the faster-whisper sidecar (sidecars/whisper) itself and keeps it up.
        .target(
            name: "WhisperSidecar",
            dependencies: [
                "OpenAIEngine",
                "SpeechEngine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // `realtime-voice doctor`: probes a deployment and names the cause of each failure.
        .target(
            name: "RealtimeVoiceDoctor",
            dependencies: [
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP + WebSocket gateway.
        .target(
            name: "RealtimeVoiceServer",
            dependencies: [
                "RealtimeVoiceErrors",
                "RealtimeVoiceAudio",
                "SpeechEngine",
                "PocketSphinxEngine",
                "TencentEngine",
                "OpenAIEngine",
                "WhisperSidecar",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "WSCore", package: "swift-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `realtime-voice` command.
        .executableTarget(
            name: "RealtimeVoiceCLI",
            dependencies: [
                "RealtimeVoiceErrors",
                "RealtimeVoiceServer",
                "RealtimeVoiceDoctor",
                "TencentEngine",
                "OpenAIEngine",
                "RealtimeVoiceAudio",
                "SpeechEngine",
                "PocketSphinxEngine",
                "WhisperSidecar",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Benchmark sink: the far end of Tencent's real-time protocol at almost no cost (bench/relay.sh).
        .executableTarget(
            name: "TencentRelaySink",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Benchmark baseline: the PocketSphinx C API with no gateway around it.
        .executableTarget(
            name: "PocketSphinxDirect",
            dependencies: ["CPocketSphinx"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RealtimeVoiceAudioTests",
            dependencies: [
                "RealtimeVoiceAudio", "TestAudio", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "PocketSphinxEngineTests",
            dependencies: ["PocketSphinxEngine", "SpeechEngine", "RealtimeVoiceAudio", "TestAudio"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "RealtimeVoiceDoctorTests",
            dependencies: ["RealtimeVoiceDoctor"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "OpenAIEngineTests",
            dependencies: [
                "OpenAIEngine", "SpeechEngine", "RealtimeVoiceAudio", "RealtimeVoiceErrors", "TestAudio",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "RealtimeVoiceErrorsTests",
            dependencies: ["RealtimeVoiceErrors"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "SpeechEngineTests",
            dependencies: ["SpeechEngine"],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "TencentEngineTests",
            dependencies: [
                "TencentEngine", "SpeechEngine", "TestAudio",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: testSwiftSettings
        ),
        .testTarget(
            name: "RealtimeVoiceServerTests",
            dependencies: [
                "RealtimeVoiceServer",
                "SpeechEngine",
                "PocketSphinxEngine",
                "TestAudio",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: testSwiftSettings
        ),
        // Test fixtures: speech synthesised with flite, Debian's pocketsphinx-testdata recordings.
        .target(
            name: "TestAudio",
            path: "Tests/TestAudio",
            swiftSettings: swiftSettings
        ),
    ]
)
