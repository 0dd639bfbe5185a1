import Logging
import LogflumeStorage
public import NIOCore

/// What the connection needs from the broker: a frame in (size prefix removed), maybe a whole
/// response frame out (acks=0 produce
/// requests get none), possibly later (a long-polling fetch).
public protocol RequestProcessor: Sendable {
    func process(frame: ByteBuffer, connection: ConnectionInfo, eventLoop: any EventLoop) -> EventLoopFuture<OutboundResponse?>
    /// Shutdown began: answer requests that are waiting (long polls) now.
    func beginDraining()
}

/// Facts about the connection a request arrived on, for logs and for draining on shutdown.
public struct ConnectionInfo: Sendable {
    public var peer: String
    /// Set when the broker is shutting down: long polls answer at once.
    public var draining: @Sendable () -> Bool

    public init(peer: String, draining: @escaping @Sendable () -> Bool) {
        self.peer = peer
        self.draining = draining
    }
}

/// One client connection. Requests are handled strictly one at a time in arrival order (as
/// Kafka mutes a channel while a request is in flight), so pipelined requests are answered in
/// order. Record data in fetch responses is written as `FileRegion`s: sendfile, no copy.
final class KafkaConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = IOData

    private let processor: any RequestProcessor
    private let logger: Logger
    private let isDraining: @Sendable () -> Bool
    private var pending = CircularBuffer<ByteBuffer>()
    private var busy = false
    private var peer = "unknown"
    /// Completes when the last response reached the socket; a draining connection closes only
    /// then, because closing fails writes still queued and a client would miss its acknowledgement.
    private var lastWrite: EventLoopFuture<Void>?
    /// Set once the connection decided to close: frames still arriving are not processed, so
    /// nothing is appended whose answer could not be delivered.
    private var closing = false

    init(processor: any RequestProcessor, logger: Logger, isDraining: @escaping @Sendable () -> Bool) {
        self.processor = processor
        self.logger = logger
        self.isDraining = isDraining
    }

    func channelActive(context: ChannelHandlerContext) {
        peer = context.remoteAddress?.description ?? "unknown"
        context.fireChannelActive()
    }

    /// Pipelined requests buffered beyond this stop the socket being read, so a client that
    /// pipelines without limit pushes back on itself instead of growing the broker's memory.
    static let maxPendingRequests = 64

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        pending.append(unwrapInboundIn(data))
        if pending.count >= Self.maxPendingRequests {
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        }
        processNext(context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.warning("closing connection", metadata: ["peer": "\(peer)", "reason": "\(error)"])
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is DrainEvent {
            // Stop reading new requests; close once what arrived has been answered.
            context.channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
            if !busy && pending.isEmpty { closeAfterLastWrite(context: context) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func processNext(context: ChannelHandlerContext) {
        if pending.count == Self.maxPendingRequests / 2 && !isDraining() {
            context.channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        }
        guard !busy, let frame = pending.popFirst() else {
            if !busy && pending.isEmpty && isDraining() { closeAfterLastWrite(context: context) }
            return
        }
        busy = true
        let info = ConnectionInfo(peer: peer, draining: isDraining)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        processor.process(frame: frame, connection: info, eventLoop: context.eventLoop).hop(to: context.eventLoop).whenComplete { result in
            let (handler, context) = loopBound.value
            switch result {
            case .success(let response?):
                handler.write(response, context: context)
            case .success(nil):
                break
            case .failure(let error):
                handler.logger.warning("closing connection", metadata: ["peer": "\(handler.peer)", "reason": "\(error)"])
                context.close(promise: nil)
                return
            }
            handler.busy = false
            handler.processNext(context: context)
        }
    }

    /// Closes a draining connection once it is idle. Deferred to the next event-loop tick
    /// because the frame decoder may be about to deliver more frames from the same read; those
    /// are answered first.
    private func closeAfterLastWrite(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = loopBound.value
            guard !handler.busy, handler.pending.isEmpty, !handler.closing else { return }
            handler.closing = true
            guard let lastWrite = handler.lastWrite else {
                context.close(promise: nil)
                return
            }
            lastWrite.whenComplete { _ in loopBound.value.1.close(promise: nil) }
        }
    }

    /// Writes a response frame (its size prefix is the first part).
    private func write(_ response: OutboundResponse, context: ChannelHandlerContext) {
        let written = context.eventLoop.makePromise(of: Void.self)
        lastWrite = written.futureResult
        for (index, part) in response.parts.enumerated() {
            let isLast = index == response.parts.count - 1
            switch part {
            case .bytes(let buffer):
                context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: isLast ? written : nil)
            case .file(let range):
                // The descriptor stays owned by the log's OpenFile, held by `range` until the
                // write finished; the handle only borrows it for sendfile.
                let handle = NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: range.file.descriptor)
                let region = FileRegion(fileHandle: handle, readerIndex: Int(range.position), endIndex: Int(range.position) + range.length)
                let promise = context.eventLoop.makePromise(of: Void.self)
                promise.futureResult.whenComplete { _ in
                    withExtendedLifetime(range) { _ = try? handle.takeDescriptorOwnership() }
                }
                if isLast { promise.futureResult.cascade(to: written) }
                context.write(wrapOutboundOut(.fileRegion(region)), promise: promise)
            }
        }
        if response.parts.isEmpty { written.succeed() }
        context.flush()
    }
}

/// Sent through every connection's pipeline when the broker starts shutting down.
struct DrainEvent: Sendable {}
