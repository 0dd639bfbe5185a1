import Foundation
@testable import LogflumeAggregator
import LogflumeConfig
import Testing

/// SHA-256 against the NIST examples, HMAC-SHA256 against RFC 4231, and SigV4 against AWS's
/// published S3 examples (plus requests shaped like the sink's, checked against botocore).
@Suite struct S3SigV4Tests {
    static func bytes(hex text: String) -> [UInt8] {
        var out: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            out.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return out
    }

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        (
            "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"
        ),
    ])
    func sha256MatchesNIST(message: String, digest: String) {
        #expect(SHA256.hexHash(Array(message.utf8)) == digest)
    }

    @Test func sha256OfAMillionAsInUnevenPieces() {
        var hasher = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 997)
        var left = 1_000_000
        var size = 1
        while left > 0 {
            let take = min(left, min(size, chunk.count))
            hasher.update(Array(chunk[0..<take]))
            left -= take
            size = size * 3 % 997 + 1
        }
        #expect(hex(hasher.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func aCopiedHasherCarriesOnFromWhereItWasCopiedAndFinalizeStartsOver() {
        var first = SHA256()
        first.update(Array("abc".utf8))
        var second = first
        second.update(Array("def".utf8))
        #expect(hex(first.finalize()) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(second.finalize()) == SHA256.hexHash(Array("abcdef".utf8)))
        #expect(hex(first.finalize()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func sha256AtEveryPaddingBoundary() {
        // Lengths around one and two blocks, where the padding spills into an extra block; the
        // streaming path (byte by byte) must agree with the one-shot path.
        for length in [55, 56, 57, 63, 64, 65, 119, 120, 128] {
            let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var hasher = SHA256()
            for byte in message { hasher.update([byte]) }
            #expect(hasher.finalize() == SHA256.hash(message), "length \(length)")
        }
        #expect(SHA256.hexHash([UInt8](repeating: 0x61, count: 64)) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }

    @Test(arguments: [
        // RFC 4231 test cases 1-4, 6 and 7 (key, data, HMAC-SHA-256).
        ("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
        ("4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
        (String(repeating: "aa", count: 20), String(repeating: "dd", count: 50), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
        ("0102030405060708090a0b0c0d0e0f10111213141516171819", String(repeating: "cd", count: 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
        (
            String(repeating: "aa", count: 131),
            "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        ),
        (
            String(repeating: "aa", count: 131),
            "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e6720757365642062792074686520484d414320616c676f726974686d2e",
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
        ),
    ])
    func hmacMatchesRFC4231(key: String, data: String, mac: String) {
        #expect(hex(HMACSHA256.authenticate(Self.bytes(hex: data), key: Self.bytes(hex: key))) == mac)
    }

    @Test func hmacTruncatedCase5() {
        let mac = HMACSHA256.authenticate(Array("Test With Truncation".utf8), key: [UInt8](repeating: 0x0c, count: 20))
        #expect(hex(mac.prefix(16)) == "a3b6167473100ee06e0c796c2955552b")
    }

    // MARK: SigV4

    static let exampleSigner = SigV4Signer(
        credentials: .init(accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), region: "us-east-1"
    )

    static func expectedAuthorization(_ signedHeaders: String, _ signature: String) -> String {
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=\(signedHeaders),Signature=\(signature)"
    }

    @Test func awsDocumentationGetObjectExample() {
        let request = SigV4Signer.Request(
            method: "GET", encodedPath: "/test.txt",
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9"),
                ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash), ("x-amz-date", "20130524T000000Z"),
            ],
            payloadHash: SigV4Signer.emptyPayloadHash
        )
        let canonical = Self.exampleSigner.canonicalRequest(request).text
        #expect(canonical == """
            GET
            /test.txt

            host:examplebucket.s3.amazonaws.com
            range:bytes=0-9
            x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            x-amz-date:20130524T000000Z

            host;range;x-amz-content-sha256;x-amz-date
            e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
            """)
        #expect(Self.exampleSigner.authorization(for: request, amzDate: "20130524T000000Z") == Self.expectedAuthorization(
            "host;range;x-amz-content-sha256;x-amz-date", "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        ))
    }

    @Test func awsDocumentationListObjectsExample() {
        let request = SigV4Signer.Request(
            method: "GET", encodedPath: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [
                ("Host", "examplebucket.s3.amazonaws.com"), ("x-amz-content-sha256", SigV4Signer.emptyPayloadHash),
                ("x-amz-date", "20130524T000000Z"),
            ],
            payloadHash: SigV4Signer.emptyPayloadHash
        )
        #expect(Self.exampleSigner.authorization(for: request, amzDate: "20130524T000000Z") == Self.expectedAuthorization(
            "host;x-amz-content-sha256;x-amz-date", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        ))
    }

    /// The sink's own request shapes, path-style against a local endpoint: keys with "=" in them,
    /// a ListObjectsV2 query with "/" in values, a conditional PUT, the requests of a multipart
    /// upload (an empty query value, an upload id with "/" and "+"). Expected signatures computed
    /// with botocore's S3SigV4Auth for the same requests.
    @Test func sinkRequestsSignLikeBotocore() {
        let client = S3Client(
            configuration: {
                var configuration = S3SinkConfiguration(endpoint: "http://127.0.0.1:5123", bucket: "logs-test")
                configuration.accessKeyId = "AKIAIOSFODNN7EXAMPLE"
                configuration.secretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
                return configuration
            }(),
            logger: .init(label: "test")
        )
        let at: Int64 = 1_369_353_600_000
        func authorization(_ method: String, key: String?, query: [(String, String)] = [], extra: [(String, String)] = []) -> String? {
            let (path, host) = client.target(key: key, address: .init(host: "127.0.0.1", port: 5123, tls: false))
            let headers = client.signedHeaders(
                method: method, path: path, query: query, host: host, extra: extra, payloadHash: SigV4Signer.emptyPayloadHash, epochMilliseconds: at
            )
            return headers.first { $0.0 == "authorization" }?.1
        }
        #expect(authorization("GET", key: "nginx/dt=2024-03-01/hr=08/_partitions/0.json") == Self.expectedAuthorization(
            "host;x-amz-content-sha256;x-amz-date", "fade3766aeb4001d39c8e7fe2dca8ac6ba4c4d10fc644e345d99932bf47f6135"
        ))
        #expect(authorization("GET", key: nil, query: [("list-type", "2"), ("prefix", "pfx/nginx/dt=2024-03-01/"), ("delimiter", "/")])
            == Self.expectedAuthorization("host;x-amz-content-sha256;x-amz-date", "843e0a4396feb94f90f08d2908a314d1fea06995ad51f5e448c226ff20bb9961"))
        #expect(authorization("PUT", key: "nginx/dt=2024-03-01/hr=08/_SUCCESS", extra: [("If-None-Match", "*")]) == Self.expectedAuthorization(
            "host;if-none-match;x-amz-content-sha256;x-amz-date", "2aa292d4f930eb5c0645b7722e656a878d92ce3858ba24be1bee97678e360c6d"
        ))
        // A multipart upload: create (`?uploads=`), a part, the completion, and the listing of uploads.
        let file = "nginx/dt=2024-03-01/hr=08/nginx-0-00000000000000000042.jsonl.gz"
        let upload = "2~Ab/cd+1"
        for (method, key, query, signature) in [
            ("POST", file, [("uploads", "")], "cc1134b6696f418ed7d7e422c326622e416d2c6bc8699163bb80f4b351b12930"),
            ("PUT", file, [("partNumber", "3"), ("uploadId", upload)], "8a395d30de85edffbe0e28f48d210e4476a79e77b05cd1cfb8b15d3f1ac22811"),
            ("POST", file, [("uploadId", upload)], "efdfca4b2fad33b22d373b3f54a9da92a4bec4ad300de871e3044c26433dfc3c"),
            ("GET", nil, [("uploads", ""), ("prefix", "pfx/nginx/")], "1ed3964d8f8661482ef96d933e14610b67305c623cd4598676f4474a25e2bead"),
        ] as [(String, String?, [(String, String)], String)] {
            #expect(authorization(method, key: key, query: query) == Self.expectedAuthorization("host;x-amz-content-sha256;x-amz-date", signature), "\(method) \(query)")
        }
    }

    @Test func amzDateFormatsUTC() {
        #expect(SigV4Signer.amzDate(epochMilliseconds: 1_369_353_600_000) == "20130524T000000Z")
        #expect(SigV4Signer.amzDate(epochMilliseconds: 1_709_280_000_999) == "20240301T080000Z")
        #expect(SigV4Signer.amzDate(epochMilliseconds: 951_825_599_000) == "20000229T115959Z")
        #expect(SigV4Signer.amzDate(epochMilliseconds: 0) == "19700101T000000Z")
    }

    @Test func percentEncodingKeepsOnlyUnreserved() {
        #expect(SigV4Signer.encodePath("/t/dt=2024-03-01/hr=08/a b~_.-") == "/t/dt%3D2024-03-01/hr%3D08/a%20b~_.-")
        #expect(SigV4Signer.percentEncode("a/b+c") == "a%2Fb%2Bc")
        #expect(SigV4Signer.percentEncode("é") == "%C3%A9")
    }

    // MARK: XML and configuration

    @Test func parsesErrorsAndListPages() {
        let error = S3XML.error(from: Array("""
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist &amp; never did</Message>
            <BucketName>nope</BucketName><RequestId>4442587FB7D0A2F9</RequestId></Error>
            """.utf8))
        #expect(error.code == "NoSuchBucket")
        #expect(error.message == "The specified bucket does not exist & never did")
        #expect(error.requestId == "4442587FB7D0A2F9")

        let page = S3XML.listPage(from: Array("""
            <ListBucketResult><Name>b</Name><Prefix>t/dt=1/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>
            <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated><NextContinuationToken>tok&#x2F;1</NextContinuationToken>
            <Contents><Key>t/dt=1/_SUCCESS</Key><Size>0</Size></Contents><Contents><Key>t/dt=1/a&lt;b</Key></Contents>
            <CommonPrefixes><Prefix>t/dt=1/_partitions/</Prefix></CommonPrefixes></ListBucketResult>
            """.utf8))
        #expect(page == S3XML.ListPage(keys: ["t/dt=1/_SUCCESS", "t/dt=1/a<b"], commonPrefixes: ["t/dt=1/_partitions/"], nextContinuationToken: "tok/1"))
    }

    @Test func endpointsAndPrefixes() throws {
        func address(_ endpoint: String) -> String {
            switch S3SinkConfiguration(endpoint: endpoint, bucket: "b").address() {
            case .success(let value): "\(value.tls ? "tls " : "")\(value.host) \(value.port)"
            case .failure(let error): error.code
            }
        }
        #expect(address("http://127.0.0.1:9000") == "127.0.0.1 9000")
        #expect(address("http://minio.lan/") == "minio.lan 80")
        #expect(address("http://[::1]:9000") == "::1 9000")
        #expect(address("https://s3.amazonaws.com") == "tls s3.amazonaws.com 443")
        #expect(address("HTTPS://minio.lan:9443/") == "tls minio.lan 9443")
        #expect(address("ftp://minio.lan") == "InvalidEndpoint")
        // The Host header leaves out only the scheme's own port; SNI carries names, not addresses.
        let client = S3Client(configuration: S3SinkConfiguration(endpoint: "https://h", bucket: "b"), logger: .init(label: "test"))
        for (address, host) in [
            (S3SinkConfiguration.Address(host: "h", port: 443, tls: true), "h"), (.init(host: "h", port: 443, tls: false), "h:443"),
            (.init(host: "h", port: 80, tls: true), "h:80"), (.init(host: "h", port: 9443, tls: true), "h:9443"),
            (.init(host: "::1", port: 443, tls: true), "[::1]"),
        ] {
            #expect(client.target(key: "k", address: address).host == host)
        }
        for (hostHeader, name) in [
            ("minio.lan", "minio.lan"), ("minio.lan:9443", "minio.lan"), ("logs.s3.amazonaws.com", "logs.s3.amazonaws.com"),
            ("127.0.0.1:9000", nil), ("[::1]:9000", nil), ("[::1]", nil),
        ] as [(String, String?)] {
            #expect(S3TLS.serverName(hostHeader: hostHeader) == name, "\(hostHeader)")
        }
        #expect(address("127.0.0.1:9000") == "InvalidEndpoint")
        #expect(address("http://host/path") == "InvalidEndpoint")
        var configuration = S3SinkConfiguration(endpoint: "http://h", bucket: "b")
        for (prefix, expected) in [("", ""), ("logs", "logs/"), ("/logs/", "logs/"), ("a/b", "a/b/")] {
            configuration.prefix = prefix
            #expect(configuration.keyPrefix == expected)
        }
        configuration.prefix = "logs"
        let sink = S3Sink(configuration: configuration, logger: .init(label: "test"))
        #expect(sink.location(of: "web/dt=2024-03-01/hr=08") == "s3://b/logs/web/dt=2024-03-01/hr=08")
        #expect(sink.key(of: "web/dt=2024-03-01/hr=08/_SUCCESS") == "logs/web/dt=2024-03-01/hr=08/_SUCCESS")
    }

    func load(_ text: String) throws -> AggregatorConfig {
        let path = makeTemporaryDirectory("s3-config") + "/aggregator.toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try AggregatorConfig.load(file: path)
    }

    @Test func configurationReadsS3KeysAndEnvironment() throws {
        let config = try load("""
            [kafka]
            topics = ["web"]
            [output]
            sink = "s3"
            [s3]
            endpoint = "http://127.0.0.1:9000"
            bucket = "logs"
            prefix = "raw"
            access_key_id = "AK"
            secret_access_key = "SK"
            path_style = false
            request_timeout = "2m"
            retries = 2
            multipart_threshold = "100MiB"
            multipart_part_size = "8MiB"
            multipart_concurrency = 10
            """)
        let s3 = try #require(config.s3)
        #expect(s3.endpoint == "http://127.0.0.1:9000" && s3.bucket == "logs" && s3.keyPrefix == "raw/")
        #expect(s3.accessKeyId == "AK" && s3.secretAccessKey == "SK" && !s3.pathStyle)
        #expect(s3.requestTimeoutMs == 120_000 && s3.retries == 2 && s3.connectTimeoutMs == 5_000 && s3.region == "us-east-1")
        #expect(s3.multipartThresholdBytes == 100 << 20 && s3.multipartPartBytes == 8 << 20 && s3.multipartConcurrency == 10)
        #expect(config.makeSink(logger: .init(label: "test")) is S3Sink)

        let local = try load("[kafka]\ntopics = [\"web\"]\n")
        #expect(local.s3 == nil)
        #expect(local.makeSink(logger: .init(label: "test")) is LocalFileSystemSink)
    }

    @Test func credentialsFallBackToTheAWSEnvironment() throws {
        let path = makeTemporaryDirectory("s3-config") + "/aggregator.toml"
        try "[kafka]\ntopics = [\"web\"]\n[output]\nsink = \"s3\"\n[s3]\nendpoint = \"http://h:1\"\nbucket = \"b\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        let values = try AggregatorConfig.schema.load(file: path)
        let s3 = try S3SinkConfiguration(values: values, environment: [
            "AWS_ACCESS_KEY_ID": "env-ak", "AWS_SECRET_ACCESS_KEY": "env-sk", "AWS_SESSION_TOKEN": "tok",
        ])
        #expect(s3.accessKeyId == "env-ak" && s3.secretAccessKey == "env-sk" && s3.sessionToken == "tok")
        #expect(throws: ConfigError.self) { try S3SinkConfiguration(values: values, environment: [:]) }
    }

    @Test func configurationErrorsNameTheKey() throws {
        let base = "[kafka]\ntopics = [\"web\"]\n[output]\nsink = \"s3\"\n[s3]\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\n"
        for (extra, key) in [
            ("bucket = \"b\"\n", "s3.endpoint"), ("endpoint = \"s3.amazonaws.com\"\nbucket = \"b\"\n", "s3.endpoint"),
            ("endpoint = \"http://h:9000\"\n", "s3.bucket"),
            ("endpoint = \"http://h:9000\"\nbucket = \"b\"\nca_file = \"/etc/passwd\"\n", "s3.ca_file"),
            ("endpoint = \"https://h\"\nbucket = \"b\"\nca_file = \"/nonexistent/ca.pem\"\n", "s3.ca_file"),
            ("endpoint = \"https://h\"\nbucket = \"b\"\nca_file = \"/etc/passwd\"\n", "s3.ca_file"),
            ("endpoint = \"http://h\"\nbucket = \"b\"\nmultipart_threshold = \"6GiB\"\n", "s3.multipart_threshold"),
            ("endpoint = \"http://h\"\nbucket = \"b\"\nmultipart_part_size = \"4MiB\"\n", "s3.multipart_part_size"),
            ("endpoint = \"http://h\"\nbucket = \"b\"\nmultipart_part_size = \"6GiB\"\n", "s3.multipart_part_size"),
            ("endpoint = \"http://h\"\nbucket = \"b\"\nmultipart_concurrency = 0\n", "s3.multipart_concurrency"),
            ("endpoint = \"http://h\"\nbucket = \"b\"\nmultipart_concurrency = 65\n", "s3.multipart_concurrency"),
        ] {
            do {
                _ = try load(base + extra)
                Issue.record("expected an error about \(key)")
            } catch let error as ConfigError {
                #expect(error.key == key, "\(error)")
            }
        }
    }

    /// Parts cover the file exactly, in order; the configured size is kept where it fits S3's
    /// limits and raised (to whole MiB) past 10,000 parts; over 5 TiB is refused.
    @Test func multipartPlansKeepToS3sPartLimits() throws {
        let mib: Int64 = 1 << 20
        for (fileBytes, configured, expectedPart, expectedCount) in [
            (12 * mib + 5, 5 * mib, 5 * mib, 3), (16 * mib, 16 * mib, 16 * mib, 1), (1, 5 * mib, 5 * mib, 1),
            (64 * mib, 1 * mib, 5 * mib, 13),  // below S3's smallest part
            (200_000 * mib, 16 * mib, 20 * mib, 10_000),  // 12,500 parts of 16 MiB would be too many
            (200_000 * mib + 1, 16 * mib, 21 * mib, 9_524),
        ] as [(Int64, Int64, Int64, Int)] {
            let plan = try S3MultipartPlan(fileBytes: fileBytes, configuredPartBytes: configured, location: "s3://b/k")
            #expect(plan.partBytes == expectedPart && plan.partCount == expectedCount, "\(fileBytes) bytes: \(plan)")
            #expect(plan.partCount <= S3MultipartPlan.maxParts)
            var next: Int64 = 0
            for number in 1...plan.partCount {
                let part = plan.part(number)
                #expect(part.offset == next && part.size > 0 && part.size <= plan.partBytes)
                if number < plan.partCount { #expect(part.size >= S3MultipartPlan.minPartBytes) }
                next += part.size
            }
            #expect(next == fileBytes)
        }
        #expect(throws: S3Error.self) { try S3MultipartPlan(fileBytes: (5 << 40) + 1, configuredPartBytes: 16 * mib, location: "s3://b/k") }
        #expect(S3XML.escape(#""a&b<c>""#) == #""a&amp;b&lt;c&gt;""#)
    }
}
