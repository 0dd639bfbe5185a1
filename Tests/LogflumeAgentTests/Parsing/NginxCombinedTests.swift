@testable import LogflumeAgent
import LogflumeTestSupport
import Testing

@Suite struct NginxCombinedTests {
    let parser = LineParser(format: .nginx(.combined))

    @Test func classicApacheExample() {
        let line = #"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.eventTimeMs == 971_211_336_000)
        #expect(parsed.fields == [
            ParsedField(name: "remote_addr", value: "127.0.0.1"),
            ParsedField(name: "remote_user", value: "frank"),
            ParsedField(name: "time_local", value: "10/Oct/2000:13:55:36 -0700"),
            ParsedField(name: "request", value: "GET /apache_pb.gif HTTP/1.0"),
            ParsedField(name: "request_method", value: "GET"),
            ParsedField(name: "request_uri", value: "/apache_pb.gif"),
            ParsedField(name: "server_protocol", value: "HTTP/1.0"),
            ParsedField(name: "status", value: "200"),
            ParsedField(name: "body_bytes_sent", value: "2326"),
            ParsedField(name: "http_referer", value: "http://www.example.com/start.html"),
            ParsedField(name: "http_user_agent", value: "Mozilla/4.08 [en] (Win98; I ;Nav)"),
        ])
        #expect(parsed.jsonText == #"{"@timestamp":"2000-10-10T20:55:36.000Z","remote_addr":"127.0.0.1","remote_user":"frank","time_local":"10/Oct/2000:13:55:36 -0700","request":"GET /apache_pb.gif HTTP/1.0","request_method":"GET","request_uri":"/apache_pb.gif","server_protocol":"HTTP/1.0","status":200,"body_bytes_sent":2326,"http_referer":"http://www.example.com/start.html","http_user_agent":"Mozilla/4.08 [en] (Win98; I ;Nav)"}"#)
    }

    @Test func dashesAreAbsentValuesAndLeftOutOfJSON() {
        let line = #"203.0.113.9 - - [21/Nov/2024:07:35:02 +0000] "HEAD /healthz HTTP/1.1" 204 0 "-" "-""#
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "remote_user") == nil)
        #expect(parsed.value(of: "http_referer") == nil)
        #expect(parsed.value(of: "http_user_agent") == nil)
        #expect(parsed.value(of: "status") == "204")
        #expect(parsed.value(of: "no_such_field") == nil)
        #expect(parsed.jsonText == #"{"@timestamp":"2024-11-21T07:35:02.000Z","remote_addr":"203.0.113.9","time_local":"21/Nov/2024:07:35:02 +0000","request":"HEAD /healthz HTTP/1.1","request_method":"HEAD","request_uri":"/healthz","server_protocol":"HTTP/1.1","status":204,"body_bytes_sent":0}"#)
    }

    @Test func escapedQuotesDoNotEndQuotedValues() {
        let line = #"198.51.100.7 - - [02/Jan/2024:03:04:05 +0100] "GET /search?q=\x22quoted\x22 HTTP/1.1" 200 512 "https://example.org/?a=\x22b\x22" "Mozilla/5.0 \x22Evil\x22 Bot\x5C1.0""#
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "request") == #"GET /search?q="quoted" HTTP/1.1"#)
        #expect(parsed.value(of: "request_uri") == #"/search?q="quoted""#)
        #expect(parsed.value(of: "http_referer") == #"https://example.org/?a="b""#)
        #expect(parsed.value(of: "http_user_agent") == #"Mozilla/5.0 "Evil" Bot\1.0"#)
        #expect(parsed.eventTimeMs == 1_704_161_045_000)
        let json = parsed.jsonText
        #expect(json.contains(#""http_user_agent":"Mozilla/5.0 \"Evil\" Bot\\1.0""#))
        #expect(json.contains(#""request_uri":"/search?q=\"quoted\"""#))
    }

    @Test func backslashQuoteStyleEscapesAreSteppedOverToo() {
        // Apache and some proxies write `\"`; a backslash always starts an escape, so the quote is data.
        let line = #"10.0.0.1 - - [02/Jan/2024:03:04:05 +0000] "GET / HTTP/1.1" 200 1 "-" "say \"hi\"""#
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "http_user_agent") == #"say \"hi\""#)
    }

    @Test func nonASCIIAndControlBytesAreUnescaped() {
        let line = #"10.0.0.1 - \xD0\xBF\xD0\xB5\xD1\x82\xD1\x8F [02/Jan/2024:03:04:05 +0000] "GET /caf\xC3\xA9 HTTP/1.1" 200 1 "-" "tab\x09nl\x0Ad""#
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "remote_user") == "петя")
        #expect(parsed.value(of: "request_uri") == "/café")
        #expect(parsed.value(of: "http_user_agent") == "tab\tnl\nd")
        #expect(parsed.jsonText.contains(#""http_user_agent":"tab\tnl\nd""#))
    }

    @Test func binaryRequestLinesKeepTheirBytesAndAreNotSplit() {
        // A TLS hello sent to a plain-HTTP port, as nginx logs it with a 400.
        let line = #"192.0.2.44 - - [02/Jan/2024:03:04:05 +0000] "\x16\x03\x01\x00\xF7\x01\x00\x00\xF3\x03\x03" 400 157 "-" "-""#
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "request")?.utf8.count ?? 0 > 0)
        #expect(parsed.value(of: "request_method") == nil)
        #expect(parsed.value(of: "status") == "400")
        #expect(parsed.eventTimeMs == 1_704_164_645_000)
    }

    @Test func emptyRequestAndOddRequestLines() {
        let empty = parser.parseText(#"192.0.2.44 - - [02/Jan/2024:03:04:05 +0000] "" 400 0 "-" "-""#)
        #expect(empty.failure == nil)
        #expect(empty.value(of: "request") == "")
        #expect(empty.fields.count == 8)
        let twoParts = parser.parseText(#"192.0.2.44 - - [02/Jan/2024:03:04:05 +0000] "GET /" 400 0 "-" "-""#)
        #expect(twoParts.value(of: "request_method") == nil)
        let fourParts = parser.parseText(#"192.0.2.44 - - [02/Jan/2024:03:04:05 +0000] "GET /a b HTTP/1.1" 400 0 "-" "-""#)
        #expect(fourParts.value(of: "request_uri") == nil)
    }

    @Test func aUserNameHoldingTheNextLiteralIsStillSplitRight() {
        let plain = parser.parseText(#"10.0.0.1 - a [b [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 200 1 "-" "-""#)
        #expect(plain.failure == nil)
        #expect(plain.value(of: "remote_user") == "a [b")
        #expect(plain.eventTimeMs == 971_211_336_000)

        // A client-chosen user name cannot forge the fields after it: quotes in it are escaped.
        let forged = #"x [01/Jan/1970:00:00:00 +0000] \x22GET /admin HTTP/1.1\x22 200 1 \x22-\x22 \x22-\x22"#
        let parsed = parser.parseText(#"10.0.0.1 - \#(forged) [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1" 401 1 "-" "-""#)
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "remote_user") == #"x [01/Jan/1970:00:00:00 +0000] "GET /admin HTTP/1.1" 200 1 "-" "-""#)
        #expect(parsed.value(of: "request") == "GET / HTTP/1.1")
        #expect(parsed.eventTimeMs == 971_211_336_000)
    }

    @Test func hostileLinesCostBoundedWork() throws {
        let many = String(repeating: " [", count: 20_000)
        let parsed = parser.parseText("10.0.0.1 - \(many) [not a time] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"")
        #expect(parsed.failure?.hasPrefix("time_local:") == true)

        let spaces = try NginxLogFormat("$a $b $c $d $e!", escape: .none)
        let line = String(repeating: "x ", count: 5_000)
        #expect(LineParser(format: .nginx(spaces)).parseText(line).failure == "expected '!' at the end of the line")
    }

    @Test func withoutFieldsOnlyTheTimeIsRead() {
        let line = #"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 2326 "-" "curl/8.5.0""#
        let parsed = parser.parseText(line, wantFields: false)
        #expect(parsed.failure == nil)
        #expect(parsed.eventTimeMs == 971_211_336_000)
        #expect(parsed.fields.isEmpty)
        #expect(parsed.jsonText == #"{"@timestamp":"2000-10-10T20:55:36.000Z"}"#)
    }

    @Test func trailingCarriageReturnIsIgnored() {
        let line = #"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "curl/8.5.0""# + "\r"
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "http_user_agent") == "curl/8.5.0")
    }

    @Test func mismatchesSayWhere() {
        let cases: [(String, String)] = [
            (#"127.0.0.1 frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "-""#,
             "expected ' - ' after $remote_addr at byte 0"),
            (#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "curl"#,
             "expected '\"' after $http_user_agent at byte 71"),
            (#"127.0.0.1 - - [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "curl" extra"#,
             "unexpected bytes after the last field at byte 76"),
            (#"127.0.0.1 - - [10/Foo/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "-""#,
             "time_local: bad month 'Foo'"),
            (#"127.0.0.1 - - [32/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200 1 "-" "-""#,
             "time_local: day 32 out of range for 2000-10"),
            (#"127.0.0.1 - - [yesterday] "GET / HTTP/1.0" 200 1 "-" "-""#,
             "time_local: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got 'yesterday'"),
            ("", "expected ' - ' after $remote_addr at byte 0"),
        ]
        for (line, reason) in cases {
            for wantFields in [false, true] {
                let parsed = parser.parseText(line, wantFields: wantFields)
                #expect(parsed.failure == reason, "\(line)")
                #expect(parsed.eventTimeMs == nil)
                #expect(parsed.fields.isEmpty)
            }
        }
    }

    @Test func anyBytesGiveAResultNotACrash() {
        var random = SplitMix64(seed: 0x5EED_0001)
        let valid = Array(#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a\x22b HTTP/1.0" 200 2326 "-" "Mozilla/4.08 \x5C""#.utf8)
        let parsers = [
            parser,
            LineParser(format: .nginx(try! NginxLogFormat(NginxLogFormat.combined.source, escape: .json))),
            LineParser(format: .nginx(try! NginxLogFormat(NginxLogFormat.combined.source, escape: .none))),
        ]
        for round in 0..<3000 {
            var line = valid
            if round % 3 == 0 {
                line = (0..<Int.random(in: 0...120, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            } else {
                for _ in 0..<Int.random(in: 1...6, using: &random) {
                    let index = Int.random(in: 0..<line.count, using: &random)
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: line[index] = UInt8.random(in: 0...255, using: &random)
                    case 1: line.remove(at: index)
                    default: line.insert([UInt8(ascii: "\\"), UInt8(ascii: "\""), 0xFF][Int.random(in: 0..<3, using: &random)], at: index)
                    }
                    if line.isEmpty { break }
                }
            }
            for parser in parsers {
                let parsed = parser.parseBytes(line)
                #expect((parsed.failure == nil) || (parsed.eventTimeMs == nil && parsed.fields.isEmpty))
                _ = parsed.jsonObject()
                _ = parser.parseBytes(line, wantFields: false)
            }
        }
    }
}
