public import NIOCore

/// A decoded request body of any API the broker advertises.
public enum KafkaRequest: Equatable, Sendable {
    case produce(ProduceRequest)
    case fetch(FetchRequest)
    case listOffsets(ListOffsetsRequest)
    case metadata(MetadataRequest)
    case findCoordinator(FindCoordinatorRequest)
    case apiVersions(ApiVersionsRequest)
    case createTopics(CreateTopicsRequest)
    case deleteTopics(DeleteTopicsRequest)
    case initProducerId(InitProducerIdRequest)
    case describeConfigs(DescribeConfigsRequest)
    case offsetCommit(OffsetCommitRequest)
    case offsetFetch(OffsetFetchRequest)
    case joinGroup(JoinGroupRequest)
    case heartbeat(HeartbeatRequest)
    case leaveGroup(LeaveGroupRequest)
    case syncGroup(SyncGroupRequest)
    case describeGroups(DescribeGroupsRequest)
    case listGroups(ListGroupsRequest)
    case deleteGroups(DeleteGroupsRequest)
    /// An advertised API whose body this codec does not parse (none at present: every row of
    /// `SupportedVersions` has a codec). `body` is the rest of the frame.
    case undecoded(apiKey: ApiKey, version: Int16, body: ByteBuffer)

    public var apiKey: ApiKey {
        switch self {
        case .produce: return .produce
        case .fetch: return .fetch
        case .listOffsets: return .listOffsets
        case .metadata: return .metadata
        case .findCoordinator: return .findCoordinator
        case .apiVersions: return .apiVersions
        case .createTopics: return .createTopics
        case .deleteTopics: return .deleteTopics
        case .initProducerId: return .initProducerId
        case .describeConfigs: return .describeConfigs
        case .offsetCommit: return .offsetCommit
        case .offsetFetch: return .offsetFetch
        case .joinGroup: return .joinGroup
        case .heartbeat: return .heartbeat
        case .leaveGroup: return .leaveGroup
        case .syncGroup: return .syncGroup
        case .describeGroups: return .describeGroups
        case .listGroups: return .listGroups
        case .deleteGroups: return .deleteGroups
        case .undecoded(let apiKey, _, _): return apiKey
        }
    }

    /// Decodes the body that follows `header` in a request frame.
    ///
    /// Throws `.unknownApiKey` for keys this codec does not know and `.unsupportedVersion` for
    /// APIs or versions outside `SupportedVersions`, so the broker can answer them (ApiVersions
    /// with `ApiVersionsResponse.unsupportedVersion()` at v0). Bytes after the last field are
    /// left in `body`.
    public static func decode(header: RequestHeader, body: inout ByteBuffer) throws(KafkaDecodingError) -> KafkaRequest {
        guard let apiKey = header.apiKey else { throw .unknownApiKey(header.requestApiKey) }
        let version = header.requestApiVersion
        guard SupportedVersions.supports(apiKey, version: version) else {
            throw .unsupportedVersion(apiKey: apiKey, version: version)
        }
        switch apiKey {
        case .produce: return .produce(try ProduceRequest(from: &body, version: version))
        case .fetch: return .fetch(try FetchRequest(from: &body, version: version))
        case .listOffsets: return .listOffsets(try ListOffsetsRequest(from: &body, version: version))
        case .metadata: return .metadata(try MetadataRequest(from: &body, version: version))
        case .findCoordinator: return .findCoordinator(try FindCoordinatorRequest(from: &body, version: version))
        case .apiVersions: return .apiVersions(try ApiVersionsRequest(from: &body, version: version))
        case .createTopics: return .createTopics(try CreateTopicsRequest(from: &body, version: version))
        case .deleteTopics: return .deleteTopics(try DeleteTopicsRequest(from: &body, version: version))
        case .initProducerId: return .initProducerId(try InitProducerIdRequest(from: &body, version: version))
        case .describeConfigs: return .describeConfigs(try DescribeConfigsRequest(from: &body, version: version))
        case .offsetCommit: return .offsetCommit(try OffsetCommitRequest(from: &body, version: version))
        case .offsetFetch: return .offsetFetch(try OffsetFetchRequest(from: &body, version: version))
        case .joinGroup: return .joinGroup(try JoinGroupRequest(from: &body, version: version))
        case .heartbeat: return .heartbeat(try HeartbeatRequest(from: &body, version: version))
        case .leaveGroup: return .leaveGroup(try LeaveGroupRequest(from: &body, version: version))
        case .syncGroup: return .syncGroup(try SyncGroupRequest(from: &body, version: version))
        case .describeGroups: return .describeGroups(try DescribeGroupsRequest(from: &body, version: version))
        case .listGroups: return .listGroups(try ListGroupsRequest(from: &body, version: version))
        case .deleteGroups: return .deleteGroups(try DeleteGroupsRequest(from: &body, version: version))
        default:
            let rest = body.readSlice(length: body.readableBytes)!
            return .undecoded(apiKey: apiKey, version: version, body: rest)
        }
    }

