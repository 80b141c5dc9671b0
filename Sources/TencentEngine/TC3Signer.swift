import Crypto
import Foundation

/// TC3-HMAC-SHA256, Tencent Cloud API 3.0's request signature (docs/tencent.md, “TC3-HMAC-SHA256: signing an API
/// 3.0 request”).
struct TC3Signer {
    let secretID: String
    let secretKey: String
    let service: String

    struct SignedRequest: Equatable {
        var payloadHash: String
        var canonicalRequestHash: String
        var signature: String
        var authorization: String
    }

    /// Signs a POST to `/` with an empty query. `headers` are the signed headers as sent (names any case; values
    /// byte-identical to the ones sent, e.g. `application/json; charset=utf-8`).
    func sign(headers: [(name: String, value: String)], body: Data, timestamp: Int) -> SignedRequest {
        let canonical = headers.map { (name: $0.name.lowercased(), value: $0.value.trimmingCharacters(in: .whitespaces)) }
            .sorted { $0.name < $1.name }
        let canonicalHeaders = canonical.map { "\($0.name):\($0.value)\n" }.joined()
        let signedHeaders = canonical.map(\.name).joined(separator: ";")
        let payloadHash = Self.hex(SHA256.hash(data: body))
        let canonicalRequest = ["POST", "/", "", canonicalHeaders, signedHeaders, payloadHash].joined(separator: "\n")
        let canonicalRequestHash = Self.hex(SHA256.hash(data: Data(canonicalRequest.utf8)))

        let date = Self.utcDate(timestamp)
        let scope = "\(date)/\(self.service)/tc3_request"
        let stringToSign = "TC3-HMAC-SHA256\n\(timestamp)\n\(scope)\n\(canonicalRequestHash)"
        let dateKey = Self.hmac(key: Data(("TC3" + self.secretKey).utf8), date)
        let serviceKey = Self.hmac(key: dateKey, self.service)
        let signingKey = Self.hmac(key: serviceKey, "tc3_request")
        let signature = Self.hex(Self.hmac(key: signingKey, stringToSign))
        return SignedRequest(
            payloadHash: payloadHash,
            canonicalRequestHash: canonicalRequestHash,
            signature: signature,
            authorization: "TC3-HMAC-SHA256 Credential=\(self.secretID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        )
    }

    /// `yyyy-MM-dd` of a Unix time, in UTC (local time breaks around midnight in UTC+8).
    static func utcDate(_ timestamp: Int) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: TimeInterval(timestamp)))
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    private static func hmac(key: Data, _ text: String) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: key)))
    }

    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
