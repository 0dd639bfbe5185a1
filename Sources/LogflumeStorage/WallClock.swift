#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Wall-clock time in milliseconds since the epoch, injected so that retention, segment rolling
/// and flush deadlines can be driven by tests without sleeping.
public protocol WallClock: Sendable {
    var nowMilliseconds: Int64 { get }
}

public struct SystemWallClock: WallClock {
    public init() {}

    public var nowMilliseconds: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}

/// A clock that moves only when told to.
public final class ManualWallClock: WallClock {
    private let now: Mutex<Int64>

    public init(nowMilliseconds: Int64) { self.now = Mutex(nowMilliseconds) }

    public var nowMilliseconds: Int64 { now.withLock { $0 } }

    public func advance(byMilliseconds delta: Int64) { now.withLock { $0 += delta } }

    public func set(_ milliseconds: Int64) { now.withLock { $0 = milliseconds } }
}
