import Metrics
import Synchronization

/// What the agent has done since it started: read by tests and the status line, and mirrored
/// into Prometheus metrics (`logflume_agent_*`).
public final class AgentCounters: Sendable {
    public enum Name: Int, CaseIterable, Sendable {
        case linesRead, linesShipped, linesFailed, linesSpooled, linesDropped, parseErrors, truncatedLines, unterminatedLines
        case bytesRead, rotations, truncations, copytruncates, filesOpened, checkpointsWritten, checkpointErrors
        /// Bytes a file was seen to hold that were truncated away before they could be read.
        case lostBytes

        /// The Prometheus name part: `logflume_agent_<label>_total`.
        public var label: String {
            switch self {
            case .linesRead: "lines_read"
            case .linesShipped: "lines_shipped"
            case .linesFailed: "lines_failed"
            case .linesSpooled: "lines_spooled"
            case .linesDropped: "lines_dropped"
            case .parseErrors: "parse_errors"
            case .truncatedLines: "truncated_lines"
            case .unterminatedLines: "unterminated_lines"
            case .bytesRead: "bytes_read"
            case .rotations: "rotations"
            case .truncations: "truncations"
            case .copytruncates: "copytruncates"
            case .lostBytes: "lost_bytes"
            case .filesOpened: "files_opened"
            case .checkpointsWritten: "checkpoints_written"
            case .checkpointErrors: "checkpoint_errors"
            }
        }
    }

    private final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    private let values: [Cell]
    private let counters: [Counter]

    init() {
        values = Name.allCases.map { _ in Cell() }
        counters = Name.allCases.map { Counter(label: "logflume_agent_\($0.label)_total") }
    }

    func add(_ name: Name, _ amount: Int = 1) {
        guard amount != 0 else { return }
        let index = name.rawValue
        values[index].value.add(amount, ordering: .relaxed)
        counters[index].increment(by: amount)
    }

    public subscript(_ name: Name) -> Int {
        values[name.rawValue].value.load(ordering: .relaxed)
    }
}

/// Gauges the agent sets on each housekeeping pass.
struct AgentGauges {
    let spoolBytes = Gauge(label: "logflume_agent_spool_bytes")
    let filesOpen = Gauge(label: "logflume_agent_files_open")
    let bytesBehindTotal = Gauge(label: "logflume_agent_bytes_behind")
    let bufferedBytes = Gauge(label: "logflume_agent_buffered_bytes")
    let roundTrip = Metrics.Timer(label: "logflume_agent_broker_round_trip_seconds")

    /// Per-file lag, labelled by path (the tailer keeps one per file and destroys it when the
    /// file is let go).
    func bytesBehind(path: String) -> Gauge {
        Gauge(label: "logflume_agent_file_bytes_behind", dimensions: [("path", path)])
    }
}
