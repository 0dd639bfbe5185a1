public import Logging
public import LogflumeStorage
public import LogflumeWire
public import NIOCore

/// The broker's request handling. Each API is a function from a decoded request to a response
/// (in `Broker+<API>.swift`), testable without sockets; `process` only decodes the frame, picks
/// the handler and encodes the answer. Frames that cannot be understood close the connection
/// with a log line naming the peer and the reason, as Kafka does.
public final class Broker: RequestProcessor {
    public let config: BrokerConfig
    public let topics: TopicStore
    let clock: any WallClock
    let logger: Logger
    let producerIds: ProducerIdAllocator

    /// What this broker answers: the codec's table, minus the group APIs until the group
    /// coordinator exists (FindCoordinator stays, answering COORDINATOR_NOT_AVAILABLE).
    public static let advertised: [ApiVersionRange] = SupportedVersions.table.filter { row in
        guard let key = ApiKey(rawValue: row.apiKey) else { return false }
        return [.produce, .fetch, .listOffsets, .metadata, .apiVersions, .createTopics, .deleteTopics, .initProducerId,
                .describeConfigs, .findCoordinator].contains(key)
    } + [ApiVersionRange(.alterConfigs, AlterConfigsRequest.versions)]

    public init(config: BrokerConfig, topics: TopicStore, clock: any WallClock, logger: Logger) throws {
        self.config = config
        self.topics = topics
        self.clock = clock
        self.logger = logger
        self.producerIds = try ProducerIdAllocator(path: topics.dataDirectory + "/__cluster/producer-id-block")
    }

    public func process(frame: ByteBuffer, connection: ConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<OutboundResponse?> {
        var body = frame
        let header: RequestHeader
        do {
            header = try RequestHeader.decode(from: &body)
        } catch {
            return eventLoop.makeFailedFuture(BrokerRequestError.malformed(peer: connection.peer, reason: "request header: \(error)"))
        }
        let version = header.requestApiVersion
        guard let api = header.apiKey, let range = Self.advertised.first(where: { $0.apiKey == header.requestApiKey }) else {
            return eventLoop.makeFailedFuture(BrokerRequestError.malformed(
                peer: connection.peer, reason: "unsupported API key \(header.requestApiKey) (client \(header.clientId ?? "-"))"
            ))
        }
        guard (range.minVersion...range.maxVersion).contains(version) else {
            if api == .apiVersions {
                // KIP-511: answer with our table in a v0 body so the client retries at our maximum.
                let answer = ApiVersionsResponse.unsupportedVersion(Self.advertised)
                return eventLoop.makeSucceededFuture(respond(answer, version: ApiVersionsResponse.unsupportedVersionAnswerVersion, to: header))
            }
            return eventLoop.makeFailedFuture(BrokerRequestError.malformed(
                peer: connection.peer, reason: "\(api) v\(version) is not supported (\(range.minVersion)-\(range.maxVersion))"
            ))
        }
        do {
            switch api {
            case .apiVersions:
                _ = try ApiVersionsRequest.decodeExactly(body, version: version)
                return eventLoop.makeSucceededFuture(respond(ApiVersionsResponse.advertising(Self.advertised), version: version, to: header))
            case .metadata:
                return eventLoop.makeSucceededFuture(respond(metadata(try .decodeExactly(body, version: version), version: version), version: version, to: header))
            case .produce:
                let request = try ProduceRequest.decodeExactly(body, version: version)
                let response = produce(request, version: version)
                return eventLoop.makeSucceededFuture(request.acks == 0 ? nil : respond(response, version: version, to: header))
            case .fetch:
                return fetch(try .decodeExactly(body, version: version), version: version, header: header, connection: connection, eventLoop: eventLoop)
            case .listOffsets:
                return eventLoop.makeSucceededFuture(respond(listOffsets(try .decodeExactly(body, version: version), version: version), version: version, to: header))
            case .createTopics:
                return eventLoop.makeSucceededFuture(respond(createTopics(try .decodeExactly(body, version: version), version: version), version: version, to: header))
            case .deleteTopics:
                return eventLoop.makeSucceededFuture(respond(deleteTopics(try .decodeExactly(body, version: version)), version: version, to: header))
            case .describeConfigs:
                return eventLoop.makeSucceededFuture(respond(describeConfigs(try .decodeExactly(body, version: version), version: version), version: version, to: header))
            case .alterConfigs:
                return eventLoop.makeSucceededFuture(respond(alterConfigs(try .decodeExactly(body, version: version)), version: version, to: header))
            case .initProducerId:
                return eventLoop.makeSucceededFuture(respond(initProducerId(try .decodeExactly(body, version: version)), version: version, to: header))
            case .findCoordinator:
                _ = try FindCoordinatorRequest.decodeExactly(body, version: version)
                let answer = FindCoordinatorResponse(
                    errorCode: KafkaErrorCode.coordinatorNotAvailable.rawValue,
                    errorMessage: "consumer groups are not available on this broker yet"
                )
                return eventLoop.makeSucceededFuture(respond(answer, version: version, to: header))
            default:
                return eventLoop.makeFailedFuture(BrokerRequestError.malformed(peer: connection.peer, reason: "\(api) has no handler"))
            }
        } catch {
            return eventLoop.makeFailedFuture(BrokerRequestError.malformed(
                peer: connection.peer, reason: "\(api) v\(version) (client \(header.clientId ?? "-")): \(error)"
            ))
        }
    }

    /// Wakes every long-polling fetch; seeing the connection draining, each answers at once.
    public func beginDraining() {
        for partition in topics.allPartitions { partition.wakeWaiters() }
    }

    func respond<M: KafkaEncodableMessage>(_ message: M, version: Int16, to header: RequestHeader) -> OutboundResponse {
        OutboundResponse(KafkaResponseFrame.encode(message, version: version, correlationId: header.correlationId))
    }

    var advertisedBroker: MetadataResponse.Broker {
        MetadataResponse.Broker(nodeId: config.nodeId, host: config.advertised.host, port: Int32(config.advertised.port))
    }
}

/// Why a connection was closed instead of answered.
public enum BrokerRequestError: Error, CustomStringConvertible {
    case malformed(peer: String, reason: String)

    public var description: String {
        switch self {
        case .malformed(let peer, let reason): return "request from \(peer) refused: \(reason)"
        }
    }
}
