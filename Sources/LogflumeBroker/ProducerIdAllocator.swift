public import LogflumeStorage
import Synchronization

/// Hands out producer ids that stay unique across restarts: ids are reserved in blocks and the
/// end of the current block is persisted before any id from it is used.
public final class ProducerIdAllocator: Sendable {
    static let blockSize: Int64 = 1_000
    private let path: String
    private let state: Mutex<(next: Int64, blockEnd: Int64)>

    public init(path: String) throws(LogError) {
        self.path = path
        let stored = try AtomicFile.read(path).flatMap { Int64(String(decoding: $0, as: UTF8.self).filter(\.isNumber)) } ?? 0
        // Everything below the stored block end may have been handed out before a crash.
        state = Mutex((stored, stored))
    }

    public func next() throws(LogError) -> Int64 {
        try state.withLock { state throws(LogError) -> Int64 in
            if state.next >= state.blockEnd {
                let end = state.blockEnd + Self.blockSize
                try AtomicFile.write("\(end)\n", to: path)
                state.blockEnd = end
            }
            defer { state.next += 1 }
            return state.next
        }
    }
}
