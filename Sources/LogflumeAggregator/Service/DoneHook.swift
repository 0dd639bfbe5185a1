import Foundation
public import Logging

/// A command run once per finished bucket (e.g. to add a Hive partition), through `/bin/sh -c`,
/// with the bucket described in environment variables:
/// `LOGFLUME_TOPIC`, `LOGFLUME_BUCKET` (`dt=…/hr=…`), `LOGFLUME_BUCKET_PATH` (where the sink put
/// it), `LOGFLUME_BUCKET_START`, `LOGFLUME_BUCKET_END` (ISO 8601 UTC), `LOGFLUME_DT`, `LOGFLUME_HR`
/// and `LOGFLUME_MANIFEST_VERSION`. A non-zero exit is retried with doubling backoff.
public struct DoneHook: Sendable, Equatable {
    public var command: String
    /// Attempts after the first. Default: 5.
    public var retries = 5
    /// Wait before the first retry, doubled each time up to 1 minute. Default: 1 s.
    public var backoffMs: Int64 = 1000
    /// A run taking longer is killed and counts as failed. Default: 5 minutes.
    public var timeoutMs: Int64 = 300_000
    /// How often the journal is listed for runs still owed (one that gave up, an entry not
    /// deleted); a run owed at two checks in a row is queued again. Default: 10 minutes.
    public var recheckMs: Int64 = 600_000

    public init(command: String) {
        self.command = command
    }

    /// One bucket's job.
    public struct Job: Sendable, Equatable {
        public var topic: String
        public var bucket: Bucket
        public var location: String
        public var manifestVersion: Int

        var environment: [String: String] {
            [
                "LOGFLUME_TOPIC": topic, "LOGFLUME_BUCKET": bucket.label.path, "LOGFLUME_BUCKET_PATH": location,
                "LOGFLUME_BUCKET_START": EventTime.format(bucket.start), "LOGFLUME_BUCKET_END": EventTime.format(bucket.end),
                "LOGFLUME_DT": bucket.label.date, "LOGFLUME_HR": bucket.label.hour.map { pad($0, 2) } ?? "",
                "LOGFLUME_MANIFEST_VERSION": String(manifestVersion),
            ]
        }
    }

    /// Runs the command until it succeeds or the retries are used up; true on success. No retry
    /// starts once `isStopping` says so: the run stays owed in the journal for the next start.
    public func run(_ job: Job, logger: Logger, metrics: AggregatorMetrics? = nil, isStopping: @Sendable () -> Bool = { false }) async -> Bool {
        let waits = backoffs
        for attempt in 0...retries {
            if attempt > 0 {
                if isStopping() {
                    logger.warning("done-hook left owed: the aggregator is stopping", metadata: ["topic": "\(job.topic)", "bucket": "\(job.bucket)"])
                    return false
                }
                do { try await Task.sleep(for: .milliseconds(waits[attempt - 1])) } catch { return false }
            }
            let status = await execute(job)
            if status == 0 {
                logger.info("done-hook succeeded", metadata: ["topic": "\(job.topic)", "bucket": "\(job.bucket)", "attempt": "\(attempt + 1)"])
                return true
            }
            metrics?.doneHookFailed(topic: job.topic)
            logger.warning("done-hook failed", metadata: [
                "topic": "\(job.topic)", "bucket": "\(job.bucket)", "exit": "\(status)", "attempt": "\(attempt + 1)", "of": "\(retries + 1)",
            ])
        }
        logger.error("done-hook gave up; the run stays owed and is tried again at a later check of the journal", metadata: [
            "topic": "\(job.topic)", "bucket": "\(job.bucket)", "command": "\(command)",
        ])
        return false
    }

    /// The wait before each retry: `backoffMs`, doubling up to a minute.
    var backoffs: [Int64] {
        var waits: [Int64] = []
        var wait = backoffMs
        for _ in 0..<retries {
            waits.append(wait)
            wait = min(wait * 2, 60_000)
        }
        return waits
    }

    /// The longest one run can take: every attempt timing out, with the backoff between them.
    var longestRunMs: Int64 { Int64(retries + 1) * timeoutMs + backoffs.reduce(0, +) }

    /// The exit status; -1 when the command could not start or timed out.
    private func execute(_ job: Job) async -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(job.environment) { $1 }
        let exited = AsyncStream<Int32>.makeStream()
        process.terminationHandler = { finished in
            exited.continuation.yield(finished.terminationStatus)
            exited.continuation.finish()
        }
        do {
            try process.run()
        } catch {
            return -1
        }
        let timeoutMs = self.timeoutMs
        let pid = process.processIdentifier
        let watchdog = Task {
            try await Task.sleep(for: .milliseconds(timeoutMs))
            kill(pid, SIGKILL)
        }
        defer { watchdog.cancel() }
        var status: Int32 = -1
        for await value in exited.stream { status = value }
        return status
    }
}
