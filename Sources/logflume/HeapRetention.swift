import CHeap
import Logging

/// glibc's allocator hands freed memory back to the kernel as soon as a megabyte or so is free
/// at the top of a heap, and serves blocks from about 128 KiB up with fresh mappings. Readers of
/// compressed batches free and allocate megabytes per batch (decompressed sections, decoded
/// records, compressed output chunks), so each batch paid again for page faults and for the
/// kernel zeroing every page: a tenth of the aggregator's CPU. Keeping up to `trimBytes` of free
/// memory and serving blocks up to `mmapBytes` from the heap turns that into reuse. The cost is
/// that the process's resident size stays near its peak working set (about 100 MB for the
/// aggregator at full speed) instead of shrinking between bursts.
enum HeapRetention {
    static let mmapBytes: Int32 = 32 << 20
    static let trimBytes: Int32 = 64 << 20

    /// Call before the first large allocation; `mallopt` changes only what comes after. A refusal
    /// costs speed, not correctness, so it is logged and the command goes on.
    static func keepFreedMemoryForReuse(logger: Logger) {
        guard logflume_keep_freed_memory(mmapBytes, trimBytes) != 1 else { return }
        logger.warning("glibc refused the heap settings (mallopt); freed memory goes back to the kernel and is faulted in again", metadata: [
            "mmap_threshold": "\(mmapBytes)", "trim_threshold": "\(trimBytes)",
        ])
    }
}
