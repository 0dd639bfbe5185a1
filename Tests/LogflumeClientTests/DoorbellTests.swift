@testable import LogflumeClient
import NIOPosix
import Testing

struct DoorbellTests {
    /// The lost wake-up `unlessRungSince` exists for: one task waits; another has checked its
    /// condition (reading `rings` first) but not yet started waiting when the bell rings. The
    /// ring wakes the first and leaves no flag behind, so only the count tells the second one.
    @Test func aRingBetweenACheckAndTheWaitIsNotLost() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bell = Doorbell(eventLoop: group.next())
        let first = Task { await bell.wait(untilUptimeMs: nil) }
        while bell.waiterCount == 0 { await Task.yield() }
        let seen = bell.rings
        bell.ring()
        #expect(await first.value)
        // The deadline is far off: returning `true` means the ring, not the deadline, ended it.
        #expect(await bell.wait(untilUptimeMs: ClientClock.uptimeMs() + 60_000, unlessRungSince: seen))
        // Without the count, the same ring is gone: this wait ends at its (short) deadline.
        #expect(await bell.wait(untilUptimeMs: ClientClock.uptimeMs() + 50) == false)
        try await group.shutdownGracefully()
    }

    @Test func aRingWithNoWaiterIsRememberedOnce() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bell = Doorbell(eventLoop: group.next())
        bell.ring()
        bell.ring()
        #expect(await bell.wait(untilUptimeMs: ClientClock.uptimeMs() + 60_000))
        #expect(await bell.wait(untilUptimeMs: ClientClock.uptimeMs() + 50) == false)
        try await group.shutdownGracefully()
    }
}
