public import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle
public import Synchronization

/// A small HTTP/1.1 listener serving `GET /metrics` (Prometheus text format) and `GET /status`
/// (one line of text from the owning process), as a `Service` that stops on graceful shutdown.
public final class MetricsEndpoint: Service {
    let host: String
    let port: Int
    let status: @Sendable () -> String
    let logger: Logger
    /// The bound port once listening (port 0 picks a free one).
    public let boundPort = Mutex<Int?>(nil)

    /// - Parameter listen: `HOST:PORT`.
    public init?(listen: String, logger: Logger, status: @escaping @Sendable () -> String) {
        guard let (host, port) = Self.parseListen(listen) else { return nil }
        self.host = host
        self.port = port
        self.logger = logger
        self.status = status
        MetricsRegistry.bootstrap()
    }

    /// `HOST:PORT` for a listener (port 0: any free one), or nil; what config files check
    /// `metrics.listen` with.
    public static func parseListen(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        let host = String(text[..<colon])
        return host.isEmpty ? nil : (host, port)
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let status = self.status
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(status: status))
                }
            }
            .bind(host: host, port: port)
            .get()
        boundPort.withLock { $0 = channel.localAddress?.port }
        logger.info("metrics listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}

/// Answers each request on the connection; anything but GET /metrics or /status is a 404.
final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let status: @Sendable () -> String

    init(status: @escaping @Sendable () -> String) { self.status = status }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let (code, contentType, body): (HTTPResponseStatus, String, [UInt8])
        switch (head.method, path) {
        case (.GET, "/metrics"): (code, contentType, body) = (.ok, "text/plain; version=0.0.4", MetricsRegistry.exposition())
        case (.GET, "/status"): (code, contentType, body) = (.ok, "text/plain", Array((status() + "\n").utf8))
        default: (code, contentType, body) = (.notFound, "text/plain", Array("not found: try /metrics or /status\n".utf8))
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.count))
        if !head.isKeepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: code, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        let keepAlive = head.isKeepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
