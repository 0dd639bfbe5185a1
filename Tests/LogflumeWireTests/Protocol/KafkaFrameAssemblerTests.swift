import NIOCore
import Testing
@testable import LogflumeWire

/// The frame assembler on streams of frames cut into reads at random places.
@Suite struct KafkaFrameAssemblerTests {
    static func stream(_ frames: [[UInt8]]) -> [UInt8] {
        frames.flatMap { int32(Int32($0.count)) + $0 }
    }

    static func assemble(_ bytes: [UInt8], cuts: [Int], maxFrameSize: Int = 1 << 20) throws(KafkaFrameError) -> [[UInt8]] {
        var assembler = KafkaFrameAssembler(maxFrameSize: maxFrameSize)
        var out: [[UInt8]] = []
        var start = 0
        for end in cuts + [bytes.count] where end >= start {
            try assembler.feed(ByteBuffer(bytes: bytes[start..<end]), allocator: ByteBufferAllocator()) { out.append(Array($0.readableBytesView)) }
            start = end
        }
        #expect(!assembler.isMidFrame)
        return out
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8, 9, 10])
    func randomCutsGiveBackEveryFrame(seed: UInt64) throws {
        var random = SeededRandom(seed: seed)
        let frames: [[UInt8]] = (0..<Int.random(in: 1...40, using: &random)).map { _ in
            let size = [0, 1, 3, 4, 5, 100, 5_000, 70_000].randomElement(using: &random)!
            return (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
        let bytes = Self.stream(frames)
        let cuts = (0..<Int.random(in: 0...60, using: &random)).map { _ in Int.random(in: 0...bytes.count, using: &random) }.sorted()
        #expect(try Self.assemble(bytes, cuts: cuts) == frames)
        // One byte at a time: every size prefix is cut too.
        let small = Array(frames.filter { $0.count <= 5_000 }.prefix(5))
        let smallStream = Self.stream(small)
        #expect(try Self.assemble(smallStream, cuts: Array(0..<smallStream.count)) == small)
    }

    @Test func oversizedAndNegativeSizesAreRefusedBeforeBuffering() {
        #expect(throws: KafkaFrameError.frameTooLarge(declaredSize: 2_000, maxFrameSize: 1_000)) {
            _ = try Self.assemble(int32(2_000) + [1, 2, 3], cuts: [], maxFrameSize: 1_000)
        }
        // The prefix cut across two reads.
        #expect(throws: KafkaFrameError.negativeSize(-5)) {
            _ = try Self.assemble(int32(-5), cuts: [2])
        }
    }
}
