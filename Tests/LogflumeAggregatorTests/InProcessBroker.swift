import Foundation
import LogflumeBroker
import LogflumeClient
import LogflumeStorage
import LogflumeTestSupport
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A real broker in this process on a loopback port, over a temporary data directory.
final class InProcessBroker: @unchecked Sendable {
    let directory: String
    let logger: Logger
    private let broker: EmbeddedBroker

    var port: Int { broker.port }
    var bootstrap: String { broker.bootstrap }
    var eventLoops: MultiThreadedEventLoopGroup { broker.group }

    init() async throws {
        directory = makeTemporaryDirectory("logflume-aggregator-broker")
        logger = testLogger("test.broker")
        // One offsets partition, groups formed at once, short sessions allowed, deadlines checked
        // every 20 ms: group tests run in seconds.
        broker = try await EmbeddedBroker(
            dataDirectory: directory + "/data", eventLoopThreads: 2, groupTickIntervalMs: 20, logger: logger
        ) { settings in
            settings.groups.offsetsTopicNumPartitions = 1
            settings.groups.initialRebalanceDelayMs = 0
            settings.groups.minSessionTimeoutMs = 500
        }
    }

    func stop() async {
        await broker.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func withCluster<T>(_ body: (KafkaCluster) async throws -> T) async throws -> T {
        let cluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrap: bootstrap, clientId: "aggregator-tests"), group: eventLoops, logger: logger)
        do {
            let result = try await body(cluster)
            await cluster.close()
            return result
        } catch {
            await cluster.close()
            throw error
        }
    }
}
