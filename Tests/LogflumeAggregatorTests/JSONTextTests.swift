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

