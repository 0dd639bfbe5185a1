import LogflumeClient
import LogflumeWire
import NIOCore

/// Turns a line of one input into a record: event time as the timestamp, the configured key,
/// the raw bytes or parsed fields as value, and headers saying where it came from and what
/// was odd about it.
struct RecordFactory {
    let input: InputConfig
    let topic: String
    let parser: LineParser
    let hostBuffer: ByteBuffer
    let needsFields: Bool

    static let parseErrorHeader = "logflume.parse_error"
    static let truncatedHeader = "logflume.truncated"
    static let unterminatedHeader = "logflume.unterminated"

    init(input: InputConfig, defaultTopic: String, host: String) {
        self.input = input
        self.topic = input.topic.isEmpty ? defaultTopic : input.topic
        self.parser = LineParser(format: input.format)
        self.hostBuffer = ByteBuffer(string: host)
        self.needsFields = input.value == .json || input.key == .remoteAddress
    }

    /// Headers shared by every record of one file: `host` and `path`.
    func baseHeaders(path: String) -> [RecordHeader] {
        [RecordHeader(key: "host", value: hostBuffer), RecordHeader(key: "path", value: ByteBuffer(string: path))]
    }

    /// The record for one line. `readTimeMs` stands in for the event time when the line has none.
    /// A raw value is copied into `arena` and left nil, with its place returned: the caller
    /// slices the values once the arena is complete (writing after slicing would copy it), one
    /// allocation per chunk rather than per line.
    func record(
        line: LineAssembler.Line, unterminated: Bool, headers baseHeaders: [RecordHeader], readTimeMs: Int64,
        counters: inout LineCounts, arena: inout ByteBuffer
    ) -> (record: ProducerRecord, rawValueAt: Range<Int>?) {
        var headers = baseHeaders
        let parsed: ParsedLine
        if case .plain = input.format {
            parsed = ParsedLine()
        } else {
            parsed = parser.parse(line.bytes, wantFields: needsFields)
            if let failure = parsed.failure {
                counters.parseErrors += 1
                headers.append(RecordHeader(key: Self.parseErrorHeader, value: ByteBuffer(string: failure)))
            }
        }
        if line.isTruncated {
            counters.truncated += 1
            headers.append(RecordHeader(key: Self.truncatedHeader, value: ByteBuffer(string: String(line.fullLength))))
        }
        if unterminated {
            counters.unterminated += 1
            headers.append(RecordHeader(key: Self.unterminatedHeader, value: ByteBuffer(string: "true")))
        }
        var value: ByteBuffer?
        var rawValueAt: Range<Int>?
        if input.value == .json && parsed.failure == nil {
            value = ByteBuffer(bytes: parsed.jsonObject())
        } else {
            let start = arena.writerIndex
            arena.writeBytes(line.bytes)
            rawValueAt = start..<arena.writerIndex
        }
        let key: ByteBuffer?
        switch input.key {
        case .none: key = nil
        case .host: key = hostBuffer
        case .remoteAddress: key = parsed.value(of: "remote_addr").map { ByteBuffer(string: $0) }
        }
        let record = ProducerRecord(topic: topic, key: key, value: value, headers: headers, timestamp: parsed.eventTimeMs ?? readTimeMs)
        return (record, rawValueAt)
    }
}

/// Per-chunk tallies, added to the agent's counters once per chunk rather than per line.
struct LineCounts {
    var lines = 0
    var parseErrors = 0
    var truncated = 0
    var unterminated = 0
}
