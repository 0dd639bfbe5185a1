import Foundation
import LogflumeClient
import LogflumeTestSupport
import NIOCore
import Testing

/// `logflume broker` with `metrics.listen` serves Prometheus metrics per API: what an operator
/// reads to tell a slow broker from a slow client. A real broker process, real clients, and the
/// endpoint read over HTTP.
@Suite(.enabled(if: LiveBroker.isAvailable, "build the logflume binary first"))
struct BrokerMetricsTests {
    /// The value of the sample whose name and labels are exactly `series`.
    private func sample(_ series: String, in exposition: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test func requestsBytesTimesAndConnectionsAreCountedPerApi() async throws {
        let metricsPort = try freeLoopbackPort()
        let broker = try LiveBroker(config: "metrics.listen = \"127.0.0.1:\(metricsPort)\"\n")
        let topic = "metered"
        try await broker.createTopicOfFlushes(topic, flushes: 2, recordsPerFlush: 100) { "record \($0)-\($1) of the metered topic" }
        try await broker.withCluster { cluster in
            let consumer = Consumer(cluster: cluster)
            try await consumer.assign([TopicPartition(topic, 0): .earliest])
            var received = 0
            let deadline = ContinuousClock.now + .seconds(20)
            while received < 200 && ContinuousClock.now < deadline {
                received += try await consumer.poll(maxRecords: 1_000, timeoutMs: 500).count
            }
            #expect(received == 200)
            let connected = try httpGet("/metrics", port: metricsPort)
            #expect((sample("logflume_broker_connections", in: connected) ?? 0) >= 1)
            await consumer.close()
        }
        // A frame with an API key no broker knows: the connection is closed, and it counts.
        var frame = ByteBuffer()
        frame.writeInteger(Int32(10))
        frame.writeInteger(Int16(1_000))  // API key
        frame.writeInteger(Int16(0))  // version
        frame.writeInteger(Int32(1))  // correlation id
        frame.writeInteger(Int16(-1))  // no client id
        #expect(try exchangeUntilClosed(port: broker.port, request: Array(frame.readableBytesView)).isEmpty)

        let metrics = try httpGet("/metrics", port: metricsPort)
        #expect(metrics.hasPrefix("HTTP/1.1 200"))
        func requests(_ api: String) -> Double { sample("logflume_broker_requests_total{api=\"\(api)\"}", in: metrics) ?? -1 }
        #expect(requests("CreateTopics") == 1)
        #expect(requests("Produce") >= 2)
        #expect(requests("Fetch") >= 1)
        #expect(requests("ListOffsets") >= 1)
        #expect(requests("Metadata") >= 1)
        #expect(requests("unknown") == 1)
        #expect(sample("logflume_broker_request_failures_total{api=\"unknown\"}", in: metrics) == 1)
        #expect(sample("logflume_broker_request_failures_total{api=\"Produce\"}", in: metrics) == 0)
        // Every value is over 30 bytes: 200 of them went in through Produce and out through Fetch.
        #expect((sample("logflume_broker_request_bytes_total{api=\"Produce\"}", in: metrics) ?? 0) > 6_000)
        #expect((sample("logflume_broker_response_bytes_total{api=\"Fetch\"}", in: metrics) ?? 0) > 6_000)
        // Each answered request has its time recorded.
        #expect(sample("logflume_broker_request_duration_seconds_count{api=\"Produce\"}", in: metrics) == requests("Produce"))
        #expect(try httpGet("/status", port: metricsPort).contains("broker 0 on \(broker.bootstrap)"))
    }
}
