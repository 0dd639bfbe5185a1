import LogflumeClient
import LogflumeWire
import NIOCore
import Testing

/// The producer's state machine driven by hand: no sockets, no clock.
@Suite struct RecordAccumulatorTests {
    let p0 = TopicPartition("logs", 0)
    let p1 = TopicPartition("logs", 1)

    func accumulator(
        batchBytes: Int = 1 << 20, lingerMs: Int64 = 5, idempotent: Bool = true, maxInFlight: Int = 5, deliveryTimeoutMs: Int64 = 120_000,
        compression: CompressionCodec = .none
    ) -> RecordAccumulator {
        var accumulator = RecordAccumulator(configuration: .init(
            batchBytes: batchBytes, lingerMs: lingerMs, compression: compression, idempotent: idempotent,
            maxInFlightPerPartition: maxInFlight, retryBackoffMs: 100, retryBackoffMaxMs: 1000, deliveryTimeoutMs: deliveryTimeoutMs
        ))
        if idempotent { accumulator.setProducerId(7, epoch: 3) }
        return accumulator
    }

    func value(_ n: Int, size: Int = 10) -> ByteBuffer {
        let text = "v\(n)-"
        return ByteBuffer(string: text + String(repeating: "x", count: max(0, size - text.utf8.count)))
    }

    func values(of batch: ProducerBatch) throws -> [String] {
        var batch = batch
        return try batch.encode().records().map { String(buffer: $0.value!) }
    }

    @discardableResult
    func append(_ accumulator: inout RecordAccumulator, _ tp: TopicPartition, _ n: Int, size: Int = 10, now: Int64 = 0) -> RecordAccumulator.AppendResult {
        accumulator.append(to: tp, key: nil, value: value(n, size: size), timestamp: 1_000 + Int64(n), now: now)
    }

    let everyoneLeads: (TopicPartition) -> Bool = { _ in true }

    @Test func lingerHoldsABatchUntilItExpires() throws {
        var acc = accumulator(lingerMs: 5)
        let first = append(&acc, p0, 0, now: 100)
        #expect(first == .init(batchIsFull: false, createdBatch: true))
        #expect(append(&acc, p0, 1, now: 102) == .init(batchIsFull: false, createdBatch: false))
        let early = acc.drain(now: 104, hasLeader: everyoneLeads)
        #expect(early.ready.isEmpty)
        #expect(early.nextDrainAt == 105)
        let due = acc.drain(now: 105, hasLeader: everyoneLeads)
        #expect(due.ready.count == 1)
        #expect(try values(of: due.ready[0]) == ["v0-xxxxxxx", "v1-xxxxxxx"])
        #expect(due.nextDrainAt == nil)
    }

    @Test func flushingSendsWithoutWaitingForLinger() {
        var acc = accumulator(lingerMs: 1_000)
        append(&acc, p0, 0, now: 0)
        #expect(acc.drain(now: 1, hasLeader: everyoneLeads).ready.isEmpty)
        acc.flushing = true
        #expect(acc.drain(now: 1, hasLeader: everyoneLeads).ready.count == 1)
    }

    @Test func batchesAreCutBySize() throws {
        var acc = accumulator(batchBytes: 1_000, lingerMs: 1_000)
        var full = 0
        for n in 0..<40 where append(&acc, p0, n, size: 100).batchIsFull { full += 1 }
        #expect(full >= 4)
        let drained = acc.drain(now: 0, hasLeader: everyoneLeads)
        #expect(drained.ready.count == full)  // full batches only; the open one lingers
        var seen: [String] = []
        for var batch in drained.ready {
            let encoded = try batch.encode()
            #expect(encoded.sizeInBytes <= 1_000)
            seen += try values(of: batch)
        }
        acc.flushing = true
        for batch in acc.drain(now: 0, hasLeader: everyoneLeads).ready { seen += try values(of: batch) }
        #expect(seen.map { $0.prefix { $0 != "-" } } == (0..<40).map { "v\($0)"[...] })
    }

