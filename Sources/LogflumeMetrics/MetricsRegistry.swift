public import Prometheus
import CoreMetrics
import Synchronization

/// The process-wide Prometheus registry behind swift-metrics.
///
/// `MetricsSystem.bootstrap` may run once per process, yet tests start several agents,
/// brokers and aggregators in one process: every part calls `bootstrap()`, the first call wins
/// and the rest share its registry.
public enum MetricsRegistry {
    private static let state = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Buckets of every `Timer`: from 100 µs, where a broker answers a produce request on
    /// loopback, to 30 s (swift-prometheus starts at 5 ms, which would put every such request in
    /// the first bucket).
    static let durationBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// Installs the Prometheus factory (first call only) and returns the shared registry.
    @discardableResult
    public static func bootstrap() -> PrometheusCollectorRegistry {
        state.withLock { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: created)
            factory.defaultDurationHistogramBuckets = durationBuckets
            MetricsSystem.bootstrap(factory)
            registry = created
            return created
        }
    }

    /// The exposition text of every metric (Prometheus text format 0.0.4).
    public static func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        bootstrap().emit(into: &buffer)
        return buffer
    }
}
