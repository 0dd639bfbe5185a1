import Foundation
public import LogflumeConfig

/// Where and how the S3 sink talks to an S3-compatible server. `conf/aggregator.toml` documents
/// the same settings under `[s3]`.
public struct S3SinkConfiguration: Sendable, Equatable {
    /// `http://host[:port]` or `https://host[:port]` (TLS, the server's certificate verified).
    /// Required.
    public var endpoint: String
    /// Required.
    public var bucket: String
    /// Prepended to every key; a trailing "/" is added when missing. Default: "" (the bucket root).
    public var prefix = ""
    /// Default: "us-east-1".
    public var region = "us-east-1"
    /// Default: from `AWS_ACCESS_KEY_ID`.
    public var accessKeyId = ""
    /// Default: from `AWS_SECRET_ACCESS_KEY`.
    public var secretAccessKey = ""
    /// Default: from `AWS_SESSION_TOKEN`, or none.
    public var sessionToken: String?
    /// `http://endpoint/bucket/key` (true) or `http://bucket.endpoint/key` (false). Default: true.
    public var pathStyle = true
    /// Default: 5 s.
    public var connectTimeoutMs: Int64 = 5_000
    /// A request that sends and receives nothing for this long fails (and is retried). Default: 30 s.
    public var requestTimeoutMs: Int64 = 30_000
    /// Retries after a connection failure, a timeout or a 5xx answer. Default: 5.
    public var retries = 5
    /// Wait before the first retry, doubling up to 10 s. Default: 200 ms.
    public var retryBackoffMs: Int64 = 200
    /// Local directory for data files before upload; "" means `$TMPDIR/logflume-s3-staging`. Default: "".
    public var stagingDirectory = ""
    /// PEM file of certificate authorities trusted for an https endpoint besides the system's
    /// (a private CA in front of MinIO or Ceph). Default: "" (the system's only).
    public var caFile = ""

    /// Data files of this size or more go up as multipart uploads, in parts of
    /// `multipartPartBytes` (raised where a file would need more than 10,000). One PUT carries at
    /// most 5 GiB. Defaults: 64 MiB and 16 MiB.
    public var multipartThresholdBytes: Int64 = 64 << 20
    public var multipartPartBytes: Int64 = 16 << 20
    /// Parts of one upload in flight at once, each on its own connection. Default: 4.
    public var multipartConcurrency = 4
    static let maxMultipartConcurrency = 64

    /// The largest object one PUT may carry (S3's limit).
    public static let maxSinglePutBytes: Int64 = 5 << 30

    public init(endpoint: String, bucket: String) {
        self.endpoint = endpoint
        self.bucket = bucket
    }

    /// Where requests go: host, port, and whether over TLS.
    public struct Address: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var tls: Bool

        /// The scheme's own port, which the Host header leaves out.
        var isDefaultPort: Bool { port == (tls ? 443 : 80) }
    }

    /// Host, port and scheme of `endpoint`, or why it is unusable.
    public func address() -> Result<Address, S3Error> {
        func invalid(_ why: String) -> Result<Address, S3Error> {
            .failure(S3Error(operation: "connect", location: endpoint, code: "InvalidEndpoint", message: why))
        }
        let lowered = endpoint.lowercased()
        let tls = lowered.hasPrefix("https://")
        guard tls || lowered.hasPrefix("http://") else { return invalid("must start with http:// or https://") }
        var authority = Substring(endpoint.dropFirst(tls ? "https://".count : "http://".count))
        if let slash = authority.firstIndex(of: "/") {
            guard authority[slash...].allSatisfy({ $0 == "/" }) else { return invalid("must not have a path") }
            authority = authority[..<slash]
        }
        var host = authority, port = tls ? 443 : 80
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return invalid("unclosed IPv6 bracket") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()) else { return invalid("bad port") }
                port = value
            }
        } else if let colon = authority.lastIndex(of: ":") {
            guard let value = Int(authority[authority.index(after: colon)...]) else { return invalid("bad port") }
            host = authority[..<colon]
            port = value
        }
        guard !host.isEmpty, (1...65_535).contains(port) else { return invalid("needs a host and a port in 1-65535") }
        return .success(Address(host: String(host), port: port, tls: tls))
    }

    /// `prefix` as keys start with it: "" or ending in "/".
    var keyPrefix: String {
        let trimmed = prefix.drop { $0 == "/" }
        return trimmed.isEmpty || trimmed.hasSuffix("/") ? String(trimmed) : trimmed + "/"
    }
}

