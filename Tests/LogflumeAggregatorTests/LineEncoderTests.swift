import Foundation
@testable import LogflumeAggregator
import LogflumeClient
import LogflumeWire
import NIOCore
import Testing

@Suite struct LineEncoderTests {
    func line(_ record: Record, topic: String = "web", format: OutputFormat = .jsonl, capacity: Int = 64) -> String {
        let buffer = LineBuffer(capacity: capacity)
        var encoder = format.lineEncoder(topic: topic, partition: 4)
        encoder.encode(record, into: buffer)
        return String(decoding: buffer.bytes, as: UTF8.self)
    }

    func make(key: [UInt8]? = nil, value: [UInt8]?, headers: [RecordHeader] = [], offset: Int64 = 1, timestamp: Int64 = 2) -> Record {
        Record(offset: offset, timestamp: timestamp, key: key.map { ByteBuffer(bytes: $0) }, value: value.map { ByteBuffer(bytes: $0) }, headers: headers)
    }

    @Test func controlCharactersQuotesAndDeleteAreEscaped() {
        let value = Array("a\"b\\c\n\r\t".utf8) + [0x01, 0x1F, 0x7F] + Array("é€😀 end".utf8)
        #expect(line(make(value: value)) ==
            #"{"topic":"web","partition":4,"offset":1,"timestamp":2,"key":null,"value":"a\"b\\c\n\r\t\u0001\u001f\u007fé€😀 end","headers":[]}"# + "\n")
    }

    @Test func bytesThatAreNotUTF8AreBase64WithPadding() throws {
        for count in 0..<7 {
            let key = (0..<count).map { UInt8(0xF0 + $0) }
            let text = line(make(key: key + [0xFF], value: [0xC3], headers: [RecordHeader(key: "h", value: ByteBuffer(bytes: [0x80, 0x41]))]))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
            #expect(object["key_base64"] as? String == Data(key + [0xFF]).base64EncodedString())
            #expect(object["value_base64"] as? String == Data([0xC3]).base64EncodedString())
            let headers = try #require(object["headers"] as? [[String: Any]])
            #expect(headers.first?["value_base64"] as? String == Data([0x80, 0x41]).base64EncodedString())
        }
    }

    @Test func extremesOfEveryFieldStillParse() throws {
        let headers = [RecordHeader(key: "a\"b", value: nil), RecordHeader(key: "", value: ByteBuffer(string: ""))]
        let text = line(make(key: [], value: nil, headers: headers, offset: .max, timestamp: .min), topic: "t\u{1}")
        #expect(text ==
            #"{"topic":"t\u0001","partition":4,"offset":9223372036854775807,"timestamp":-9223372036854775808,"key":"","value":null,"headers":[{"key":"a\"b","value":null},{"key":"","value":""}]}"# + "\n")
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil)
    }

    /// A line larger than the buffer (every byte escaped to six) makes it grow, keeping what it held.
    @Test func aLineLargerThanTheBufferGrowsIt() throws {
        let buffer = LineBuffer(capacity: 64)
        var encoder = OutputFormat.jsonl.lineEncoder(topic: "web", partition: 4)
        encoder.encode(make(value: Array("first".utf8)), into: buffer)
        let value = [UInt8](repeating: 0x01, count: 100_000)
        encoder.encode(make(value: value, offset: 2), into: buffer)
        let lines = String(decoding: buffer.bytes, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect((object["value"] as? String)?.utf8.elementsEqual(value) == true)
        #expect(lines[0].hasPrefix(#"{"topic":"web","partition":4,"offset":1,"#))
    }

    /// Records sharing one headers array (as decoded from one batch) reuse its JSON; records with
    /// another array, equal or not, or none, get their own, exactly as each would alone.
    @Test func sharedHeadersAreWrittenAsEachRecordAlone() {
        let shared = [RecordHeader(key: "host", value: ByteBuffer(string: "web-1")), RecordHeader(key: "path", value: ByteBuffer(string: "/var/log/a\"b"))]
        let equalCopy = [RecordHeader(key: "host", value: ByteBuffer(string: "web-1")), RecordHeader(key: "path", value: ByteBuffer(string: "/var/log/a\"b"))]
        let other = [RecordHeader(key: "host", value: ByteBuffer(string: "web-2"))]
        let otherToo = [RecordHeader(key: "host", value: ByteBuffer(string: "web-3"))]
        let sequence: [[RecordHeader]] = [shared, shared, other, otherToo, shared, [], [], equalCopy, shared, other, other, []]
        let records = sequence.enumerated().map { make(value: Array("line \($0.offset)".utf8), headers: $0.element, offset: Int64($0.offset)) }
        let buffer = LineBuffer(capacity: 64)
        var encoder = OutputFormat.jsonl.lineEncoder(topic: "web", partition: 4)
        for record in records { encoder.encode(record, into: buffer) }
        let together = String(decoding: buffer.bytes, as: UTF8.self)
        #expect(together == records.map { line($0) }.joined())
        #expect(together.contains(#""headers":[{"key":"host","value":"web-1"},{"key":"path","value":"/var/log/a\"b"}]}"#))
    }

    @Test func rawLinesAreTheValueAndANewline() {
        #expect(line(make(value: Array("GET / 200".utf8)), format: .raw) == "GET / 200\n")
        #expect(line(make(value: nil), format: .raw) == "\n")
    }
}
