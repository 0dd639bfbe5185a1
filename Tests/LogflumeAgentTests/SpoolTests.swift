import Foundation
import LogflumeClient
@testable import LogflumeAgent
import NIOCore
import Testing

@Suite("Spool")
struct SpoolTests {
    private func record(_ n: Int) -> ProducerRecord {
        ProducerRecord(
            topic: "logs", key: n % 2 == 0 ? ByteBuffer(string: "k\(n)") : nil, value: ByteBuffer(string: "line \(n)"),
            headers: [.init(key: "path", value: ByteBuffer(string: "/var/log/a.log")), .init(key: "empty", value: nil)],
            timestamp: 1_700_000_000_000 + Int64(n)
        )
    }

    @Test("records come back in order with every field, and settled segments are deleted")
    func roundTrip() throws {
        let dir = try ScratchDirectory("spool")
        defer { dir.cleanup() }
        let spool = try Spool(directory: dir.path, maxBytes: 1 << 20, segmentBytes: 2_000)
        for batch in 0..<10 {
            #expect(try spool.append((batch * 10..<batch * 10 + 10).map(record)))
        }
        #expect(spool.hasUnread)
        var read: [(Spool.Segment, ProducerRecord)] = []
        while spool.hasUnread {
            for (segment, records) in spool.read(maxBytes: 1_500) { read += records.map { (segment, $0) } }
        }
        #expect(read.count == 100)
        for (index, (_, got)) in read.enumerated() {
            let want = record(index)
            #expect(got.value == want.value)
            #expect(got.key == want.key)
            #expect(got.timestamp == want.timestamp)
            #expect(got.headers == want.headers)
        }
        let before = try FileManager.default.contentsOfDirectory(atPath: dir.path).count
        #expect(before > 1)
        for (segment, _) in read { segment.settled.add(1, ordering: .relaxed) }
        spool.removeSettledSegments()
        #expect(spool.isEmpty)
        #expect(spool.bytes == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test("a full spool refuses; an empty one takes one oversized chunk so it can never wedge")
    func capacity() throws {
        let dir = try ScratchDirectory("spool-full")
        defer { dir.cleanup() }
        let spool = try Spool(directory: dir.path, maxBytes: 300)
        #expect(try spool.append((0..<20).map(record)))
        #expect(try !spool.append([record(99)]))
    }

    @Test("after a crash every frame is there again and a torn last frame is cut off")
    func recovery() throws {
        let dir = try ScratchDirectory("spool-crash")
        defer { dir.cleanup() }
        do {
            let spool = try Spool(directory: dir.path, maxBytes: 1 << 20)
            #expect(try spool.append((0..<5).map(record)))
        }
        let segment = dir.path + "/" + (try FileManager.default.contentsOfDirectory(atPath: dir.path).first!)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: segment))
        handle.seekToEndOfFile()
        handle.write(Data([0, 0, 0, 40, 1, 2, 3]))  // the start of a frame that never finished
        try handle.close()
        let reopened = try Spool(directory: dir.path, maxBytes: 1 << 20)
        let records = reopened.read(maxBytes: 1 << 20).flatMap(\.1)
        #expect(records.map { $0.value.map { String(buffer: $0) } } == (0..<5).map { "line \($0)" })
        #expect(try reopened.append([record(5)]))
    }
}