extension S3SinkConfiguration {
    /// The `[s3]` keys of `conf/aggregator.toml`, read when `output.sink = "s3"`.
    public static let schemaKeys: [ConfigSchema.Key] = [
        .init("s3.endpoint", .string, default: "", "http(s)://host[:port] of the S3-compatible server (required with sink = \"s3\"); https verifies the server's certificate."),
        .init("s3.bucket", .string, default: "", "Bucket to write into (required with sink = \"s3\"); it must exist."),
        .init("s3.prefix", .string, default: "", "Key prefix before <topic>/dt=.../; a trailing / is added when missing."),
        .init("s3.region", .string, default: "us-east-1", "Region in the SigV4 signing scope."),
        .init("s3.access_key_id", .string, default: "", "Access key id; empty reads AWS_ACCESS_KEY_ID."),
        .init("s3.secret_access_key", .string, default: "", "Secret access key; empty reads AWS_SECRET_ACCESS_KEY."),
        .init("s3.session_token", .string, default: "", "Session token of temporary credentials; empty reads AWS_SESSION_TOKEN (none if unset)."),
        .init("s3.path_style", .boolean, default: "true", "true: http://endpoint/bucket/key; false: http://bucket.endpoint/key (virtual-hosted)."),
        .init("s3.connect_timeout", .duration, default: "5s", "Connecting to the endpoint fails after this (and is retried)."),
        .init("s3.request_timeout", .duration, default: "30s", "A request that sends and receives nothing for this long fails (and is retried)."),
        .init("s3.retries", .integer, default: "5", "Retries after a connection failure, a timeout or a 5xx answer."),
        .init("s3.retry_backoff", .duration, default: "200ms", "Wait before the first retry, doubling up to 10s."),
        .init("s3.staging_dir", .string, default: "", "Local directory for data files before upload; empty means $TMPDIR/logflume-s3-staging."),
        .init("s3.ca_file", .string, default: "", "PEM file of certificate authorities trusted for an https endpoint besides the system's; empty: the system's only."),
        .init("s3.multipart_threshold", .size, default: "64MiB", "Data files of this size or more are uploaded in parts (multipart upload); at most 5GiB, the single-PUT limit."),
        .init("s3.multipart_part_size", .size, default: "16MiB", "Part size of multipart uploads, 5MiB to 5GiB; raised where a file would need more than 10,000 parts."),
        .init("s3.multipart_concurrency", .integer, default: "4", "Parts of one multipart upload sent at once, each on its own connection (1-64)."),
    ]

    /// Reads the `[s3]` keys; credentials left empty come from the standard AWS environment variables.
    public init(values: ConfigValues, environment: [String: String]) throws(ConfigError) {
        self.init(endpoint: values.string("s3.endpoint"), bucket: values.string("s3.bucket"))
        guard !endpoint.isEmpty else { throw values.invalid("s3.endpoint", "required when output.sink = \"s3\" (e.g. \"http://127.0.0.1:9000\")") }
        if case .failure(let error) = address() { throw values.invalid("s3.endpoint", error.message) }
        guard !bucket.isEmpty else { throw values.invalid("s3.bucket", "required when output.sink = \"s3\"") }
        prefix = values.string("s3.prefix")
        region = values.string("s3.region")
        guard !region.isEmpty else { throw values.invalid("s3.region", "must not be empty") }
        accessKeyId = values.string("s3.access_key_id")
        if accessKeyId.isEmpty { accessKeyId = environment["AWS_ACCESS_KEY_ID"] ?? "" }
        guard !accessKeyId.isEmpty else { throw values.invalid("s3.access_key_id", "not set, and AWS_ACCESS_KEY_ID is not in the environment") }
        secretAccessKey = values.string("s3.secret_access_key")
        if secretAccessKey.isEmpty { secretAccessKey = environment["AWS_SECRET_ACCESS_KEY"] ?? "" }
        guard !secretAccessKey.isEmpty else {
            throw values.invalid("s3.secret_access_key", "not set, and AWS_SECRET_ACCESS_KEY is not in the environment")
        }
        let token = values.string("s3.session_token")
        sessionToken = token.isEmpty ? environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 } : token
        pathStyle = values.boolean("s3.path_style")
        connectTimeoutMs = max(1, values.integer("s3.connect_timeout"))
        requestTimeoutMs = max(1, values.integer("s3.request_timeout"))
        retries = values.int("s3.retries")
        guard retries >= 0 else { throw values.invalid("s3.retries", "must not be negative") }
        retryBackoffMs = max(1, values.integer("s3.retry_backoff"))
        multipartThresholdBytes = values.integer("s3.multipart_threshold")
        guard (1...Self.maxSinglePutBytes).contains(multipartThresholdBytes) else {
            throw values.invalid("s3.multipart_threshold", "must be between 1 byte and 5GiB (one PUT carries at most 5GiB)")
        }
        multipartPartBytes = values.integer("s3.multipart_part_size")
        guard (S3MultipartPlan.minPartBytes...S3MultipartPlan.maxPartBytes).contains(multipartPartBytes) else {
            throw values.invalid("s3.multipart_part_size", "must be between 5MiB and 5GiB (S3's part limits)")
        }
        multipartConcurrency = values.int("s3.multipart_concurrency")
        guard (1...Self.maxMultipartConcurrency).contains(multipartConcurrency) else {
            throw values.invalid("s3.multipart_concurrency", "must be between 1 and \(Self.maxMultipartConcurrency)")
        }
        stagingDirectory = values.string("s3.staging_dir")
        caFile = values.string("s3.ca_file")
        if !caFile.isEmpty {
            guard case .success(let address) = address(), address.tls else { throw values.invalid("s3.ca_file", "only used with an https:// endpoint") }
            guard FileManager.default.isReadableFile(atPath: caFile) else { throw values.invalid("s3.ca_file", "cannot read '\(caFile)'") }
            do {
                _ = try S3TLS.authorities(in: caFile)
            } catch {
                throw values.invalid("s3.ca_file", "'\(caFile)' holds no usable PEM certificate: \(error)")
            }
        }
    }
}
