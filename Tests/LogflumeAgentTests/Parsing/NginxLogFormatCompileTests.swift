@testable import LogflumeAgent
import Testing

@Suite struct NginxLogFormatCompileTests {
    @Test func combinedHasNginxVariablesInOrder() {
        #expect(NginxLogFormat.combined.variables == [
            "remote_addr", "remote_user", "time_local", "request", "status", "body_bytes_sent",
            "http_referer", "http_user_agent",
        ])
        #expect(NginxLogFormat.combined.escape == .default)
        #expect(NginxLogFormat.combined.eventTime?.variable == .local)
    }

    @Test func bracedVariablesMayBeFollowedByNameCharacters() throws {
        let format = try NginxLogFormat("${status}ms ${request_time}s/$upstream_addr")
        #expect(format.variables == ["status", "request_time", "upstream_addr"])
        #expect(format.captures.map { String(decoding: $0.terminator, as: UTF8.self) } == ["ms ", "s/", ""])
    }

    @Test func literalOnlyAndLeadingLiteralFormats() throws {
        let literal = try NginxLogFormat("just text")
        #expect(literal.variables.isEmpty)
        #expect(LineParser(format: .nginx(literal)).parseText("just text").failure == nil)
        #expect(LineParser(format: .nginx(literal)).parseText("just text!").failure != nil)

        let leading = try NginxLogFormat("ip=$remote_addr")
        #expect(String(decoding: leading.prefix, as: UTF8.self) == "ip=")
    }

    @Test func emptyFormatIsAnError() {
        #expect(throws: LogFormatError(kind: .emptyFormat, offset: 0, format: "")) { try NginxLogFormat("") }
        #expect(LogFormatError(kind: .emptyFormat, offset: 0, format: "").description == "log_format is empty")
    }

    @Test func unterminatedBraceIsAnErrorAtTheDollar() {
        for (format, offset) in [("$remote_addr ${status", 13), ("${", 0), ("a ${foo bar}", 2)] {
            let error = #expect(throws: LogFormatError.self) { try NginxLogFormat(format) }
            #expect(error?.kind == .unterminatedBrace)
            #expect(error?.offset == offset)
            #expect(error?.description.contains("unterminated '${' at offset \(offset)") == true)
        }
    }

    @Test func dollarWithoutANameIsAnError() {
        for (format, offset) in [("price $", 6), ("${}", 0), ("$ x", 0), ("a $-b", 2)] {
            let error = #expect(throws: LogFormatError.self) { try NginxLogFormat(format) }
            #expect(error?.kind == .missingVariableName)
            #expect(error?.offset == offset)
        }
    }

    @Test func adjacentVariablesAreAmbiguous() {
        let error = #expect(throws: LogFormatError.self) { try NginxLogFormat("[$time_local] $status${body_bytes_sent}") }
        #expect(error?.kind == .adjacentVariables(first: "status", second: "body_bytes_sent"))
        #expect(error?.offset == 21)
        #expect(error?.description == "log_format: $status is followed directly by $body_bytes_sent with no text between them, so a line cannot be split at offset 21 (near \"${body_bytes_sent}\")")
    }

    @Test func longFormatsShowAnExcerptOfTheSpot() {
        let error = #expect(throws: LogFormatError.self) {
            try NginxLogFormat("$remote_addr $a$b and a great deal of text after it")
        }
        #expect(error?.description.hasSuffix("(near \"$b and a great deal of t…\")") == true)
    }

    @Test func timeVariablePrecedence() throws {
        #expect(try NginxLogFormat("$time_local $time_iso8601 $msec").eventTime?.variable == .msec)
        #expect(try NginxLogFormat("[$time_local] $time_iso8601").eventTime?.variable == .iso8601)
        #expect(try NginxLogFormat("[$time_local] x").eventTime?.capture == 0)
        #expect(try NginxLogFormat("$remote_addr $status").eventTime == nil)
    }
}
