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
            output.append(contentsOf: #"{"topic":"#.utf8)
            JSONText.appendString(Array(record.topic.utf8), to: &output)
            output.append(contentsOf: #","partition":\#(record.partition),"offset":\#(record.offset),"timestamp":\#(record.timestamp),"#.utf8)
            JSONText.appendBytesField("key", record.key, to: &output)
            output.append(0x2C)
            JSONText.appendBytesField("value", record.value, to: &output)
            output.append(contentsOf: #","headers":["#.utf8)
            for (index, header) in record.headers.enumerated() {
                if index > 0 { output.append(0x2C) }
                output.append(contentsOf: #"{"key":"#.utf8)
                JSONText.appendString(Array(header.key.utf8), to: &output)
                output.append(0x2C)
                JSONText.appendBytesField("value", header.value, to: &output)
                output.append(0x7D)
            }
            output.append(contentsOf: "]}\n".utf8)
        }
    }
}

/// Hand-written JSON output: fast, and byte-for-byte the same on every run.
enum JSONText {
    /// `"name":"text"`, `"name":null`, or `"name_base64":"..."` for bytes that are not UTF-8.
    static func appendBytesField(_ name: String, _ buffer: ByteBuffer?, to output: inout [UInt8]) {
        guard let buffer else {
            output.append(contentsOf: "\"\(name)\":null".utf8)
            return
        }
        let bytes = Array(buffer.readableBytesView)
        if String(validating: bytes, as: UTF8.self) != nil {
            output.append(contentsOf: "\"\(name)\":".utf8)
            appendString(bytes, to: &output)
        } else {
            output.append(contentsOf: "\"\(name)_base64\":\"".utf8)
            Base64.append(bytes, to: &output)
            output.append(0x22)
        }
    }

    /// A quoted JSON string of valid UTF-8 bytes.
    static func appendString(_ bytes: [UInt8], to output: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        output.append(0x22)
        for byte in bytes {
            switch byte {
            case 0x22: output.append(contentsOf: [0x5C, 0x22])
            case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: output.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: output.append(contentsOf: [0x5C, 0x72])
            case 0x09: output.append(contentsOf: [0x5C, 0x74])
            case 0..<0x20, 0x7F:
                output.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: output.append(byte)
            }
        }
        output.append(0x22)
    }
}

enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func append(_ bytes: [UInt8], to output: inout [UInt8]) {
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            output.append(contentsOf: [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]])
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            output.append(contentsOf: [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], 0x3D, 0x3D])
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            output.append(contentsOf: [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], 0x3D])
        }
    }
}
