public import NIOCore

/// A request or response body of one Kafka API, decodable at every version in `versions`.
///
/// Fields that a version does not carry keep their Kafka defaults when decoded and are left out
/// when encoded, exactly as the message's JSON schema says.
public protocol KafkaMessage: Equatable, Sendable {
    static var apiKey: ApiKey { get }
    /// The versions this codec implements field for field.
    static var versions: ClosedRange<Int16> { get }
    /// Decodes the body (everything after the header) at `version`.
    init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError)
}

/// A message whose encoding is one contiguous ByteBuffer (all but the Fetch response, whose
/// records may be spliced from files; see `ResponseChunks`).
public protocol KafkaEncodableMessage: KafkaMessage {
    /// Appends the body at `version`, which must be in `versions`.
    func encode(into buffer: inout ByteBuffer, version: Int16)
}

extension KafkaMessage {
    /// Throws `.unsupportedVersion` unless `version` is one this codec implements.
    public static func checkVersion(_ version: Int16) throws(KafkaDecodingError) {
        guard versions.contains(version) else { throw .unsupportedVersion(apiKey: apiKey, version: version) }
    }

    static func assertVersion(_ version: Int16) {
        assert(versions.contains(version), "\(apiKey) v\(version) is outside the implemented versions \(versions)")
    }

    /// Decodes a whole body and refuses trailing bytes: a body longer than its schema means the
    /// peer and we disagree about the version's layout.
    public static func decodeExactly(_ body: ByteBuffer, version: Int16) throws(KafkaDecodingError) -> Self {
        var body = body
        let message = try Self(from: &body, version: version)
        guard body.readableBytes == 0 else {
            throw .invalidValue(field: "\(apiKey) v\(version) body", position: body.readerIndex,
                                reason: "\(body.readableBytes) bytes left after the last field")
        }
        return message
    }
}

extension KafkaEncodableMessage {
    /// The body alone, as a new buffer.
    public func encoded(version: Int16, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 64)
        encode(into: &buffer, version: version)
        return buffer
    }
}