    /// Decodes a whole request frame (without its size prefix): the header, then the body. When
    /// the body is refused the error is returned with the header, so the broker can still answer
    /// the correlation id.
    public static func decode(frame: ByteBuffer) -> (header: RequestHeader?, result: Result<KafkaRequest, KafkaDecodingError>) {
        var frame = frame
        let header: RequestHeader
        do throws(KafkaDecodingError) {
            header = try RequestHeader.decode(from: &frame)
        } catch {
            return (nil, .failure(error))
        }
        do throws(KafkaDecodingError) {
            return (header, .success(try decode(header: header, body: &frame)))
        } catch {
            return (header, .failure(error))
        }
    }

    /// Appends the body at `version` (client side).
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        switch self {
        case .produce(let m): m.encode(into: &buffer, version: version)
        case .fetch(let m): m.encode(into: &buffer, version: version)
        case .listOffsets(let m): m.encode(into: &buffer, version: version)
        case .metadata(let m): m.encode(into: &buffer, version: version)
        case .findCoordinator(let m): m.encode(into: &buffer, version: version)
        case .apiVersions(let m): m.encode(into: &buffer, version: version)
        case .createTopics(let m): m.encode(into: &buffer, version: version)
        case .deleteTopics(let m): m.encode(into: &buffer, version: version)
        case .initProducerId(let m): m.encode(into: &buffer, version: version)
        case .describeConfigs(let m): m.encode(into: &buffer, version: version)
        case .offsetCommit(let m): m.encode(into: &buffer, version: version)
        case .offsetFetch(let m): m.encode(into: &buffer, version: version)
        case .joinGroup(let m): m.encode(into: &buffer, version: version)
        case .heartbeat(let m): m.encode(into: &buffer, version: version)
        case .leaveGroup(let m): m.encode(into: &buffer, version: version)
        case .syncGroup(let m): m.encode(into: &buffer, version: version)
        case .describeGroups(let m): m.encode(into: &buffer, version: version)
        case .listGroups(let m): m.encode(into: &buffer, version: version)
        case .deleteGroups(let m): m.encode(into: &buffer, version: version)
        case .undecoded(_, _, var body): buffer.writeBuffer(&body)
        }
    }

    /// A whole size-prefixed request frame (client side).
    public func encodeFrame(version: Int16, correlationId: Int32, clientId: String?) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))
        RequestHeader(apiKey: apiKey, apiVersion: version, correlationId: correlationId, clientId: clientId).encode(into: &buffer)
        encode(into: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}

/// A response body of any API this codec implements.
public enum KafkaResponse: Equatable, Sendable {
    case produce(ProduceResponse)
    case fetch(FetchResponse)
    case listOffsets(ListOffsetsResponse)
    case metadata(MetadataResponse)
    case findCoordinator(FindCoordinatorResponse)
    case apiVersions(ApiVersionsResponse)
    case createTopics(CreateTopicsResponse)
    case deleteTopics(DeleteTopicsResponse)
    case initProducerId(InitProducerIdResponse)
    case describeConfigs(DescribeConfigsResponse)
    case offsetCommit(OffsetCommitResponse)
    case offsetFetch(OffsetFetchResponse)
    case joinGroup(JoinGroupResponse)
    case heartbeat(HeartbeatResponse)
    case leaveGroup(LeaveGroupResponse)
    case syncGroup(SyncGroupResponse)
    case describeGroups(DescribeGroupsResponse)
    case listGroups(ListGroupsResponse)
    case deleteGroups(DeleteGroupsResponse)

    public var apiKey: ApiKey {
        switch self {
        case .produce: return .produce
        case .fetch: return .fetch
        case .listOffsets: return .listOffsets
        case .metadata: return .metadata
        case .findCoordinator: return .findCoordinator
        case .apiVersions: return .apiVersions
        case .createTopics: return .createTopics
        case .deleteTopics: return .deleteTopics
        case .initProducerId: return .initProducerId
        case .describeConfigs: return .describeConfigs
        case .offsetCommit: return .offsetCommit
        case .offsetFetch: return .offsetFetch
        case .joinGroup: return .joinGroup
        case .heartbeat: return .heartbeat
        case .leaveGroup: return .leaveGroup
        case .syncGroup: return .syncGroup
        case .describeGroups: return .describeGroups
        case .listGroups: return .listGroups
        case .deleteGroups: return .deleteGroups
        }
    }

