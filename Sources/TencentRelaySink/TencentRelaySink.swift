import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOFoundationCompat
import Synchronization

/// Benchmark sink for the Tencent relay benchmark (bench/relay.sh): the far end of Tencent's real-time protocol at
/// the cost of almost nothing, so that 1000 relayed sessions measure the gateway, not a stand-in.
///
/// It answers the handshake, counts audio, sends a `slice_type 1` result every second of audio and `final:1`
/// after `{"type":"end"}`. It checks no signature (the stand-in in tests/python does). Frames the load generator
/// stamped carry `CLOCK_MONOTONIC` nanoseconds in the 8 bytes at every multiple of `--marker-every` bytes of the
/// stream: the sink records now − stamp, the latency the gateway added to that audio.
///
/// Usage: tencent-relay-sink --port P [--marker-every 3200]. `GET /stats` answers counters and latency percentiles.
@main
struct TencentRelaySink {
    final class Stats: Sendable {
        struct Values {
            var started = 0
            var finished = 0
            var active = 0
            var bytes = 0
            var latenciesMicroseconds: [Int] = []
        }

        let values = Mutex(Values())
    }

    static func monotonicNanoseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var port = 0
        var markerEvery = 3200
        while !arguments.isEmpty {
            switch arguments.removeFirst() {
            case "--port": port = Int(arguments.removeFirst()) ?? 0
            case "--marker-every": markerEvery = Int(arguments.removeFirst()) ?? 3200
            default: break
            }
        }
        let stats = Stats()
        var logger = Logger(label: "tencent-relay-sink")
        logger.logLevel = .warning

        let router = Router(context: BasicWebSocketRequestContext.self)
        router.get("/stats") { request, _ -> Response in
            let reset = request.uri.queryParameters.get("reset") != nil
            let snapshot = stats.values.withLock { values -> Stats.Values in
                let copy = values
                if reset { values.latenciesMicroseconds = [] }
                return copy
            }
            let sorted = snapshot.latenciesMicroseconds.sorted()
            func percentile(_ p: Double) -> Int { sorted.isEmpty ? -1 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
            let body: [String: Int] = [
                "started": snapshot.started, "finished": snapshot.finished, "active": snapshot.active, "bytes": snapshot.bytes,
                "samples": sorted.count, "p50_us": percentile(0.5), "p99_us": percentile(0.99), "max_us": sorted.last ?? -1,
            ]
            let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
        }
        let wsRouter = Router(context: BasicWebSocketRequestContext.self)
        wsRouter.ws("/asr/v2/{appid}") { inbound, outbound, context in
            let voiceID = context.request.uri.queryParameters.get("voice_id").map { String($0) } ?? "unknown"
            stats.values.withLock {
                $0.started += 1
                $0.active += 1
            }
            defer { stats.values.withLock { $0.active -= 1 } }
            try await outbound.write(.text(#"{"code":0,"message":"success","voice_id":"\#(voiceID)"}"#))
            var received = 0
            var nextMarker = 0
            var nextResult = 32_000
            var index = 0
            var latencies: [Int] = []
            for try await message in inbound.messages(maxSize: 1 << 20) {
                switch message {
                case .binary(var buffer):
                    let start = received
                    received += buffer.readableBytes
                    let now = Self.monotonicNanoseconds()
                    while nextMarker + 8 <= received {
                        if nextMarker >= start,
                            let stamp = buffer.getInteger(at: buffer.readerIndex + nextMarker - start, endianness: .little, as: Int64.self), stamp > 0
                        {
                            latencies.append(Int((now - stamp) / 1000))
                        }
                        nextMarker += markerEvery
                    }
                    buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
                    if received >= nextResult {
                        nextResult += 32_000
                        let ms = received / 32
                        try await outbound.write(
                            .text(
                                #"""
                                {"code":0,"message":"success","voice_id":"\#(voiceID)","message_id":"\#(voiceID)_\#(index)",\#
                                "result":{"slice_type":1,"index":0,"start_time":0,"end_time":\#(ms),\#
                                "voice_text_str":"\#(ms)","word_size":0,"word_list":[]},"final":0}
                                """#
                            )
                        )
                        index += 1
                    }
                case .text:
                    stats.values.withLock {
                        $0.bytes += received
                        $0.latenciesMicroseconds.append(contentsOf: latencies)
                        $0.finished += 1
                    }
                    let ms = received / 32
                    try await outbound.write(
                        .text(
                            #"""
                            {"code":0,"message":"success","voice_id":"\#(voiceID)","message_id":"\#(voiceID)_end",\#
                            "result":{"slice_type":2,"index":0,"start_time":0,"end_time":\#(ms),\#
                            "voice_text_str":"\#(ms)","word_size":0,"word_list":[]},"final":0}
                            """#
                        )
                    )
                    try await outbound.write(.text(#"{"code":0,"message":"success","voice_id":"\#(voiceID)","final":1}"#))
                    return
                }
            }
        }
        let app = Application(
            router: router,
            server: .http1WebSocketUpgrade(webSocketRouter: wsRouter),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: nil, backlog: 4096),
            onServerRunning: { channel in
                FileHandle.standardOutput.write(Data("ready port=\(channel.localAddress?.port ?? 0)\n".utf8))
            },
            logger: logger
        )
        try await app.runService()
    }
}
