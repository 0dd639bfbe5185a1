extension LineParser {
    /// Reads a line holding one JSON object: finds the time field among its top-level keys and,
    /// with `wantFields`, keeps every top-level member with its value as raw JSON text.
    func parseJSONLine(_ line: UnsafeRawBufferPointer, timeField: [UInt8], wantFields: Bool) -> ParsedLine {
        var scanner = JSONScanner(line)
        // Editors on Windows start files with a UTF-8 byte order mark; it lands on the first line.
        if line.count >= 3, line[0] == 0xEF, line[1] == 0xBB, line[2] == 0xBF { scanner.position = 3 }
        var fields: [ParsedField] = []
        var timeValue: (range: Range<Int>, kind: JSONScanner.ValueKind)?
        do throws(JSONScanner.Failure) {
            scanner.skipWhitespace()
            try scanner.expect(UInt8(ascii: "{"), "expected '{'")
            scanner.skipWhitespace()
            if !scanner.consume(UInt8(ascii: "}")) {
                while true {
                    let key = try scanner.scanString()
                    scanner.skipWhitespace()
                    try scanner.expect(UInt8(ascii: ":"), "expected ':'")
                    scanner.skipWhitespace()
                    let valueStart = scanner.position
                    let kind = try scanner.scanValue()
                    let valueRange = valueStart..<scanner.position
                    let keyBytes = UnsafeRawBufferPointer(rebasing: line[key.content])
                    // The first occurrence of a repeated key wins, as in `ParsedLine.value(of:)`.
                    if timeValue == nil, JSONString.decodedContent(keyBytes, hasEscapes: key.hasEscapes, equals: timeField) {
                        timeValue = (valueRange, kind)
                    }
                    if wantFields {
                        fields.append(ParsedField(
                            name: Self.decodeKey(keyBytes, hasEscapes: key.hasEscapes),
                            value: String(decoding: UnsafeRawBufferPointer(rebasing: line[valueRange]), as: UTF8.self)
                        ))
                    }
                    scanner.skipWhitespace()
                    if scanner.consume(UInt8(ascii: ",")) {
                        scanner.skipWhitespace()
                        continue
                    }
                    try scanner.expect(UInt8(ascii: "}"), "expected ',' or '}'")
                    break
                }
            }
            scanner.skipWhitespace()
            guard scanner.isAtEnd else { throw JSONScanner.Failure(problem: "unexpected text after the object", position: scanner.position) }
        } catch {
            return ParsedLine(failure: error.description)
        }

        var eventTimeMs: Int64?
        if let timeValue {
            do throws(TimeParseError) {
                eventTimeMs = try Self.eventTime(UnsafeRawBufferPointer(rebasing: line[timeValue.range]), kind: timeValue.kind)
            } catch {
                return ParsedLine(failure: error.message)
            }
        }
        return ParsedLine(eventTimeMs: eventTimeMs, fields: fields, valueSyntax: .rawJSON)
    }

    /// The event time held by a JSON value: a number of epoch seconds or milliseconds, or a string
    /// in RFC 3339, nginx `time_local` or numeric form. `null` means no time.
    private static func eventTime(_ value: UnsafeRawBufferPointer, kind: JSONScanner.ValueKind) throws(TimeParseError) -> Int64? {
        switch kind {
        case .null:
            return nil
        case .number:
            return try LogTimestamp.parseEpochNumber(value)
        case .string:
            let content = UnsafeRawBufferPointer(rebasing: value.dropFirst().dropLast())
            guard content.contains(UInt8(ascii: "\\")) else { return try LogTimestamp.parseTimeText(content) }
            var decoded: [UInt8] = []
            JSONString.decode(content, into: &decoded)
            let result = decoded.withUnsafeBytes { bytes in
                Result { () throws(TimeParseError) -> Int64 in try LogTimestamp.parseTimeText(bytes) }
            }
            return try result.get()
        case .boolean, .object, .array:
            throw TimeParseError("time", "expected a number or a string, got", quoting: value)
        }
    }

    private static func decodeKey(_ raw: UnsafeRawBufferPointer, hasEscapes: Bool) -> String {
        guard hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        var decoded: [UInt8] = []
        JSONString.decode(raw, into: &decoded)
        return String(decoding: decoded, as: UTF8.self)
    }
}
