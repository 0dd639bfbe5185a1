@testable import LogflumeBroker
import LogflumeWire
import NIOEmbedded
import Testing

/// The byte limits of a fetch answer: the client's, per partition and in all, and the broker's
/// own `fetch.max.bytes` (KIP-541).
@Suite struct FetchLimitTests {
    /// Partitions 0 and 1 of `topic`, from offset 0, as much as the client allows.
    func fetchBoth(_ test: TestBroker, topic: String, maxBytes: Int32 = 50 << 20) -> Broker.FetchResult {
        let partitions = (0..<2).map { FetchRequest.FetchPartition(partition: Int32($0), fetchOffset: 0, partitionMaxBytes: 1 << 20) }
        return test.broker.readFetch(FetchRequest(maxBytes: maxBytes, topics: [.init(topic: topic, partitions: partitions)]), version: 4)
    }

    /// Five records of ~90 bytes.
    let small = batch((0..<5).map { "value \($0) " + String(repeating: "x", count: 80) })

    /// Five `small` batches in each of `partitions` partitions of `topic`.
    /// - Returns: the size of one batch.
    @discardableResult
    func fill(_ test: TestBroker, topic: String, partitions: Int32 = 2) -> Int {
        test.createTopic(topic, partitions: partitions)
        for partition in Int32(0)..<partitions {
            for _ in 0..<5 { #expect(test.produce(topic, partition: partition, batch: small).errorCode == 0) }
        }
        return small.bytes.readableBytes
    }

    func recordBytes(_ result: Broker.FetchResult) -> [Int] {
        result.response.responses[0].partitions.map(\.records.length)
    }

    @Test func theBrokerCapsAnAnswerBelowWhatTheClientAsksFor() throws {
        let test = try TestBroker { $0.fetchMaxBytes = 2_000 }
        defer { test.remove() }
        let batchBytes = fill(test, topic: "capped")
        #expect(batchBytes * 5 > 2_000)

        let capped = fetchBoth(test, topic: "capped")
        #expect(capped.bytes == 2_000)
        #expect(recordBytes(capped) == [2_000, 0])
        // The client's own limit still applies when it is the lower one.
        let clientLimited = fetchBoth(test, topic: "capped", maxBytes: 1_500)
        #expect(recordBytes(clientLimited) == [1_500, 0])
    }

    @Test func withoutTheCapTheClientsLimitsDecide() throws {
        let test = try TestBroker()
        defer { test.remove() }
        #expect(test.broker.config.fetchMaxBytes == 55 << 20)
        let whole = fill(test, topic: "capped") * 5
        #expect(recordBytes(fetchBoth(test, topic: "capped")) == [whole, whole])
    }

    /// A consumer must get past a batch larger than any limit: the first one is whole.
    @Test func theFirstBatchIsWholeEvenAboveTheCap() throws {
        let test = try TestBroker { $0.fetchMaxBytes = 1_024 }
        defer { test.remove() }
        test.createTopic("capped", partitions: 2)
        let large = batch((0..<40).map { "value \($0) " + String(repeating: "y", count: 80) })
        #expect(large.bytes.readableBytes > 1_024)
        for partition in Int32(0)..<2 { _ = test.produce("capped", partition: partition, batch: large) }
        #expect(recordBytes(fetchBoth(test, topic: "capped")) == [large.bytes.readableBytes, 0])
    }

    /// A client whose `min.bytes` is above what the broker lets an answer carry is answered as
    /// soon as a full answer is there, not after `max.wait.ms` (Kafka clamps `min.bytes` too).
    @Test func minBytesAboveTheCapDoesNotHoldTheAnswer() throws {
        let test = try TestBroker { $0.fetchMaxBytes = 2_000 }
        defer { test.remove() }
        fill(test, topic: "capped", partitions: 1)
        test.createTopic("sparse", partitions: 1)
        _ = test.produce("sparse", batch: small)
        #expect(small.bytes.readableBytes < 1_500)
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        func answeredAtOnce(_ topic: String, minBytes: Int32) -> Bool {
            let request = FetchRequest(
                maxWaitMs: 60_000, minBytes: minBytes, maxBytes: 50 << 20,
                topics: [.init(topic: topic, partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)])]
            )
            let header = RequestHeader(requestApiKey: ApiKey.fetch.rawValue, requestApiVersion: 4, correlationId: 1, clientId: nil)
            let future = test.broker.fetch(request, version: 4, header: header, connection: ConnectionInfo(peer: "test", draining: { false }), eventLoop: loop)
            let done = Box()
            future.whenComplete { _ in done.value = true }
            loop.run()  // what is due now; the 60 s wait is not
            return done.value
        }
        #expect(answeredAtOnce("capped", minBytes: 1 << 20), "held for max.wait.ms although the cap allows no more")
        // Below the cap and above what is there, the wait is real.
        #expect(!answeredAtOnce("sparse", minBytes: 1_500))
    }

    final class Box: @unchecked Sendable {
        var value = false
    }
}
