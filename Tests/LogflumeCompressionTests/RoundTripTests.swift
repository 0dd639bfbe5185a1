import LogflumeCompression
import NIOCore
import Testing

@Suite("Round trips")
struct RoundTripTests {
    @Test("codec ids, names and parsing")
    func names() {
        #expect(CompressionCodec.allCases.map(\.rawValue) == [0, 1, 2, 3, 4])
        for codec in CompressionCodec.allCases {
            #expect(CompressionCodec(name: codec.name) == codec)
            #expect(CompressionCodec(name: codec.name.uppercased()) == codec)
            #expect(codec.description == codec.name)
        }
        #expect(CompressionCodec(name: "Snappy") == .snappy)
        #expect(CompressionCodec(name: "brotli") == nil)
        #expect(CompressionCodec(name: "") == nil)
    }

    @Test("empty input", arguments: CompressionCodec.allCases)
    func empty(codec: CompressionCodec) throws {
        #expect(try roundTrip(codec, []) == [])
    }

    @Test("tiny inputs", arguments: CompressionCodec.allCases)
    func tiny(codec: CompressionCodec) throws {
        for input: [UInt8] in [[0], [0xFF], Array("a".utf8), Array("hello, logflume".utf8), [1, 2, 3, 4, 5, 6, 7, 8, 9]] {
            #expect(try roundTrip(codec, input) == input)
        }
    }

    @Test("1 MiB of random bytes", arguments: CompressionCodec.allCases)
    func random(codec: CompressionCodec) throws {
        let input = TestData.random(count: TestData.oneMiB, seed: 1)
        let compressed = try codec.compress(input)
        // Incompressible data may grow a little, never a lot.
        #expect(compressed.count < input.count + input.count / 64 + 1024)
        #expect(try codec.decompress(compressed) == input)
    }

    @Test("1 MiB of log lines compresses well", arguments: CompressionCodec.allCases)
    func compressible(codec: CompressionCodec) throws {
        let input = TestData.logLines(count: TestData.oneMiB)
        let compressed = try codec.compress(input)
        if codec != .none {
            #expect(compressed.count < input.count / 3)
        }
        #expect(try codec.decompress(compressed) == input)
    }

    @Test("levels", arguments: [
        (CompressionCodec.gzip, [-1, 0, 1, 6, 9]),
        (.lz4, [-5, 0, 1, 3, 9, 12, 17]),
        (.zstd, [-7, 0, 1, 3, 10, 19]),
        (.snappy, [1, 99]),
        (.none, [5]),
    ])
    func levels(codec: CompressionCodec, levels: [Int]) throws {
        let input = TestData.logLines(count: 200_000)
        for level in levels {
            #expect(try roundTrip(codec, input, level: level) == input, "level \(level)")
        }
    }

    @Test("out-of-range levels are rejected")
    func invalidLevels() {
        let input = Array("payload".utf8)
        #expect(reason { _ = try CompressionCodec.gzip.compress(input, level: 10) } == .invalidLevel(10))
        #expect(reason { _ = try CompressionCodec.gzip.compress(input, level: -2) } == .invalidLevel(-2))
        #expect(reason { _ = try CompressionCodec.zstd.compress(input, level: 23) } == .invalidLevel(23))
        #expect(reason { _ = try CompressionCodec.lz4.compress(input, level: Int(Int32.max) + 1) } == .invalidLevel(Int(Int32.max) + 1))
    }

    @Test("appends after existing bytes and reads only the readable bytes", arguments: CompressionCodec.allCases)
    func appendSemantics(codec: CompressionCodec) throws {
        let payload = TestData.logLines(count: 70_000)
        var input = ByteBuffer(bytes: Array("skip me".utf8) + payload)
        input.moveReaderIndex(forwardBy: 7)

        var compressed = ByteBuffer(bytes: Array("head".utf8))
        try codec.compress(input, into: &compressed, level: nil)
        #expect(compressed.readBytes(length: 4) == Array("head".utf8))

        var output = ByteBuffer(bytes: Array("prefix".utf8))
        try codec.decompress(compressed, into: &output)
        #expect(Array(output.readableBytesView) == Array("prefix".utf8) + payload)

        // The same buffer as input and output: copy-on-write must keep the input intact.
        var same = try ByteBuffer(bytes: codec.compress(payload))
        let compressedCount = same.readableBytes
        try codec.decompress(same, into: &same)
        #expect(same.readableBytes == compressedCount + payload.count)
        #expect(Array(same.readableBytesView.dropFirst(compressedCount)) == payload)
    }

    /// Seeded so a failure names a reproducible case: lengths and contents cover block boundaries
    /// (snappy's 32 KiB, lz4's 64 KiB, zstd's 128 KiB) and every kind of compressibility.
    @Test("property: random lengths and contents round trip", arguments: [UInt64(7), 42, 2024])
    func property(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        for iteration in 0..<120 {
            let length: Int =
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: Int.random(in: 0...64, using: &generator)
                case 1: Int.random(in: 0...4096, using: &generator)
                case 2: [32 << 10, 64 << 10, 128 << 10].randomElement(using: &generator)! + Int.random(in: -2...2, using: &generator)
                default: Int.random(in: 0...400_000, using: &generator)
                }
            let input: [UInt8] =
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: TestData.random(count: length, seed: generator.next())
                case 1: [UInt8](repeating: UInt8.random(in: 0...255, using: &generator), count: length)
                case 2: TestData.logLines(count: length)
                default: TestData.random(count: length, seed: generator.next()).map { $0 & 0x3 }
                }
            for codec in CompressionCodec.allCases {
                let output = try roundTrip(codec, input)
                #expect(output == input, "seed \(seed) iteration \(iteration) codec \(codec) length \(length)")
            }
        }
    }
}
