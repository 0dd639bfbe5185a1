import NIOCore

/// The outcome of one decoder call made by `appendStreaming`.
struct StreamStep {
    var written: Int
    var finished: Bool
}

/// Runs a streaming decoder into the end of `output`, growing the buffer as needed and stopping
/// once more than `limit` bytes would be appended.
///
/// Decoders can't be told their output size up front (Kafka's framings don't always carry it, and
/// when they do an attacker chooses it), so they are fed space in chunks: first `sizeHint`, then
/// doubling, which keeps reallocations logarithmic in the output size. Every call gets at least one
/// byte and at most one byte beyond the limit, which is enough to tell "exactly at the limit" from
/// "over it" without a separate probe.
///
/// `step` must either make progress (consume input or produce output), finish, or throw; this is
/// what guarantees termination on hostile input.
func appendStreaming(
    into output: inout ByteBuffer,
    codec: CompressionCodec,
    limit: Int,
    sizeHint: Int,
    _ step: (UnsafeMutableRawBufferPointer) throws(CompressionError) -> StreamStep
) throws(CompressionError) {
    let ceiling = limit == .max ? .max : limit + 1
    var produced = 0
    var request = min(max(sizeHint, 256), ceiling)
    while true {
        var finished = false
        let written = try output.writeWithUnsafeMutableBytes(
            minimumWritableBytes: request
        ) { (space) throws(CompressionError) -> Int in
            let usable = min(space.count, ceiling - produced)
            let result = try step(UnsafeMutableRawBufferPointer(rebasing: space[..<usable]))
            finished = result.finished
            return result.written
        }
        produced += written
        guard produced <= limit else {
            throw CompressionError(codec: codec, reason: .outputLimitExceeded(limit: limit))
        }
        if finished {
            return
        }
        request = max(1, min(max(produced, 16 << 10), ceiling - produced))
    }
}

extension ByteBuffer {
    /// Yields the readable bytes with a base address that is never nil.
    ///
    /// Some C codecs reject or assert on a NULL source even when the length is zero, and an empty
    /// buffer is allowed to have no storage.
    func withReadableBytesNonNil<T, E: Error>(
        _ body: (UnsafeRawPointer, Int) throws(E) -> T
    ) throws(E) -> T {
        try self.withUnsafeReadableBytes { (raw) throws(E) -> T in
            if let base = raw.baseAddress {
                return try body(base, raw.count)
            }
            var placeholder: UInt8 = 0
            return try withUnsafePointer(to: &placeholder) { (pointer) throws(E) -> T in
                try body(UnsafeRawPointer(pointer), 0)
            }
        }
    }
}
