@testable import LogflumeAgent
import Testing

@Suite struct NginxCustomFormatTests {
    @Test func iso8601WithUpstreamFields() throws {
        let format = try NginxLogFormat(
            #"$remote_addr [$time_iso8601] "$request" $status $request_time $upstream_response_time "$upstream_addr" $upstream_status"#
        )
        let parser = LineParser(format: .nginx(format))
        let parsed = parser.parseText(
            #"10.1.2.3 [2024-03-05T10:11:12+02:00] "POST /api/v1/items HTTP/2.0" 502 0.250 0.100, 0.150 "10.0.0.5:8080, 10.0.0.6:8080" 502, 200"#
        )
        #expect(parsed.failure == nil)
        #expect(parsed.eventTimeMs == 1_709_626_272_000)
        #expect(parsed.value(of: "upstream_response_time") == "0.100, 0.150")
        #expect(parsed.value(of: "upstream_status") == "502, 200")
        let json = parsed.jsonText
        #expect(json.hasPrefix(#"{"@timestamp":"2024-03-05T08:11:12.000Z","remote_addr":"10.1.2.3","#))
        #expect(json.contains(#""request_time":0.250,"upstream_response_time":"0.100, 0.150","#))

        let single = parser.parseText(
            #"10.1.2.3 [2024-03-05T10:11:12Z] "GET / HTTP/1.1" 200 0.004 0.003 "10.0.0.5:8080" 200"#
        )
        #expect(single.jsonText.contains(#""request_time":0.004,"upstream_response_time":0.003,"#))
        #expect(single.eventTimeMs == 1_709_633_472_000)
    }

    @Test func msecTakesPrecedenceOverTheOtherTimes() throws {
        let format = try NginxLogFormat(#"[$time_local] $msec $remote_addr "$request" $status $bytes_sent $connection $connection_requests"#)
        let parser = LineParser(format: .nginx(format))
        let line = #"[14/Nov/2023:22:13:20 +0000] 1700000000.123 ::1 "GET / HTTP/1.1" 200 615 17 3"#
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.eventTimeMs == 1_700_000_000_123)
        #expect(parser.parseText(line, wantFields: false).eventTimeMs == 1_700_000_000_123)
        #expect(parsed.jsonText == #"{"@timestamp":"2023-11-14T22:13:20.123Z","time_local":"14/Nov/2023:22:13:20 +0000","msec":1700000000.123,"remote_addr":"::1","request":"GET / HTTP/1.1","request_method":"GET","request_uri":"/","server_protocol":"HTTP/1.1","status":200,"bytes_sent":615,"connection":17,"connection_requests":3}"#)

        // A bad time_local does not matter when msec is there: only the chosen time field is read.
        #expect(parser.parseText(#"[garbage] 1700000000.123 ::1 "GET / HTTP/1.1" 200 615 17 3"#).failure == nil)
        #expect(parser.parseText(#"[14/Nov/2023:22:13:20 +0000] 17000x ::1 "GET / HTTP/1.1" 200 615 17 3"#).failure
            == "msec: expected seconds since the epoch, got '17000x'")
    }

    @Test func bracedVariablesWithTextStraightAfter() throws {
        let format = try NginxLogFormat("${remote_addr}:${remote_port} took ${request_time}s status=${status}!")
        let parsed = LineParser(format: .nginx(format)).parseText("10.0.0.1:55012 took 0.012s status=200!")
        #expect(parsed.failure == nil)
        #expect(parsed.fields.map(\.value) == ["10.0.0.1", "55012", "0.012", "200"])
        #expect(parsed.eventTimeMs == nil)
        #expect(parsed.jsonText == #"{"remote_addr":"10.0.0.1","remote_port":"55012","request_time":0.012,"status":200}"#)
    }

    @Test func timeLocalIsSplitAtItsFixedWidthEvenBeforeASpace() throws {
        let format = try NginxLogFormat("$time_local $status $body_bytes_sent")
        let parsed = LineParser(format: .nginx(format)).parseText("10/Oct/2000:13:55:36 -0700 404 153")
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "time_local") == "10/Oct/2000:13:55:36 -0700")
        #expect(parsed.value(of: "status") == "404")
        #expect(parsed.eventTimeMs == 971_211_336_000)
    }

    @Test func explicitRequestPartsAreNotDerivedAgain() throws {
        let format = try NginxLogFormat(#"$request_method "$request" $request_uri"#)
        let parsed = LineParser(format: .nginx(format)).parseText(#"GET "GET /a?b=1 HTTP/1.1" /a?b=1"#)
        #expect(parsed.fields.map(\.name) == ["request_method", "request", "server_protocol", "request_uri"])
    }

    @Test func escapeJSONFormats() throws {
        let format = try NginxLogFormat(
            #"{"time":"$time_iso8601","ua":"$http_user_agent","user":"$remote_user","status":$status}"#, escape: .json
        )
        let parser = LineParser(format: .nginx(format))
        let parsed = parser.parseText(
            #"{"time":"2024-01-02T03:04:05+00:00","ua":"a \"quoted\" \\ agent\n\u0001 \ud83d\ude00","user":"","status":200}"#
        )
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "http_user_agent") == "a \"quoted\" \\ agent\n\u{01} 😀")
        // escape=json logs a missing variable as nothing at all.
        #expect(parsed.fields[2] == ParsedField(name: "remote_user", value: nil))
        #expect(parsed.eventTimeMs == 1_704_164_645_000)
        #expect(parsed.jsonText == #"{"@timestamp":"2024-01-02T03:04:05.000Z","time_iso8601":"2024-01-02T03:04:05+00:00","http_user_agent":"a \"quoted\" \\ agent\n\u0001 😀","status":200}"#)
    }

    @Test func escapeNoneGivesTheLastFieldTheRestOfTheLine() throws {
        let format = try NginxLogFormat(#"$remote_addr "$request" "$http_user_agent""#, escape: .none)
        let parser = LineParser(format: .nginx(format))
        let parsed = parser.parseText(#"10.0.0.1 "GET / HTTP/1.1" "Agent "with" quotes \ raw""#)
        #expect(parsed.failure == nil)
        #expect(parsed.value(of: "http_user_agent") == #"Agent "with" quotes \ raw"#)
        #expect(parser.parseText(#"10.0.0.1 "GET / HTTP/1.1" "unterminated"#).failure == "expected '\"' at the end of the line")
        #expect(parser.parseText(#"10.0.0.1 "GET / HTTP/1.1" ""#).failure == "expected '\"' at the end of the line")
    }

    @Test func leadingLiteralMustMatch() throws {
        let format = try NginxLogFormat("access: $remote_addr $status")
        let parser = LineParser(format: .nginx(format))
        #expect(parser.parseText("access: 10.0.0.1 200").value(of: "status") == "200")
        #expect(parser.parseText("error: 10.0.0.1 200").failure == "expected 'access: ' at byte 0")
    }

    @Test func repeatedVariablesAreWrittenOnceToJSON() throws {
        let format = try NginxLogFormat("$status $status")
        let parsed = LineParser(format: .nginx(format)).parseText("200 201")
        #expect(parsed.fields.count == 2)
        #expect(parsed.value(of: "status") == "200")
        #expect(parsed.jsonText == #"{"status":200}"#)
    }

    @Test func numericVariablesThatAreNotNumbersStayStrings() throws {
        let format = try NginxLogFormat("$status $body_bytes_sent $request_time")
        let parsed = LineParser(format: .nginx(format)).parseText("009 1e3 .5")
        #expect(parsed.jsonText == #"{"status":"009","body_bytes_sent":1e3,"request_time":".5"}"#)
    }
}
