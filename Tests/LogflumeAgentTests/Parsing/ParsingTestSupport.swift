@testable import LogflumeAgent

extension LineParser {
    /// Parses a line given as text (tests only; the agent hands over raw buffers).
    func parseText(_ line: String, wantFields: Bool = true) -> ParsedLine {
        parseBytes(Array(line.utf8), wantFields: wantFields)
    }

    func parseBytes(_ line: [UInt8], wantFields: Bool = true) -> ParsedLine {
        line.withUnsafeBytes { parse($0, wantFields: wantFields) }
    }
}

extension ParsedLine {
    var jsonText: String { String(decoding: jsonObject(), as: UTF8.self) }
}

/// Runs an internal time parser on text, returning epoch ms or the error message.
func parseTime(
    _ text: String, with parser: (UnsafeRawBufferPointer) throws(TimeParseError) -> Int64
) -> Result<Int64, TimeParseError> {
    Array(text.utf8).withUnsafeBytes { bytes in
        Result { () throws(TimeParseError) -> Int64 in try parser(bytes) }
    }
}

/// What nginx writes for a value with `escape=default`.
func nginxDefaultEscaped(_ value: String) -> String {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for byte in value.utf8 {
        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 || byte > 0x7E {
            out += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
        } else {
            out.append(byte)
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// What nginx writes for a value with `escape=json`.
func nginxJSONEscaped(_ value: String) -> String {
    var out = ""
    for scalar in value.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case _ where scalar.value < 0x20:
            let hex = String(scalar.value, radix: 16)
            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}
