public import Logging
public import LogflumeWire
public import NIOCore
import NIOPosix
import Synchronization

/// One TCP connection to one broker, with requests pipelined and responses matched to them by
/// correlation id in order. The first request is ApiVersions, so every later request uses the
/// highest version both sides implement.
public final class BrokerConnection: Sendable {
    public let address: String
    let channel: any Channel
    let clientId: String
    private let correlation = Atomic<Int32>(0)
    /// Versions the broker advertised, intersected with what this client implements.
    public let versions: [ApiKey: ClosedRange<Int16>]

    private init(address: String, channel: any Channel, clientId: String, versions: [ApiKey: ClosedRange<Int16>]) {
        self.address = address
        self.channel = channel
        self.clientId = clientId
        self.versions = versions
    }

    /// Connects and negotiates API versions.
    public static func connect(
        host: String, port: Int, clientId: String, group: any EventLoopGroup, timeoutMs: Int64 = 10_000, logger: Logger
    ) async throws -> BrokerConnection {
        let address = "\(host):\(port)"
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(timeoutMs))
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                // Fetch responses run to megabytes: reads of up to 1 MiB take them in few calls.
                .channelOption(ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 16 << 10, maximum: 1 << 20))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ResponseFrameHandler(address: address))
                        try channel.pipeline.syncOperations.addHandler(ClientResponseHandler(address: address, logger: logger))
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            throw KafkaClientError.connectionFailed(broker: address, reason: "\(error)")
        }
        let bootstrap = BrokerConnection(address: address, channel: channel, clientId: clientId, versions: [:])
        let response: ApiVersionsResponse
        do {
            response = try await bootstrap.send(ApiVersionsRequest(clientSoftwareName: "logflume", clientSoftwareVersion: "0.1"),
                                                version: 3, as: ApiVersionsResponse.self, timeoutMs: timeoutMs)
        } catch {
            channel.close(promise: nil)
            throw error
        }
        var negotiated: [ApiKey: ClosedRange<Int16>] = [:]
        for api in response.apiKeys {
            guard let key = ApiKey(rawValue: api.apiKey), let ours = ClientVersions.supported[key] else { continue }
            let low = max(api.minVersion, ours.lowerBound)
            let high = min(api.maxVersion, ours.upperBound)
            if low <= high { negotiated[key] = low...high }
        }
        return BrokerConnection(address: address, channel: channel, clientId: clientId, versions: negotiated)
    }

    /// The version to use for `api`, or an error naming the broker when none is shared.
    public func version(for api: ApiKey) throws(KafkaClientError) -> Int16 {
        guard let range = versions[api] else { throw .unsupportedVersion(broker: address, api: api) }
        return range.upperBound
    }

    /// Sends a request and waits for its response.
    public func send<Request: KafkaEncodableMessage, Response: KafkaMessage>(
        _ request: Request, version: Int16, as: Response.Type, timeoutMs: Int64 = 30_000
    ) async throws -> Response {
        guard let body = try await writeOrdered(request, version: version, expectResponse: true, timeoutMs: timeoutMs).get() else {
            throw KafkaClientError.protocolViolation(broker: address, reason: "missing response")
        }
        do {
            return try Response.decodeExactly(body, version: version)
        } catch {
            throw KafkaClientError.protocolViolation(broker: address, reason: "\(Request.apiKey) v\(version) response: \(error)")
        }
    }

    /// Sends a request that gets no response (Produce with acks=0).
    public func sendWithoutResponse<Request: KafkaEncodableMessage>(_ request: Request, version: Int16) async throws {
        _ = try await writeOrdered(request, version: version, expectResponse: false, timeoutMs: 0).get()
    }

    /// Writes a request right away, so requests written one after another by one task reach the
    /// broker in that order (idempotent produce depends on it). The future holds the response
    /// body, or nil once written when `expectResponse` is false; a failed write fails it, so no
    /// caller waits on a connection that closed underneath it.
    func writeOrdered<Request: KafkaEncodableMessage>(
        _ request: Request, version: Int16, expectResponse: Bool, timeoutMs: Int64
    ) -> EventLoopFuture<ByteBuffer?> {
        let correlationId = correlation.wrappingAdd(1, ordering: .relaxed).newValue & 0x7fff_ffff
        let header = RequestHeader(apiKey: Request.apiKey, apiVersion: version, correlationId: correlationId, clientId: clientId)
        var frame = channel.allocator.buffer(capacity: 256)
        frame.writeInteger(Int32(0))
        header.encode(into: &frame)
        request.encode(into: &frame, version: version)
        frame.setInteger(Int32(frame.readableBytes - 4), at: frame.readerIndex)
        let eventLoop = channel.eventLoop
        let promise = expectResponse ? eventLoop.makePromise(of: ByteBuffer.self) : nil
        let description = "\(Request.apiKey) v\(version)"
        let pending = OutstandingRequest(
            correlationId: correlationId, responseHeaderVersion: Request.apiKey.responseHeaderVersion(version),
            promise: promise, description: description
        )
        let written = channel.writeAndFlush(ClientOutbound(frame: frame, pending: pending))
        guard let promise else { return written.map { nil } }
        written.whenFailure { promise.fail($0) }
        let address = self.address
        let timeout = eventLoop.scheduleTask(in: .milliseconds(timeoutMs)) {
            promise.fail(KafkaClientError.timedOut(broker: address, request: description, afterMs: timeoutMs))
        }
        promise.futureResult.whenComplete { _ in timeout.cancel() }
        return promise.futureResult.map { Optional($0) }
    }

    public func close() async {
        try? await channel.close()
    }

    public var isActive: Bool { channel.isActive }
}

