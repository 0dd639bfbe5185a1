/// Why bytes were refused as a Kafka request, response or header. Every case names the field and
/// the reader position (relative to the start of the buffer handed to the decoder, which for a
/// frame is the first byte after the size prefix), so a broker log line can point at the fault.
public enum KafkaDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The buffer ended inside `field`: it needed `needed` bytes at `position`, `available` were left.
    case truncated(field: String, position: Int, needed: Int, available: Int)
    /// A length or count prefix that is negative (other than the null marker) or larger than the
    /// bytes left could possibly hold.
    case invalidLength(field: String, position: Int, length: Int64)
    /// A null (length -1, or 0 in the compact forms) where the schema does not allow one.
    case unexpectedNull(field: String, position: Int)
    /// An unsigned varint longer than its type allows (or cut off).
    case malformedVarint(field: String, position: Int)
    /// A value that is well-formed bytes but not a legal value for the field.
    case invalidValue(field: String, position: Int, reason: String)
    /// The request header names an API key this broker does not know.
    case unknownApiKey(Int16)
    /// The API is known but the version is outside what this codec (or the broker) advertises.
    case unsupportedVersion(apiKey: ApiKey, version: Int16)

    public var description: String {
        switch self {
        case .truncated(let field, let position, let needed, let available):
            return "truncated at \(field) (position \(position)): needs \(needed) bytes, \(available) left"
        case .invalidLength(let field, let position, let length):
            return "invalid length \(length) for \(field) at position \(position)"
        case .unexpectedNull(let field, let position):
            return "null \(field) at position \(position) where the schema forbids null"
        case .malformedVarint(let field, let position):
            return "malformed varint for \(field) at position \(position)"
        case .invalidValue(let field, let position, let reason):
            return "invalid \(field) at position \(position): \(reason)"
        case .unknownApiKey(let key):
            return "unknown API key \(key)"
        case .unsupportedVersion(let apiKey, let version):
            return "unsupported version \(version) of \(apiKey)"
        }
    }
}
