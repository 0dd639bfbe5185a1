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
    public let groups: GroupCoordinator
    let metrics = BrokerMetrics(apis: Broker.advertised.compactMap { ApiKey(rawValue: $0.apiKey) })

    /// What this broker answers: the codec's table plus AlterConfigs.
    public static let advertised: [ApiVersionRange] = SupportedVersions.table
        + [ApiVersionRange(.alterConfigs, AlterConfigsRequest.versions)]

    public init(
        config: BrokerConfig, topics: TopicStore, clock: any WallClock, logger: Logger,
        groupConfig: GroupCoordinatorConfig = GroupCoordinatorConfig()
    ) throws {
        self.config = config
        self.topics = topics
        self.clock = clock
        self.logger = logger
        self.producerIds = try ProducerIdAllocator(path: topics.dataDirectory + "/__cluster/producer-id-block")
        self.groups = try GroupCoordinator(topics: topics, config: groupConfig, clock: clock, logger: logger)
    }

    public func process(frame: ByteBuffer, connection: ConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<OutboundResponse?> {
        let request = metrics.started(apiKey: frame.getInteger(at: frame.readerIndex, as: Int16.self), frameBytes: frame.readableBytes + 4)
        let answer = handle(frame: frame, connection: connection, eventLoop: eventLoop)
        answer.whenComplete(request.finish)
        return answer
    }

    private func handle(frame: ByteBuffer, connection: ConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<OutboundResponse?> {
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
                let request = try FindCoordinatorRequest.decodeExactly(body, version: version)
                // This broker coordinates every group; transactions have no coordinator yet.
                let answer = request.keyType == 0
                    ? FindCoordinatorResponse(nodeId: config.nodeId, host: config.advertised.host, port: Int32(config.advertised.port))
                    : FindCoordinatorResponse(errorCode: KafkaErrorCode.coordinatorNotAvailable.rawValue, errorMessage: "transactions are not supported")
                return eventLoop.makeSucceededFuture(respond(answer, version: version, to: header))
            case .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit, .offsetFetch, .describeGroups, .listGroups, .deleteGroups:
                var copy = body
                let request = try KafkaRequest.decode(header: header, body: &copy)
                guard copy.readableBytes == 0 else {
                    throw KafkaDecodingError.invalidValue(field: "\(api) v\(version) body", position: copy.readerIndex, reason: "\(copy.readableBytes) bytes left after the last field")
                }
                return groups.handle(request, header: header, eventLoop: eventLoop)
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
