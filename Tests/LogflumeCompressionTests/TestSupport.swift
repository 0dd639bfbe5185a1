import LogflumeCompression
import NIOCore

/// SplitMix64: tiny, fast and deterministic, so a failing property case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum TestData {
    static func random(count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset + 8 <= raw.count {
                raw.storeBytes(of: generator.next(), toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            while offset < raw.count {
                raw[offset] = UInt8(truncatingIfNeeded: generator.next())
                offset += 1
            }
        }
        return bytes
    }

    /// Log-like text: what Kafka batches usually carry, and what real compression ratios depend on.
    static func logLines(count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 128)
        var line = 0
        let levels = ["INFO", "WARN", "DEBUG", "ERROR"]
        while bytes.count < count {
            let text = "2024-05-01T12:\(line % 60):\(line % 59)Z \(levels[line % 4]) request_id=\(line &* 2_654_435_761 % 1_000_003) "
                + "path=/api/v1/items/\(line % 97) status=200 latency_ms=\(line % 250)\n"
            bytes.append(contentsOf: text.utf8)
            line += 1
        }
        bytes.removeLast(bytes.count - count)
        return bytes
    }

    static let oneMiB = 1 << 20
}

extension CompressionCodec {
    static var allCompressing: [CompressionCodec] { allCases.filter { $0 != .none } }
}

func roundTrip(_ codec: CompressionCodec, _ input: [UInt8], level: Int? = nil) throws -> [UInt8] {
    try codec.decompress(try codec.compress(input, level: level))
}

func reason(of body: () throws -> Void) -> CompressionError.Reason? {
    do {
        try body()
        return nil
    } catch let error as CompressionError {
        return error.reason
    } catch {
        return nil
    }
}

func isCorruptInput(_ reason: CompressionError.Reason?) -> Bool {
    if case .corruptInput = reason { return true }
    return false
}
