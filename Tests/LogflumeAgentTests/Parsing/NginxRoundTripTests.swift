@testable import LogflumeAgent
import LogflumeTestSupport
import Testing

/// Values rendered the way nginx renders them must come back unchanged, whatever they hold.
@Suite struct NginxRoundTripTests {
    static let pieces: [String] = [
        "a", "Z", "0", "9", " ", "  ", "-", "/", "?", "=", "&", "[", "]", "{", "}", "$", "%",
        "\"", "\\", "\\x22", "\\\"", "\" \"", "\"]", "\t", "\n", "\r", "\u{00}", "\u{1B}", "\u{7F}",
        "é", "п", "中", "😀", "\u{FFFD}", "GET / HTTP/1.1",
    ]

    static func randomValue(using random: inout SplitMix64) -> String? {
        switch Int.random(in: 0..<10, using: &random) {
        case 0: return nil
        case 1: return ""
        default:
            let value = (0..<Int.random(in: 1...12, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
            // nginx cannot tell a value "-" from a missing one, so neither can we.
            return value == "-" ? nil : value
        }
    }

    /// A random instant with a random UTC offset, as `$time_local` writes it.
    static func randomTimeLocal(using random: inout SplitMix64) -> (text: String, ms: Int64) {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let utcSeconds = Int64.random(in: 0..<4_102_444_800, using: &random)  // 1970 to 2100
        let offsetMinutes = Int.random(in: -12 * 60...14 * 60, using: &random)
        let local = utcSeconds + Int64(offsetMinutes * 60)
        let (days, secondOfDay) = LogTimestamp.floorDivide(local, 86_400)
        let date = LogTimestamp.civil(fromDays: Int(days))
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let sign = offsetMinutes < 0 ? "-" : "+"
        let text = "\(two(date.day))/\(months[date.month - 1])/\(date.year):\(two(Int(secondOfDay) / 3600)):\(two(Int(secondOfDay) / 60 % 60)):\(two(Int(secondOfDay) % 60)) \(sign)\(two(abs(offsetMinutes) / 60))\(two(abs(offsetMinutes) % 60))"
        return (text, utcSeconds * 1000)
    }

    @Test(arguments: [1, 2, 3, 0xC0FFEE] as [UInt64])
    func escapeDefaultRoundTrip(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let format = try NginxLogFormat(#"$remote_addr - $remote_user [$time_local] "$request" $status "$http_referer" "$http_user_agent" $http_x_trace"#)
        let parser = LineParser(format: .nginx(format))
        let quoted = ["remote_user", "request", "http_referer", "http_user_agent", "http_x_trace"]
        for _ in 0..<2000 {
            var values: [String: String?] = [:]
            for name in quoted { values[name] = Self.randomValue(using: &random) }
            let time = Self.randomTimeLocal(using: &random)
            let address = "10.\(Int.random(in: 0...255, using: &random)).0.1"
            func logged(_ name: String) -> String {
                values[name]!.map(nginxDefaultEscaped) ?? "-"
            }
            let line = "\(address) - \(logged("remote_user")) [\(time.text)] \"\(logged("request"))\" 200 \"\(logged("http_referer"))\" \"\(logged("http_user_agent"))\" \(logged("http_x_trace"))"

            let parsed = parser.parseText(line)
            try #require(parsed.failure == nil, "\(line): \(parsed.failure!)")
            #expect(parsed.eventTimeMs == time.ms, "\(line)")
            #expect(parser.parseText(line, wantFields: false).eventTimeMs == time.ms)
            #expect(parsed.value(of: "remote_addr") == address)
            for name in quoted {
                #expect(parsed.value(of: name) == values[name]!, "\(name) in \(line)")
            }
        }
    }

    @Test(arguments: [4, 5] as [UInt64])
    func escapeJSONRoundTrip(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let format = try NginxLogFormat(#"{"ts":$msec,"req":"$request","ua":"$http_user_agent","x":"$http_x"}"#, escape: .json)
        let parser = LineParser(format: .nginx(format))
        for _ in 0..<2000 {
            let request = Self.randomValue(using: &random)
            let agent = Self.randomValue(using: &random)
            let extra = Self.randomValue(using: &random)
            let ms = Int64.random(in: 0..<4_102_444_800_000, using: &random)
            let msec = "\(ms / 1000).\(String(ms % 1000 + 1000).dropFirst())"
            let line = #"{"ts":\#(msec),"req":"\#(nginxJSONEscaped(request ?? ""))","ua":"\#(nginxJSONEscaped(agent ?? ""))","x":"\#(nginxJSONEscaped(extra ?? ""))"}"#
            let parsed = parser.parseText(line)
            try #require(parsed.failure == nil, "\(line): \(parsed.failure!)")
            #expect(parsed.eventTimeMs == ms)
            // escape=json writes a missing value as nothing, so "" and nil both come back absent.
            #expect(parsed.value(of: "request") == request.flatMap { $0.isEmpty ? nil : $0 })
            #expect(parsed.value(of: "http_user_agent") == agent.flatMap { $0.isEmpty ? nil : $0 })
            #expect(parsed.value(of: "http_x") == extra.flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    @Test(arguments: [6] as [UInt64])
    func jsonObjectOfParsedFieldsIsValidJSONHoldingTheValues(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let parser = LineParser(format: .nginx(.combined))
        let jsonLines = LineParser(format: .json(timeField: "@timestamp"))
        for _ in 0..<500 {
            let agent = Self.randomValue(using: &random) ?? "x"
            let line = #"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 5 "-" "\#(nginxDefaultEscaped(agent))""#
            let parsed = parser.parseText(line)
            try #require(parsed.failure == nil)
            // Our own JSON-line reader must accept what we write, with the same time and agent.
            let reread = jsonLines.parseBytes(parsed.jsonObject())
            try #require(reread.failure == nil, "\(parsed.jsonText)")
            #expect(reread.eventTimeMs == 971_211_336_000)
            let agentJSON = try #require(reread.value(of: "http_user_agent"))
            var decoded: [UInt8] = []
            Array(agentJSON.utf8.dropFirst().dropLast()).withUnsafeBytes { JSONString.decode($0, into: &decoded) }
            #expect(String(decoding: decoded, as: UTF8.self) == (agent.isEmpty ? "" : agent))
        }
    }
}
