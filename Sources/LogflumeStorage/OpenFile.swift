import CFileSpace
#if canImport(Glibc)
import Glibc
#endif

/// An open file descriptor that is closed when the last reference goes away. Readers hold one
/// while a `sendfile` is in flight, so evicting or deleting a segment never pulls a descriptor
/// out from under them (and a recycled descriptor number can never be written by mistake).
public final class OpenFile: Sendable {
    public let descriptor: Int32
    public let path: String

    init(path: String, flags: Int32) throws(LogError) {
        let fd = Glibc.open(path, flags | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io(operation: "open", path: path, errno: errno) }
        self.descriptor = fd
        self.path = path
    }

    deinit { Glibc.close(descriptor) }

    /// Reads up to `buffer.count` bytes at `offset`, retrying short reads; fewer only at end of file.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(LogError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n > 0 {
                done += n
            } else if n == 0 {
                break
            } else if errno != EINTR {
                throw .io(operation: "pread", path: path, errno: errno)
            }
        }
        return done
    }

    /// Writes all of `bytes` at `offset`. On failure, the caller truncates back to its last good size.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(LogError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n >= 0 {
                done += n
            } else if errno != EINTR {
                let code = errno
                if code == ENOSPC || code == EDQUOT || code == EFBIG { throw .diskFull(path: path) }
                throw .io(operation: "pwrite", path: path, errno: code)
            }
        }
    }

    /// Writes the parts back to back at `offset` with pwritev (one call unless the kernel takes
    /// fewer bytes).
    func write(_ parts: [UnsafeRawBufferPointer], at offset: Int64) throws(LogError) {
        let vectors = parts.map { iovec(iov_base: UnsafeMutableRawPointer(mutating: $0.baseAddress), iov_len: $0.count) }
        let code = GatheredWrite.writeAll(vectors) { vectors, written in
            (Glibc.pwritev(descriptor, vectors.baseAddress!, Int32(vectors.count), off_t(offset + written)), errno)
        }
        guard code != 0 else { return }
        if code == ENOSPC || code == EDQUOT || code == EFBIG { throw .diskFull(path: path) }
        throw .io(operation: "pwritev", path: path, errno: code)
    }

    /// Reserves blocks for `length` bytes from `offset` without changing the file's size
    /// (fallocate with FALLOC_FL_KEEP_SIZE). False when the filesystem cannot, or has no room:
    /// a reservation is only a speed-up, so the write that follows reports a full disk itself.
    func reserve(from offset: Int64, length: Int64) -> Bool {
        while true {
            if logflume_reserve_blocks(descriptor, offset, length) == 0 { return true }
            if errno != EINTR { return false }
        }
    }

    /// Starts writing the range's dirty pages to disk without waiting (sync_file_range with
    /// SYNC_FILE_RANGE_WRITE). Not a durability point: only `sync` is. Failures are left to the
    /// next `sync`, which reports any write error.
    func startWriteback(from offset: Int64, length: Int64) {
        _ = logflume_start_writeback(descriptor, offset, length)
    }

    func sync() throws(LogError) {
        guard fdatasync(descriptor) == 0 else { throw .io(operation: "fdatasync", path: path, errno: errno) }
    }

    func truncate(to size: Int64) throws(LogError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw .io(operation: "ftruncate", path: path, errno: errno) }
    }

    func size() throws(LogError) -> Int64 {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw .io(operation: "fstat", path: path, errno: errno) }
        return Int64(st.st_size)
    }
}
