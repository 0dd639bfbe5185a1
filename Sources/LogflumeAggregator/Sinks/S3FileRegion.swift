#if canImport(Glibc)
import Glibc
#endif

/// Bytes of a staged data file that go into one request: the whole file for a PUT, one part of
/// it for a multipart upload. Read twice, in the same chunks: once for the SHA-256 that SigV4
/// signs (`x-amz-content-sha256`, so the server rejects bytes that changed on the way), once
/// while sending.
struct S3FileRegion {
    let path: String
    let offset: Int64
    let size: Int64

    static let chunkBytes = 256 << 10
    /// The error code of a staged file that cannot be read (not retried: it will not get better).
    static let readFailedCode = "LocalReadFailed"

    /// The size of the file at `path`.
    static func size(of path: String, operation: String, location: String) throws -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { throw failure(operation, location, "stat \(path)") }
        return Int64(info.st_size)
    }

    /// The SHA-256 of the region, as lowercase hex.
    func sha256(operation: String, location: String) throws -> String {
        var hasher = SHA256()
        try read(operation: operation, location: location) { chunk in
            chunk.withUnsafeBufferPointer { hasher.update($0) }
        }
        return hex(hasher.finalize())
    }

    /// Hands the region's bytes to `body` in chunks of at most `chunkBytes`, in order; fails if
    /// the file ends before the region does.
    func read(operation: String, location: String, _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure(operation, location, "open \(path)") }
        defer { close(fd) }
        var chunk = [UInt8](repeating: 0, count: Self.chunkBytes)
        var done: Int64 = 0
        while done < size {
            let want = Int(min(Int64(Self.chunkBytes), size - done))
            let count = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset + done)) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Self.failure(operation, location, "read \(path)")
            }
            guard count > 0 else {
                throw S3Error(
                    operation: operation, location: location, code: Self.readFailedCode,
                    message: "\(path) ended at \(offset + done) bytes, inside the \(size) bytes from \(offset) being uploaded (changed while uploading?)"
                )
            }
            try body(chunk[0..<count])
            done += Int64(count)
        }
    }

    private static func failure(_ operation: String, _ location: String, _ what: String) -> S3Error {
        S3Error(operation: operation, location: location, code: readFailedCode, message: "\(what): \(String(cString: strerror(errno)))")
    }
}
