import Foundation
import RealtimeVoiceAudio
import SpeechEngine
import Testing

@testable import OpenAIEngine

@Suite("Answers, requests and secrets of the openai engine")
struct TranscriptionTests {
    static let verbose = """
        {"task":"transcribe","language":"english","duration":7.8,"text":" Hello there. General Kenobi.",
         "segments":[{"id":0,"seek":0,"start":0.5,"end":1.6,"text":" Hello there.","tokens":[1],"temperature":0.0,"avg_logprob":-0.2,
                      "compression_ratio":1.0,"no_speech_prob":0.01},
                     {"id":1,"seek":0,"start":4.9,"end":7.0,"text":" General Kenobi.","tokens":[2],"temperature":0.0,"avg_logprob":-0.3,
                      "compression_ratio":1.0,"no_speech_prob":0.02}],
         "words":[{"word":" Hello","start":0.5,"end":0.9,"probability":0.9},{"word":" there.","start":0.9,"end":1.6,"probability":0.8},
                  {"word":" General","start":4.9,"end":5.5},{"word":" Kenobi.","start":5.5,"end":7.0}]}
        """

    @Test("verbose_json maps to segments in stream time, each with the words inside it")
    func verboseSegments() throws {
        let body = try JSONDecoder().decode(Transcription.Body.self, from: Data(Self.verbose.utf8))
        let segments = Transcription(body).segments(offsetMs: 60_000, durationMs: 7_800, firstIndex: 3)
        #expect(segments.map(\.text) == ["Hello there.", "General Kenobi."])
        #expect(segments.map(\.index) == [3, 4])
        #expect(segments.map(\.startMs) == [60_500, 64_900])
        #expect(segments[0].words.map(\.text) == ["Hello", "there."])
        #expect(segments[1].words.map(\.startMs) == [64_900, 65_500])
        #expect(segments[0].words[0].confidence == 0.9)
        #expect(segments[1].words[0].confidence == 1)
        #expect(segments.map(\.language) == ["en-US", "en-US"])  // verbose_json's "english", as a tag
    }

    @Test("plain json (no times) is one segment over the whole piece; an empty text is none")
    func plainJSON() throws {
        let body = try JSONDecoder().decode(Transcription.Body.self, from: Data(#"{"text":" Just text. "}"#.utf8))
        let segments = Transcription(body).segments(offsetMs: 1_000, durationMs: 2_500, firstIndex: 0)
        #expect(segments == [RecognizedSegment(index: 0, text: "Just text.", startMs: 1_000, endMs: 3_500, words: [])])
        let empty = try JSONDecoder().decode(Transcription.Body.self, from: Data(#"{"text":""}"#.utf8))
        #expect(Transcription(empty).segments(offsetMs: 0, durationMs: 1_000, firstIndex: 0).isEmpty)
    }

    @Test("the API key, or any 8 characters of it an upstream echoes, never survives in a message")
    func keyIsRedacted() {
        let client = TranscriptionClient(
            configuration: OpenAIConfiguration(apiKey: "sk-proj-abcdef0123456789XYZ"), http: .shared, logger: .init(label: "test")
        )
        let message = client.redact("Incorrect API key provided: sk-proj-abcdef0123456789XYZ. Also sk-proj-****6789XYZ and 0123456789.")
        #expect(!message.contains("sk-proj-abcdef0123456789XYZ"))
        #expect(!message.contains("456789XY"))
        #expect(!message.contains("01234567"))
        #expect(message.hasPrefix("Incorrect API key provided: ***"))
    }

    @Test("the WAV sent upstream is read back by the gateway's own WAV sniffer")
    func wavRoundTrip() throws {
        let samples: [Int16] = [0, 1, -1, .max, .min, 1234]
        let bytes = WAVFile.bytes(samples, sampleRate: 16_000)
        guard case .header(let header) = try WAVHeader.sniff(bytes) else {
            Issue.record("not a WAV header")
            return
        }
        let fields: [Int] = [header.sampleRate, header.channels, header.bitsPerSample, header.formatTag, header.dataOffset]
        #expect(fields == [16_000, 1, 16, 1, 44])
        let decoded = stride(from: 44, to: bytes.count, by: 2).map { Int16(bitPattern: UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8) }
        #expect(decoded == samples)
    }

    @Test("language tags become ISO-639-1 codes; the base URL takes or leaves a trailing slash")
    func requestFields() {
        #expect(OpenAIRecognizer.isoLanguage("en-US") == "en")
        #expect(OpenAIRecognizer.isoLanguage("zh-HK") == "zh")
        #expect(OpenAIRecognizer.isoLanguage("yue") == "yue")
        #expect(OpenAIConfiguration(baseURL: "http://127.0.0.1:8808/v1/").transcriptionsURL == "http://127.0.0.1:8808/v1/audio/transcriptions")
    }

    @Test("the request pool lends without waiting only when a permit is free")
    func tryAcquire() async throws {
        let pool = LendingPool(resources: [0], queueCapacity: 0, queueTimeout: .seconds(1), noun: "requests")
        let permit = await pool.tryAcquire()
        #expect(permit == 0)
        #expect(await pool.tryAcquire() == nil)
        await #expect(throws: RecognitionError.self) { try await pool.acquire() }
        await pool.release(0)
        #expect(await pool.tryAcquire() == 0)
    }

    @Test("withResource gives the permit back whether its body returns or throws")
    func withResource() async throws {
        let pool = LendingPool(resources: [7], queueCapacity: 0, queueTimeout: .seconds(1), noun: "requests")
        let lent = try await pool.withResource { permit in
            #expect(await pool.tryAcquire() == nil)
            return permit
        }
        let inUseAfterReturn = await pool.inUse
        #expect(lent == 7 && inUseAfterReturn == 0)
        await #expect(throws: RecognitionError.self) {
            try await pool.withResource { _ in throw RecognitionError.busy() }
        }
        #expect(await pool.inUse == 0)
        #expect(await pool.tryAcquire() == 7)
    }
}

@Suite("A session's prompt and hotwords as the upstream takes them")
struct TranscriptionContextTests {
    static func context(takesHotwords: Bool, prompt: String?, hotwords: [Hotword]) -> TranscriptionContext {
        var configuration = OpenAIConfiguration(baseURL: "http://127.0.0.1:9/v1")
        configuration.takesHotwords = takesHotwords
        let options = RecognitionOptions(language: "zh-CN", parameters: prompt.map { ["prompt": $0] } ?? [:], hotwords: hotwords)
        return configuration.context(for: options)
    }

    @Test("the sidecar gets them in their own field; another server at the end of the prompt; weights dropped")
    func hotwords() {
        let hotwords = [Hotword(phrase: "腾讯云", weight: 11), Hotword(phrase: "小程序")]
        #expect(Self.context(takesHotwords: true, prompt: "会议记录。", hotwords: hotwords) == .init(prompt: "会议记录。", hotwords: "腾讯云, 小程序"))
        #expect(Self.context(takesHotwords: false, prompt: "会议记录。", hotwords: hotwords) == .init(prompt: "会议记录。 腾讯云, 小程序", hotwords: nil))
        #expect(Self.context(takesHotwords: false, prompt: nil, hotwords: hotwords) == .init(prompt: "腾讯云, 小程序", hotwords: nil))
        #expect(Self.context(takesHotwords: true, prompt: "", hotwords: []) == .none)
    }
}
