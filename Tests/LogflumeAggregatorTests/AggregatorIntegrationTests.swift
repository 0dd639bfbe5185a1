import Foundation
@testable import LogflumeAggregator
import LogflumeClient
import LogflumeCompression
import LogflumeMetrics
import LogflumeStorage
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// The system clock moved to a fixed point in the past, so that records from 2024 are recent and
/// idle partitions close exactly the hours the test produced.
struct ShiftedClock: WallClock {
    let shift: Int64
    init(startingAt start: Int64) { shift = start - SystemWallClock().nowMilliseconds }
    var nowMilliseconds: Int64 { SystemWallClock().nowMilliseconds + shift }
}

/// One produced record, as it must appear exactly once in the output.
struct Produced: Hashable, Comparable {
    var partition: Int32
    var offset: Int64
    var timestamp: Int64
    var value: String

    static func < (a: Produced, b: Produced) -> Bool { (a.partition, a.offset) < (b.partition, b.offset) }
}

/// Throws once, at the n-th time the aggregator reaches a crash point.
final class CrashOnce: Sendable {
    let point: CrashPoint
    let at: Int
    private let seen = Mutex(0)
    struct Crash: Error {}

    init(_ point: CrashPoint, at: Int) {
        self.point = point
        self.at = at
    }

    var hasCrashed: Bool { seen.withLock { $0 >= at } }

    func reach(_ reached: CrashPoint) throws {
        guard reached == point else { return }
        let count = seen.withLock { value -> Int in
            value += 1
            return value
        }
        if count == at { throw Crash() }
    }
}

@Suite(.serialized) struct AggregatorIntegrationTests {
    static let firstHour = at("2024-03-01T08:00Z")
    static let hours = 4

    func produce(_ cluster: KafkaCluster, topic: String, partitions: Int32 = 3, perPartition: Int = 300) async throws -> [Produced] {
        try await Admin(cluster: cluster).createTopic(name: topic, partitions: partitions, replicationFactor: 1)
        let producer = try Producer(cluster: cluster)
        let span = Int64(Self.hours) * 3_600_000
        var produced: [Produced] = []
        for i in 0..<perPartition {
            for partition in 0..<partitions {
                // Steady progress with ±90 s of disorder, so records cross hour boundaries out of order.
                let jitter = Int64((i * 7919 + Int(partition) * 104_729) % 181 - 90) * 1000
                let timestamp = min(max(Self.firstHour + Int64(i) * span / Int64(perPartition) + jitter, Self.firstHour), Self.firstHour + span - 1)
                let value = "p\(partition)-\(i)"
                try await producer.enqueue(ProducerRecord(topic: topic, partition: partition, key: nil, value: value, timestamp: timestamp))
                produced.append(Produced(partition: partition, offset: Int64(i), timestamp: timestamp, value: value))
            }
        }
        try await producer.flush()
        await producer.close()
        return produced
    }

    func configuration(topic: String, root: String) -> AggregatorConfig {
        var config = AggregatorConfig()
        config.topics = [topic]
        config.groupId = "aggregator-\(topic)"
        config.root = root
        config.sessionTimeoutMs = 6_000
        config.tickIntervalMs = 50
        config.aggregation.delayMs = 0
        config.aggregation.idleTimeoutMs = 200
        config.output.maxFileBytes = 8 << 10
        return config
    }

    func markers(_ root: String, topic: String) -> Int {
        (0..<Self.hours).filter { FileManager.default.fileExists(atPath: "\(root)/\(topic)/dt=2024-03-01/hr=\(pad(8 + $0, 2))/_SUCCESS") }.count
    }

