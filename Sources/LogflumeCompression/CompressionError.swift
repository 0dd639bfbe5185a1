/// A codec failed; carries enough detail to tell a bad producer from a local problem.
public struct CompressionError: Error, Sendable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// The input is not a valid stream for the codec: bad framing, failed checksum or
        /// truncation. The detail is the library's or this module's explanation.
        case corruptInput(String)
        /// Decompressing would have appended more than `limit` bytes.
        case outputLimitExceeded(limit: Int)
        /// The requested compression level is outside what the codec accepts.
        case invalidLevel(Int)
        /// The library failed for a reason unrelated to the input, such as running out of memory.
        case libraryError(code: Int, message: String)
    }

    public var codec: CompressionCodec
    public var reason: Reason

    public init(codec: CompressionCodec, reason: Reason) {
        self.codec = codec
        self.reason = reason
    }

    public var description: String {
        switch self.reason {
        case .corruptInput(let detail):
            "\(self.codec): corrupt input: \(detail)"
        case .outputLimitExceeded(let limit):
            "\(self.codec): decompressed data exceeds the limit of \(limit) bytes"
        case .invalidLevel(let level):
            "\(self.codec): invalid compression level \(level)"
        case .libraryError(let code, let message):
            "\(self.codec): library error \(code): \(message)"
        }
    }
}

extension CompressionError {
    static func corrupt(_ codec: CompressionCodec, _ detail: String) -> CompressionError {
        CompressionError(codec: codec, reason: .corruptInput(detail))
    }

    static func truncated(_ codec: CompressionCodec) -> CompressionError {
        CompressionError(codec: codec, reason: .corruptInput("input ends before the end of the stream"))
    }
}
