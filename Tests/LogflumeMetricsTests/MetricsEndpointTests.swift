import Foundation
import Logging
import LogflumeMetrics
import Metrics
import ServiceLifecycle
import Testing

@Suite("Metrics endpoint")
struct MetricsEndpointTests {
    /// A GET over a plain socket; returns the whole response.
    private func get(_ path: String, port: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        let request = "GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        _ = request.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }

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
        let metrics = try get("/metrics", port: bound)
        #expect(metrics.hasPrefix("HTTP/1.1 200"))
        #expect(metrics.contains("logflume_test_requests_total 7"))
        #expect(try get("/status", port: bound).hasSuffix("files=3 mode=direct\n"))
        #expect(try get("/nope", port: bound).hasPrefix("HTTP/1.1 404"))
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test("an address that is not HOST:PORT is refused")
    func badAddress() {
        let made = MetricsEndpoint(listen: "localhost", logger: Logger(label: "test"), status: { "" })
        #expect(made == nil)
    }
}