    /// Runs the aggregator as a `Service` until every produced hour has its done-marker, and
    /// `until` holds.
    func aggregate(_ broker: InProcessBroker, config: AggregatorConfig, faults: CrashOnce? = nil, until: @Sendable () -> Bool = { true }) async throws {
        try await broker.withCluster { cluster in
            var hook: (@Sendable (CrashPoint) throws -> Void)?
            if let faults { hook = { @Sendable point in try faults.reach(point) } }
            let service = AggregatorService(
                config: config, cluster: cluster, sink: nil, clock: ShiftedClock(startingAt: at("2024-03-01T12:30Z")), logger: broker.logger,
                faults: hook
            )
            let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: broker.logger))
            let running = Task { try await group.run() }
            var waited = 0
            while (markers(config.root, topic: config.topics[0]) < Self.hours || !until()) && waited < 1200 {
                try await Task.sleep(for: .milliseconds(50))
                waited += 1
            }
            await group.triggerGracefulShutdown()
            try await running.value
        }
    }

    /// Reads every hour back: each record in its own hour, every produced record exactly once,
    /// manifests that match the files, and no stray data files.
    func verify(root: String, topic: String, produced: [Produced]) throws {
        var found: [Produced] = []
        for hour in 0..<Self.hours {
            let directory = "\(root)/\(topic)/dt=2024-03-01/hr=\(pad(8 + hour, 2))"
            #expect(FileManager.default.fileExists(atPath: directory + "/_SUCCESS"))
            let manifest = try JSONDecoder().decode(BucketManifest.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/_manifest.json")))
            let dataFiles = try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix("_") && !$0.hasPrefix(".") && $0 != "late" }
            #expect(dataFiles.sorted() == manifest.files.map(\.name).sorted())
            let start = Self.firstHour + Int64(hour) * 3_600_000
            var inHour = 0
            for file in manifest.files {
                let bytes = try CompressionCodec.gzip.decompress(Array(Data(contentsOf: URL(fileURLWithPath: directory + "/" + file.name))))
                for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                    let record = Produced(
                        partition: Int32(object["partition"] as! Int), offset: Int64(object["offset"] as! Int),
                        timestamp: Int64(object["timestamp"] as! Int), value: object["value"] as! String
                    )
                    #expect(record.timestamp >= start && record.timestamp < start + 3_600_000, "\(record) is not in hour \(8 + hour)")
                    found.append(record)
                    inHour += 1
                }
            }
            #expect(manifest.records == Int64(inHour))
            #expect(manifest.partitions.map(\.partition) == [0, 1, 2])
        }
        #expect(found.count == produced.count)
        #expect(found.sorted() == produced.sorted())
    }

    @Test func hoursAreExactAndCarryDoneMarkers() async throws {
        let broker = try await InProcessBroker()
        let root = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let produced = try await broker.withCluster { try await produce($0, topic: "web") }
        try await aggregate(broker, config: configuration(topic: "web", root: root))
        try verify(root: root, topic: "web", produced: produced)
        // Hour 12 saw no records and is not over yet for the shifted clock: nothing there.
        #expect(!FileManager.default.fileExists(atPath: "\(root)/web/dt=2024-03-01/hr=12"))

        // Replay regenerates the same hours byte for byte.
        let replayRoot = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: replayRoot) }
        let summary = try await broker.withCluster { cluster in
            var options = HourReplay.Options(topic: "web", from: Self.firstHour, to: Self.firstHour + 4 * 3_600_000, calendar: BucketCalendar(granularity: .hour))
            options.output = configuration(topic: "web", root: root).output
            return try await HourReplay(cluster: cluster, options: options, sink: LocalFileSystemSink(root: replayRoot), logger: broker.logger).run()
        }
        #expect(summary.recordsWritten == Int64(produced.count))
        for hour in 0..<Self.hours {
            let relative = "web/dt=2024-03-01/hr=\(pad(8 + hour, 2))"
            for name in try FileManager.default.contentsOfDirectory(atPath: root + "/" + relative) where !name.hasPrefix(".") && name != "_partitions" {
                let live = try Data(contentsOf: URL(fileURLWithPath: "\(root)/\(relative)/\(name)"))
                let replayed = try Data(contentsOf: URL(fileURLWithPath: "\(replayRoot)/\(relative)/\(name)"))
                #expect(live == replayed, "\(relative)/\(name) differs")
            }
        }
        await broker.stop()
    }

    @Test(arguments: [(CrashPoint.beforePublish, 4), (.afterCompletion, 5), (.afterCommit, 2), (.afterCompletion, 12)])
    func crashesBetweenPublishingAndCommittingLoseAndDuplicateNothing(point: CrashPoint, occurrence: Int) async throws {
        let broker = try await InProcessBroker()
        let root = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let topic = "crash"
        let produced = try await broker.withCluster { try await produce($0, topic: topic) }
        let crash = CrashOnce(point, at: occurrence)
        try await aggregate(broker, config: configuration(topic: topic, root: root), faults: crash)
        #expect(crash.hasCrashed)
        try verify(root: root, topic: topic, produced: produced)
        await broker.stop()
    }

    /// A produced topic, an output root and a directory for a done-hook's log (`hook.log`).
    struct HookFixture {
        let broker: InProcessBroker
        let root: String
        let logs: String
        let topic: String
        let produced: [Produced]

        /// The hook log's lines so far.
        var ran: [String] { ((try? String(contentsOfFile: logs + "/hook.log", encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }
        /// Journal entries still owed.
        var owed: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(topic)/_hooks")) ?? []).filter { !$0.hasPrefix(".") } }

        func remove() {
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.removeItem(atPath: logs)
        }
    }

    func hookFixture(topic: String) async throws -> HookFixture {
        let broker = try await InProcessBroker()
        let produced = try await broker.withCluster { try await produce($0, topic: topic) }
        return HookFixture(broker: broker, root: makeTemporaryDirectory(), logs: makeTemporaryDirectory("hook"), topic: topic, produced: produced)
    }

    /// A crash right after an hour's marker, before its done-hook was queued: the journal still
    /// owes the run, and the restarted session (owner of partition 0) runs it. Every hour's hook
    /// runs exactly once here, and no journal entry is left once they all succeeded.
    @Test func aCrashBetweenAMarkerAndItsHookStillRunsTheHook() async throws {
        let fixture = try await hookFixture(topic: "hooked")
        defer { fixture.remove() }
        var config = configuration(topic: fixture.topic, root: fixture.root)
        var hook = DoneHook(command: "printf '%s v%s\\n' \"$LOGFLUME_BUCKET\" \"$LOGFLUME_MANIFEST_VERSION\" >> '\(fixture.logs)/hook.log'")
        hook.backoffMs = 10
        config.doneHook = hook
        let crash = CrashOnce(.afterMarker, at: 2)
        try await aggregate(fixture.broker, config: config, faults: crash) { fixture.ran.count >= Self.hours }
        #expect(crash.hasCrashed)
        try verify(root: fixture.root, topic: fixture.topic, produced: fixture.produced)
        #expect(fixture.ran.sorted() == (0..<Self.hours).map { "dt=2024-03-01/hr=\(pad(8 + $0, 2)) v1" })
        #expect(fixture.owed.isEmpty, "still owed: \(fixture.owed)")
        await fixture.broker.stop()
    }

    /// A stop does not wait for queued hooks (each takes 2 s here): they stay owed in the journal,
    /// and the next start runs them, each hour's hook once in all.
    @Test func aStopLeavesQueuedHooksOwedAndTheNextStartRunsThem() async throws {
        let fixture = try await hookFixture(topic: "slowhook")
        defer { fixture.remove() }
        var config = configuration(topic: fixture.topic, root: fixture.root)
        config.doneHook = DoneHook(command: "sleep 2; printf '%s\\n' \"$LOGFLUME_BUCKET\" >> '\(fixture.logs)/hook.log'")

        try await aggregate(fixture.broker, config: config)
        let ranBefore = fixture.ran
        #expect(ranBefore.count < Self.hours, "the stop waited for every queued hook")
        #expect(ranBefore.count + fixture.owed.count == Self.hours)

        try await aggregate(fixture.broker, config: config) { fixture.ran.count >= Self.hours }
        #expect(fixture.ran.sorted() == (0..<Self.hours).map { "dt=2024-03-01/hr=\(pad(8 + $0, 2))" })
        #expect(fixture.owed.isEmpty, "still owed: \(fixture.owed)")
        await fixture.broker.stop()
    }

    /// A hook that gave up (every hour's first run fails, no retries) stays owed, shows in the
    /// owed gauge, and runs again at a later check of the journal without a restart: each hour's
    /// hook succeeds once, and the gauge returns to 0.
    @Test func aHookThatGaveUpRunsAgainAtALaterCheck() async throws {
        MetricsRegistry.bootstrap()
        let fixture = try await hookFixture(topic: "gaveup")
        defer { fixture.remove() }
        var config = configuration(topic: fixture.topic, root: fixture.root)
        var hook = DoneHook(command: """
            flag='\(fixture.logs)/failed-'"$LOGFLUME_HR"
            if [ ! -e "$flag" ]; then touch "$flag"; exit 3; fi
            printf '%s\\n' "$LOGFLUME_BUCKET" >> '\(fixture.logs)/hook.log'
            """)
        hook.retries = 0
        // Checks 1.5 s apart: the longest a run can take (one attempt).
        hook.timeoutMs = 1_500
        hook.recheckMs = 300
        config.doneHook = hook
        let mostOwed = Mutex(0)
        @Sendable func owedGauge() -> Int? {
            let text = String(decoding: MetricsRegistry.exposition(), as: UTF8.self)
            let line = text.split(separator: "\n").first { $0.hasPrefix(#"logflume_aggregator_done_hooks_owed{topic="gaveup"}"#) }
            return line.flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }.map { Int($0) }
        }
        // Runs until every hour's hook succeeded and a check after that found nothing owed.
        try await aggregate(fixture.broker, config: config) {
            let owed = owedGauge() ?? -1
            mostOwed.withLock { $0 = max($0, owed) }
            return fixture.ran.count >= Self.hours && owed == 0
        }
        #expect(fixture.ran.sorted() == (0..<Self.hours).map { "dt=2024-03-01/hr=\(pad(8 + $0, 2))" })
        #expect(fixture.owed.isEmpty, "still owed: \(fixture.owed)")
        #expect(mostOwed.withLock { $0 } >= 1, "the gauge never showed a run owed")
        #expect(owedGauge() == 0)
        await fixture.broker.stop()
    }
}
