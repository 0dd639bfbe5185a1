import Foundation
public import LogflumeClient
import NIOCore

/// How a record becomes a line of an output file.
public enum OutputFormat: String, Sendable, Equatable, CaseIterable {
    /// The record value's bytes followed by "\n" (a null value is an empty line).
    case raw
    /// One JSON object per line: topic, partition, offset, timestamp (ms), key, value and headers
    /// as strings (`null` when absent). Keys and values that are not UTF-8 are written as
    /// `key_base64` / `value_base64` instead, so nothing is lost.
    case jsonl

    /// The extension before the codec's: `log` or `jsonl`.
    public var fileExtension: String {
        switch self {
        case .raw: "log"
        case .jsonl: "jsonl"
        }
    }

    /// Appends the record's line, newline included.
    public func encode(_ record: ConsumerRecord, into output: inout [UInt8]) {
        switch self {
        case .raw:
            if let value = record.value { value.withUnsafeReadableBytes { output.append(contentsOf: $0) } }
            output.append(0x0A)
        case .jsonl:
            output.append(contentsOf: JSONText.topicOpening)
            JSONText.appendString(record.topic, to: &output)
            output.append(contentsOf: JSONText.partitionField)
            JSONText.appendInteger(Int64(record.partition), to: &output)
            output.append(contentsOf: JSONText.offsetField)
            JSONText.appendInteger(record.offset, to: &output)
            output.append(contentsOf: JSONText.timestampField)
            JSONText.appendInteger(record.timestamp, to: &output)
            output.append(0x2C)
            JSONText.appendBytesField(JSONText.keyName, record.key, to: &output)
            output.append(0x2C)
            JSONText.appendBytesField(JSONText.valueName, record.value, to: &output)
            output.append(contentsOf: JSONText.headersOpening)
            for (index, header) in record.headers.enumerated() {
                if index > 0 { output.append(0x2C) }
                output.append(contentsOf: JSONText.headerKeyOpening)
                JSONText.appendString(header.key, to: &output)
                output.append(0x2C)
                JSONText.appendBytesField(JSONText.valueName, header.value, to: &output)
                output.append(0x7D)
            }
            output.append(contentsOf: JSONText.closing)
        }
    }
}

/// Hand-written JSON output: fast (runs of plain bytes are copied whole, nothing is allocated per
/// record), and byte-for-byte the same on every run.
enum JSONText {
    static let topicOpening: [UInt8] = Array(#"{"topic":"#.utf8)
    static let partitionField: [UInt8] = Array(#","partition":"#.utf8)
    static let offsetField: [UInt8] = Array(#","offset":"#.utf8)
    static let timestampField: [UInt8] = Array(#","timestamp":"#.utf8)
    static let headersOpening: [UInt8] = Array(#","headers":["#.utf8)
    static let headerKeyOpening: [UInt8] = Array(#"{"key":"#.utf8)
    static let closing: [UInt8] = Array("]}\n".utf8)
    static let keyName = FieldName("key")
    static let valueName = FieldName("value")
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// A field's `"name":`, `"name":null` and `"name_base64":"` prepared once.
    struct FieldName: Sendable {
        let plain: [UInt8]
        let null: [UInt8]
        let base64: [UInt8]
        init(_ name: String) {
            plain = Array("\"\(name)\":".utf8)
            null = Array("\"\(name)\":null".utf8)
            base64 = Array("\"\(name)_base64\":\"".utf8)
        }
    }

    /// `"name":"text"`, `"name":null`, or `"name_base64":"..."` for bytes that are not UTF-8.
    static func appendBytesField(_ name: FieldName, _ buffer: ByteBuffer?, to output: inout [UInt8]) {
        guard let buffer else {
            output.append(contentsOf: name.null)
            return
        }
        buffer.withUnsafeReadableBytes { bytes in
            if isValidUTF8(bytes) {
                output.append(contentsOf: name.plain)
                appendString(bytes, to: &output)
            } else {
                output.append(contentsOf: name.base64)
                output.append(contentsOf: Data(bytes).base64EncodedString().utf8)
                output.append(0x22)
            }
        }
    }

    /// ASCII (the common case) is checked a word at a time; anything else goes through the
    /// standard library's validation.
    static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            if bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 {
                return String(validating: bytes, as: UTF8.self) != nil
            }
            index += 8
        }
        while index < count {
            if bytes[index] >= 0x80 { return String(validating: bytes, as: UTF8.self) != nil }
            index += 1
        }
        return true
    }

    static func appendString(_ text: String, to output: inout [UInt8]) {
        var text = text
        text.withUTF8 { appendString(UnsafeRawBufferPointer($0), to: &output) }
    }

    static func appendString(_ bytes: [UInt8], to output: inout [UInt8]) {
        bytes.withUnsafeBytes { appendString($0, to: &output) }
    }

    /// Whether any of the 8 bytes needs escaping (below 0x20, `"`, `\`, DEL). Exact for the
    /// bytes that matter; a rare false alarm only sends the word through the byte loop.
    @inline(__always)
    private static func mayNeedEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let below0x20 = (word &- ones &* 0x20) & ~word & highs
        return (below0x20 | hasZero(word ^ (ones &* 0x22)) | hasZero(word ^ (ones &* 0x5C)) | hasZero(word ^ (ones &* 0x7F))) != 0
    }

    /// A quoted JSON string of valid UTF-8 bytes. Clean stretches are found 8 bytes at a time
    /// and copied whole, also after an escape (nginx lines quote several fields each).
    static func appendString(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.append(0x22)
        let count = bytes.count
        var runStart = 0
        var index = 0
        while index < count {
            while index + 8 <= count, !mayNeedEscape(bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)) { index += 8 }
            let limit = min(index + 8, count)
            while index < limit {
                let byte = bytes[index]
                if byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F {
                    if runStart < index { output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index])) }
                    runStart = index + 1
                    appendEscaped(byte, to: &output)
                }
                index += 1
            }
        }
        if runStart < count { output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart...])) }
        output.append(0x22)
    }

    private static func appendEscaped(_ byte: UInt8, to output: inout [UInt8]) {
        switch byte {
        case 0x22: output.append(contentsOf: [0x5C, 0x22])
        case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: output.append(contentsOf: [0x5C, 0x6E])
        case 0x0D: output.append(contentsOf: [0x5C, 0x72])
        case 0x09: output.append(contentsOf: [0x5C, 0x74])
        default: output.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
        }
    }

    /// Decimal digits of `value`, without going through String.
    static func appendInteger(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 {
            output.append(0x2D)
            if value == .min {
                output.append(contentsOf: Array("9223372036854775808".utf8))
                return
            }
        }
        var magnitude = UInt64(value.magnitude)
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { space in
            repeat {
                space[19 - count] = UInt8(truncatingIfNeeded: magnitude % 10) + 0x30
                magnitude /= 10
                count += 1
            } while magnitude > 0
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: space[(20 - count)...]))
        }
    }
}
