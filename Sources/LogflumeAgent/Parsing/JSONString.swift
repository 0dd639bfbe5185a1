/// JSON string escaping in both directions, on UTF-8 bytes.
enum JSONString {
    /// Appends the decoded content of a JSON string (the bytes between its quotes) to `out` as UTF-8.
    ///
    /// Lenient on purpose, because nginx's `escape=json` output is decoded with it too: an invalid escape
    /// is copied as written and a lone surrogate becomes U+FFFD.
    static func decode(_ raw: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        var i = 0
        let count = raw.count
        while i < count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\"), i + 1 < count else {
                out.append(byte)
                i += 1
                continue
            }
            switch raw[i + 1] {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard let unit = hex4(raw, at: i + 2) else {
                    out.append(byte)
                    i += 1
                    continue
                }
                var scalar = unit
                var length = 6
                if (0xD800...0xDBFF).contains(unit) {
                    if i + 11 < count, raw[i + 6] == UInt8(ascii: "\\"), raw[i + 7] == UInt8(ascii: "u"),
                       let low = hex4(raw, at: i + 8), (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        length = 12
                    } else {
                        scalar = 0xFFFD
                    }
                } else if (0xDC00...0xDFFF).contains(unit) {
                    scalar = 0xFFFD
                }
                appendUTF8(scalar, to: &out)
                i += length
                continue
            default:
                out.append(byte)
                i += 1
                continue
            }
            i += 2
        }
    }

    /// Whether the JSON string content `raw` decodes to exactly `expected`, without allocating when
    /// `raw` holds no escapes (the usual case for keys).
    static func decodedContent(_ raw: UnsafeRawBufferPointer, hasEscapes: Bool, equals expected: [UInt8]) -> Bool {
        if !hasEscapes {
            return raw.elementsEqual(expected)
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(raw.count)
        decode(raw, into: &decoded)
        return decoded == expected
    }

    /// Appends `text` as a quoted JSON string.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { appendEscaped(UnsafeRawBufferPointer($0), to: &out) }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `bytes` escaped for the inside of a JSON string, copying runs that need no escape in one go.
    static func appendEscaped(_ bytes: UnsafeRawBufferPointer, to out: inout [UInt8]) {
        var runStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
            runStart = index + 1
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            default:
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<bytes.count]))
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func hex4(_ raw: UnsafeRawBufferPointer, at start: Int) -> UInt32? {
        guard start + 4 <= raw.count else { return nil }
        var value: UInt32 = 0
        for i in start..<start + 4 {
            guard let digit = hexValue(raw[i]) else { return nil }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6))
            out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18))
            out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
