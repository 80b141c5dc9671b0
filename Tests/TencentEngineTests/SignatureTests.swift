import Foundation
import Testing

@testable import TencentEngine

@Suite("Tencent request signatures (docs/tencent.md, “Signing a real-time URL”, “Test vectors”)")
struct SignatureTests {
    @Test("real-time ASR: HMAC-SHA1 over the raw sorted query, for Tencent's host")
    func realtimeVector() {
        let parameters = [
            "engine_model_type": "16k_zh", "expired": "1700086400", "needvad": "1", "nonce": "1700000000", "secretid": "AKIDEXAMPLE",
            "timestamp": "1700000000", "voice_format": "1", "voice_id": "c64385ee-3e5c-4fc5-bbfd-7c71addb35b0",
        ]
        let text = RealtimeURLSigner.stringToSign(appID: "1259228442", parameters: parameters)
        #expect(
            text
                == """
                asr.cloud.tencent.com/asr/v2/1259228442?engine_model_type=16k_zh&expired=1700086400&needvad=1&nonce=1700000000&\
                secretid=AKIDEXAMPLE&timestamp=1700000000&voice_format=1&voice_id=c64385ee-3e5c-4fc5-bbfd-7c71addb35b0
                """
        )
        #expect(RealtimeURLSigner.signature(of: text, secretKey: "SECRETKEYEXAMPLE") == "Ob/q9wbPeVQ/lTfc1kdYeq0eNTo=")
    }

    @Test("the URL carries strictly encoded values and signature; the signature covers the raw values")
    func realtimeURL() throws {
        let credentials = TencentCredentials(secretID: "AKIDEXAMPLE", secretKey: "SECRETKEYEXAMPLE", appID: "1259228442")
        let signer = RealtimeURLSigner(credentials: credentials, baseURL: "ws://127.0.0.1:9/asr/v2/")
        let parameters = ["engine_model_type": "16k_zh", "hotword_list": "腾讯云|10,语音 识别|5", "voice_id": "a+b/c=d"]
        let url = signer.url(parameters: parameters)
        #expect(url.hasPrefix("ws://127.0.0.1:9/asr/v2/1259228442?engine_model_type=16k_zh&hotword_list=%E8%85%BE"))
        #expect(url.contains("%7C10%2C"))  // | and , encoded
        #expect(url.contains("voice_id=a%2Bb%2Fc%3Dd"))
        let query = String(url.split(separator: "?", maxSplits: 1)[1])
        #expect(!query.contains("+") && !query.contains("|") && !query.contains(" "))
        let pairs = query.split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
        #expect(pairs.last?.first == "signature")
        let raw = Dictionary(uniqueKeysWithValues: pairs.dropLast().map { ($0[0], $0[1].removingPercentEncoding!) })
        #expect(raw["hotword_list"] == "腾讯云|10,语音 识别|5" && raw["secretid"] == "AKIDEXAMPLE")
        let expected = RealtimeURLSigner.signature(
            of: RealtimeURLSigner.stringToSign(appID: "1259228442", parameters: raw), secretKey: "SECRETKEYEXAMPLE")
        #expect(pairs.last?[1].removingPercentEncoding == expected)
        #expect(!url.contains("SECRETKEYEXAMPLE"))
    }

    @Test("strict percent-encoding leaves only unreserved characters")
    func strictEncoding() {
        #expect(StrictPercentEncoding.encode("Az09-_.~") == "Az09-_.~")
        #expect(StrictPercentEncoding.encode("a+b/c=d e|f,g") == "a%2Bb%2Fc%3Dd%20e%7Cf%2Cg")
        #expect(StrictPercentEncoding.encode("云") == "%E4%BA%91")
    }

    @Test("TC3-HMAC-SHA256: Tencent's official vector")
    func tc3Official() {
        let signer = TC3Signer(secretID: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", secretKey: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", service: "cvm")
        let body = #"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#
        let signed = signer.sign(
            headers: [("content-type", "application/json; charset=utf-8"), ("host", "cvm.tencentcloudapi.com")],
            body: Data(body.utf8),
            timestamp: 1_551_113_065
        )
        #expect(signed.payloadHash == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
        #expect(signed.canonicalRequestHash == "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
        #expect(signed.signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168")
        #expect(
            signed.authorization
                == """
                TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, \
                Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168
                """
        )
    }

    @Test("TC3-HMAC-SHA256: the ASR-shaped vector with x-tc-action signed")
    func tc3ASR() {
        let signer = TC3Signer(secretID: "AKIDEXAMPLE", secretKey: "SECRETKEYEXAMPLE", service: "asr")
        let body = #"{"EngSerViceType":"16k_zh","SourceType":1,"VoiceFormat":"pcm","Data":"AAAA","DataLen":3}"#
        let signed = signer.sign(
            headers: [
                ("Content-Type", "application/json; charset=utf-8"), ("Host", "asr.tencentcloudapi.com"), ("X-TC-Action", "sentencerecognition"),
            ],
            body: Data(body.utf8),
            timestamp: 1_700_000_000
        )
        #expect(signed.payloadHash == "50701693b8af2dbabd46a139b399441409c785b130702ff8c2484bef8a0cd22b")
        #expect(signed.canonicalRequestHash == "84e869aa8e97294a38732faad11b264e82ce4bf84a2746b7d2dcff1a55109eaf")
        #expect(signed.signature == "40e99efee7484e278f146cbf5c0806134d1e2cc00ffb4c79afe606fa21c32620")
        #expect(TC3Signer.utcDate(1_700_000_000) == "2023-11-14")
        #expect(TC3Signer.utcDate(1_700_006_399) == "2023-11-14" && TC3Signer.utcDate(1_700_006_400) == "2023-11-15")
    }
}
