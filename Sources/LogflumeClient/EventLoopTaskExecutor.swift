import NIOCore

/// Runs a task's jobs on one NIO event loop. The producer's sender runs here: the answers that
/// wake it are read on this loop and the requests it writes go out on it, so a produce round
/// trip needs no hand-over between the loop and a thread of the global pool (each of which
/// costs a futex or eventfd wake-up, and on a busy 2-core box a wait for a core). The price:
/// a batch's compression also runs on the loop and holds back reads on it for that long (the
/// sender yields between requests), which did not show in lz4 or zstd produce throughput. A
/// job enqueued after the loop shut down is dropped by NIO, so the task's owner must end it
/// first (`Producer.close()` before the group's shutdown).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
