public import LogflumeWire

/// Typed failures of the partition log; each names what was wrong and where.
public enum LogError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The requested offset is below the log start or above the log end.
    case offsetOutOfRange(requested: Int64, logStartOffset: Int64, logEndOffset: Int64)
    case invalidBatch(RecordBatchError)
    case batchTooLarge(size: Int, limit: Int)
    /// The device holding `path` has no space left; the log was rolled back to its last whole batch.
    case diskFull(path: String)
    /// A system call failed; `operation` is the call, `errno` the error number.
    case io(operation: String, path: String, errno: Int32)
    /// Offsets must grow: a follower or recovery tried to write below the log end.
    case nonMonotonicOffset(batchBaseOffset: Int64, logEndOffset: Int64)
    case closed(path: String)
    /// Stored bytes failed their checksum; they are never served.
    case corruptSegment(path: String, position: Int, reason: String)

    public var description: String {
        switch self {
        case .offsetOutOfRange(let requested, let start, let end):
            return "offset \(requested) is out of range [\(start), \(end)]"
        case .invalidBatch(let error):
            return "invalid record batch: \(error)"
        case .batchTooLarge(let size, let limit):
            return "record batch of \(size) bytes exceeds max.message.bytes \(limit)"
        case .diskFull(let path):
            return "no space left on device writing \(path)"
        case .io(let operation, let path, let errno):
            return "\(operation) failed on \(path): \(String(cString: strerror(errno))) (errno \(errno))"
        case .nonMonotonicOffset(let base, let end):
            return "batch base offset \(base) is below the log end offset \(end)"
        case .closed(let path):
            return "log \(path) is closed"
        case .corruptSegment(let path, let position, let reason):
            return "corrupt data in \(path) at position \(position): \(reason)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// Runs a closure passed through a standard-library API whose `rethrows` erases the error type,
/// and restores the `LogError` the closure threw.
func withLogErrors<T>(_ body: () throws -> T) throws(LogError) -> T {
    do {
        return try body()
    } catch let error as LogError {
        throw error
    } catch {
        throw .io(operation: "\(error)", path: "", errno: 0)
    }
}