    @Test func aRecordLargerThanABatchGoesAlone() throws {
        var acc = accumulator(batchBytes: 200, lingerMs: 1_000)
        append(&acc, p0, 0)
        #expect(append(&acc, p0, 1, size: 500).batchIsFull)
        let ready = acc.drain(now: 0, hasLeader: everyoneLeads).ready
        #expect(ready.count == 2)
        #expect(try ready.map { try values(of: $0).count } == [1, 1])
    }

    @Test func partitionsGetTheirOwnBatchesAndSequences() throws {
        var acc = accumulator(lingerMs: 0)
        for n in 0..<3 { append(&acc, p0, n) }
        for n in 0..<2 { append(&acc, p1, n) }
        let ready = acc.drain(now: 0, hasLeader: everyoneLeads).ready.sorted { $0.topicPartition < $1.topicPartition }
        #expect(ready.map(\.topicPartition) == [p0, p1])
        #expect(ready.map(\.recordCount) == [3, 2])
        #expect(ready.map(\.baseSequence) == [0, 0])
        var first = ready[0]
        let batch = try first.encode()
        #expect(batch.producerId == 7)
        #expect(batch.producerEpoch == 3)
        #expect(batch.baseSequence == 0)
        #expect(acc.nextSequence(for: p0) == 3)
        #expect(acc.nextSequence(for: p1) == 2)
    }

    @Test func sequencesContinueAcrossBatches() {
        var acc = accumulator(batchBytes: 500, lingerMs: 0)
        for n in 0..<30 { append(&acc, p0, n, size: 60) }
        let ready = acc.drain(now: 0, hasLeader: everyoneLeads).ready
        var expected: Int32 = 0
        for batch in ready {
            #expect(batch.baseSequence == expected)
            expected += batch.recordCount
        }
        #expect(ready.count == 5)  // max in flight
    }

    @Test func atMostMaxInFlightBatchesPerPartition() {
        var acc = accumulator(batchBytes: 300, lingerMs: 0, maxInFlight: 2)
        for n in 0..<30 { append(&acc, p0, n, size: 100) }
        let first = acc.drain(now: 0, hasLeader: everyoneLeads).ready
        #expect(first.count == 2)
        #expect(acc.drain(now: 0, hasLeader: everyoneLeads).ready.isEmpty)
        let outcome = acc.receive(.appended(baseOffset: 0, logAppendTime: -1), for: first[0], now: 1)
        #expect(outcome.completion != nil)
        let next = acc.drain(now: 1, hasLeader: everyoneLeads).ready
        #expect(next.count == 1)
        #expect(next[0].baseSequence == first[1].baseSequence + first[1].recordCount)
    }

