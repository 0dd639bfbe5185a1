@testable import LogflumeAggregator
import LogflumeCompression
import Testing

@Suite struct ChunkCompressorTests {
    /// Inputs at the edges of what a chunk can be: nothing (a file with no records is one empty
    /// member), one byte, 256 KiB that does not compress (the stored-block fallback must fit the
    /// bound), and 256 KiB of repetitive log lines.
    static func inputs() -> [(name: String, bytes: [UInt8])] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let noise = (0..<(256 << 10)).map { _ -> UInt8 in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        var lines: [UInt8] = []
        var n = 0
        while lines.count < 256 << 10 {
            lines += Array("10.0.\(n % 256).\(n % 7) - - [20/Nov/2026:06:00:\(n % 60) +0000] \"GET /api/\(n) HTTP/1.1\" 200 \(n % 997)\n".utf8)
            n += 1
        }
        return [("empty", []), ("one byte", [0x41]), ("incompressible", noise), ("log lines", Array(lines.prefix(256 << 10)))]
    }

    @Test(arguments: [(GzipEncoder.libdeflate, 0), (.libdeflate, 1), (.libdeflate, 6), (.libdeflate, 9), (.isal, 0), (.isal, 1), (.isal, 2), (.isal, 3)])
    func everyLevelWritesAGzipMemberThatDecompressesToTheInput(encoder: GzipEncoder, level: Int) throws {
        let compressor = ChunkCompressor(outputSettings(.gzip, encoder, level: level))
        for (name, input) in Self.inputs() {
            let member = try input.withUnsafeBytes { try compressor.compress($0) }
            #expect(Array(member.prefix(8)) == [0x1F, 0x8B, 8, 0, 0, 0, 0, 0], "\(name): gzip magic, deflate, no name, mtime 0")
            #expect(try CompressionCodec.gzip.decompress(member) == input, "\(name) at \(encoder) level \(level)")
            #expect(try input.withUnsafeBytes { try compressor.compress($0) } == member, "\(name): the same input gives the same bytes")
        }
    }

    @Test func isalRefusesALevelItDoesNotHave() {
        let compressor = ChunkCompressor(outputSettings(.gzip, .isal, level: 6))
        do {
            _ = try [UInt8](repeating: 1, count: 10).withUnsafeBytes { try compressor.compress($0) }
            Issue.record("ISA-L accepted level 6")
        } catch let error as ChunkCompressor.Failure {
            #expect(error.description == "ISA-L takes gzip levels 0...3, not 6")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func theDefaultLevelDependsOnTheEncoder() {
        #expect(ChunkCompressor(OutputSettings()).level == 1)
        #expect(ChunkCompressor(outputSettings(.gzip, .libdeflate)).level == 6)
        #expect(ChunkCompressor(outputSettings(.gzip, .libdeflate, level: 9)).level == 9)
        #expect(ChunkCompressor(outputSettings(.zstd)).level == Int32(ChunkCompressor.defaultZstdLevel))
    }
}
