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
    /// Claims a gateway JWT must carry: an `exp` in the future.
    struct Claims: JWTPayload {
        var exp: ExpirationClaim
        var sub: SubjectClaim?

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try self.exp.verifyNotExpired()
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

    /// Throws a 401 ``GatewayError`` unless the request carries an accepted token.
    func authenticate(headers: HTTPFields, uri: URI) async throws(GatewayError) {
        guard !self.isDisabled else { return }
        guard let token = AccessToken.find(in: headers, uri: uri) else {
            throw GatewayError.unauthorized(
                "A token is required: send the header 'token: <token>', 'Authorization: Bearer <token>', or the query parameter ?token=<token>."
            )
        }
        guard await self.accepts(token) else {
            throw GatewayError.unauthorized("The token is not valid (unknown token, or a JWT that is expired or not signed with the server's secret).")
        }
    }

    func accepts(_ token: String) async -> Bool {
        let digest = SHA256.hash(data: Data(token.utf8))
        // Every configured token is compared, so the time taken does not tell which one matched.
        var matched = false
        for known in self.tokenDigests where known == digest {
            matched = true
        }
        if matched { return true }
        guard let keys = self.keys, token.split(separator: ".").count == 3 else { return false }
        return (try? await keys.verify(token, as: Claims.self)) != nil
    }
}
