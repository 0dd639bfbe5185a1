import Foundation
@testable import LogflumeAggregator
import LogflumeClient
import LogflumeWire
import NIOCore
import Testing

func makeTemporaryDirectory(_ prefix: String = "logflume-aggregator-test") -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    _ = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    return String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
}

/// Output settings with the codec, gzip encoder and level given, the rest default.
func outputSettings(_ codec: OutputCodec = .gzip, _ encoder: GzipEncoder = .isal, level: Int? = nil) -> OutputSettings {
    var settings = OutputSettings()
    settings.codec = codec
    settings.gzipEncoder = encoder
    settings.compressionLevel = level
    return settings
}

/// A record as a writer of topic "web", partition 3 gets it.
func record(_ offset: Int64, _ value: String?, timestamp: Int64 = 1_709_287_200_000, key: String? = nil) -> Record {
    Record(
        offset: offset, timestamp: timestamp, key: key.map { ByteBuffer(string: $0) }, value: value.map { ByteBuffer(string: $0) },
        headers: [RecordHeader(key: "host", value: ByteBuffer(string: "web-1"))]
    )
}

/// Runs a real program and returns its standard output.
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: Data) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, output)
}

@Suite struct BucketFileWriterTests {
    func writer(
        _ root: String, codec: OutputCodec = .gzip, gzipEncoder: GzipEncoder = .isal, format: OutputFormat = .raw,
        maxFileBytes: Int64 = 1 << 20, instance: String = "a"
    ) -> BucketFileWriter {
        var settings = OutputSettings()
        settings.codec = codec
        settings.gzipEncoder = gzipEncoder
        settings.format = format
        settings.maxFileBytes = maxFileBytes
        return BucketFileWriter(topic: "web", partition: 3, directory: "web/dt=2024-03-01/hr=10", settings: settings, sink: LocalFileSystemSink(root: root), instance: instance)
    }

    @Test(arguments: GzipEncoder.allCases)
    func gzipFilesAreReadableByTheGzipProgram(encoder: GzipEncoder) throws {
        let root = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // About 300 KiB of lines: two chunks, so the file is two gzip members.
        let w = writer(root, gzipEncoder: encoder)
        var expected = ""
        for offset in Int64(100)..<Int64(5100) {
            let line = "GET /index.html?\(offset) 200 \(String(repeating: "x", count: Int(offset % 97)))"
            try w.append(record(offset, line))
            expected += line + "\n"
        }
        let files = try w.publish()
        #expect(files.map(\.name) == ["web-3-00000000000000000100.log.gz"])
        #expect(files[0].records == 5000)
        #expect(files[0].firstOffset == 100 && files[0].lastOffset == 5099)
        let path = root + "/web/dt=2024-03-01/hr=10/" + files[0].name
        let (status, output) = try run("/usr/bin/gzip", ["-dc", path])
        #expect(status == 0)
        #expect(String(decoding: output, as: UTF8.self) == expected)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(Int64(bytes.count) == files[0].bytes)
        #expect(files[0].crc32c == String(format: "%08x", CRC32C.checksum(Array(bytes))))
        // Gzip magic, deflate, and no modification time in the header.
        #expect(Array(bytes.prefix(8)) == [0x1F, 0x8B, 8, 0, 0, 0, 0, 0])
    }

    @Test func zstdAndJSONLinesRoundTrip() throws {
        let root = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let w = writer(root, codec: .zstd, format: .jsonl)
        try w.append(record(7, "say \"hi\"\n\tthere", key: "k"))
        try w.append(Record(offset: 8, timestamp: 5, key: nil, value: ByteBuffer(bytes: [0xFF, 0x00, 0x41])))
        let files = try w.publish()
        #expect(files.map(\.name) == ["web-3-00000000000000000007.jsonl.zst"])
        let (status, output) = try run("/usr/bin/zstd", ["-dcq", root + "/web/dt=2024-03-01/hr=10/" + files[0].name])
        #expect(status == 0)
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines == [
            #"{"topic":"web","partition":3,"offset":7,"timestamp":1709287200000,"key":"k","value":"say \"hi\"\n\tthere","headers":[{"key":"host","value":"web-1"}]}"#,
            #"{"topic":"web","partition":3,"offset":8,"timestamp":5,"key":null,"value_base64":"/wBB","headers":[]}"#,
        ])
        for line in lines { #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) != nil) }
    }

    @Test func partsRollAtMaxFileBytesAndStayHiddenUntilPublished() throws {
        let root = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let w = writer(root, codec: .none, maxFileBytes: 100)
        for offset in Int64(0)..<10 { try w.append(record(offset, String(repeating: "a", count: 39))) }
        let directory = root + "/web/dt=2024-03-01/hr=10"
        // Before publishing, only hidden staging files exist.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).allSatisfy { $0.hasPrefix(".") && $0.hasSuffix(".a.tmp") })
        let files = try w.publish()
        // 40 bytes per line: a part ends with the record that reaches 100 bytes (3 records).
        #expect(files.map(\.firstOffset) == [0, 3, 6, 9])
        #expect(files.map(\.records) == [3, 3, 3, 1])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).sorted() == files.map(\.name))
    }

    @Test func theSameRecordsGiveTheSameBytes() throws {
        let root1 = makeTemporaryDirectory(), root2 = makeTemporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: root1)
            try? FileManager.default.removeItem(atPath: root2)
        }
        for (codec, encoder) in [(OutputCodec.gzip, GzipEncoder.libdeflate), (.gzip, .isal), (.zstd, .libdeflate)] {
            var published: [[OutputFile]] = []
            for (root, instance) in [(root1, "one"), (root2, "two")] {
                let w = writer(root, codec: codec, gzipEncoder: encoder, format: .jsonl, maxFileBytes: 200_000, instance: instance)
                for offset in Int64(0)..<3000 { try w.append(record(offset, "line \(offset) \(offset * 7919 % 1000)")) }
                published.append(try w.publish())
            }
            #expect(published[0] == published[1])
            #expect(published[0].count > 1)
            for file in published[0] {
                let a = try Data(contentsOf: URL(fileURLWithPath: root1 + "/web/dt=2024-03-01/hr=10/" + file.name))
                let b = try Data(contentsOf: URL(fileURLWithPath: root2 + "/web/dt=2024-03-01/hr=10/" + file.name))
                #expect(a == b)
            }
        }
    }

    @Test func abandonedWritersLeaveNothingBehind() throws {
        let root = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let w = writer(root, maxFileBytes: 10)
        for offset in Int64(0)..<5 { try w.append(record(offset, "0123456789")) }
        w.abandon()
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/web/dt=2024-03-01/hr=10").isEmpty)
    }
}
