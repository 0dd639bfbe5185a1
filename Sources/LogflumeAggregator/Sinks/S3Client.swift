#if canImport(Glibc)
import Glibc
#endif
import LogflumeStorage
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A failed S3 request: the operation, the object, the HTTP status and the S3 error code and
/// message from the XML body (or what went wrong on the connection).
public struct S3Error: Error, CustomStringConvertible, Equatable {
    public var operation: String
    /// `s3://bucket/key`, or the endpoint.
    public var location: String
    /// nil when no answer came (connection refused, reset, timeout).
    public var status: Int?
    /// S3's error code (`AccessDenied`, `NoSuchBucket`, `SlowDown`, ...), or ours
    /// (`ConnectionFailed`, `Timeout`, `InvalidEndpoint`, `TLSHandshakeFailed`).
    public var code: String
    public var message: String
    public var requestId: String?
    public var attempts = 1

    public var description: String {
        var text = "S3 \(operation) \(location) failed"
        if attempts > 1 { text += " after \(attempts) attempts" }
        text += ": " + (status.map { "HTTP \($0) " } ?? "") + code
        if !message.isEmpty { text += ": " + message }
        if let requestId { text += " (request id \(requestId))" }
        return text
    }
}

/// What an S3 server answered.
struct S3Response: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }

    /// The body as text, for the XML answers.
    var text: Substring { Substring(String(decoding: body, as: UTF8.self)) }
}

/// A request body: none, bytes in memory, or `size` bytes of a file from `offset` (a whole
/// file, or one part of a multipart upload), streamed from disk with their known hash.
enum S3Body {
    case empty
    case bytes([UInt8])
    case file(path: String, offset: Int64, size: Int64, sha256: String)

    var contentLength: Int64 {
        switch self {
        case .empty: 0
        case .bytes(let bytes): Int64(bytes.count)
        case .file(_, _, let size, _): size
        }
    }

    var sha256: String {
        switch self {
        case .empty: SigV4Signer.emptyPayloadHash
        case .bytes(let bytes): SHA256.hexHash(bytes)
        case .file(_, _, _, let hash): hash
        }
    }
}

/// A small, blocking S3 client over HTTP/1.1 (or HTTPS, the server's certificate verified) on
/// SwiftNIO: connections are kept for the next request when the server allows (as many idle ones
/// as a multipart upload sends parts at once, at least four, each closed after the request
/// timeout without traffic), SigV4-signed, with the payload hash in `x-amz-content-sha256`,
/// retries with doubling backoff on connection failures, timeouts and 5xx answers. Its calls block the calling thread until the answer is in; it must
/// not be called on one of the event loops it uses.
final class S3Client: Sendable {
    let configuration: S3SinkConfiguration
    let group: any EventLoopGroup
    let logger: Logger
    let signer: SigV4Signer
    private let address: Result<S3SinkConfiguration.Address, S3Error>
    /// For https endpoints: the TLS context, or why it could not be built (a bad CA file).
    private let tls: Result<NIOSSLContext, S3Error>?
    /// Unix milliseconds; injectable for tests.
    private let now: @Sendable () -> Int64
    /// Connections the server keeps open (HTTP/1.1 keep-alive), for the next requests.
    private let idleConnections = Mutex<[Connection]>([])
    private let opened = Atomic<Int>(0)

    /// Connections opened so far (the other requests went over kept ones).
    var connectionsOpened: Int { opened.load(ordering: .relaxed) }

    init(
        configuration: S3SinkConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
        now: @escaping @Sendable () -> Int64 = { SystemWallClock().nowMilliseconds }
    ) {
        self.configuration = configuration
        self.group = group
        self.logger = logger
        self.now = now
        self.address = configuration.address()
        if case .success(let address) = address, address.tls {
            tls = Result { try S3TLS.context(caFile: configuration.caFile) }.mapError { error in
                S3Error(operation: "connect", location: configuration.endpoint, code: "TLSSetupFailed", message: "\(error)")
            }
        } else {
            tls = nil
        }
        signer = SigV4Signer(
            credentials: .init(
                accessKeyId: configuration.accessKeyId, secretAccessKey: configuration.secretAccessKey, sessionToken: configuration.sessionToken
            ),
            region: configuration.region
        )
    }

