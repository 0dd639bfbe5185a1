import Foundation
import LogflumeWire
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

    /// Formats the records of one topic-partition (a part file's), with what every line of it
    /// shares prepared once.
    func lineEncoder(topic: String, partition: Int32) -> LineEncoder {
        LineEncoder(format: self, topic: topic, partition: partition)
    }
}

/// Writes records as lines of one format; the records all belong to the topic-partition it
/// was made for, so the JSON prefix up to the offset is written as one copy.
struct LineEncoder {
    let format: OutputFormat
    /// `{"topic":"<topic>","partition":<partition>,"offset":`
    private let jsonPrefix: [UInt8]
    /// The last headers written and their JSON (`,"headers":[...]}` and the newline). Records
    /// decoded from one batch share one headers array while their header bytes are equal (the
    /// agent puts host and path on every record), so a record whose array is that same storage
    /// takes these bytes as they are. Holding the array keeps its storage from being reused by
    /// other headers (its values are copies, so it holds no fetched data alive).
    private var lastHeaders: [RecordHeader] = []
    private var lastHeadersJSON: [UInt8] = Array(#","headers":[]}"#.utf8) + [0x0A]

    init(format: OutputFormat, topic: String, partition: Int32) {
        self.format = format
        var prefix = Array(#"{"topic":"#.utf8)
        // Quotes, `,"partition":` and up to 11 characters of digits and sign around the topic.
        let bound = 6 * topic.utf8.count + 32
        let buffer = LineBuffer(capacity: bound)
        buffer.write(atMost: bound) { cursor in
            JSONText.putString(topic, into: &cursor)
            cursor.put(#","partition":"#)
            JSONText.putInteger(Int64(partition), into: &cursor)
        }
        prefix.append(contentsOf: buffer.bytes)
        prefix.append(contentsOf: #","offset":"#.utf8)
        jsonPrefix = prefix
    }

    /// Appends the line of a record of this encoder's topic-partition, newline included.
    mutating func encode(_ record: Record, into output: LineBuffer) {
        switch format {
        case .raw:
            let value = record.value
            output.write(atMost: (value?.readableBytes ?? 0) + 1) { cursor in
                value?.withUnsafeReadableBytes { cursor.put($0) }
                cursor.put(0x0A)
            }
        case .jsonl:
            let sharesHeaders = Self.sameStorage(record.headers, lastHeaders)
            // Escaping turns a byte into at most 6 (`\u00XX`), base64 three into four.
            var bound = jsonPrefix.count + 128 + 6 * ((record.key?.readableBytes ?? 0) + (record.value?.readableBytes ?? 0))
            if sharesHeaders {
                bound += lastHeadersJSON.count
            } else {
                for header in record.headers { bound += 48 + 6 * (header.key.utf8.count + (header.value?.readableBytes ?? 0)) }
            }
            output.write(atMost: bound) { cursor in
                jsonPrefix.withUnsafeBytes { cursor.put($0) }
                JSONText.putInteger(record.offset, into: &cursor)
                cursor.put(#","timestamp":"#)
                JSONText.putInteger(record.timestamp, into: &cursor)
                cursor.put(0x2C)
                JSONText.putBytesField(JSONText.keyName, record.key, into: &cursor)
                cursor.put(0x2C)
                JSONText.putBytesField(JSONText.valueName, record.value, into: &cursor)
                if sharesHeaders {
                    lastHeadersJSON.withUnsafeBytes { cursor.put($0) }
                    return
                }
                let headersStart = cursor.position
                cursor.put(#","headers":["#)
                for (index, header) in record.headers.enumerated() {
                    if index > 0 { cursor.put(0x2C) }
                    cursor.put(#"{"key":"#)
                    JSONText.putString(header.key, into: &cursor)
                    cursor.put(0x2C)
                    JSONText.putBytesField(JSONText.valueName, header.value, into: &cursor)
                    cursor.put(0x7D)
                }
                cursor.put("]}\n")
                lastHeadersJSON = Array(UnsafeRawBufferPointer(start: headersStart, count: cursor.position - headersStart))
                lastHeaders = record.headers
            }
        }
    }

    private static func sameStorage(_ a: [RecordHeader], _ b: [RecordHeader]) -> Bool {
        a.withUnsafeBufferPointer { a in b.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress && a.count == b.count } }
    }
}

/// Hand-written JSON output: fast (runs of plain bytes are copied whole, nothing is allocated per
/// record), and byte-for-byte the same on every run.
enum JSONText {
    static let keyName = FieldName(plain: #""key":"#, null: #""key":null"#, base64: #""key_base64":""#)
    static let valueName = FieldName(plain: #""value":"#, null: #""value":null"#, base64: #""value_base64":""#)
    private static let hex: StaticString = "0123456789abcdef"
    private static let base64Alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// A field's `"name":`, `"name":null` and `"name_base64":"`.
    struct FieldName: Sendable {
        let plain: StaticString
        let null: StaticString
        let base64: StaticString
    }

    /// `"name":"text"`, `"name":null`, or `"name_base64":"..."` for bytes that are not UTF-8.
    static func putBytesField(_ name: FieldName, _ buffer: ByteBuffer?, into cursor: inout LineCursor) {
        guard let buffer else {
            cursor.put(name.null)
            return
        }
        buffer.withUnsafeReadableBytes { bytes in
            // Written as text in the same pass that looks for escapes; the rare value with bytes
            // past ASCII is validated afterwards and, if it is not UTF-8, written again as base64.
            let fieldStart = cursor.position
            cursor.put(name.plain)
            if putString(bytes, into: &cursor), String(validating: bytes, as: UTF8.self) == nil {
                cursor.rewind(to: fieldStart)
                cursor.put(name.base64)
                putBase64(bytes, into: &cursor)
                cursor.put(0x22)
            }
        }
    }

    static func putString(_ text: String, into cursor: inout LineCursor) {
        var text = text
        text.withUTF8 { _ = putString(UnsafeRawBufferPointer($0), into: &cursor) }
    }

    /// The high bit of each of the 8 bytes that may need escaping (below 0x20, `"`, `\`, DEL).
    /// Borrows can flag a byte above a flagged one by mistake, never below: the lowest flag is
    /// exact, and that is the only one used.
    /// (Swift's SIMD16 version of this was four times slower on the baseline x86-64 target.)
    @inline(__always)
    private static func escapeFlags(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let below0x20 = (word &- ones &* 0x20) & ~word & highs
        return below0x20 | hasZero(word ^ (ones &* 0x22)) | hasZero(word ^ (ones &* 0x5C)) | hasZero(word ^ (ones &* 0x7F))
    }

    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F
    }

    /// A quoted JSON string of the bytes, scanned and copied 8 bytes at a time: each word is
    /// stored whole and the cursor advances past its clean bytes only, so a word with a byte to
    /// escape jumps straight to it (nginx lines quote several fields each) and no clean stretch
    /// needs a copy call of its own. A word is stored only while 8 input bytes remain, each of
    /// which writes at least one byte, so the store never goes past the escaped string's end.
    /// (An SSE2 version in C, 16 bytes a step, was no faster on nginx lines: their quotes come
    /// every 20-30 bytes.)
    /// - Returns: whether a byte past ASCII was seen (the caller checks UTF-8 validity).
    @discardableResult
    static func putString(_ bytes: UnsafeRawBufferPointer, into cursor: inout LineCursor) -> Bool {
        cursor.put(0x22)
        let count = bytes.count
        var index = 0
        var highBits: UInt64 = 0
        while index + 8 <= count {
            let raw = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            // Little-endian whatever the host, so the lowest flag is the first byte.
            let word = UInt64(littleEndian: raw)
            highBits |= word
            let flags = escapeFlags(word)
            cursor.putWord(raw)
            if flags == 0 {
                index += 8
                cursor.advance(by: 8)
                continue
            }
            // The lowest flag is exact: that byte needs its escape.
            let clean = flags.trailingZeroBitCount >> 3
            cursor.advance(by: clean)
            index += clean
            putEscaped(bytes[index], into: &cursor)
            index += 1
        }
        while index < count {
            let byte = bytes[index]
            if needsEscape(byte) { putEscaped(byte, into: &cursor) } else { cursor.put(byte) }
            highBits |= UInt64(byte)
            index += 1
        }
        cursor.put(0x22)
        return highBits & 0x8080_8080_8080_8080 != 0
    }

    private static func putEscaped(_ byte: UInt8, into cursor: inout LineCursor) {
        cursor.put(0x5C)
        switch byte {
        case 0x22: cursor.put(0x22)
        case 0x5C: cursor.put(0x5C)
        case 0x0A: cursor.put(0x6E)
        case 0x0D: cursor.put(0x72)
        case 0x09: cursor.put(0x74)
        default:
            cursor.put("u00")
            cursor.put(hex.utf8Start[Int(byte >> 4)])
            cursor.put(hex.utf8Start[Int(byte & 0xF)])
        }
    }

    /// Standard base64 with padding (RFC 4648, section 4).
    static func putBase64(_ bytes: UnsafeRawBufferPointer, into cursor: inout LineCursor) {
        let alphabet = base64Alphabet.utf8Start
        var index = 0
        while index + 3 <= bytes.count {
            let group = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            cursor.put(alphabet[Int(group >> 18)])
            cursor.put(alphabet[Int(group >> 12 & 0x3F)])
            cursor.put(alphabet[Int(group >> 6 & 0x3F)])
            cursor.put(alphabet[Int(group & 0x3F)])
            index += 3
        }
        switch bytes.count - index {
        case 1:
            let group = UInt32(bytes[index]) << 16
            cursor.put(alphabet[Int(group >> 18)])
            cursor.put(alphabet[Int(group >> 12 & 0x3F)])
            cursor.put("==")
        case 2:
            let group = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            cursor.put(alphabet[Int(group >> 18)])
            cursor.put(alphabet[Int(group >> 12 & 0x3F)])
            cursor.put(alphabet[Int(group >> 6 & 0x3F)])
            cursor.put(0x3D)
        default:
            break
        }
    }

    /// Decimal digits of `value`, without going through String.
    static func putInteger(_ value: Int64, into cursor: inout LineCursor) {
        if value < 0 { cursor.put(0x2D) }
        // The magnitude as unsigned, so Int64.min has one too.
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { space in
            var first = space.count
            repeat {
                first -= 1
                space[first] = UInt8(truncatingIfNeeded: magnitude % 10) + 0x30
                magnitude /= 10
            } while magnitude > 0
            cursor.put(UnsafeRawBufferPointer(rebasing: space[first...]))
        }
    }
}
