import Metrics

/// The aggregator's swift-metrics instruments, all labelled by topic. The process's metrics
/// backend (Prometheus in `logflume`) decides where they are exported.
public final class AggregatorMetrics: Sendable {
    private struct TopicInstruments: Sendable {
        let bucketed: Counter
        let skippedBelowFence: Counter
        let lateWritten: Counter
        let lateDropped: Counter
        let closedWatermark: Counter
        let closedForced: Counter
        let closedLate: Counter
        let markers: Counter
        let hookFailures: Counter
        let hooksOwed: Gauge
        let openBuckets: Gauge
        let watermarkLag: Gauge
    }

    private let topics: [String: TopicInstruments]
    private let sinkErrorCounter = Counter(label: "logflume_aggregator_sink_errors_total")

    public init(topics: [String]) {
        var instruments: [String: TopicInstruments] = [:]
        for topic in topics {
            let dimensions = [("topic", topic)]
            instruments[topic] = TopicInstruments(
                bucketed: Counter(label: "logflume_aggregator_records_bucketed_total", dimensions: dimensions),
                skippedBelowFence: Counter(label: "logflume_aggregator_records_skipped_below_fence_total", dimensions: dimensions),
                lateWritten: Counter(label: "logflume_aggregator_late_records_total", dimensions: dimensions + [("outcome", "written")]),
                lateDropped: Counter(label: "logflume_aggregator_late_records_total", dimensions: dimensions + [("outcome", "dropped")]),
                closedWatermark: Counter(label: "logflume_aggregator_hours_closed_total", dimensions: dimensions + [("reason", "watermark")]),
                closedForced: Counter(label: "logflume_aggregator_hours_closed_total", dimensions: dimensions + [("reason", "forced")]),
                closedLate: Counter(label: "logflume_aggregator_late_rounds_closed_total", dimensions: dimensions),
                markers: Counter(label: "logflume_aggregator_done_markers_total", dimensions: dimensions),
                hookFailures: Counter(label: "logflume_aggregator_done_hook_failures_total", dimensions: dimensions),
                hooksOwed: Gauge(label: "logflume_aggregator_done_hooks_owed", dimensions: dimensions),
                openBuckets: Gauge(label: "logflume_aggregator_hours_open", dimensions: dimensions),
                watermarkLag: Gauge(label: "logflume_aggregator_watermark_lag_seconds", dimensions: dimensions)
            )
        }
        self.topics = instruments
    }

    /// Tallies of one poll's record actions, so the counters are touched once per poll.
    struct ActionTally {
        var bucketed = 0
        var lateWritten = 0
        var skippedBelowFence = 0
        var lateDropped = 0

        mutating func add(_ action: RecordAction) {
            switch action {
            case .append(let key, _):
                bucketed += 1
                if key.kind != .main { lateWritten += 1 }
            case .skipBelowFence: skippedBelowFence += 1
            case .dropLate: lateDropped += 1
            }
        }
    }

    func record(_ tally: ActionTally, topic: String) {
        guard let instruments = topics[topic] else { return }
        if tally.bucketed > 0 { instruments.bucketed.increment(by: tally.bucketed) }
        if tally.lateWritten > 0 { instruments.lateWritten.increment(by: tally.lateWritten) }
        if tally.skippedBelowFence > 0 { instruments.skippedBelowFence.increment(by: tally.skippedBelowFence) }
        if tally.lateDropped > 0 { instruments.lateDropped.increment(by: tally.lateDropped) }
    }

    func recordAction(_ action: RecordAction, topic: String) {
        guard let instruments = topics[topic] else { return }
        switch action {
        case .append(let key, _):
            instruments.bucketed.increment()
            if key.kind != .main { instruments.lateWritten.increment() }
        case .skipBelowFence: instruments.skippedBelowFence.increment()
        case .dropLate: instruments.lateDropped.increment()
        }
    }

    func bucketClosed(_ close: BucketClose, topic: String) {
        guard let instruments = topics[topic] else { return }
        switch close.reason {
        case .watermark: instruments.closedWatermark.increment()
        case .maxOpenBuckets, .fenceLimit: instruments.closedForced.increment()
        case .lateRound: instruments.closedLate.increment()
        }
    }

    func markerCreated(topic: String) { topics[topic]?.markers.increment() }

    func doneHookFailed(topic: String) { topics[topic]?.hookFailures.increment() }

    /// Runs owed in the journal whose bucket has its marker, as the last check found them; 0 on
    /// instances that do not own the topic's partition 0 (they do not look).
    func hooksOwed(topic: String, count: Int) { topics[topic]?.hooksOwed.record(count) }

    func sinkError() { sinkErrorCounter.increment() }

    func state(topic: String, openBuckets: Int, watermark: Int64?, now: Int64) {
        guard let instruments = topics[topic] else { return }
        instruments.openBuckets.record(openBuckets)
        if let watermark { instruments.watermarkLag.record(Double(now - watermark) / 1000) }
    }
}
