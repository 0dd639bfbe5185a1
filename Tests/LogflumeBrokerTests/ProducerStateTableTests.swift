import LogflumeBroker
import LogflumeWire
import Testing

@Suite struct ProducerStateTableTests {
    func batch(producer: Int64 = 7, epoch: Int16 = 0, sequence: Int32, count: Int32 = 1, offset: Int64 = 0) -> RecordBatchSummary {
        var builder = RecordBatchBuilder(baseOffset: offset, producerId: producer, producerEpoch: epoch, baseSequence: sequence)
        for i in 0..<count { builder.append(key: nil, value: Array("v\(i)".utf8), timestamp: 1_000) }
        return try! builder.build().summary
    }

    @Test func inSequenceBatchesAppendAndRetriesAreDuplicates() {
        var table = ProducerStateTable()
        let first = batch(sequence: 0, count: 3, offset: 0)
        #expect(table.check(first) == .append)
        table.record(first)
        let second = batch(sequence: 3, count: 2, offset: 3)
        #expect(table.check(second) == .append)
        table.record(second)
        guard case .duplicate(let original) = table.check(batch(sequence: 0, count: 3, offset: 99)) else {
            Issue.record("a retry of the first batch must be a duplicate")
            return
        }
        #expect(original.firstOffset == 0 && original.lastOffset == 2)
    }

    @Test func gapsAndStaleEpochsAreRejected() {
        var table = ProducerStateTable()
        table.record(batch(epoch: 2, sequence: 0, count: 2))
        #expect(table.check(batch(epoch: 2, sequence: 5)) == .reject(.outOfOrderSequenceNumber))
        #expect(table.check(batch(epoch: 1, sequence: 2)) == .reject(.invalidProducerEpoch))
        #expect(table.check(batch(epoch: 3, sequence: 0)) == .append, "a bumped epoch restarts at sequence 0")
        #expect(table.check(batch(epoch: 3, sequence: 4)) == .reject(.outOfOrderSequenceNumber))
        #expect(table.check(batch(producer: 99, sequence: 3)) == .reject(.outOfOrderSequenceNumber), "unknown producers start at 0")
    }

    @Test func onlyTheLastFiveBatchesAreRemembered() {
        var table = ProducerStateTable()
        for i in 0..<8 { table.record(batch(sequence: Int32(i), offset: Int64(i))) }
        #expect(table.producers[7]?.batches.count == 5)
        #expect(table.check(batch(sequence: 7, offset: 50)) != .append)
        #expect(table.check(batch(sequence: 1)) == .reject(.outOfOrderSequenceNumber), "too old to recognise")
    }

    @Test func snapshotRoundTripsAndTruncationForgets() {
        var table = ProducerStateTable()
        for i in 0..<3 { table.record(batch(sequence: Int32(i * 2), count: 2, offset: Int64(i * 2))) }
        table.record(batch(producer: 8, epoch: 4, sequence: 0, offset: 6))
        let restored = ProducerStateTable.restore(snapshot: table.snapshot(at: 7))
        #expect(restored?.offset == 7)
        #expect(restored?.table == table)
        #expect(ProducerStateTable.restore(snapshot: "garbage") == nil)
        table.truncate(to: 4)
        #expect(table.producers[7]?.batches.map(\.firstOffset) == [0, 2])
        #expect(table.producers[8] == nil)
    }
}
