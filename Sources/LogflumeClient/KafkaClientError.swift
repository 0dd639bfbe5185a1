public import LogflumeWire

/// Failures the client reports; each says which broker and request were involved.
public enum KafkaClientError: Error, Sendable, CustomStringConvertible {
    case connectionFailed(broker: String, reason: String)
    case connectionClosed(broker: String)
    case timedOut(broker: String, request: String, afterMs: Int64)
    case protocolViolation(broker: String, reason: String)
    case unsupportedVersion(broker: String, api: ApiKey)
    case broker(KafkaErrorCode, message: String?, context: String)
    case noBrokerAvailable(bootstrap: [String])
    case unknownTopicOrPartition(topic: String, partition: Int32?)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .connectionFailed(let broker, let reason): return "cannot connect to \(broker): \(reason)"
        case .connectionClosed(let broker): return "connection to \(broker) closed"
        case .timedOut(let broker, let request, let ms): return "\(request) to \(broker) timed out after \(ms) ms"
        case .protocolViolation(let broker, let reason): return "protocol error from \(broker): \(reason)"
        case .unsupportedVersion(let broker, let api): return "\(broker) supports no version of \(api) this client speaks"
        case .broker(let code, let message, let context):
            return "\(context): \(code)\(message.map { " (\($0))" } ?? "")"
        case .noBrokerAvailable(let bootstrap): return "no broker reachable among \(bootstrap.joined(separator: ", "))"
        case .unknownTopicOrPartition(let topic, let partition):
            return "unknown topic or partition \(topic)\(partition.map { "-\($0)" } ?? "")"
        case .invalidArgument(let message): return message
        }
    }

    /// Worth retrying after a metadata refresh and a backoff.
    public var isRetriable: Bool {
        switch self {
        case .connectionFailed, .connectionClosed, .timedOut, .noBrokerAvailable: return true
        case .broker(let code, _, _): return code.isRetriable
        default: return false
        }
    }
}
