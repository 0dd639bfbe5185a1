import NIOCore
import NIOSSL

/// TLS for https endpoints: the system's trust store plus, optionally, the authorities of a PEM
/// file (a private CA in front of MinIO or Ceph). The server's certificate is always verified,
/// hostname included; there is deliberately no switch to turn verification off.
enum S3TLS {
    /// The client context, built once per client: loading trust roots is not free.
    static func context(caFile: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if !caFile.isEmpty {
            configuration.additionalTrustRoots = [.certificates(try authorities(in: caFile))]
        }
        return try NIOSSLContext(configuration: configuration)
    }

    /// The certificates of a PEM file; throws when it holds none.
    static func authorities(in caFile: String) throws -> [NIOSSLCertificate] {
        try NIOSSLCertificate.fromPEMFile(caFile)
    }

    static func handler(context: NIOSSLContext, hostHeader: String) throws -> NIOSSLClientHandler {
        try NIOSSLClientHandler(context: context, serverHostname: serverName(hostHeader: hostHeader))
    }

    /// The name sent in SNI and checked against the certificate: the Host header's name without
    /// the port; nil for an IP address, which is checked against the certificate's IP entries
    /// but not sent (SNI carries names only).
    static func serverName(hostHeader: String) -> String? {
        var name = Substring(hostHeader)
        if name.hasPrefix("["), let close = name.firstIndex(of: "]") {
            name = name[name.index(after: name.startIndex)..<close]
        } else if let colon = name.lastIndex(of: ":") {
            name = name[..<colon]
        }
        let isAddress = (try? SocketAddress(ipAddress: String(name), port: 0)) != nil
        return isAddress ? nil : String(name)
    }

    /// `S3Error.code` of a handshake that failed (an untrusted certificate, a name it does not
    /// carry): not retried, since the next attempt meets the same certificate.
    static let handshakeFailedCode = "TLSHandshakeFailed"

    /// Whether `error` is the handshake's failure, as opposed to the connection's.
    static func isHandshakeFailure(_ error: any Error) -> Bool {
        if case NIOSSLError.handshakeFailed = error { return true }
        return error is NIOSSLExtraError
    }
}
