import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import JWTKit

/// Checks the token of a request against the configured static tokens and the JWT secret.
///
/// Static tokens are compared as SHA-256 digests, whose equality is constant-time in swift-crypto, so neither
/// a token's content nor its length leaks through timing.
struct Authenticator: Sendable {
    /// Claims a gateway JWT must carry: an `exp` in the future, and no `nbf` in the future.
    struct Claims: JWTPayload {
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var sub: SubjectClaim?

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try self.exp.verifyNotExpired()
            try self.nbf?.verifyNotBefore()
        }
    }

    private let tokenDigests: [SHA256Digest]
    private let keys: JWTKeyCollection?
    let isDisabled: Bool

    init(configuration: AuthConfiguration) async {
        self.tokenDigests = configuration.tokens.map { SHA256.hash(data: Data($0.utf8)) }
        self.isDisabled = configuration.disabled
        if let secret = configuration.jwtSecret, !secret.isEmpty {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            self.keys = keys
        } else {
            self.keys = nil
        }
    }

    /// Throws a 401 ``GatewayError`` unless the request carries an accepted token. Returns who the caller is, for
    /// binding a resumable session to it: a JWT's `sub`, else a digest of the token (`anonymous` without auth).
    @discardableResult
    func authenticate(headers: HTTPFields, uri: URI) async throws(GatewayError) -> String {
        guard !self.isDisabled else { return "anonymous" }
        guard let token = AccessToken.find(in: headers, uri: uri) else {
            throw GatewayError.unauthorized(
                "A token is required: send the header 'token: <token>', 'Authorization: Bearer <token>', or the query parameter ?token=<token>."
            )
        }
        guard await self.accepts(token) else {
            throw GatewayError.unauthorized(
                "The token is not valid (unknown token, or a JWT that is expired or not signed with the server's secret).")
        }
        return await self.caller(token)
    }

    /// A JWT's subject when it has one (a client's next JWT then resumes its sessions), else the token's digest.
    private func caller(_ token: String) async -> String {
        if let keys = self.keys, token.split(separator: ".").count == 3, let claims = try? await keys.verify(token, as: Claims.self),
            let subject = claims.sub?.value
        {
            return "sub:\(subject)"
        }
        return "token:" + SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    func accepts(_ token: String) async -> Bool {
        let digest = SHA256.hash(data: Data(token.utf8))
        // Every configured token is compared, so the time taken does not tell which one matched.
        var matched = false
        for known in self.tokenDigests where known == digest {
            matched = true
        }
        if matched { return true }
        guard let keys = self.keys, token.split(separator: ".").count == 3, Self.hasAcceptedHeader(token) else { return false }
        return (try? await keys.verify(token, as: Claims.self)) != nil
    }

    /// The JOSE header must say `"alg":"HS256"` and carry no `crit` extension (RFC 7515 §4.1.11): jwt-kit checks
    /// the signature with the one configured key whatever the header names, so the header is checked here.
    static func hasAcceptedHeader(_ token: String) -> Bool {
        var encoded = String(token.prefix { $0 != "." }).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while encoded.count % 4 != 0 { encoded += "=" }
        guard let data = Data(base64Encoded: encoded),
            let header = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return false }
        return header["alg"] as? String == "HS256" && header["crit"] == nil
    }
}
