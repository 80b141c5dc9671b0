import SpeechEngine
import Testing

@testable import TencentEngine

@Suite("Pacing, the upstream timeline, model choice and error mapping")
struct PacingTests {
    @Test("a burst is held to the pace: at most burst + pace × window in any window")
    func burstIsPaced() {
        let start = ContinuousClock.now
        var pacer = AudioPacer(pace: 1.5, burst: .milliseconds(200), now: start)
        // A 10 s file arrives at once: simulate sending 40 ms packets as soon as the pacer allows.
        var now = start
        var sentAt: [Duration] = []
        for _ in 0..<250 {
            while let wait = pacer.take(40, now: now) { now += wait }
            sentAt.append(now - start)
        }
        // 10 s of audio at 1.5x with 200 ms ahead: about 6.5 s.
        #expect(sentAt.last! > .milliseconds(6_400) && sentAt.last! < .milliseconds(6_600))
        // No 1 s window holds more than 1.7 s of audio (Tencent's limit is 3 s).
        for (index, time) in sentAt.enumerated() {
            let inWindow = sentAt[index...].prefix { $0 - time < .seconds(1) }.count
            #expect(inWindow * 40 <= 1_760, "\(inWindow) packets in the second after \(time)")
        }
    }

    @Test("a real-time client is never held back, and a stall is caught up")
    func realTimeIsNotDelayed() {
        let start = ContinuousClock.now
        var pacer = AudioPacer(pace: 1.5, burst: .milliseconds(200), now: start)
        for i in 0..<100 {
            #expect(pacer.take(40, now: start + .milliseconds(40 * i)) == nil)
        }
        // 1 s stall, then the second of audio arrives at once: it goes up within 1 s.
        var now = start + .milliseconds(5_000)
        for _ in 0..<25 {
            while let wait = pacer.take(40, now: now) { now += wait }
        }
        #expect(now - (start + .milliseconds(5_000)) < .milliseconds(700))
    }

    @Test("silence sent while the client paused is taken out of upstream times")
    func timeline() {
        var timeline = UpstreamTimeline()
        timeline.sentAudio(milliseconds: 2_000)
        timeline.sentSilence(milliseconds: 40)
        timeline.sentSilence(milliseconds: 40)
        timeline.sentAudio(milliseconds: 1_000)
        #expect(timeline.clientMs(1_500) == 1_500)
        #expect(timeline.clientMs(2_060) == 2_000)
        #expect(timeline.clientMs(2_580) == 2_500)
        #expect(timeline.upstreamMs == 3_080)
    }

    @Test("models by language, 8 kHz, pass-through parameters")
    func parameters() {
        let recognizer = TencentRecognizer(
            configuration: TencentConfiguration(credentials: TencentCredentials(secretID: "id", secretKey: "key", appID: "1")),
            logger: .init(label: "test")
        )
        #expect(recognizer.supports(language: "zh-CN") && recognizer.supports(language: "zh-TW") && recognizer.supports(language: "yue"))
        #expect(!recognizer.supports(language: "xx"))
        let hotwords = [Hotword(phrase: "腾讯"), Hotword(phrase: "语音识别", weight: 100)]
        let zh = recognizer.parameters(
            for: .init(language: "zh-CN", parameters: ["hotword_id": "abc", "unknown": "x"], hotwords: hotwords), sampleRate: 16_000)
        #expect(zh["engine_model_type"] == "16k_zh" && zh["voice_format"] == "1" && zh["needvad"] == "1")
        #expect(zh["hotword_list"] == "腾讯|10,语音识别|100" && zh["hotword_id"] == "abc" && zh["unknown"] == nil)
        #expect(recognizer.parameters(for: .init(language: "zh-CN"), sampleRate: 16_000)["hotword_list"] == nil)
        #expect(recognizer.parameters(for: .init(language: "zh-CN"), sampleRate: 8_000)["engine_model_type"] == "8k_zh")
        let en8k = recognizer.parameters(for: .init(language: "en-US"), sampleRate: 8_000)
        #expect(en8k["engine_model_type"] == "16k_en" && en8k["input_sample_rate"] == "8000")
        #expect(recognizer.sampleRate(forInput: 8_000) == 8_000 && recognizer.sampleRate(forInput: 44_100) == 16_000)
        #expect(TencentConfiguration.models(parsing: "zh-CN=16k_zh_large, fr=16k_fr")?["fr"] == "16k_fr")
        #expect(TencentConfiguration.models(parsing: "nonsense") == nil)
    }

    @Test("Tencent's codes map to the gateway's")
    func errors() {
        #expect(UpstreamFailure(code: 4002, message: "auth").recognitionError.code.name == "upstream_rejected")
        #expect(UpstreamFailure(code: 6001, message: "overseas").recognitionError.code.name == "upstream_rejected")
        #expect(UpstreamFailure(code: 4006, message: "limit").recognitionError.code.name == "busy")
        #expect(UpstreamFailure(code: 5001, message: "jitter") == .retryable(code: 5001, message: "jitter"))
        #expect(UpstreamFailure(code: 4008, message: "idle").recognitionError.code.name == "upstream_failed")
        #expect(UpstreamFailure(code: 4002, message: "auth failed").recognitionError.message.contains("4002: auth failed"))
    }
}
