extension NginxLogFormat {
    /// Splits one line, reads its event time and, with `wantFields`, builds its fields
    /// (conventions in `ParsedLine`).
    func parse(_ fullLine: UnsafeRawBufferPointer, wantFields: Bool) -> ParsedLine {
        // nginx never writes "\r"; one at the end comes from a file that went through CRLF tools.
        let line = fullLine.last == 0x0D ? UnsafeRawBufferPointer(rebasing: fullLine.dropLast()) : fullLine
        var fields: [ParsedField] = []
        if wantFields { fields.reserveCapacity(captures.count + 3) }
        var timeRange: Range<Int>?
        let timeCapture = eventTime?.capture ?? -1

        let mismatch = split(line) { index, range in
            if index == timeCapture { timeRange = range }
            if wantFields { appendField(index, UnsafeRawBufferPointer(rebasing: line[range]), to: &fields) }
        }
        if let mismatch { return ParsedLine(failure: describe(mismatch)) }

        var eventTimeMs: Int64?
        if let timeRange, let variable = eventTime?.variable {
            let text = UnsafeRawBufferPointer(rebasing: line[timeRange])
            if !isAbsent(text) {
                do {
                    eventTimeMs = try variable.parse(text)
                } catch {
                    return ParsedLine(failure: error.message)
                }
            }
        }
        return ParsedLine(eventTimeMs: eventTimeMs, fields: fields, valueSyntax: .nginxText)
    }

    /// How nginx writes a variable that has no value.
    @inline(__always)
    private func isAbsent(_ raw: UnsafeRawBufferPointer) -> Bool {
        switch raw.count {
        case 0: escape == .json
        case 1: raw[0] == UInt8(ascii: "-")
        default: false
        }
    }

    private func appendField(_ index: Int, _ raw: UnsafeRawBufferPointer, to fields: inout [ParsedField]) {
        let name = captures[index].name
        let value: String?
        if isAbsent(raw) {
            value = nil
        } else if escape != .none, raw.contains(UInt8(ascii: "\\")) {
            var unescaped: [UInt8] = []
            unescaped.reserveCapacity(raw.count)
            escape.unescape(raw, into: &unescaped)
            value = String(decoding: unescaped, as: UTF8.self)
        } else {
            value = String(decoding: raw, as: UTF8.self)
        }
        fields.append(ParsedField(name: name, value: value))
        if name == "request", !derivedRequestParts.isEmpty, let value {
            appendRequestParts(of: value, to: &fields)
        }
    }

    /// `GET /path?q HTTP/1.1` gives method, URI and protocol; anything else (a garbled or
    /// binary request line) gives nothing rather than a misleading guess.
    private func appendRequestParts(of request: String, to fields: inout [ParsedField]) {
        let utf8 = request.utf8
        guard let firstSpace = utf8.firstIndex(of: UInt8(ascii: " ")),
              let lastSpace = utf8.lastIndex(of: UInt8(ascii: " ")),
              firstSpace != lastSpace
        else { return }
        let uriStart = utf8.index(after: firstSpace)
        let protocolStart = utf8.index(after: lastSpace)
        let uri = utf8[uriStart..<lastSpace]
        guard firstSpace != utf8.startIndex, !uri.isEmpty, !uri.contains(UInt8(ascii: " ")),
              protocolStart != utf8.endIndex
        else { return }
        if derivedRequestParts.contains(.method) {
            fields.append(ParsedField(name: "request_method", value: String(request[..<firstSpace])))
        }
        if derivedRequestParts.contains(.uri) {
            fields.append(ParsedField(name: "request_uri", value: String(request[uriStart..<lastSpace])))
        }
        if derivedRequestParts.contains(.protocolVersion) {
            fields.append(ParsedField(name: "server_protocol", value: String(request[protocolStart...])))
        }
    }
}
