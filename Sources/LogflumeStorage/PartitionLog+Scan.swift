public import LogflumeWire

/// Sequential reads of a range of the log for internal consumers (producer-state rebuild,
/// coordinator replay, compaction, checks): a few MiB at a time, in offset order.
extension PartitionLog {
    /// Visits every batch holding offsets in `[from, to)`; `to` defaults to the log end.
    public func forEachBatch(from: Int64, to: Int64? = nil, _ visit: (RecordBatch) throws -> Void) throws {
        var offset = from
        while offset < (to ?? logEndOffset) {
            let batches = try readBatches(from: offset, maxBytes: 4 << 20, upperBound: to)
            guard let last = batches.last else { return }
            for batch in batches { try visit(batch) }
            offset = last.nextOffset
        }
    }

    /// Visits every data record (control batches skipped) with an offset in `[from, to)`.
    public func forEachRecord(from: Int64, to: Int64? = nil, _ visit: (Record, RecordBatch) throws -> Void) throws {
        try forEachBatch(from: from, to: to) { batch in
            guard !batch.attributes.isControl else { return }
            let records: [Record]
            do { records = try batch.records() } catch {
                throw LogError.corruptSegment(path: directory, position: -1, reason: "\(error)")
            }
            for record in records where record.offset >= from { try visit(record, batch) }
        }
    }
}
