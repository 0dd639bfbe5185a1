import Foundation
import Logging
import LogflumeMetrics
import LogflumeTestSupport
import Metrics
import ServiceLifecycle
import Testing

@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    @Test("serves swift-metrics counters in Prometheus text format, the status line, and 404 elsewhere")
    func serves() async throws {
        let made = MetricsEndpoint(listen: "127.0.0.1:0", logger: Logger(label: "test"), status: { "files=3 mode=direct" })
        let endpoint = try #require(made)
        Counter(label: "logflume_test_requests_total").increment(by: 7)
        let group = ServiceGroup(services: [endpoint], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        var port: Int?
        for _ in 0..<200 where port == nil {
            port = endpoint.boundPort.withLock { $0 }
            try await Task.sleep(for: .milliseconds(10))
        }
        let bound = try #require(port)
        let metrics = try httpGet("/metrics", port: bound)
        #expect(metrics.hasPrefix("HTTP/1.1 200"))
        #expect(metrics.contains("logflume_test_requests_total 7"))
        #expect(try httpGet("/status", port: bound).hasSuffix("files=3 mode=direct\n"))
        #expect(try httpGet("/nope", port: bound).hasPrefix("HTTP/1.1 404"))
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("an address that is not HOST:PORT is refused")
    func badAddress() {
        let made = MetricsEndpoint(listen: "localhost", logger: Logger(label: "test"), status: { "" })
        #expect(made == nil)
    }
}
