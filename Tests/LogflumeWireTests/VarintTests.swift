import NIOCore
import Testing
@testable import LogflumeWire

@Suite struct VarintTests {
    /// Known encodings from the protobuf/Kafka definition of zig-zag varints.
    static let known: [(Int32, [UInt8])] = [
        (0, [0x00]), (-1, [0x01]), (1, [0x02]), (-2, [0x03]), (63, [0x7E]), (-64, [0x7F]),
        (64, [0x80, 0x01]), (Int32.max, [0xFE, 0xFF, 0xFF, 0xFF, 0x0F]), (Int32.min, [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]),
    ]

    @Test(arguments: known)
    func knownVarints(value: Int32, bytes: [UInt8]) {
        var buffer = ByteBuffer()
        buffer.writeVarint(value)
        #expect(Array(buffer.readableBytesView) == bytes)
        #expect(ByteBuffer.varintSize(value) == bytes.count)
        #expect(buffer.readVarint() == value)
        #expect(buffer.readableBytes == 0)
    }

    @Test func varlongRoundTripAndSizes() {
        var rng = SeededRandom(seed: 7)
        var values: [Int64] = [0, -1, 1, .max, .min, Int64(Int32.max) + 1, Int64(Int32.min) - 1]
        for _ in 0..<10_000 { values.append(Int64(bitPattern: rng.next() >> (rng.next() % 64))) }
        var buffer = ByteBuffer()
        for value in values {
            let before = buffer.writerIndex
            buffer.writeVarlong(value)
            #expect(buffer.writerIndex - before == ByteBuffer.varlongSize(value))
        }
        for value in values { #expect(buffer.readVarlong() == value) }
    }

    @Test func varintRoundTripRandom() {
        var rng = SeededRandom(seed: 11)
        var buffer = ByteBuffer()
        var values: [Int32] = []
        for _ in 0..<10_000 { values.append(Int32(truncatingIfNeeded: Int64(bitPattern: rng.next()) >> (rng.next() % 40))) }
        for value in values { buffer.writeVarint(value) }
        for value in values { #expect(buffer.readVarint() == value) }
    }

    @Test func truncatedAndOverlongInputsAreRejected() {
        var truncated = ByteBuffer(bytes: [0x80, 0x80])
        #expect(truncated.readVarint() == nil)
        #expect(truncated.readerIndex == 0, "a failed read must not consume bytes")
        var overlong = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])
        #expect(overlong.readVarint() == nil)
        var elevenBytes = ByteBuffer(bytes: Array(repeating: 0xFF, count: 11))
        #expect(elevenBytes.readVarlong() == nil)
    }
}

/// A tiny deterministic generator so property tests reproduce exactly.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
