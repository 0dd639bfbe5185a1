/// Chooses a partition for a record the way the Java client does, so keyed records land on the
/// same partitions whichever client produced them: murmur2 of the key, modulo the partition
/// count; records without a key stick to one partition until a batch is sent (KIP-480).
public struct Partitioner: Sendable {
    private var sticky: [String: Int32] = [:]

    public init() {}

    /// The partition for `key` in a topic with `partitionCount` partitions.
    public static func partition(forKey key: some Collection<UInt8>, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0)
        return (murmur2(key) & 0x7fff_ffff) % partitionCount
    }

    /// The partition a key-less record goes to now.
    public mutating func stickyPartition(topic: String, partitionCount: Int32) -> Int32 {
        if let current = sticky[topic], current < partitionCount { return current }
        let chosen = Int32.random(in: 0..<partitionCount)
        sticky[topic] = chosen
        return chosen
    }

    /// Called when a batch for the sticky partition was cut: move on to another partition.
    public mutating func batchCompleted(topic: String, partition: Int32, partitionCount: Int32) {
        guard sticky[topic] == partition, partitionCount > 1 else { return }
        var next = Int32.random(in: 0..<(partitionCount - 1))
        if next >= partition { next += 1 }
        sticky[topic] = next
    }

    /// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), seed 0x9747b28c.
    public static func murmur2(_ data: some Collection<UInt8>) -> Int32 {
        let bytes = Array(data)
        let length = Int32(truncatingIfNeeded: bytes.count)
        let m: Int32 = 0x5bd1_e995
        let r: Int32 = 24
        var h: Int32 = Int32(bitPattern: 0x9747_b28c) ^ length
        let whole = bytes.count / 4
        for i in 0..<whole {
            let i4 = i * 4
            var k = Int32(bytes[i4]) | Int32(bytes[i4 + 1]) << 8 | Int32(bytes[i4 + 2]) << 16 | Int32(bitPattern: UInt32(bytes[i4 + 3]) << 24)
            k = k &* m
            k ^= Int32(bitPattern: UInt32(bitPattern: k) >> UInt32(r))
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = bytes.count & ~3
        switch bytes.count % 4 {
        case 3:
            h ^= Int32(bytes[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= Int32(bytes[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= Int32(bytes[tail])
            h = h &* m
        default:
            break
        }
        h ^= Int32(bitPattern: UInt32(bitPattern: h) >> 13)
        h = h &* m
        h ^= Int32(bitPattern: UInt32(bitPattern: h) >> 15)
        return h
    }
}
