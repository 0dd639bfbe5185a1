import Foundation
@testable import LogflumeAggregator
import NIOCore
import Testing

@Suite("JSON text")
struct JSONTextTests {
    /// What `body` writes, in a buffer with `room` bytes reserved.
    func written(room: Int = 1024, _ body: (inout LineCursor) -> Void) -> [UInt8] {
        let buffer = LineBuffer(capacity: 16)
        buffer.write(atMost: room, body)
        return Array(buffer.bytes)
    }

    @Test("strings with every escapable byte at every position read back unchanged through Foundation's JSON parser")
    func roundTrip() throws {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [String] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1F}", "\u{7F}", "é", "日", "🙂", "/"]
        for length in 0..<40 {
            for _ in 0..<20 {
                let text = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }.joined()
                let output = written { JSONText.putString(text, into: &$0) }
                let decoded = try JSONSerialization.jsonObject(with: Data(output), options: [.fragmentsAllowed]) as? String
                #expect(decoded == text, "\(output)")
            }
        }
    }

    /// The escaping JSON asks for, one byte at a time: the reference the word-wise scan must match.
    func escapedByteByByte(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for byte in bytes {
            switch byte {
            case 0x22: out += Array(#"\""#.utf8)
            case 0x5C: out += Array(#"\\"#.utf8)
            case 0x0A: out += Array(#"\n"#.utf8)
            case 0x0D: out += Array(#"\r"#.utf8)
            case 0x09: out += Array(#"\t"#.utf8)
            case 0..<0x20, 0x7F: out += Array(String(format: "\\u%04x", Int(byte)).utf8)
            default: out.append(byte)
            }
        }
        return out + [0x22]
    }

    @Test("an escape at every position of several words and the tail, a second one after it, and bytes past ASCII: as escaped byte by byte")
    func escapesAtEveryPosition() {
        for length in 1..<42 {
            for position in 0..<length {
                for escape: UInt8 in [0x00, 0x0A, 0x1F, 0x22, 0x5C, 0x7F] {
                    for second in [nil, position + 1, length - 1] {
                        var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                        bytes[position] = escape
                        if let second, second < length, second != position { bytes[second] = 0x22 }
                        let output = written { cursor in
                            #expect(!bytes.withUnsafeBytes { JSONText.putString($0, into: &cursor) })
                        }
                        #expect(output == escapedByteByByte(bytes), "length \(length), escape \(escape) at \(position), quote at \(second.map(String.init) ?? "-")")
                    }
                }
                var accented = [UInt8](repeating: UInt8(ascii: "b"), count: length)
                accented[position] = 0xC3
                let sawHighByte = LineBuffer(capacity: 64)
                sawHighByte.write(atMost: 64) { cursor in
                    #expect(accented.withUnsafeBytes { JSONText.putString($0, into: &cursor) }, "0xC3 at \(position) of \(length)")
                }
            }
        }
    }

    @Test("integers, including the extremes")
    func integers() {
        for value: Int64 in [0, 7, -7, 10, 1_795_161_600_000, .max, .min] {
            let output = written { JSONText.putInteger(value, into: &$0) }
            #expect(String(decoding: output, as: UTF8.self) == String(value))
        }
    }

    @Test("bytes that are not UTF-8 go out as base64 under name_base64")
    func base64() {
        let output = written { JSONText.putBytesField(JSONText.valueName, ByteBuffer(bytes: [0xFF, 0x00, 0x41]), into: &$0) }
        #expect(String(decoding: output, as: UTF8.self) == #""value_base64":"/wBB""#)
    }
}