    deinit {
        for connection in idleConnections.withLock({ $0 }) { connection.channel.close(promise: nil) }
    }

    func location(_ key: String) -> String { "s3://\(configuration.bucket)/\(key)" }

    // MARK: Operations

    /// PUT; with `ifAbsent` the object is created only if no object has the key (`If-None-Match: *`),
    /// and false says one already had it.
    @discardableResult
    func putObject(_ key: String, body: S3Body, ifAbsent: Bool = false) throws -> Bool {
        var headers: [(String, String)] = []
        if ifAbsent { headers.append(("If-None-Match", "*")) }
        // 409: a concurrent conditional write to the same key is in flight; S3 asks to retry.
        let response = try send("PUT", key: key, headers: headers, body: body, alsoRetrying: { ifAbsent && $0.status == 409 })
        switch response.status {
        case 200...299: return true
        case 412 where ifAbsent: return false
        case 501 where ifAbsent:
            // A server without conditional writes: HEAD (by the caller) and a plain PUT instead.
            return try putObject(key, body: body)
        default: throw failure("PUT", key: key, response)
        }
    }

    /// GET; nil when there is no such object.
    func getObject(_ key: String) throws -> [UInt8]? {
        let response = try send("GET", key: key)
        switch response.status {
        case 200...299: return response.body
        case 404: return nil
        default: throw failure("GET", key: key, response)
        }
    }

    /// HEAD: whether the object exists.
    func headObject(_ key: String) throws -> Bool {
        let response = try send("HEAD", key: key)
        switch response.status {
        case 200...299: return true
        case 404: return false
        default: throw failure("HEAD", key: key, response)
        }
    }

    /// DELETE; deleting a missing object is not an error.
    func deleteObject(_ key: String) throws {
        let response = try send("DELETE", key: key)
        guard (200...299).contains(response.status) || response.status == 404 else { throw failure("DELETE", key: key, response) }
    }

    /// One page of ListObjectsV2.
    func listObjects(prefix: String, delimiter: String?, continuationToken: String? = nil, maxKeys: Int? = nil) throws -> S3XML.ListPage {
        var query = [("list-type", "2"), ("prefix", prefix)]
        if let delimiter { query.append(("delimiter", delimiter)) }
        if let continuationToken { query.append(("continuation-token", continuationToken)) }
        if let maxKeys { query.append(("max-keys", String(maxKeys))) }
        let response = try send("GET", key: nil, query: query)
        guard (200...299).contains(response.status) else { throw failure("ListObjectsV2", key: prefix, response) }
        return S3XML.listPage(from: response.body)
    }

    /// Every page of ListObjectsV2, concatenated; `pageSize` nil lets the server choose (1000 on S3).
    func listAll(prefix: String, delimiter: String?, pageSize: Int? = nil) throws -> S3XML.ListPage {
        var all = S3XML.ListPage()
        var token: String?
        repeat {
            let page = try listObjects(prefix: prefix, delimiter: delimiter, continuationToken: token, maxKeys: pageSize)
            all.keys += page.keys
            all.commonPrefixes += page.commonPrefixes
            token = page.nextContinuationToken
        } while token != nil
        return all
    }

    /// Creates the bucket; one that this account already owns is fine.
    func createBucket() throws {
        var body = S3Body.empty
        if configuration.region != "us-east-1" {
            body = .bytes(Array("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>\(configuration.region)</LocationConstraint></CreateBucketConfiguration>".utf8))
        }
        let response = try send("PUT", key: nil, body: body)
        guard (200...299).contains(response.status) || S3XML.error(from: response.body).code == "BucketAlreadyOwnedByYou" else {
            throw failure("CreateBucket", key: "", response)
        }
    }

