@testable import LogflumeAgent
import LogflumeTestSupport
import Testing

@Suite struct JSONLineTests {
    let parser = LineParser(format: .json(timeField: "time"))

    @Test func numberTimesInSecondsOrMilliseconds() {
        #expect(parser.parseText(#"{"time":1700000000,"msg":"hi"}"#, wantFields: false).eventTimeMs == 1_700_000_000_000)
        #expect(parser.parseText(#"{"time":1700000000.25}"#, wantFields: false).eventTimeMs == 1_700_000_000_250)
        #expect(parser.parseText(#"{"time":1700000000123}"#, wantFields: false).eventTimeMs == 1_700_000_000_123)
        #expect(parser.parseText(#"{"time":1.7e9}"#, wantFields: false).eventTimeMs == 1_700_000_000_000)
    }

    @Test func stringTimes() {
        #expect(parser.parseText(#"{"time":"2023-11-14T22:13:20.123Z"}"#).eventTimeMs == 1_700_000_000_123)
        #expect(parser.parseText(#"{"time":"2000-10-10T13:55:36-07:00"}"#).eventTimeMs == 971_211_336_000)
        #expect(parser.parseText(#"{"time":"10/Oct/2000:13:55:36 -0700"}"#).eventTimeMs == 971_211_336_000)
        #expect(parser.parseText(#"{"time":"1700000000.5"}"#).eventTimeMs == 1_700_000_000_500)
        // An escaped character inside the time string is decoded before parsing.
        #expect(parser.parseText(#"{"time":"10\/Oct\/2000:13:55:36 -0700"}"#).eventTimeMs == 971_211_336_000)
    }

    @Test func badTimesAreFailures() {
        #expect(parser.parseText(#"{"time":"yesterday"}"#).failure == "time: unrecognized time 'yesterday'")
        #expect(parser.parseText(#"{"time":"2023-02-30T00:00:00Z"}"#).failure == "time_iso8601: day 30 out of range for 2023-2")
        #expect(parser.parseText(#"{"time":true}"#).failure == "time: expected a number or a string, got 'true'")
        #expect(parser.parseText(#"{"time":{"s":1}}"#).eventTimeMs == nil)
        #expect(parser.parseText(#"{"time":1e300}"#).failure == "time: out of range: '1e300'")
    }

