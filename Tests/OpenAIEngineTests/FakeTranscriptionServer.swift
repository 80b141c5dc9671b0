import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization

/// An OpenAI-compatible `POST /v1/audio/transcriptions` stand-in for the engine's session logic: it reads the WAV
/// in the multipart body and answers `verbose_json` whose text says how much of the speech it heard ("voiced 5120":
/// the samples louder than ``voicedThreshold``), so a test can tell whether an answer heard a whole sentence. It
/// records every request's audio length and the most requests it had in flight at once; `delay` is how long each
/// answer takes, `failing` answers 500 instead. A request marked as a partial (`realtime_voice_partial=true`) is
/// answered "voiced N, partial", so that a test sees whether a final came from one.
final class FakeTranscriptionServer: Sendable {
    struct Log: Sendable {
        var audioMilliseconds: [Int] = []
        /// Per request: whether it carried `realtime_voice_partial=true` (the mark of a partial for the sidecar).
        var markedPartial: [Bool] = []
        var inFlight = 0
        var maxInFlight = 0
    }

    static let voicedThreshold: Int16 = 300

    /// What the fake says of `samples`: how many are louder than ``voicedThreshold``.
    static func voiced(_ samples: some Sequence<Int16>) -> Int {
        samples.reduce(0) { $0 + (abs(Int($1)) > Int(Self.voicedThreshold) ? 1 : 0) }
    }

    let delay: Duration
    let failing: Bool
    let log = Mutex(Log())

    init(delay: Duration = .milliseconds(100), failing: Bool = false) {
        self.delay = delay
        self.failing = failing
    }

    /// Runs `body` with the base URL (`http://127.0.0.1:<port>/v1`) of a live instance.
    func run(_ body: @escaping @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.post("/v1/audio/transcriptions") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 16 << 20)
            return try await self.answer(Array(bytes.readableBytesView))
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            guard let port = client.port else { throw FakeFailure(description: "the live test server has no port") }
            try await body("http://127.0.0.1:\(port)/v1")
        }
    }

    private func answer(_ body: [UInt8]) async throws -> Response {
        let (milliseconds, voiced) = Self.audio(inMultipart: body)
        let marked = Self.contains(#"name="realtime_voice_partial"\#r\#n\#r\#ntrue"#, in: body)
        self.log.withLock {
            $0.audioMilliseconds.append(milliseconds)
            $0.markedPartial.append(marked)
            $0.inFlight += 1
            $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
        }
        defer { self.log.withLock { $0.inFlight -= 1 } }
        try await Task.sleep(for: self.delay)
        if self.failing {
            return Response(status: .internalServerError, body: .init(byteBuffer: ByteBuffer(string: #"{"error":{"message":"down"}}"#)))
        }
        let seconds = Double(milliseconds) / 1000
        let text = marked ? "voiced \(voiced), partial" : "voiced \(voiced)"
        let json = """
            {"task":"transcribe","language":"english","duration":\(seconds),"text":" \(text)",\
            "segments":[{"id":0,"seek":0,"start":0.0,"end":\(seconds),"text":" \(text)","tokens":[1],\
            "temperature":0.0,"avg_logprob":-0.1,"compression_ratio":1.0,"no_speech_prob":0.01}],"words":[]}
            """
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    static func contains(_ text: String, in body: [UInt8]) -> Bool {
        let pattern = Array(text.utf8)
        guard body.count >= pattern.count else { return false }
        return (0...(body.count - pattern.count)).contains { body[$0..<$0 + pattern.count].elementsEqual(pattern) }
    }

    /// The length in ms of the mono 16-bit WAV inside a multipart body (its `data` chunk at its sample rate), and
    /// its ``voiced(_:)`` count.
    static func audio(inMultipart body: [UInt8]) -> (milliseconds: Int, voiced: Int) {
        func find(_ tag: String, from start: Int) -> Int? {
            let pattern = Array(tag.utf8)
            guard body.count >= start + pattern.count else { return nil }
            return (start...(body.count - pattern.count)).first { body[$0..<$0 + pattern.count].elementsEqual(pattern) }
        }
        func uint32(at offset: Int) -> Int {
            (0..<4).reduce(0) { $0 | Int(body[offset + $1]) << (8 * $1) }
        }
        guard let riff = find("RIFF", from: 0), let data = find("data", from: riff + 12) else { return (0, 0) }
        let rate = uint32(at: riff + 24)
        let size = min(uint32(at: data + 4), body.count - data - 8)
        let samples = stride(from: data + 8, to: data + 8 + size - 1, by: 2).lazy.map {
            Int16(bitPattern: UInt16(body[$0]) | UInt16(body[$0 + 1]) << 8)
        }
        return (rate > 0 ? size / 2 * 1000 / rate : 0, Self.voiced(samples))
    }
}

struct FakeFailure: Error, CustomStringConvertible {
    let description: String
}
