import CSnappy
import LogflumeCompression
import NIOCore
import Testing

/// Wire-format checks: output other Kafka implementations can read, and input they produce.
@Suite("Formats")
struct FormatTests {
    // MARK: gzip

    /// `printf 'hello logflume\n' | gzip -9 -n`
    static let gzipFixture: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48,
        0xcd, 0xc9, 0xc9, 0x57, 0xc8, 0xc9, 0x4f, 0x4f, 0xcb, 0x29, 0xcd, 0x4d,
        0xe5, 0x02, 0x00, 0x23, 0xf2, 0x29, 0xfc, 0x0f, 0x00, 0x00, 0x00,
    ]

    /// `(printf 'first member\n' | gzip -n; printf 'second member\n' | gzip -n)`
    static let gzipTwoMembers: [UInt8] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x4b, 0xcb,
        0x2c, 0x2a, 0x2e, 0x51, 0xc8, 0x4d, 0xcd, 0x4d, 0x4a, 0x2d, 0xe2, 0x02,
        0x00, 0xa7, 0xf4, 0x85, 0x0a, 0x0d, 0x00, 0x00, 0x00, 0x1f, 0x8b, 0x08,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x2b, 0x4e, 0x4d, 0xce, 0xcf,
        0x4b, 0x51, 0xc8, 0x4d, 0xcd, 0x4d, 0x4a, 0x2d, 0xe2, 0x02, 0x00, 0x36,
        0x18, 0x4b, 0x0e, 0x0e, 0x00, 0x00, 0x00,
    ]

    @Test("gzip: output is an RFC 1952 stream and reads the gzip tool's output")
    func gzipFormat() throws {
        let compressed = try CompressionCodec.gzip.compress(Array("x".utf8))
        #expect(Array(compressed.prefix(3)) == [0x1f, 0x8b, 0x08])
        #expect(try CompressionCodec.gzip.decompress(Self.gzipFixture) == Array("hello logflume\n".utf8))
    }

    @Test("gzip: concatenated members decode to the concatenation")
    func gzipMembers() throws {
        #expect(try CompressionCodec.gzip.decompress(Self.gzipTwoMembers) == Array("first member\nsecond member\n".utf8))

        let a = TestData.logLines(count: 100_000)
        let b = TestData.random(count: 50_000, seed: 3)
        let c: [UInt8] = []
        let joined = try CompressionCodec.gzip.compress(a) + CompressionCodec.gzip.compress(c) + CompressionCodec.gzip.compress(b)
        #expect(try CompressionCodec.gzip.decompress(joined) == a + c + b)
    }

    @Test("gzip: garbage after the last member is rejected")
    func gzipTrailingGarbage() {
        #expect(isCorruptInput(reason { _ = try CompressionCodec.gzip.decompress(Self.gzipFixture + [0x00, 0x01]) }))
    }

    // MARK: snappy

    static let xerialHeader: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]

    static func rawSnappy(_ input: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: snappy_max_compressed_length(input.count))
        var length = output.count
        // Never hand snappy a nil pointer, even for zero bytes.
        let storage = input.isEmpty ? [0] : input
        let status = storage.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { destination in
                snappy_compress(
                    source.baseAddress!.assumingMemoryBound(to: CChar.self), input.count,
                    destination.baseAddress!.assumingMemoryBound(to: CChar.self), &length
                )
            }
        }
        precondition(status == SNAPPY_OK)
        return Array(output.prefix(length))
    }

    static func rawSnappyDecode(_ block: ArraySlice<UInt8>) -> [UInt8]? {
        Array(block).withUnsafeBytes { source -> [UInt8]? in
            let compressed = source.baseAddress!.assumingMemoryBound(to: CChar.self)
            var length = 0
            guard snappy_uncompressed_length(compressed, source.count, &length) == SNAPPY_OK else { return nil }
            var output = [UInt8](repeating: 0, count: length)
            let status = output.withUnsafeMutableBytes { destination in
                snappy_uncompress(compressed, source.count, destination.baseAddress!.assumingMemoryBound(to: CChar.self), &length)
            }
            return status == SNAPPY_OK ? output : nil
        }
    }

    static func bigEndianInt(_ bytes: [UInt8], at offset: Int) -> Int {
        bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
    }

    @Test("snappy: output is snappy-java framing with 32 KiB blocks")
    func snappyXerialLayout() throws {
        let input = TestData.logLines(count: 100_000)
        let compressed = try CompressionCodec.snappy.compress(input)
        #expect(Array(compressed.prefix(16)) == Self.xerialHeader)

        var offset = 16
        var blocks: [[UInt8]] = []
        while offset < compressed.count {
            let length = Self.bigEndianInt(compressed, at: offset)
            let block = try #require(Self.rawSnappyDecode(compressed[(offset + 4)..<(offset + 4 + length)]))
            blocks.append(block)
            offset += 4 + length
        }
        #expect(offset == compressed.count)
        #expect(blocks.map(\.count) == [32768, 32768, 32768, 100_000 - 3 * 32768])
        #expect(Array(blocks.joined()) == input)

        #expect(try CompressionCodec.snappy.compress([]) == Self.xerialHeader)
    }

    @Test("snappy: reads a raw block, as librdkafka may send")
    func snappyRawBlock() throws {
        for input in [[], Array("hello raw snappy".utf8), TestData.logLines(count: 300_000), TestData.random(count: 70_000, seed: 9)] {
            #expect(try CompressionCodec.snappy.decompress(Self.rawSnappy(input)) == input)
        }
    }

    @Test("snappy: reads hand-built xerial streams, including concatenated ones")
    func snappyXerialDecode() throws {
        let a = Array("first block ".utf8)
        let b = TestData.logLines(count: 40_000)
        func block(_ bytes: [UInt8]) -> [UInt8] {
            let raw = Self.rawSnappy(bytes)
            let n = UInt32(raw.count)
            return [UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + raw
        }
        let stream = Self.xerialHeader + block(a) + block(b)
        #expect(try CompressionCodec.snappy.decompress(stream) == a + b)
        // snappy-java reads a second header in place of a block length as a new stream.
        #expect(try CompressionCodec.snappy.decompress(stream + stream) == a + b + a + b)
        let ours = try CompressionCodec.snappy.compress(b) + CompressionCodec.snappy.compress(a)
        #expect(try CompressionCodec.snappy.decompress(ours) == b + a)
        #expect(try CompressionCodec.snappy.decompress(Self.xerialHeader) == [])
    }

    @Test("snappy: the most compressible raw block still decodes")
    func snappyMaximumRatio() throws {
        // Zeros compress at close to snappy's ceiling of 64 bytes out per 3 in; the decoder's
        // plausibility check must not reject them.
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let raw = Self.rawSnappy(zeros)
        #expect(raw.count * 20 < zeros.count)
        #expect(try CompressionCodec.snappy.decompress(raw) == zeros)
    }

    @Test("snappy: a raw block claiming an impossible size is corrupt, not allocated")
    func snappyLyingHeader() {
        // Varint 0x0C80_0000 (200 MiB) followed by a 4-byte literal.
        let lie: [UInt8] = [0x80, 0x80, 0x80, 0x64, 0x0C, 0x61, 0x62, 0x63, 0x64]
        #expect(isCorruptInput(reason { _ = try CompressionCodec.snappy.decompress(lie) }))
    }

    // MARK: lz4

    /// `printf 'hello logflume from the lz4 cli, hello hello hello hello\n' | lz4 -c -9`:
    /// linked blocks and a content checksum, unlike the frames we write.
    static let lz4Fixture: [UInt8] = [
        0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7, 0x2e, 0x00, 0x00, 0x00, 0xf2,
        0x12, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x20, 0x6c, 0x6f, 0x67, 0x66, 0x6c,
        0x75, 0x6d, 0x65, 0x20, 0x66, 0x72, 0x6f, 0x6d, 0x20, 0x74, 0x68, 0x65,
        0x20, 0x6c, 0x7a, 0x34, 0x20, 0x63, 0x6c, 0x69, 0x2c, 0x20, 0x21, 0x00,
        0x09, 0x06, 0x00, 0x50, 0x65, 0x6c, 0x6c, 0x6f, 0x0a, 0x00, 0x00, 0x00,
        0x00, 0x29, 0x29, 0x37, 0x72,
    ]
    static let lz4FixtureText = Array("hello logflume from the lz4 cli, hello hello hello hello\n".utf8)

    @Test("lz4: frames match what Kafka's Java reader accepts")
    func lz4FrameLayout() throws {
        let compressed = try CompressionCodec.lz4.compress(TestData.logLines(count: 200_000))
        #expect(Array(compressed.prefix(4)) == [0x04, 0x22, 0x4D, 0x18])
        // FLG: version 01, independent blocks; no block checksum, content size or content checksum.
        #expect(compressed[4] == 0x60)
        // BD: 64 KiB maximum block size.
        #expect(compressed[5] == 0x40)
        #expect(Array(compressed.suffix(4)) == [0, 0, 0, 0])
    }

    @Test("lz4: reads the lz4 tool's output and concatenated frames")
    func lz4Frames() throws {
        #expect(try CompressionCodec.lz4.decompress(Self.lz4Fixture) == Self.lz4FixtureText)
        let a = TestData.logLines(count: 150_000)
        let b = TestData.random(count: 10_000, seed: 4)
        let joined = try CompressionCodec.lz4.compress(a) + Self.lz4Fixture + CompressionCodec.lz4.compress([])
            + CompressionCodec.lz4.compress(b)
        #expect(try CompressionCodec.lz4.decompress(joined) == a + Self.lz4FixtureText + b)
    }

    @Test("lz4: a bad content checksum is detected")
    func lz4Checksum() {
        var damaged = Self.lz4Fixture
        damaged[damaged.count - 1] ^= 0x01
        #expect(isCorruptInput(reason { _ = try CompressionCodec.lz4.decompress(damaged) }))
    }

    // MARK: zstd

    /// `printf 'hello logflume from the zstd cli\n' | zstd -19 --no-check`: streamed, so the frame
    /// has no content size.
    static let zstdFixture: [UInt8] = [
        0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x68, 0x09, 0x01, 0x00, 0x68, 0x65, 0x6c,
        0x6c, 0x6f, 0x20, 0x6c, 0x6f, 0x67, 0x66, 0x6c, 0x75, 0x6d, 0x65, 0x20,
        0x66, 0x72, 0x6f, 0x6d, 0x20, 0x74, 0x68, 0x65, 0x20, 0x7a, 0x73, 0x74,
        0x64, 0x20, 0x63, 0x6c, 0x69, 0x0a,
    ]
    /// The same with `--check`: a content checksum follows the data.
    static let zstdCheckedFixture: [UInt8] = [
        0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0x09, 0x01, 0x00, 0x68, 0x65, 0x6c,
        0x6c, 0x6f, 0x20, 0x6c, 0x6f, 0x67, 0x66, 0x6c, 0x75, 0x6d, 0x65, 0x20,
        0x66, 0x72, 0x6f, 0x6d, 0x20, 0x74, 0x68, 0x65, 0x20, 0x7a, 0x73, 0x74,
        0x64, 0x20, 0x63, 0x6c, 0x69, 0x0a, 0xdd, 0x5a, 0x86, 0x08,
    ]
    static let zstdFixtureText = Array("hello logflume from the zstd cli\n".utf8)

    @Test("zstd: reads frames without a content size, with checksums, and concatenated")
    func zstdFrames() throws {
        #expect(try CompressionCodec.zstd.decompress(Self.zstdFixture) == Self.zstdFixtureText)
        #expect(try CompressionCodec.zstd.decompress(Self.zstdCheckedFixture) == Self.zstdFixtureText)

        let compressed = try CompressionCodec.zstd.compress(Array("x".utf8))
        #expect(Array(compressed.prefix(4)) == [0x28, 0xB5, 0x2F, 0xFD])

        let a = TestData.logLines(count: 300_000)
        // A skippable frame (magic 0x184D2A50, 3 bytes of payload) must be passed over.
        let skippable: [UInt8] = [0x50, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3]
        let joined = try CompressionCodec.zstd.compress(a) + Self.zstdFixture + skippable + Self.zstdCheckedFixture
        #expect(try CompressionCodec.zstd.decompress(joined) == a + Self.zstdFixtureText + Self.zstdFixtureText)

        var damaged = Self.zstdCheckedFixture
        damaged[damaged.count - 1] ^= 0x80
        #expect(isCorruptInput(reason { _ = try CompressionCodec.zstd.decompress(damaged) }))
    }
}
