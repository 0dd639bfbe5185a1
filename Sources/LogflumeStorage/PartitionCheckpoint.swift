/// The few numbers a partition keeps beside its segments: how far the log is known durable
/// (recovery scans only past this), where it starts after retention, and how far compaction got.
/// Stored as `key value` lines so an operator can read it.
struct PartitionCheckpoint: Equatable {
    var recoveryPoint: Int64 = 0
    var logStartOffset: Int64 = 0
    var cleanedUpTo: Int64 = 0

    static let fileName = "partition.checkpoint"

    init() {}

    init?(text: String) {
        var parsed = PartitionCheckpoint()
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Int64(parts[1]) else { return nil }
            switch parts[0] {
            case "recovery-point": parsed.recoveryPoint = value
            case "log-start-offset": parsed.logStartOffset = value
            case "cleaned-up-to": parsed.cleanedUpTo = value
            case "version": guard value == 1 else { return nil }
            default: return nil
            }
        }
        self = parsed
    }

    var text: String {
        "version 1\nrecovery-point \(recoveryPoint)\nlog-start-offset \(logStartOffset)\ncleaned-up-to \(cleanedUpTo)\n"
    }
}
