public import NIOCore
import CCRC32C

/// CRC-32C (Castagnoli), the checksum Kafka's record batch v2 carries over everything after
/// its `crc` field.
///
/// The arithmetic lives in the `CCRC32C` C target because the fast path needs the SSE4.2 `crc32`
/// intrinsic; on other CPUs it uses a slicing-by-8 table. Values are finished CRCs: pass an
/// earlier result as `crc` to continue over a buffer that arrives in pieces, so
/// `checksum(b, extending: checksum(a)) == checksum(a + b)`.
public enum CRC32C {
    /// The checksum of `bytes`, continuing from `crc` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32 = 0) -> UInt32 {
        _checksum(bytes, extending: crc)
    }

    /// The checksum of the buffer's readable bytes, continuing from `crc` (0 to start). The
    /// reader index is left alone, so a batch can be verified before it is decoded.
    public static func checksum(_ buffer: ByteBuffer, extending crc: UInt32 = 0) -> UInt32 {
        buffer.withUnsafeReadableBytes { _checksum($0, extending: crc) }
    }

    /// The checksum of any byte collection, continuing from `crc` (0 to start). Contiguous
    /// collections (`[UInt8]`, `ArraySlice`, …) are read in place; others are copied once.
    public static func checksum<C: Collection>(_ bytes: C, extending crc: UInt32 = 0) -> UInt32
    where C.Element == UInt8 {
        if let result = bytes.withContiguousStorageIfAvailable({
            _checksum(UnsafeRawBufferPointer($0), extending: crc)
        }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { _checksum($0, extending: crc) }
    }

    /// Whether `checksum` runs on the CPU's CRC-32C instruction (SSE4.2 on x86-64) rather than
    /// the table fallback, which is several times slower; benchmarks and diagnostics report it.
    public static var isHardwareAccelerated: Bool {
        lf_crc32c_hardware_available() != 0
    }

    // The one call into C. An empty buffer may have no base address; its checksum is `crc`.
    private static func _checksum(_ bytes: UnsafeRawBufferPointer, extending crc: UInt32) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return lf_crc32c_extend(crc, base, bytes.count)
    }
}
