import LogflumeClient
import Testing

@Suite struct PartitionerTests {
    /// Vectors from Apache Kafka's UtilsTest.testMurmur2.
    @Test(arguments: [
        ("21", Int32(-973_932_308)), ("foobar", -790_332_482), ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829), ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ])
    func murmur2MatchesTheJavaClient(key: String, hash: Int32) {
        #expect(Partitioner.murmur2(Array(key.utf8)) == hash)
    }

    @Test func keyedPartitionIsStableAndInRange() {
        for n in 1...50 {
            let p = Partitioner.partition(forKey: Array("user-\(n)".utf8), partitionCount: 8)
            #expect((0..<8).contains(p))
            #expect(p == Partitioner.partition(forKey: Array("user-\(n)".utf8), partitionCount: 8))
        }
    }

    @Test func stickyPartitionMovesOnlyWhenABatchCompletes() {
        var partitioner = Partitioner()
        let first = partitioner.stickyPartition(topic: "t", partitionCount: 6)
        #expect(partitioner.stickyPartition(topic: "t", partitionCount: 6) == first)
        partitioner.batchCompleted(topic: "t", partition: first, partitionCount: 6)
        #expect(partitioner.stickyPartition(topic: "t", partitionCount: 6) != first)
    }
}