struct OutstandingRequest: Sendable {
    var correlationId: Int32
    var responseHeaderVersion: Int16
    var promise: EventLoopPromise<ByteBuffer>?
    var description: String
}

struct ClientOutbound: Sendable {
    var frame: ByteBuffer
    var pending: OutstandingRequest
}

/// Matches response frames to the requests written before them, strictly in order.
final class ClientResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ClientOutbound
    typealias OutboundOut = ByteBuffer

    let address: String
    let logger: Logger
    private var waiting = CircularBuffer<OutstandingRequest>()

    init(address: String, logger: Logger) {
        self.address = address
        self.logger = logger
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outbound = unwrapOutboundIn(data)
        if outbound.pending.promise != nil { waiting.append(outbound.pending) }
        context.write(wrapOutboundOut(outbound.frame), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        guard let request = waiting.popFirst() else {
            fail(context: context, reason: "response with no request outstanding")
            return
        }
        do {
            let header = try ResponseHeader.decode(from: &frame, headerVersion: request.responseHeaderVersion)
            guard header.correlationId == request.correlationId else {
                waiting.prepend(request)
                fail(context: context, reason: "correlation id \(header.correlationId), expected \(request.correlationId)")
                return
            }
            request.promise?.succeed(frame)
        } catch {
            request.promise?.fail(KafkaClientError.protocolViolation(broker: address, reason: "\(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        while let request = waiting.popFirst() {
            request.promise?.fail(KafkaClientError.connectionClosed(broker: address))
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Bytes that make no sense are the broker's fault; a reset or a broken pipe is the
        // network's, and whoever sent the requests may retry them elsewhere.
        if error is KafkaClientError {
            fail(context: context, reason: "\(error)")
        } else {
            fail(context: context, reason: "\(error)", with: .connectionFailed(broker: address, reason: "\(error)"))
        }
    }

    private func fail(context: ChannelHandlerContext, reason: String, with failure: KafkaClientError? = nil) {
        logger.warning("closing broker connection", metadata: ["broker": "\(address)", "reason": "\(reason)"])
        while let request = waiting.popFirst() {
            request.promise?.fail(failure ?? KafkaClientError.protocolViolation(broker: address, reason: reason))
        }
        context.close(promise: nil)
    }
}

/// Response frames (4-byte size prefix, then the frame), assembled without an accumulation
/// buffer (`KafkaFrameAssembler`).
final class ResponseFrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let address: String
    /// Responses as large as the broker's own request limit are accepted.
    private var assembler = KafkaFrameAssembler()
    /// After a bad frame the stream cannot be resynchronised: the rest is dropped while the
    /// connection closes.
    private var failed = false

    init(address: String) { self.address = address }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        do {
            try assembler.feed(unwrapInboundIn(data), allocator: context.channel.allocator) { frame in
                context.fireChannelRead(wrapInboundOut(frame))
            }
        } catch {
            failed = true
            context.fireErrorCaught(KafkaClientError.protocolViolation(broker: address, reason: "response frame: \(error)"))
        }
    }
}
