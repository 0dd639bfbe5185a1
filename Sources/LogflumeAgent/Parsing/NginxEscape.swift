/// The `escape=` parameter of an nginx `log_format`: how nginx wrote variable values into the line.
public enum NginxEscape: String, Sendable {
    /// nginx's default: `"`, `\`, bytes below 32 and above 126 are written as `\xXX`.
    case `default`
    /// JSON string escapes (`\"`, `\\`, `\n`, `\u0001`, ...); missing values are written as nothing rather than `-`.
    case json
    /// Values are written exactly as they are.
    case none
}

extension NginxEscape {
    /// Appends `raw` (a value as nginx logged it) to `out` with nginx's escaping undone.
    /// Sequences nginx would not have written are kept as they are, so nothing is ever lost.
    func unescape(_ raw: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        switch self {
        case .none:
            out.append(contentsOf: raw)
        case .json:
            JSONString.decode(raw, into: &out)
        case .default:
            var i = 0
            while i < raw.count {
                let byte = raw[i]
                if byte == UInt8(ascii: "\\"), i + 3 < raw.count, raw[i + 1] == UInt8(ascii: "x"),
                   let high = hexValue(raw[i + 2]), let low = hexValue(raw[i + 3]) {
                    out.append(high << 4 | low)
                    i += 4
                } else {
                    out.append(byte)
                    i += 1
                }
            }
        }
    }
}

/// The value of one hexadecimal digit (either case), or nil.
@inline(__always)
func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte &- UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte &- UInt8(ascii: "a") &+ 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte &- UInt8(ascii: "A") &+ 10
    default: nil
    }
}
