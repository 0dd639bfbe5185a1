/// AWS Signature Version 4 for S3 requests sent with an `Authorization` header.
///
/// The canonical request is method, URI path (each segment percent-encoded once, as S3 wants),
/// query (names and values percent-encoded, sorted), the signed headers (lowercase names, trimmed
/// values, sorted), their names, and the payload hash from `x-amz-content-sha256`. It is hashed
/// into a string to sign under the scope `<date>/<region>/s3/aws4_request`, which is signed with a
/// key derived from the secret by an HMAC chain over date, region, service and "aws4_request".
struct SigV4Signer: Sendable {
    struct Credentials: Sendable, Equatable {
        var accessKeyId: String
        var secretAccessKey: String
        /// Temporary credentials (STS) also send `x-amz-security-token`.
        var sessionToken: String?
    }

    /// A request as it will be sent: the path already encoded by `encodePath`.
    struct Request {
        var method: String
        var encodedPath: String
        var query: [(name: String, value: String)] = []
        /// Every header to sign, including `host`; names in any case.
        var headers: [(name: String, value: String)]
        /// Lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
        var payloadHash: String
    }

    static let algorithm = "AWS4-HMAC-SHA256"
    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    var credentials: Credentials
    var region: String
    var service = "s3"

    /// The `Authorization` header value for `request` made at `amzDate` (`YYYYMMDD'T'HHMMSS'Z'`).
    func authorization(for request: Request, amzDate: String) -> String {
        let date = String(amzDate.prefix(8))
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let (canonical, signedHeaders) = canonicalRequest(request)
        let stringToSign = [Self.algorithm, amzDate, scope, SHA256.hexHash(Array(canonical.utf8))].joined(separator: "\n")
        let signature = hex(HMACSHA256.authenticate(stringToSign, key: signingKey(date: date)))
        return "\(Self.algorithm) Credential=\(credentials.accessKeyId)/\(scope),SignedHeaders=\(signedHeaders),Signature=\(signature)"
    }

    /// The canonical request and the `SignedHeaders` list.
    func canonicalRequest(_ request: Request) -> (text: String, signedHeaders: String) {
        let encoded: [(name: String, value: String)] = request.query.map { (Self.percentEncode($0.name), Self.percentEncode($0.value)) }
        let sorted = encoded.sorted { (a: (name: String, value: String), b: (name: String, value: String)) -> Bool in
            a.name == b.name ? a.value < b.value : a.name < b.name
        }
        let query = sorted.map { (pair: (name: String, value: String)) -> String in pair.name + "=" + pair.value }.joined(separator: "&")
        var headers: [String: String] = [:]
        for (name, value) in request.headers {
            let key = name.lowercased()
            let trimmed = Self.collapseSpaces(value)
            headers[key] = headers[key].map { $0 + "," + trimmed } ?? trimmed
        }
        let names = headers.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(headers[$0]!)\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let text = [request.method, request.encodedPath, query, canonicalHeaders, signedHeaders, request.payloadHash].joined(separator: "\n")
        return (text, signedHeaders)
    }

    func signingKey(date: String) -> [UInt8] {
        let dateKey = HMACSHA256.authenticate(date, key: Array("AWS4\(credentials.secretAccessKey)".utf8))
        let regionKey = HMACSHA256.authenticate(region, key: dateKey)
        let serviceKey = HMACSHA256.authenticate(service, key: regionKey)
        return HMACSHA256.authenticate("aws4_request", key: serviceKey)
    }

    // MARK: Encoding

    /// RFC 3986 percent-encoding of everything but the unreserved characters `A-Z a-z 0-9 - _ . ~`,
    /// with uppercase hex digits; `/` too unless `keepingSlashes`.
    static func percentEncode(_ text: String, keepingSlashes: Bool = false) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepingSlashes:
                out.append(byte)
            default:
                out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A URI path with every segment encoded once (S3 does not normalise or double-encode).
    static func encodePath(_ path: String) -> String { percentEncode(path, keepingSlashes: true) }

    private static func collapseSpaces(_ value: String) -> String {
        value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    // MARK: Time

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC for a Unix time in milliseconds.
    static func amzDate(epochMilliseconds: Int64) -> String {
        let seconds = epochMilliseconds >= 0 ? epochMilliseconds / 1000 : (epochMilliseconds - 999) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        return pad(Int(year), 4) + pad(month, 2) + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + pad(secondOfDay / 60 % 60, 2) + pad(secondOfDay % 60, 2) + "Z"
    }

    /// Proleptic Gregorian year, month and day of a day count since 1970-01-01.
    private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int, Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
        let month = Int(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