    /// Decodes a response body (client side). ApiVersions falls back to v0 like the Java client,
    /// since a broker answers an unsupported ApiVersions version with a v0 body.
    public static func decode(apiKey: ApiKey, version: Int16, body: inout ByteBuffer) throws(KafkaDecodingError) -> KafkaResponse {
        switch apiKey {
        case .produce: return .produce(try ProduceResponse(from: &body, version: version))
        case .fetch: return .fetch(try FetchResponse(from: &body, version: version))
        case .listOffsets: return .listOffsets(try ListOffsetsResponse(from: &body, version: version))
        case .metadata: return .metadata(try MetadataResponse(from: &body, version: version))
        case .findCoordinator: return .findCoordinator(try FindCoordinatorResponse(from: &body, version: version))
        case .apiVersions: return .apiVersions(try ApiVersionsResponse.decodeWithFallback(from: &body, version: version))
        case .createTopics: return .createTopics(try CreateTopicsResponse(from: &body, version: version))
        case .deleteTopics: return .deleteTopics(try DeleteTopicsResponse(from: &body, version: version))
        case .initProducerId: return .initProducerId(try InitProducerIdResponse(from: &body, version: version))
        case .describeConfigs: return .describeConfigs(try DescribeConfigsResponse(from: &body, version: version))
        case .offsetCommit: return .offsetCommit(try OffsetCommitResponse(from: &body, version: version))
        case .offsetFetch: return .offsetFetch(try OffsetFetchResponse(from: &body, version: version))
        case .joinGroup: return .joinGroup(try JoinGroupResponse(from: &body, version: version))
        case .heartbeat: return .heartbeat(try HeartbeatResponse(from: &body, version: version))
        case .leaveGroup: return .leaveGroup(try LeaveGroupResponse(from: &body, version: version))
        case .syncGroup: return .syncGroup(try SyncGroupResponse(from: &body, version: version))
        case .describeGroups: return .describeGroups(try DescribeGroupsResponse(from: &body, version: version))
        case .listGroups: return .listGroups(try ListGroupsResponse(from: &body, version: version))
        case .deleteGroups: return .deleteGroups(try DeleteGroupsResponse(from: &body, version: version))
        default: throw .unsupportedVersion(apiKey: apiKey, version: version)
        }
    }

    /// Decodes a whole response frame (without its size prefix) for a request of `apiKey` at
    /// `version`: the header (v0 or v1 as the API and version require), then the body.
    public static func decode(frame: ByteBuffer, apiKey: ApiKey, version: Int16) throws(KafkaDecodingError) -> (header: ResponseHeader, response: KafkaResponse) {
        var frame = frame
        let header = try ResponseHeader.decode(from: &frame, headerVersion: apiKey.responseHeaderVersion(version))
        return (header, try decode(apiKey: apiKey, version: version, body: &frame))
    }

    /// Appends the body at `version` to `chunks`.
    public func encode(into chunks: inout ResponseChunks, version: Int16) {
        switch self {
        case .fetch(let m): m.encode(into: &chunks, version: version)
        case .produce(let m): m.encode(into: &chunks.buffer, version: version)
        case .listOffsets(let m): m.encode(into: &chunks.buffer, version: version)
        case .metadata(let m): m.encode(into: &chunks.buffer, version: version)
        case .findCoordinator(let m): m.encode(into: &chunks.buffer, version: version)
        case .apiVersions(let m): m.encode(into: &chunks.buffer, version: version)
        case .createTopics(let m): m.encode(into: &chunks.buffer, version: version)
        case .deleteTopics(let m): m.encode(into: &chunks.buffer, version: version)
        case .initProducerId(let m): m.encode(into: &chunks.buffer, version: version)
        case .describeConfigs(let m): m.encode(into: &chunks.buffer, version: version)
        case .offsetCommit(let m): m.encode(into: &chunks.buffer, version: version)
        case .offsetFetch(let m): m.encode(into: &chunks.buffer, version: version)
        case .joinGroup(let m): m.encode(into: &chunks.buffer, version: version)
        case .heartbeat(let m): m.encode(into: &chunks.buffer, version: version)
        case .leaveGroup(let m): m.encode(into: &chunks.buffer, version: version)
        case .syncGroup(let m): m.encode(into: &chunks.buffer, version: version)
        case .describeGroups(let m): m.encode(into: &chunks.buffer, version: version)
        case .listGroups(let m): m.encode(into: &chunks.buffer, version: version)
        case .deleteGroups(let m): m.encode(into: &chunks.buffer, version: version)
        }
    }

    /// A whole size-prefixed response frame in wire order (broker side), with the response
    /// header version the API and version require (always v0 for ApiVersions). The size prefix
    /// counts external chunks too; `[ResponseChunk].totalLength` is the frame's byte count.
    public func encodeFrame(correlationId: Int32, version: Int16) -> [ResponseChunk] {
        KafkaResponseFrame.encode(correlationId: correlationId, headerVersion: apiKey.responseHeaderVersion(version)) { chunks in
            encode(into: &chunks, version: version)
        }
    }
}
