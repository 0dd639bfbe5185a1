/// Idempotent-producer sequence numbers, which wrap from Int32.max to 0 as in the Java client.
public enum ProducerSequence {
    public static func advance(_ base: Int32, by count: Int32) -> Int32 {
        Int32(truncatingIfNeeded: (Int64(base) + Int64(count)) % (Int64(Int32.max) + 1))
    }
}

extension RecordBatchSummary {
    /// Sequence of the batch's last record; -1 when the batch carries no sequence.
    public var lastSequence: Int32 {
        baseSequence < 0 ? -1 : ProducerSequence.advance(baseSequence, by: lastOffsetDelta)
    }
}
