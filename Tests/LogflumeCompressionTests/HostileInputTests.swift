import LogflumeCompression
import NIOCore
import Testing

/// The decoders see bytes straight from the network: damage must surface as `CompressionError`,
/// never as a crash, a hang or unbounded memory.
@Suite("Hostile input")
struct HostileInputTests {
    @Test("empty input is not a valid compressed stream", arguments: CompressionCodec.allCompressing)
    func emptyInput(codec: CompressionCodec) {
        #expect(isCorruptInput(reason { _ = try codec.decompress([]) }))
    }

    @Test("every truncation is detected", arguments: CompressionCodec.allCompressing)
    func truncation(codec: CompressionCodec) throws {
        // Under 32 KiB so snappy writes a single block: cutting exactly after the 16-byte header
        // leaves a valid empty stream, the one cut that is not damage.
        let input = TestData.logLines(count: 30_000)
        let compressed = try codec.compress(input)
        for cut in 0..<compressed.count where !(codec == .snappy && cut == 16) {
            let prefix = Array(compressed.prefix(cut))
            #expect(isCorruptInput(reason { _ = try codec.decompress(prefix) }), "\(codec) cut at \(cut) of \(compressed.count)")
        }
    }

    @Test("damaged magic or header is detected", arguments: CompressionCodec.allCompressing)
    func damagedHeader(codec: CompressionCodec) throws {
        let compressed = try codec.compress(TestData.logLines(count: 5_000))
        for offset in 0..<2 {
            var damaged = compressed
            damaged[offset] ^= 0xFF
            #expect(isCorruptInput(reason { _ = try codec.decompress(damaged) }), "\(codec) byte \(offset)")
        }
    }

    @Test("gzip: any damage past the header's unchecked fields is detected")
    func gzipChecksummed() throws {
        let compressed = try CompressionCodec.gzip.compress(TestData.logLines(count: 20_000))
        var generator = SeededGenerator(seed: 11)
        // Bytes 4-9 (mtime, extra flags, OS) are informational and not covered by any check.
        for offset in 10..<compressed.count {
            var damaged = compressed
            damaged[offset] ^= UInt8.random(in: 1...255, using: &generator)
            #expect(isCorruptInput(reason { _ = try CompressionCodec.gzip.decompress(damaged) }), "offset \(offset)")
        }
    }

    /// snappy, lz4 (as Kafka frames it) and zstd (without --check) carry no checksum, so damage can
    /// decode to other bytes; what matters is that nothing crashes or hangs.
    @Test("random damage never crashes", arguments: CompressionCodec.allCompressing)
    func fuzzFlips(codec: CompressionCodec) throws {
        var generator = SeededGenerator(seed: 0xC0FFEE &+ UInt64(codec.rawValue))
        let inputs = [TestData.logLines(count: 100_000), TestData.random(count: 3_000, seed: 5), TestData.logLines(count: 500)]
        for input in inputs {
            let compressed = try codec.compress(input)
            for _ in 0..<300 {
                var damaged = compressed
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    damaged[Int.random(in: 0..<damaged.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
                }
                do {
                    let output = try codec.decompress(damaged, maxOutputBytes: 4 << 20)
                    #expect(output.count <= 4 << 20)
                } catch {
                    #expect(error is CompressionError)
                }
            }
        }
    }

    @Test("random garbage never crashes", arguments: CompressionCodec.allCompressing)
    func garbage(codec: CompressionCodec) {
        var generator = SeededGenerator(seed: 99 &+ UInt64(codec.rawValue))
        for _ in 0..<500 {
            let length = Int.random(in: 0...2_000, using: &generator)
            var bytes = TestData.random(count: length, seed: generator.next())
            // Start some with a valid magic so the decoders get past the first check.
            if length >= 16, Bool.random(using: &generator) {
                let magic: [UInt8] =
                    switch codec {
                    case .gzip: [0x1f, 0x8b, 0x08, 0x00]
                    case .snappy: FormatTests.xerialHeader
                    case .lz4: [0x04, 0x22, 0x4D, 0x18, 0x60, 0x40]
                    default: [0x28, 0xB5, 0x2F, 0xFD]
                    }
                bytes.replaceSubrange(0..<magic.count, with: magic)
            }
            do {
                _ = try codec.decompress(bytes, maxOutputBytes: 1 << 20)
            } catch {
                #expect(error is CompressionError)
            }
        }
    }

    @Test("maxOutputBytes is enforced exactly", arguments: CompressionCodec.allCases)
    func outputLimit(codec: CompressionCodec) throws {
        let size = 10 << 20
        let zeros = [UInt8](repeating: 0, count: size)
        let compressed = try ByteBuffer(bytes: codec.compress(zeros))

        var output = ByteBuffer(bytes: Array("keep".utf8))
        for limit in [0, 1, 1 << 20, size - 1] {
            let caught = reason { try codec.decompress(compressed, into: &output, maxOutputBytes: limit) }
            #expect(caught == .outputLimitExceeded(limit: limit), "\(codec) limit \(limit)")
            // A failed call leaves the output untouched.
            #expect(Array(output.readableBytesView) == Array("keep".utf8))
        }
        try codec.decompress(compressed, into: &output, maxOutputBytes: size)
        #expect(output.readableBytes == 4 + size)
    }

    @Test("the limit counts output across blocks, members and frames", arguments: CompressionCodec.allCompressing)
    func limitAcrossFrames(codec: CompressionCodec) throws {
        let part = TestData.logLines(count: 600_000)
        let compressed = try codec.compress(part) + codec.compress(part)
        #expect(try codec.decompress(compressed, maxOutputBytes: 1_200_000).count == 1_200_000)
        #expect(reason { _ = try codec.decompress(compressed, maxOutputBytes: 1_199_999) } == .outputLimitExceeded(limit: 1_199_999))
    }

    @Test("errors name the codec and the problem")
    func errorDescription() {
        let error = CompressionError(codec: .lz4, reason: .outputLimitExceeded(limit: 1024))
        #expect(error.description.contains("lz4"))
        #expect(error.description.contains("1024"))
        let corrupt = CompressionError(codec: .gzip, reason: .corruptInput("incorrect header check"))
        #expect(corrupt.description == "gzip: corrupt input: incorrect header check")
    }
}
