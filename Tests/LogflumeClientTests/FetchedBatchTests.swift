@testable import LogflumeClient
import LogflumeWire
import NIOCore
import Testing

/// What a fetched batch counts against the consumer's buffer limit.
@Suite struct FetchedBatchTests {
    func batch(_ codec: CompressionCodec, records: Int = 1_000) throws -> RecordBatch {
        var builder = RecordBatchBuilder(baseOffset: 100, compression: codec)
        for i in 0..<records {
            let line = "10.0.0.\(i % 250) - - [21/Nov/2026:10:00:00 +0000] \"GET /api/v1/items/\(i) HTTP/1.1\" 200 512 \"-\" \"curl/8.5.0\""
            builder.append(key: nil, value: ByteBuffer(string: line), timestamp: 1_700_000_000_000 + Int64(i))
        }
        return try builder.build()
    }

    @Test func aCompressedBatchHoldsItsDecompressedSectionAndItsDecodedRecords() throws {
        let batch = try batch(.zstd)
        let fetched = FetchedBatch(batch)
        let records = try fetched.records.get()
        #expect(records.count == 1_000)
        let section = try batch.decodedRecords().decompressedBytes
        #expect(fetched.heldBytes == batch.sizeInBytes + section + 1_000 * MemoryLayout<Record>.stride)
        // Repetitive log lines: the compressed batch alone would undercount by far.
        #expect(fetched.heldBytes > 5 * batch.sizeInBytes)
    }

    @Test func anUncompressedBatchsRecordsAreSlicesOfItsOwnBytes() throws {
        let batch = try batch(.none)
        let fetched = FetchedBatch(batch)
        #expect(try fetched.records.get().map(\.offset) == Array(100..<1_100))
        #expect(fetched.heldBytes == batch.sizeInBytes + 1_000 * MemoryLayout<Record>.stride)
    }

    @Test func aBatchThatDoesNotDecodeHoldsOnlyItsBytes() throws {
        let good = try batch(.zstd, records: 10)
        // A compressed section cut short: the header and CRC are rewritten to match, so only
        // decompression can notice.
        var bytes = good.bytes
        bytes.moveWriterIndex(to: bytes.writerIndex - 8)
        bytes.setInteger(Int32(bytes.readableBytes - 12), at: bytes.readerIndex + 8)
        let crc = CRC32C.checksum(bytes.getSlice(at: bytes.readerIndex + 21, length: bytes.readableBytes - 21)!)
        bytes.setInteger(crc, at: bytes.readerIndex + 17)
        let truncated = try RecordBatch(validating: bytes)
        let fetched = FetchedBatch(truncated)
        #expect(throws: RecordBatchError.self) { try fetched.records.get() }
        #expect(fetched.heldBytes == truncated.sizeInBytes)
    }
}
