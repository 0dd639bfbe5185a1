public import NIOCore

/// The compression codecs Kafka allows for the records section of a record batch.
///
/// The raw values are the codec ids carried in the low three bits of a batch's attributes, so a
/// codec can be read straight off the wire with `CompressionCodec(rawValue:)`.
public enum CompressionCodec: Int8, Sendable, CaseIterable, CustomStringConvertible {
    case none = 0
    case gzip = 1
    case snappy = 2
    case lz4 = 3
    case zstd = 4

    /// Accepts the spellings of Kafka's `compression.type` setting, so configuration written for a
    /// Kafka broker or client can be passed through unchanged.
    public init?(name: String) {
        switch name.lowercased() {
        case "none": self = .none
        case "gzip": self = .gzip
        case "snappy": self = .snappy
        case "lz4": self = .lz4
        case "zstd": self = .zstd
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .none: "none"
        case .gzip: "gzip"
        case .snappy: "snappy"
        case .lz4: "lz4"
        case .zstd: "zstd"
        }
    }

    public var description: String { self.name }
}

extension CompressionCodec {
    /// Appends the compressed form of `input` (its readable bytes) to `output`.
    ///
    /// `level` is codec specific and `nil` picks the codec's usual default (gzip 6, lz4 fast mode,
    /// zstd 3); snappy has no levels and ignores it. On error `output` is left as it was.
    public func compress(_ input: ByteBuffer, into output: inout ByteBuffer, level: Int? = nil) throws {
        let start = output.writerIndex
        do {
            switch self {
            case .none: output.writeImmutableBuffer(input)
            case .gzip: try Gzip.compress(input, into: &output, level: level)
            case .snappy: try Snappy.compress(input, into: &output)
            case .lz4: try LZ4.compress(input, into: &output, level: level)
            case .zstd: try Zstd.compress(input, into: &output, level: level)
            }
        } catch {
            // Callers often append a batch after others in one buffer; half a batch there would be
            // worse than none.
            output.moveWriterIndex(to: start)
            throw error
        }
    }

    /// Appends the decompressed bytes to `output`; throws if the result would exceed
    /// `maxOutputBytes`.
    ///
    /// The limit exists because the input comes from the network: a few kilobytes of crafted input
    /// can expand to gigabytes. It bounds what this call appends, not the size of `output`. On
    /// error `output` is left as it was.
    public func decompress(_ input: ByteBuffer, into output: inout ByteBuffer, maxOutputBytes: Int = 256 << 20) throws {
        precondition(maxOutputBytes >= 0, "maxOutputBytes must not be negative")
        let start = output.writerIndex
        do {
            switch self {
            case .none:
                guard input.readableBytes <= maxOutputBytes else {
                    throw CompressionError(codec: .none, reason: .outputLimitExceeded(limit: maxOutputBytes))
                }
                output.writeImmutableBuffer(input)
            case .gzip: try Gzip.decompress(input, into: &output, limit: maxOutputBytes)
            case .snappy: try Snappy.decompress(input, into: &output, limit: maxOutputBytes)
            case .lz4: try LZ4.decompress(input, into: &output, limit: maxOutputBytes)
            case .zstd: try Zstd.decompress(input, into: &output, limit: maxOutputBytes)
            }
        } catch {
            // Decompressors stream into `output` before they know the input is bad; drop what they
            // wrote so a failed call has no visible effect.
            output.moveWriterIndex(to: start)
            throw error
        }
    }
}
