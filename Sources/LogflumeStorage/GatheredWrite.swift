#if canImport(Glibc)
public import Glibc
#endif

/// Writes a list of buffers with as few system calls as the kernel allows (writev, pwritev),
/// which may take fewer bytes than asked, and at most `IOV_MAX` buffers per call.
public enum GatheredWrite {
    /// The most buffers one writev takes (Linux's `IOV_MAX`).
    public static let maxVectorsPerCall = 1024

    /// Hands `vectors` to `call` until every byte is written; `call` gets the buffers still to
    /// write (at most `maxVectorsPerCall`) and how many bytes went before them, and returns what
    /// the system call returned with its `errno` (taken at once, before anything can change it).
    /// An interrupted call is repeated.
    /// - Returns: 0 once everything is written, otherwise the `errno` of the failed call (`EIO`
    ///   for a call that wrote nothing without an error, which would otherwise repeat forever).
    public static func writeAll(_ vectors: [iovec], _ call: (UnsafeBufferPointer<iovec>, _ written: Int64) -> (result: Int, errno: Int32)) -> Int32 {
        var vectors = vectors.filter { $0.iov_len > 0 }
        var first = 0
        var total: Int64 = 0
        while first < vectors.count {
            let end = min(vectors.count, first + maxVectorsPerCall)
            let (n, code) = vectors[first..<end].withUnsafeBufferPointer { call($0, total) }
            if n < 0 {
                if code == EINTR { continue }
                return code
            }
            if n == 0 { return EIO }
            total += Int64(n)
            var written = n
            while first < vectors.count && written >= vectors[first].iov_len {
                written -= vectors[first].iov_len
                first += 1
            }
            if first < vectors.count && written > 0 {
                vectors[first].iov_base += written
                vectors[first].iov_len -= written
            }
        }
        return 0
    }
}
