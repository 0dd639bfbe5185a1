import CCRC32C
import LogflumeWire
import NIOCore
import Testing

private func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
}

private typealias CFunction = @Sendable (UInt32, UnsafeRawPointer?, Int) -> UInt32

/// Every implementation under test, so each vector checks all of them.
private let implementations: [(name: String, function: CFunction)] = [
    ("dispatch", { lf_crc32c_extend($0, $1, $2) }),
    ("portable", { lf_crc32c_extend_portable($0, $1, $2) }),
    ("hardware", { lf_crc32c_extend_hardware($0, $1, $2) }),
]

private func crc(_ function: CFunction, _ bytes: [UInt8], extending crc: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { function(crc, $0.baseAddress, $0.count) }
}

/// RFC 3720 B.4: the iSCSI SCSI Read (10) command PDU.
private let iscsiReadCommand: [UInt8] = [
    0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
    0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
]

private let standardVectors: [(name: String, bytes: [UInt8], expected: UInt32)] = [
    ("empty", [], 0x0000_0000),
    ("123456789", Array("123456789".utf8), 0xE306_9283),
    ("32 x 0x00", [UInt8](repeating: 0x00, count: 32), 0x8A91_36AA),
    ("32 x 0xFF", [UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
    ("ascending 0...31", Array(0...31), 0x46DD_794E),
    ("descending 31...0", Array((0...31).reversed()), 0x113F_DB5C),
    ("iSCSI read command", iscsiReadCommand, 0xD996_3A56),
]

@Suite struct CRC32CTests {
    @Test(arguments: 0..<7)
    func standardVector(_ index: Int) {
        let vector = standardVectors[index]
        for implementation in implementations {
            #expect(
                crc(implementation.function, vector.bytes) == vector.expected,
                "\(implementation.name) on \(vector.name)"
            )
        }
        #expect(CRC32C.checksum(vector.bytes) == vector.expected, "[UInt8] on \(vector.name)")
        #expect(vector.bytes.withUnsafeBytes { CRC32C.checksum($0) } == vector.expected)
        #expect(CRC32C.checksum(ByteBuffer(bytes: vector.bytes)) == vector.expected)
    }

    @Test func swiftAPIInputs() {
        // A non-contiguous collection takes the copying path.
        #expect(CRC32C.checksum(repeatElement(UInt8(0xFF), count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum("123456789".utf8) == 0xE306_9283)
        #expect(CRC32C.checksum(Array("xx123456789yy".utf8).dropFirst(2).dropLast(2)) == 0xE306_9283)
        // Only the readable bytes count, and the reader index stays put.
        var buffer = ByteBuffer(bytes: Array("xx123456789".utf8))
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(CRC32C.checksum(buffer) == 0xE306_9283)
        #expect(buffer.readerIndex == 2)
        #expect(CRC32C.isHardwareAccelerated == (lf_crc32c_hardware_available() != 0))
    }

    /// Lengths that cross every path of the hardware loop (byte prologue, 3 x 256, 3 x 1024 and
    /// 3 x 8192 interleaved blocks, 8-byte and byte tails) at every alignment.
    @Test func hardwareMatchesPortable() {
        let maxOffset = 64
        let data = randomBytes(70_000 + maxOffset, seed: 0xC0FF_EE00_5EED)
        var lengths = Array(0...1_100)
        for block in [256, 1_024, 8_192] {
            for multiple in [3, 6] {
                lengths += (-9...9).map { multiple * block + $0 }
            }
        }
        lengths += [4_096, 16_384, 32_768, 49_152 + 768 + 7, 65_535, 65_536, 65_537, 69_999, 70_000]
        var rng = SeededRandom(seed: 42)
        lengths += (0..<200).map { _ in Int(rng.next() % 70_001) }

        data.withUnsafeBytes { raw in
            var mismatches: [String] = []
            for length in lengths {
                let offsets = length <= 1_100 ? Array(0..<8) : [0, 1, 3, 7, 8, Int(rng.next() % UInt64(maxOffset))]
                for offset in offsets {
                    let base = raw.baseAddress! + offset
                    let seed = UInt32(truncatingIfNeeded: rng.next())
                    let portable = lf_crc32c_extend_portable(seed, base, length)
                    let hardware = lf_crc32c_extend_hardware(seed, base, length)
                    let dispatched = lf_crc32c_extend(seed, base, length)
                    if portable != hardware || portable != dispatched {
                        mismatches.append("length \(length) offset \(offset)")
                    }
                }
            }
            #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
        }
    }

    @Test func extendChainingEqualsOneShot() {
        let data = randomBytes(70_000, seed: 7)
        let splits = [0, 1, 7, 8, 9, 255, 768, 769, 24_576, 24_577, 35_000, 69_999, 70_000]
        for implementation in implementations {
            let whole = crc(implementation.function, data)
            for split in splits {
                let first = crc(implementation.function, Array(data[..<split]))
                let chained = crc(implementation.function, Array(data[split...]), extending: first)
                #expect(chained == whole, "\(implementation.name) split at \(split)")
            }
            // Many small pieces of varying size.
            var running: UInt32 = 0
            var start = 0
            var step = 1
            while start < data.count {
                let end = min(data.count, start + step)
                running = crc(implementation.function, Array(data[start..<end]), extending: running)
                start = end
                step = step * 3 % 9_973 + 1
            }
            #expect(running == whole, "\(implementation.name) piecewise")
        }

        let whole = CRC32C.checksum(data)
        for split in splits {
            let head = CRC32C.checksum(data[..<split])
            #expect(CRC32C.checksum(data[split...], extending: head) == whole)
            let tail = ByteBuffer(bytes: data[split...])
            #expect(CRC32C.checksum(tail, extending: head) == whole)
        }
    }
}
