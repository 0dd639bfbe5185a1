import Foundation
@testable import LogflumeAggregator
import LogflumeWire
import NIOCore
import Testing

@Suite struct OutputPortabilityTests {
    static let avx512 = OutputPortability.CPU(x86_64: true, sse42: true, avx: true, avx2: true, avx512: true)
    static let westmere = OutputPortability.CPU(x86_64: true, sse42: true)
    static let penryn = OutputPortability.CPU(x86_64: true)
    static let arm = OutputPortability.CPU(x86_64: false)

    @Test func isalAtLevels0To2OnACPUWithSSE42NeedsNoWarning() {
        for level in [nil, 0, 1, 2] {
            #expect(OutputPortability.warning(for: outputSettings(level: level), on: Self.avx512) == nil)
            #expect(OutputPortability.warning(for: outputSettings(level: level), on: Self.westmere) == nil)
        }
    }

    @Test func isalWarnsWithoutSSE42AtLevel3AndOffX86() throws {
        let old = try #require(OutputPortability.warning(for: outputSettings(), on: Self.penryn))
        #expect(old.hasPrefix("this CPU lacks SSE4.2"))
        let level3 = try #require(OutputPortability.warning(for: outputSettings(level: 3), on: Self.avx512))
        #expect(level3.hasPrefix("ISA-L's level 3 writes different gzip bytes"))
        let arm = try #require(OutputPortability.warning(for: outputSettings(), on: Self.arm))
        #expect(arm.contains("this CPU is not x86-64"))
        for warning in [old, level3, arm] {
            #expect(warning.hasSuffix("Compare `logflume aggregator fingerprint` across instances, or set output.gzip_encoder = \"libdeflate\"."))
        }
    }

    @Test func libdeflateZstdAndNoCompressionNeverWarn() {
        for cpu in [Self.penryn, Self.arm] {
            #expect(OutputPortability.warning(for: outputSettings(.gzip, .libdeflate, level: 9), on: cpu) == nil)
            #expect(OutputPortability.warning(for: outputSettings(.zstd, level: 3), on: cpu) == nil)
            #expect(OutputPortability.warning(for: outputSettings(.none), on: cpu) == nil)
        }
    }

    @Test func cpusDescribeTheInstructionSetsTheDispatcherChoosesBy() {
        #expect(Self.avx512.description == "x86-64 with SSE4.2, AVX, AVX2, AVX-512")
        #expect(Self.westmere.description == "x86-64 with SSE4.2")
        #expect(Self.penryn.description == "x86-64 without SSE4.2")
        #expect(Self.arm.description == "not x86-64")
    }

    @Test func theCPUIsReadFromTheMachine() {
        #if arch(x86_64)
        #expect(OutputPortability.CPU.current.x86_64)
        #else
        #expect(OutputPortability.CPU.current == OutputPortability.CPU(x86_64: false))
        #endif
    }

    @Test func theFingerprintHashesTheFilesTheWriterLeavesAndFollowsTheSettings() throws {
        let records = (0..<3_000).map { index in
            Record(offset: Int64(index), timestamp: 1_767_225_600_000 + Int64(index), key: nil, value: ByteBuffer(string: "GET /item/\(index % 97) 200 \(index * 7)"))
        }
        var small = outputSettings(.gzip, .libdeflate)
        small.maxFileBytes = 64 << 10
        let first = makeTemporaryDirectory()
        let fingerprint = try OutputFingerprint.compute(records: records, settings: small, scratch: first)
        #expect(fingerprint.files.count > 1)
        #expect(fingerprint.records == 3_000)
        var concatenated: [UInt8] = []
        for file in fingerprint.files {
            concatenated += [UInt8](try Data(contentsOf: URL(fileURLWithPath: first + "/fingerprint/" + file.name)))
        }
        #expect(fingerprint.compressedBytes == Int64(concatenated.count))
        #expect(small.summary == "jsonl, gzip through libdeflate level 6, parts of 65536 bytes")
        #expect(fingerprint.sha256 == SHA256.hexHash(Array((small.summary + "\n").utf8) + concatenated))

        let again = try OutputFingerprint.compute(records: records, settings: small, scratch: makeTemporaryDirectory())
        #expect(again.sha256 == fingerprint.sha256)
        var otherLevel = small
        otherLevel.compressionLevel = 1
        #expect(try OutputFingerprint.compute(records: records, settings: otherLevel, scratch: makeTemporaryDirectory()).sha256 != fingerprint.sha256)
        var largerParts = small
        largerParts.maxFileBytes = 1 << 30
        #expect(try OutputFingerprint.compute(records: records, settings: largerParts, scratch: makeTemporaryDirectory()).sha256 != fingerprint.sha256)
        #expect(try OutputFingerprint.compute(records: Array(records.dropLast()), settings: small, scratch: makeTemporaryDirectory()).sha256 != fingerprint.sha256)
    }
}