    func failure(_ operation: String, key: String, _ response: S3Response) -> S3Error {
        let parsed = S3XML.error(from: response.body)
        return S3Error(
            operation: operation, location: location(key), status: response.status,
            code: parsed.code ?? Self.reason(response.status), message: parsed.message ?? "",
            requestId: parsed.requestId ?? response.header("x-amz-request-id")
        )
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 400: "BadRequest"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 405: "MethodNotAllowed"
        case 409: "Conflict"
        case 412: "PreconditionFailed"
        default: HTTPResponseStatus(statusCode: status).reasonPhrase.replacingSpaces()
        }
    }

    // MARK: Requests

    /// Sends a signed request, retrying connection failures, timeouts and 5xx answers (and the
    /// answers `alsoRetrying` picks); returns the final answer whatever its status, so an answer
    /// still retryable is one whose retries ran out. Errors name `operation` (default: the method).
    func send(
        _ method: String, key: String?, query: [(String, String)] = [], headers extra: [(String, String)] = [], body: S3Body = .empty,
        alsoRetrying: (S3Response) -> Bool = { _ in false }, operation: String? = nil, retryingWhile proceed: () -> Bool = { true }
    ) throws -> S3Response {
        let operation = operation ?? method
        let address = try address.get()
        let tlsContext = try tls?.get()
        let what = key.map(location) ?? "s3://\(configuration.bucket)"
        var backoff = RetryBackoff(firstMs: configuration.retryBackoffMs)
        // What the last attempt got: thrown or returned when no further attempt is made.
        var last: Result<S3Response, S3Error>?
        for attempt in 0...max(0, configuration.retries) {
            if attempt > 0 {
                guard proceed() else { break }
                backoff.pause()
            }
            do {
                let response = try exchange(
                    method, key: key, query: query, headers: extra, body: body, address: address, tls: tlsContext, operation: operation
                )
                let retryable = (500...599).contains(response.status) || alsoRetrying(response)
                guard retryable, attempt < configuration.retries else { return response }
                last = .success(response)
                let parsed = S3XML.error(from: response.body)
                logger.warning("S3 request failed; retrying", metadata: [
                    "s3.operation": "\(operation)", "s3.location": "\(what)", "s3.status": "\(response.status)",
                    "s3.code": "\(parsed.code ?? "")", "attempt": "\(attempt + 1)",
                ])
            } catch let error as S3Error {
                var error = error
                error.attempts = attempt + 1
                last = .failure(error)
                // A certificate that does not verify will not verify on the next attempt either,
                // nor will a staged file that cannot be read.
                if error.code == S3TLS.handshakeFailedCode || error.code == S3FileRegion.readFailedCode { break }
                logger.warning("S3 request failed", metadata: [
                    "s3.operation": "\(operation)", "s3.location": "\(what)", "error": "\(error.code): \(error.message)", "attempt": "\(attempt + 1)",
                ])
            }
        }
        return try last!.get()
    }

    /// The waits between attempts: from `firstMs`, doubling up to 10 s, each with up to a quarter
    /// more at random so that instances failing together do not retry together.
    struct RetryBackoff {
        private var waitMs: Int64

        init(firstMs: Int64) { waitMs = max(1, firstMs) }

        mutating func pause() {
            let jitter = Int64.random(in: 0...(waitMs / 4))
            usleep(UInt32(clamping: (waitMs + jitter) * 1000))
            waitMs = min(waitMs * 2, 10_000)
        }
    }

    /// The URI path (already encoded) and the Host header value.
    func target(key: String?, address: S3SinkConfiguration.Address) -> (path: String, host: String) {
        let hostName = address.host.contains(":") ? "[\(address.host)]" : address.host
        let authority = address.isDefaultPort ? hostName : "\(hostName):\(address.port)"
        let encodedKey = key.map(SigV4Signer.encodePath) ?? ""
        if configuration.pathStyle {
            return ("/" + SigV4Signer.percentEncode(configuration.bucket) + (key == nil ? "" : "/" + encodedKey), authority)
        }
        return ("/" + encodedKey, configuration.bucket + "." + authority)
    }

    /// The headers to send, `Authorization` included, for a request made at `epochMilliseconds`.
    func signedHeaders(
        method: String, path: String, query: [(String, String)], host: String, extra: [(String, String)], payloadHash: String, epochMilliseconds: Int64
    ) -> [(String, String)] {
        let amzDate = SigV4Signer.amzDate(epochMilliseconds: epochMilliseconds)
        var signed: [(name: String, value: String)] = [("host", host), ("x-amz-content-sha256", payloadHash), ("x-amz-date", amzDate)]
        if let token = signer.credentials.sessionToken { signed.append(("x-amz-security-token", token)) }
        signed += extra.map { (name: $0.0.lowercased(), value: $0.1) }
        let authorization = signer.authorization(
            for: .init(method: method, encodedPath: path, query: query.map { (name: $0.0, value: $0.1) }, headers: signed, payloadHash: payloadHash),
            amzDate: amzDate
        )
        return signed.map { ($0.name, $0.value) } + [("authorization", authorization)]
    }

    private func exchange(
        _ method: String, key: String?, query: [(String, String)], headers extra: [(String, String)], body: S3Body,
        address: S3SinkConfiguration.Address, tls: NIOSSLContext?, operation: String
    ) throws -> S3Response {
        let (path, hostHeader) = target(key: key, address: address)
        let queryString = query.map { SigV4Signer.percentEncode($0.0) + "=" + SigV4Signer.percentEncode($0.1) }.joined(separator: "&")
        var headers = HTTPHeaders(signedHeaders(
            method: method, path: path, query: query, host: hostHeader, extra: extra, payloadHash: body.sha256, epochMilliseconds: now()
        ))
        if method == "PUT" || method == "POST" || body.contentLength > 0 { headers.add(name: "content-length", value: String(body.contentLength)) }
        headers.add(name: "user-agent", value: "logflume-aggregator")
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: queryString.isEmpty ? path : path + "?" + queryString, headers: headers)
        let what = key.map(location) ?? "s3://\(configuration.bucket)"
        func transportError(_ error: any Error) -> S3Error {
            let error = S3ResponseCollector.cause(of: error)
            if let error = error as? S3Error { return error }
            let code = S3TLS.isHandshakeFailure(error) ? S3TLS.handshakeFailedCode : "ConnectionFailed"
            return S3Error(operation: operation, location: what, code: code, message: "\(error)")
        }
        let timeout = S3Error(
            operation: operation, location: what, code: "Timeout", message: "nothing sent or received for \(configuration.requestTimeoutMs) ms"
        )

        // A kept connection the server closed meanwhile fails before any answer: the request
        // goes again at once on a new connection, without counting as an attempt, if it was never
        // sent, or if sending it twice does no harm. A conditional PUT (the marker) is not sent
        // twice that way: a first copy that did arrive would make the second answer 412.
        let repeatable = !extra.contains { $0.0.lowercased() == "if-none-match" }
        var reuse = true
        while true {
            let connection: Connection, reused: Bool
            do {
                (connection, reused) = try takeConnection(address: address, tls: tls, hostHeader: hostHeader, reuse: reuse)
            } catch {
                throw transportError(error)
            }
            func staleAndUnanswered(_ reason: any Error) -> Bool {
                guard reused, !S3TLS.isHandshakeFailure(S3ResponseCollector.cause(of: reason)) else { return false }
                return reason is S3ResponseCollector.NotSent || (repeatable && reason is S3ResponseCollector.Unanswered)
            }
            let promise = connection.channel.eventLoop.makePromise(of: S3ResponseCollector.Answer.self)
            let collector = connection.collector
            connection.channel.eventLoop.execute { collector.value.expect(promise, timeout: timeout) }
            let answer: Result<S3ResponseCollector.Answer, any Error>
            do {
                connection.channel.write(HTTPClientRequestPart.head(head), promise: nil)
                switch body {
                case .empty: break
                case .bytes(let bytes): connection.channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: bytes))), promise: nil)
                case .file(let file, let offset, let size, _): try stream(file: file, offset: offset, size: size, to: connection.channel, what: what, operation: operation)
                }
                try connection.channel.writeAndFlush(HTTPClientRequestPart.end(nil)).wait()
                answer = Result { try promise.futureResult.wait() }
            } catch {
                // The server may have answered (and closed) before taking the whole body: prefer its
                // answer. And a failed TLS handshake closes the channel under the write: the
                // collector saw why, which says more than "I/O on closed channel".
                connection.channel.close(promise: nil)
                switch Result(catching: { try promise.futureResult.wait() }) {
                case .success(let answer): return answer.response
                case .failure(let reason):
                    let told = S3TLS.isHandshakeFailure(S3ResponseCollector.cause(of: reason)) || staleAndUnanswered(reason)
                    answer = .failure(!(error is S3Error) && told ? reason : error)
                }
            }
            switch answer {
            case .success(let answer):
                // A file upload answered with an error may have been answered before the server
                // read the whole body: that connection is not reused.
                var reusable = answer.keepAlive
                if case .file = body, !(200...299).contains(answer.response.status) { reusable = false }
                if reusable { giveBack(connection) } else { connection.channel.close(promise: nil) }
                return answer.response
            case .failure(let reason):
                connection.channel.close(promise: nil)
                if staleAndUnanswered(reason) {
                    reuse = false
                    continue
                }
                throw transportError(reason)
            }
        }
    }

    /// A connection to the endpoint and the handler that collects its answers.
    private struct Connection: Sendable {
        let channel: any Channel
        let collector: NIOLoopBound<S3ResponseCollector>
    }

    /// Kept connections are closed by the idle handler after `requestTimeoutMs` without traffic
    /// (S3 itself drops idle connections after about 20 s).
    private var maxIdleConnections: Int { max(4, configuration.multipartConcurrency) }

    /// A kept connection that is still open (with `reuse`), or a new one; and whether it was kept.
    private func takeConnection(
        address: S3SinkConfiguration.Address, tls: NIOSSLContext?, hostHeader: String, reuse: Bool
    ) throws -> (Connection, reused: Bool) {
        while reuse, let kept = idleConnections.withLock({ $0.popLast() }) {
            if kept.channel.isActive { return (kept, true) }
        }
        let idle = TimeAmount.milliseconds(max(1, configuration.requestTimeoutMs))
        let eventLoop = group.next()
        // Handed out from the initializer: a handshake that fails at once empties the pipeline,
        // and the collector must still be there to say why.
        let collectorPromise = eventLoop.makePromise(of: NIOLoopBound<S3ResponseCollector>.self)
        do {
            let channel = try ClientBootstrap(group: eventLoop)
                .connectTimeout(.milliseconds(max(1, configuration.connectTimeoutMs)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let tls {
                            // Virtual-hosted style names the bucket's host: that is the name the
                            // certificate must carry (*.s3.amazonaws.com).
                            try channel.pipeline.syncOperations.addHandler(S3TLS.handler(context: tls, hostHeader: hostHeader))
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: idle))
                        let collector = S3ResponseCollector()
                        try channel.pipeline.syncOperations.addHandler(collector)
                        collectorPromise.succeed(NIOLoopBound(collector, eventLoop: channel.eventLoop))
                    }
                }
                .connect(host: address.host, port: address.port)
                .wait()
            opened.add(1, ordering: .relaxed)
            return (Connection(channel: channel, collector: try collectorPromise.futureResult.wait()), false)
        } catch {
            collectorPromise.fail(error)
            throw error
        }
    }

    private func giveBack(_ connection: Connection) {
        guard connection.channel.isActive else { return }
        let surplus = idleConnections.withLock { idle -> Connection? in
            idle.append(connection)
            return idle.count > maxIdleConnections ? idle.removeFirst() : nil
        }
        surplus?.channel.close(promise: nil)
    }

    /// Sends `size` bytes of a file from `offset` in chunks. Up to `chunksInFlight` are queued
    /// on the channel before the oldest is waited for: memory stays bounded, and the socket is
    /// never left idle while the next chunk is read (waiting on each write left a connection at
    /// a fraction of what the server takes).
    private func stream(file: String, offset: Int64, size: Int64, to channel: any Channel, what: String, operation: String) throws {
        var written: [EventLoopFuture<Void>] = []
        try S3FileRegion(path: file, offset: offset, size: size).read(operation: operation, location: what) { chunk in
            written.append(channel.writeAndFlush(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: chunk)))))
            if written.count >= Self.chunksInFlight { try written.removeFirst().wait() }
        }
        for write in written { try write.wait() }
    }

    /// Body chunks (of `S3FileRegion.chunkBytes`) queued at once: 1 MiB.
    private static let chunksInFlight = 4
}