    @Test func retriesKeepTheirBytesAndGoOutInSequenceOrderFirst() throws {
        var acc = accumulator(batchBytes: 300, lingerMs: 0, maxInFlight: 3)
        for n in 0..<6 { append(&acc, p0, n, size: 100) }  // two records per batch
        var sent = acc.drain(now: 0, hasLeader: everyoneLeads).ready
        #expect(sent.map(\.baseSequence) == [0, 2, 4])
        for index in sent.indices { try sent[index].encode() }
        let firstBytes = sent[0].records!.bytes
        // The leader moved: the first fails, the broker then sees a gap for the others.
        let first = acc.receive(.error(.notLeaderOrFollower, message: nil), for: sent[0], now: 10)
        #expect(first.willRetry && first.refreshMetadata && first.completion == nil)
        #expect(acc.receive(.error(.outOfOrderSequenceNumber, message: nil), for: sent[1], now: 10).willRetry)
        #expect(acc.receive(.error(.outOfOrderSequenceNumber, message: nil), for: sent[2], now: 10).willRetry)
        for n in 9..<12 { append(&acc, p0, n, size: 100, now: 10) }

        let beforeBackoff = acc.drain(now: 50, hasLeader: everyoneLeads)
        #expect(beforeBackoff.ready.isEmpty)
        #expect(beforeBackoff.nextDrainAt == 110)
        #expect(!beforeBackoff.needsProducerId)

        var order: [Int32] = []
        var now: Int64 = 110
        while true {
            let ready = acc.drain(now: now, hasLeader: everyoneLeads).ready
            guard !ready.isEmpty else { break }
            if order.count < 3 { #expect(ready.count == 1, "retries go one at a time") }
            for batch in ready {
                order.append(batch.baseSequence)
                if batch.baseSequence == 0 {
                    #expect(batch.records?.bytes == firstBytes, "a retry sends the same bytes")
                    #expect(batch.attempts == 2)
                }
                _ = acc.receive(.appended(baseOffset: Int64(batch.baseSequence), logAppendTime: -1), for: batch, now: now)
            }
            now += 1
        }
        #expect(order == [0, 2, 4, 6, 8])
        #expect(acc.pendingRecords == 0 && acc.bufferedBytes == 0 && acc.isEmpty)
    }

    @Test func duplicateSequenceNumberCountsAsDelivered() {
        var acc = accumulator(lingerMs: 0)
        append(&acc, p0, 0)
        let batch = acc.drain(now: 0, hasLeader: everyoneLeads).ready[0]
        let outcome = acc.receive(.error(.duplicateSequenceNumber, message: nil), for: batch, now: 1)
        guard case .success(let ack)? = outcome.completion?.result else {
            Issue.record("expected success, got \(String(describing: outcome.completion?.result))")
            return
        }
        #expect(ack.baseOffset == -1)
        #expect(acc.isEmpty)
    }

    @Test func refusedBatchFailsAndANewProducerIdRestartsSequences() throws {
        var acc = accumulator(lingerMs: 0)
        append(&acc, p0, 0)
        let batch = acc.drain(now: 0, hasLeader: everyoneLeads).ready[0]
        let outcome = acc.receive(.error(.messageTooLarge, message: "too big"), for: batch, now: 1)
        guard case .failure(let error)? = outcome.completion?.result else {
            Issue.record("expected a failure")
            return
        }
        #expect(error == .rejected(p0, .messageTooLarge, message: "too big"))
        append(&acc, p0, 1, now: 1)
        let waiting = acc.drain(now: 1, hasLeader: everyoneLeads)
        #expect(waiting.needsProducerId && waiting.ready.isEmpty)
        acc.setProducerId(8, epoch: 0)
        var next = acc.drain(now: 1, hasLeader: everyoneLeads).ready
        #expect(next.count == 1)
        #expect(next[0].baseSequence == 0)
        #expect(try next[0].encode().producerId == 8)
    }

    @Test func lostProducerStateRestampsTheRetriedBatch() throws {
        var acc = accumulator(lingerMs: 0, compression: .lz4)
        for n in 0..<3 { append(&acc, p0, n) }
        var sent = acc.drain(now: 0, hasLeader: everyoneLeads).ready[0]
        let before = try sent.encode()
        _ = acc.receive(.appended(baseOffset: 0, logAppendTime: -1), for: sent, now: 0)
        append(&acc, p0, 3)
        sent = acc.drain(now: 0, hasLeader: everyoneLeads).ready[0]
        #expect(sent.baseSequence == 3)
        try sent.encode()
        // Nothing earlier is outstanding, so the broker forgot us: new id, renumbered from 0.
        #expect(acc.receive(.error(.outOfOrderSequenceNumber, message: nil), for: sent, now: 1).willRetry)
        #expect(acc.drain(now: 200, hasLeader: everyoneLeads).needsProducerId)
        acc.setProducerId(9, epoch: 0)
        let retried = acc.drain(now: 200, hasLeader: everyoneLeads).ready
        #expect(retried.count == 1)
        let batch = try #require(retried[0].records)
        #expect(batch.producerId == 9 && batch.baseSequence == 0)
        _ = try RecordBatch(validating: batch.bytes)  // the CRC was recomputed
        #expect(try batch.records().map { String(buffer: $0.value!) } == ["v3-xxxxxxx"])
        #expect(before.producerId == 7)
        #expect(acc.nextSequence(for: p0) == 1)
    }

    @Test func waitsForAProducerIdBeforeSending() {
        var acc = RecordAccumulator(configuration: .init(lingerMs: 0, idempotent: true))
        acc.append(to: p0, key: nil, value: value(0), timestamp: 0, now: 0)
        let drained = acc.drain(now: 10, hasLeader: everyoneLeads)
        #expect(drained.needsProducerId && drained.ready.isEmpty)
        acc.setProducerId(1, epoch: 0)
        #expect(acc.drain(now: 10, hasLeader: everyoneLeads).ready.count == 1)
    }

    @Test func withoutIdempotenceThereAreNoSequences() throws {
        var acc = accumulator(lingerMs: 0, idempotent: false)
        append(&acc, p0, 0)
        let drained = acc.drain(now: 0, hasLeader: everyoneLeads)
        #expect(!drained.needsProducerId)
        var batch = drained.ready[0]
        #expect(batch.baseSequence == -1)
        #expect(try batch.encode().producerId == -1)
    }

    @Test func batchesWithoutALeaderWaitThenExpire() {
        var acc = accumulator(lingerMs: 0, deliveryTimeoutMs: 1_000)
        append(&acc, p0, 0, now: 0)
        append(&acc, p1, 0, now: 0)
        let waiting = acc.drain(now: 10) { $0 == self.p1 }
        #expect(waiting.topicsWithoutLeader == ["logs"])
        #expect(waiting.ready.map(\.topicPartition) == [p1])
        let expired = acc.drain(now: 1_000) { _ in false }
        #expect(expired.failed.count == 1)
        guard case .failure(.deliveryTimedOut(let tp, let ms, _))? = expired.failed.first?.result else {
            Issue.record("expected a delivery timeout")
            return
        }
        #expect(tp == p0 && ms == 1_000)
    }

    @Test func retriesStopAtTheDeliveryTimeout() {
        var acc = accumulator(lingerMs: 0, idempotent: false, deliveryTimeoutMs: 500)
        append(&acc, p0, 0, now: 0)
        var batch = acc.drain(now: 0, hasLeader: everyoneLeads).ready[0]
        #expect(acc.receive(.transportFailure("connection reset"), for: batch, now: 100).willRetry)
        batch = acc.drain(now: 200, hasLeader: everyoneLeads).ready[0]
        let outcome = acc.receive(.transportFailure("connection reset"), for: batch, now: 600)
        guard case .failure(.deliveryTimedOut(_, _, let last))? = outcome.completion?.result else {
            Issue.record("expected a delivery timeout")
            return
        }
        #expect(last == "connection reset")
        #expect(acc.isEmpty)
    }

    @Test func deliveryCallbacksTravelWithTheirRecords() throws {
        var acc = accumulator(lingerMs: 0)
        for n in 0..<3 {
            var callback: DeliveryCallback?
            if n == 1 { callback = { (_: DeliveryReport) -> Void in } }
            acc.append(to: p0, key: nil, value: value(n), timestamp: Int64(n), now: 0, delivery: callback)
        }
        let batch = acc.drain(now: 0, hasLeader: everyoneLeads).ready[0]
        let completion = try #require(acc.receive(.appended(baseOffset: 40, logAppendTime: -1), for: batch, now: 1).completion)
        guard case .success(let ack) = completion.result else {
            Issue.record("expected success")
            return
        }
        #expect(ack.baseOffset == 40)
        #expect(completion.batch.recordCount == 3)
    }
}
