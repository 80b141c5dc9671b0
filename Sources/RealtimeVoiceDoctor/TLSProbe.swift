import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// The TLS handshake as a client with the system's trust store sees it, and, when it fails, the certificate read
/// without verification to say why: expired, not yet valid, self-signed, for another host name, or untrusted.
struct TLSProbe {
    struct Handshake {
        var version: TLSVersion?
        var certificate: NIOSSLCertificate?
    }

    let target: DoctorTarget
    let timeout: Duration
    let configuration: TLSConfiguration

    func check() async -> CheckResult {
        let manual = "openssl s_client -connect \(self.target.host):\(self.target.port) -servername \(self.target.host) -showcerts </dev/null"
        do {
            let handshake = try await self.handshake(verification: .fullVerification)
            let version = handshake.version.map(Self.name) ?? "?"
            let daysLeft = handshake.certificate.map { Int((Double($0.notValidAfter) - Date().timeIntervalSince1970) / 86_400) }
            let detail = "\(version), certificate valid for this host\(daysLeft.map { ", expires in \($0) days" } ?? "")"
            if let negotiated = handshake.version, [.tlsv1, .tlsv11].contains(negotiated) {
                return CheckResult(
                    check: "tls", status: .fail, detail: detail,
                    diagnosis: Diagnosis(
                        cause: "tls_version_too_old",
                        summary: "The server negotiates \(version): iOS and WeChat mini-programs require TLS 1.2 or later.",
                        evidence: "Negotiated \(version).",
                        remedy: "Enable TLS 1.2 and 1.3 on the TLS terminator (nginx: ssl_protocols TLSv1.2 TLSv1.3;).", manualCheck: manual))
            }
            if let daysLeft, daysLeft < 30 {
                return CheckResult(check: "tls", status: .warn, detail: detail + " (renew it: under 30 days)")
            }
            return CheckResult(check: "tls", status: .pass, detail: detail)
        } catch {
            return await self.explain(error, manual: manual)
        }
    }

    private func explain(_ error: any Error, manual: String) async -> CheckResult {
        let verified = "\(error)"
        guard let seen = try? await self.handshake(verification: .none), let certificate = seen.certificate else {
            return CheckResult(
                check: "tls", status: .fail, detail: verified,
                diagnosis: Diagnosis(
                    cause: "tls_handshake_failed",
                    summary: "No TLS handshake is possible: the port does not speak TLS, or only protocols this client refuses.",
                    evidence: verified,
                    remedy: "Check that the URL's scheme matches the port (https on a TLS port) and that the terminator allows TLS 1.2+.",
                    manualCheck: manual))
        }
        let now = Date().timeIntervalSince1970
        let subject = Self.describe(certificate.subjectName)
        let issuer = Self.describe(certificate.issuerName)
        let (cause, summary, remedy): (String, String, String)
        if Double(certificate.notValidAfter) < now {
            let days = Int((now - Double(certificate.notValidAfter)) / 86_400)
            (cause, summary, remedy) = (
                "certificate_expired", "The certificate expired \(days) day\(days == 1 ? "" : "s") ago.",
                "Renew the certificate (Let's Encrypt: certbot renew) and reload the TLS terminator."
            )
        } else if Double(certificate.notValidBefore) > now {
            (cause, summary, remedy) = (
                "certificate_not_yet_valid", "The certificate is not valid yet (or this machine's clock is wrong).",
                "Check the clocks, and the certificate's start date."
            )
        } else if subject == issuer {
            (cause, summary, remedy) = (
                "certificate_self_signed", "The certificate is self-signed: browsers, iOS and mini-programs reject it.",
                "Use a certificate from a public CA (Let's Encrypt is free); for a private CA, doctor accepts --ca-file."
            )
        } else if (try? await self.handshake(verification: .noHostnameVerification)) != nil {
            (cause, summary, remedy) = (
                "certificate_wrong_host", "The certificate is trusted but not issued for \(self.target.host).",
                "Install a certificate whose names (SAN) include \(self.target.host)."
            )
        } else {
            (cause, summary, remedy) = (
                "certificate_untrusted",
                "The certificate does not chain to a trusted root: usually a missing intermediate certificate (iOS mini-programs fail on it).",
                "Serve the full chain (nginx: ssl_certificate fullchain.pem, not cert.pem)."
            )
        }
        return CheckResult(
            check: "tls", status: .fail, detail: "\(summary) Subject \(subject), issuer \(issuer).",
            diagnosis: Diagnosis(
                cause: cause, summary: summary, evidence: "Verification failed: \(verified). Certificate: subject \(subject), issuer \(issuer).",
                remedy: remedy, manualCheck: manual))
    }

    private func handshake(verification: CertificateVerification) async throws -> Handshake {
        var configuration = self.configuration
        configuration.certificateVerification = verification
        let context = try NIOSSLContext(configuration: configuration)
        let target = self.target
        let completion = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: Void.self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(TimeAmount(self.timeout))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: target.hostIsAddress ? nil : target.host))
                        try channel.pipeline.syncOperations.addHandler(HandshakeWatcher(completion: completion))
                    }
                }
                .connect(host: target.host, port: target.port).get()
        } catch {
            completion.fail(error)  // never left pending (NIO traps on a leaked promise in debug builds)
            throw error
        }
        defer { channel.close(promise: nil) }
        let timeout = channel.eventLoop.scheduleTask(in: TimeAmount(self.timeout)) {
            completion.fail(DoctorProbeError.timedOut(self.timeout))
        }
        defer { timeout.cancel() }
        try await completion.futureResult.get()
        let handler = try await channel.pipeline.handler(type: NIOSSLClientHandler.self).get()
        return try await channel.eventLoop.submit { Handshake(version: handler.tlsVersion, certificate: handler.peerCertificate) }.get()
    }

    /// Completes when the handshake did, or fails with its error.
    final class HandshakeWatcher: ChannelInboundHandler, @unchecked Sendable {
        // Used on its channel's event loop only.
        typealias InboundIn = ByteBuffer
        let completion: EventLoopPromise<Void>
        init(completion: EventLoopPromise<Void>) { self.completion = completion }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case .handshakeCompleted = event as? TLSUserEvent { self.completion.succeed() }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.completion.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.completion.fail(DoctorProbeError.noResponse(0))
            context.fireChannelInactive()
        }
    }

    static func name(_ version: TLSVersion) -> String {
        switch version {
        case .tlsv1: "TLS 1.0"
        case .tlsv11: "TLS 1.1"
        case .tlsv12: "TLS 1.2"
        case .tlsv13: "TLS 1.3"
        }
    }

    static func describe(_ names: [SSLCertificateName]) -> String {
        let common = names.first { $0.type == .commonName }?.value
        return common.map { "CN=\($0)" } ?? names.map(\.value).joined(separator: ", ")
    }
}