    @Test func missingOrNullTimeIsNoTimeAndNoFailure() {
        let missing = parser.parseText(#"{"msg":"no time here"}"#)
        #expect(missing.failure == nil)
        #expect(missing.eventTimeMs == nil)
        let null = parser.parseText(#"{"time":null}"#)
        #expect(null.failure == nil)
        #expect(null.eventTimeMs == nil)
    }

    @Test func configurableTimeFieldWithEscapedKeys() {
        let custom = LineParser(format: .json(timeField: "@ts"))
        #expect(custom.parseText(#"{"time":1,"@ts":1700000000}"#).eventTimeMs == 1_700_000_000_000)
        #expect(custom.parseText(#"{"\u0040ts":1700000000}"#, wantFields: false).eventTimeMs == 1_700_000_000_000)
        #expect(custom.parseText(#"{"@ts":1700000000,"@ts":5}"#).eventTimeMs == 1_700_000_000_000)
    }

    @Test func fieldsAreTopLevelKeysWithRawValues() {
        let line = #" { "time" : 1700000000 , "level":"info", "msg":"say \"hi\"\n", "ctx":{"user":{"id":7,"tags":["a","b"]}}, "ok":true, "n":null, "k\u00e9y":-1.5e3 } "#
        let parsed = parser.parseText(line)
        #expect(parsed.failure == nil)
        #expect(parsed.fields == [
            ParsedField(name: "time", value: "1700000000"),
            ParsedField(name: "level", value: #""info""#),
            ParsedField(name: "msg", value: #""say \"hi\"\n""#),
            ParsedField(name: "ctx", value: #"{"user":{"id":7,"tags":["a","b"]}}"#),
            ParsedField(name: "ok", value: "true"),
            ParsedField(name: "n", value: "null"),
            ParsedField(name: "kéy", value: "-1.5e3"),
        ])
        #expect(parsed.value(of: "level") == #""info""#)
        #expect(parsed.jsonText == #"{"time":1700000000,"level":"info","msg":"say \"hi\"\n","ctx":{"user":{"id":7,"tags":["a","b"]}},"ok":true,"n":null,"kéy":-1.5e3}"#)
    }

    @Test func byteOrderMarkBeforeTheObjectIsSkipped() {
        let parsed = parser.parseBytes([0xEF, 0xBB, 0xBF] + Array(#"{"time":1700000000}"#.utf8))
        #expect(parsed.failure == nil)
        #expect(parsed.eventTimeMs == 1_700_000_000_000)
    }

    @Test func emptyObject() {
        let parsed = parser.parseText("{}")
        #expect(parsed.failure == nil)
        #expect(parsed.fields.isEmpty)
        #expect(parsed.jsonText == "{}")
    }

    @Test(arguments: [
        ("", "json: expected '{' at byte 0"),
        ("not json", "json: expected '{' at byte 0"),
        ("[1,2]", "json: expected '{' at byte 0"),
        (#"{"a":1"#, "json: expected ',' or '}' at byte 6"),
        (#"{"a" 1}"#, "json: expected ':' at byte 5"),
        (#"{a:1}"#, "json: expected '\"' at byte 1"),
        (#"{"a":01}"#, "json: expected ',' or '}' at byte 6"),
        (#"{"a":tru}"#, "json: expected a value at byte 5"),
        (#"{"a":"x\q"}"#, "json: invalid escape at byte 7"),
        (#"{"a":"\u12G4"}"#, "json: invalid \\u escape at byte 6"),
        (#"{"a":"open}"#, "json: unterminated string at byte 5"),
        (#"{"a":[1,2}"#, "json: expected ',' or ']' at byte 9"),
        (#"{"a":{"b":1]}"#, "json: expected ',' or '}' at byte 11"),
        (#"{"a":1,}"#, "json: expected '\"' at byte 7"),
        (#"{"a":1} {"b":2}"#, "json: unexpected text after the object at byte 8"),
        ("{\"a\":\"tab\there\"}", "json: control character in string at byte 9"),
        (#"{"a":-}"#, "json: invalid number at byte 5"),
        (#"{"a":1.}"#, "json: invalid number at byte 5"),
    ])
    func garbageIsAFailure(line: String, reason: String) {
        for wantFields in [false, true] {
            let parsed = parser.parseText(line, wantFields: wantFields)
            #expect(parsed.failure == reason)
            #expect(parsed.eventTimeMs == nil)
            #expect(parsed.fields.isEmpty)
        }
    }

    @Test func nestingIsBounded() {
        let deep = #"{"a":"# + String(repeating: "[", count: 64) + "1" + String(repeating: "]", count: 64) + "}"
        #expect(parser.parseText(deep).failure == nil)
        let tooDeep = #"{"a":"# + String(repeating: "[", count: 65) + "1" + String(repeating: "]", count: 65) + "}"
        #expect(parser.parseText(tooDeep).failure == "json: nesting too deep at byte 69")
        let absurd = #"{"a":"# + String(repeating: "[", count: 100_000)
        #expect(parser.parseText(absurd).failure != nil)
    }

    @Test func invalidUTF8NeverCrashes() {
        let bytes: [UInt8] = Array(#"{"time":1700000000,"m":""#.utf8) + [0xFF, 0xC3, 0x28, 0xED, 0xA0, 0x80] + Array(#""}"#.utf8)
        let parsed = parser.parseBytes(bytes)
        #expect(parsed.failure == nil)
        #expect(parsed.eventTimeMs == 1_700_000_000_000)
        #expect(parsed.value(of: "m") != nil)
        #expect(String(validating: parsed.jsonObject(), as: UTF8.self) != nil)
    }

    @Test func randomBytesGiveAResultNotACrash() {
        var random = SplitMix64(seed: 0x5EED_0002)
        let valid = Array(#"{"time":"2023-11-14T22:13:20.123Z","a":[1,{"b":"\u00e9\"x"}],"c":-1.5e3,"d":null}"#.utf8)
        let alphabet = Array(#"{}[]":,\"-.0123456789eEtrufalsn \u"#.utf8) + [0x00, 0x0A, 0xFF]
        for round in 0..<5000 {
            var line = valid
            if round % 4 == 0 {
                line = (0..<Int.random(in: 0...60, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            } else {
                for _ in 0..<Int.random(in: 1...4, using: &random) where !line.isEmpty {
                    let index = Int.random(in: 0..<line.count, using: &random)
                    if Bool.random(using: &random) {
                        line[index] = alphabet.randomElement(using: &random)!
                    } else {
                        line.remove(at: index)
                    }
                }
            }
            let parsed = parser.parseBytes(line)
            #expect(parsed.failure == nil || parsed.fields.isEmpty)
            _ = parsed.jsonObject()
            _ = parser.parseBytes(line, wantFields: false)
        }
    }
}

@Suite struct PlainLineTests {
    @Test func plainLinesHaveNothingToFind() {
        let parser = LineParser(format: .plain)
        for line in ["", "anything at all", "{\"time\":1700000000}"] {
            let parsed = parser.parseText(line)
            #expect(parsed.failure == nil)
            #expect(parsed.eventTimeMs == nil)
            #expect(parsed.fields.isEmpty)
            #expect(parsed.jsonText == "{}")
        }
        #expect(parser.parseBytes([0xFF, 0x00, 0x0A]).failure == nil)
    }
}
