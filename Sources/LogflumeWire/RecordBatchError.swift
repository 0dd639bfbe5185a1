/// Why bytes were refused as a record batch. Every case says enough to name the fault in a log line.
public enum RecordBatchError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the header or the declared batch length needs.
    case truncated(needed: Int, available: Int)
    case invalidMagic(Int8)
    /// `batchLength` smaller than a header or larger than the limit the caller allows.
    case invalidBatchLength(Int32)
    case crcMismatch(stored: UInt32, computed: UInt32)
    /// Header fields that contradict each other or the records (counts, deltas, sizes).
    case inconsistent(String)
    case corruptRecord(index: Int, reason: String)
    case compression(String)
    case unsupportedCompression(Int)

    public var description: String {
        switch self {
        case .truncated(let needed, let available):
            return "truncated record batch: needs \(needed) bytes, \(available) available"
        case .invalidMagic(let magic):
            return "unsupported record batch magic \(magic) (only v2 is accepted)"
        case .invalidBatchLength(let length):
            return "invalid batch length \(length)"
        case .crcMismatch(let stored, let computed):
            return "CRC-32C mismatch: stored 0x\(String(stored, radix: 16)), computed 0x\(String(computed, radix: 16))"
        case .inconsistent(let reason):
            return "inconsistent record batch: \(reason)"
        case .corruptRecord(let index, let reason):
            return "corrupt record \(index): \(reason)"
        case .compression(let reason):
            return "records section cannot be decompressed: \(reason)"
        case .unsupportedCompression(let id):
            return "unsupported compression codec id \(id)"
        }
    }
}