/// Collects the answer to each request on its connection and completes that request's promise;
/// fails it when the connection closes first, errs, or stays idle past the request timeout. An
/// idle kept connection that times out is closed.
final class S3ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    /// A response, and whether the server keeps the connection open for another request.
    struct Answer: Sendable {
        var response: S3Response
        var keepAlive: Bool
    }

    /// The connection failed before any of the answer arrived: on a kept connection, a sign that
    /// the server had closed it, so the request is safe to send again.
    struct Unanswered: Error {
        var underlying: any Error
    }

    /// The connection was closed before the request was armed, so the request was never sent.
    struct NotSent: Error {
        var underlying: any Error
    }

    /// The error itself, or what left a request unanswered or unsent.
    static func cause(of error: any Error) -> any Error {
        (error as? Unanswered)?.underlying ?? (error as? NotSent)?.underlying ?? error
    }

    private var pending: (promise: EventLoopPromise<Answer>, timeout: S3Error)?
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []
    /// Set once the connection closed, with the error that closed it if one did (a failed TLS
    /// handshake arrives before any request is armed).
    private var closed: (any Error)?

    /// Arms the collector for the next request's answer; on the channel's event loop, before the
    /// request is written.
    func expect(_ promise: EventLoopPromise<Answer>, timeout: S3Error) {
        head = nil
        body = []
        if let closed { return promise.fail(NotSent(underlying: closed)) }
        pending = (promise, timeout)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head, let pending else { return }
            self.pending = nil
            let response = S3Response(status: Int(head.status.code), headers: head.headers.map { ($0.name, $0.value) }, body: body)
            pending.promise.succeed(Answer(response: response, keepAlive: head.isKeepAlive))
            if !head.isKeepAlive { context.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is IdleStateHandler.IdleStateEvent else { return context.fireUserInboundEventTriggered(event) }
        if let timeout = pending?.timeout { fail(timeout) }
        context.close(promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closed == nil { closed = error }
        fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if closed == nil { closed = ChannelError.eof }
        fail(ChannelError.eof)
        context.fireChannelInactive()
    }

    private func fail(_ error: any Error) {
        guard let pending else { return }
        self.pending = nil
        pending.promise.fail(head == nil && !(error is S3Error) ? Unanswered(underlying: error) : error)
    }
}

private extension String {
    func replacingSpaces() -> String { split(separator: " ").joined() }
}
