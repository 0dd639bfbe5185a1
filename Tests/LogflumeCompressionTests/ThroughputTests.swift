import Foundation
import LogflumeCompression
import NIOCore
import Testing

/// A rough throughput report, off by default because timings in a shared CI box mean little.
/// Run with `LOGFLUME_COMPRESSION_BENCH=1 swift test -c release --filter Throughput`.
@Suite("Throughput", .enabled(if: ProcessInfo.processInfo.environment["LOGFLUME_COMPRESSION_BENCH"] != nil))
struct ThroughputTests {
    @Test("compress and decompress 8 MiB of log lines", arguments: CompressionCodec.allCases)
    func throughput(codec: CompressionCodec) throws {
        let input = ByteBuffer(bytes: TestData.logLines(count: 8 << 20))
        let rounds = 8
        let clock = ContinuousClock()

        // One untimed round so buffer growth and first-touch page faults aren't measured.
        var compressed = ByteBuffer()
        try codec.compress(input, into: &compressed)
        var output = ByteBuffer()
        try codec.decompress(compressed, into: &output)

        let compressTime = try clock.measure {
            for _ in 0..<rounds {
                compressed.clear()
                try codec.compress(input, into: &compressed)
            }
        }
        let decompressTime = try clock.measure {
            for _ in 0..<rounds {
                output.clear()
                try codec.decompress(compressed, into: &output)
            }
        }
        #expect(output == input)

        func megabytesPerSecond(_ duration: Duration) -> Int {
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            return Int(Double(input.readableBytes * rounds) / seconds / 1e6)
        }
        let ratio = Double(input.readableBytes) / Double(compressed.readableBytes)
        print(
            "\(codec): ratio \(String(format: "%.1f", ratio)), compress \(megabytesPerSecond(compressTime)) MB/s, "
                + "decompress \(megabytesPerSecond(decompressTime)) MB/s"
        )
    }
}
