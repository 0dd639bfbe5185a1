#if canImport(Glibc)
import Glibc
#endif
import LogflumeStorage
import Testing

/// The loop behind writev and pwritev, driven by a stand-in for the system call that takes fewer
/// bytes than asked, cut anywhere: inside a buffer, on a boundary, after an interruption.
@Suite struct GatheredWriteTests {
    /// 3,000 buffers of 0-40 bytes (some empty), written by calls that take at most the next
    /// limit of a repeating list of bytes: what arrives is every byte in order, each call is told
    /// how many went before it, and no call gets more than IOV_MAX buffers.
    @Test func shortWritesAnywhereStillWriteEveryByteInOrder() throws {
        let parts: [[UInt8]] = (0..<3_000).map { index in (0..<(index * 7 % 41)).map { UInt8(truncatingIfNeeded: index &+ $0) } }
        let storage = parts.map { part -> UnsafeMutableRawBufferPointer in
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, part.count), alignment: 1)
            buffer.copyBytes(from: part)
            return buffer
        }
        defer { storage.forEach { $0.deallocate() } }
        let vectors = zip(storage, parts).map { iovec(iov_base: $0.0.baseAddress, iov_len: $0.1.count) }
        var written: [UInt8] = []
        let limits = [1, 40, 7, 0, 1_000, 13, 64_000]  // 0: interrupted
        var call = 0
        let code = GatheredWrite.writeAll(vectors) { given, before in
            #expect(given.count <= GatheredWrite.maxVectorsPerCall)
            #expect(before == Int64(written.count))
            let limit = limits[call % limits.count]
            call += 1
            if limit == 0 { return (-1, EINTR) }
            var taken = 0
            for vector in given where taken < limit {
                let count = min(vector.iov_len, limit - taken)
                written += UnsafeRawBufferPointer(start: vector.iov_base, count: count)
                taken += count
            }
            return (taken, 0)
        }
        #expect(code == 0)
        let expected = parts.flatMap { $0 }
        // Compared as one Bool so a failure names the first wrong byte, not 60,000 of them.
        let firstDifference = zip(written, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            ?? (written.count == expected.count ? nil : min(written.count, expected.count))
        #expect(firstDifference == nil, "\(written.count) of \(expected.count) bytes written")
        #expect(call > 3_000 / GatheredWrite.maxVectorsPerCall)
    }

    /// A failed call ends the write with its errno; one that writes nothing without an error ends
    /// it with EIO rather than repeating forever.
    @Test func failuresAndEmptyWritesEndTheWrite() {
        var byte: UInt8 = 1
        withUnsafeMutableBytes(of: &byte) { raw in
            let vectors = [iovec(iov_base: raw.baseAddress, iov_len: 1)]
            #expect(GatheredWrite.writeAll(vectors) { _, _ in (-1, ENOSPC) } == ENOSPC)
            #expect(GatheredWrite.writeAll(vectors) { _, _ in (0, 0) } == EIO)
            #expect(GatheredWrite.writeAll([iovec(iov_base: nil, iov_len: 0)]) { _, _ in (0, 0) } == 0)
        }
    }
}
