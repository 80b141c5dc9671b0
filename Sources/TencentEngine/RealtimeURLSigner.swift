import Crypto
import Foundation

/// Signs the URL of a Tencent real-time ASR session (docs/tencent.md, “Signing a real-time URL”): HMAC-SHA1,
/// keyed with the SecretKey, over `asr.cloud.tencent.com/asr/v2/<appid>?k1=v1&k2=v2…` (every parameter but
/// `signature`, sorted by key, values raw), Base64; every value and the signature strictly percent-encoded in the
/// URL actually used.
struct RealtimeURLSigner {
    /// The host the signature covers: Tencent's, even when `baseURL` points at a private endpoint or a stand-in.
    static let signedHost = "asr.cloud.tencent.com"

    let credentials: TencentCredentials
    /// `wss://asr.cloud.tencent.com/asr/v2` or a replacement; `/<appid>` is appended.
    let baseURL: String

    /// The text the signature covers.
    static func stringToSign(appID: String, parameters: [String: String]) -> String {
        let query = parameters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
        return "\(Self.signedHost)/asr/v2/\(appID)?\(query)"
    }

    static func signature(of text: String, secretKey: String) -> String {
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(secretKey.utf8)))
        return Data(mac).base64EncodedString()
    }

    /// The URL to connect to, `parameters` (without `secretid` and `signature`, which are added) signed.
    func url(parameters: [String: String]) -> String {
        var parameters = parameters
        parameters["secretid"] = self.credentials.secretID
        let signature = Self.signature(
            of: Self.stringToSign(appID: self.credentials.appID, parameters: parameters), secretKey: self.credentials.secretKey)
        let query = parameters.sorted { $0.key < $1.key }
            .map { "\(StrictPercentEncoding.encode($0.key))=\(StrictPercentEncoding.encode($0.value))" }
            .joined(separator: "&")
        let base = self.baseURL.hasSuffix("/") ? String(self.baseURL.dropLast()) : self.baseURL
        return "\(base)/\(StrictPercentEncoding.encode(self.credentials.appID))?\(query)&signature=\(StrictPercentEncoding.encode(signature))"
    }
}
