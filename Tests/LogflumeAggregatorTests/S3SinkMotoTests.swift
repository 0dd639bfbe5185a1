import Foundation
import LogflumeTestSupport
@testable import LogflumeAggregator
import LogflumeClient
import LogflumeCompression
import LogflumeStorage
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// A real S3 API server: moto in server mode, from the compat venv (`scripts/compat-venv`), on a
/// free loopback port. `LOGFLUME_MOTO_SERVER` names another executable.
final class MotoServer: @unchecked Sendable {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static var executable: String? {
        if let path = ProcessInfo.processInfo.environment["LOGFLUME_MOTO_SERVER"], !path.isEmpty { return path }
        let path = repository.appendingPathComponent(".build/compat-venv/bin/moto_server").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// moto's app served by cheroot, which keeps connections open like S3 (moto_server does not),
    /// run by the compat venv's python.
    static let venvPython = repository.appendingPathComponent(".build/compat-venv/bin/python").path
    static let keepAliveScript = repository.appendingPathComponent("Tests/compat/helpers/moto_keepalive.py").path

    let process = Process()
    let port: Int
    let logPath: String
    let certificates: TestCertificates?
    /// Over TLS, the name the server's certificate carries.
    var endpoint: String { certificates == nil ? "http://127.0.0.1:\(port)" : "https://localhost:\(port)" }

    /// - Parameters:
    ///   - tls: serve https with a certificate for localhost issued by a test CA.
    ///   - keepAlive: serve through cheroot, which keeps connections open between requests.
    ///   - port: the port of a server stopped before (a restart); default a free one.
    ///   - certificates: over TLS, the certificates of a server stopped before (a restart).
    init(tls: Bool = false, keepAlive: Bool = false, port: Int? = nil, certificates: TestCertificates? = nil) throws {
        self.port = try port ?? freeLoopbackPort()
        let directory = makeTemporaryDirectory("moto")
        logPath = directory + "/moto.log"
        self.certificates = tls ? try certificates ?? TestCertificates(directory: directory) : nil
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        if keepAlive {
            process.executableURL = URL(fileURLWithPath: Self.venvPython)
            process.arguments = [Self.keepAliveScript, String(self.port)]
                + (self.certificates.map { [$0.serverCertificate, $0.serverKey] } ?? [])
        } else {
            process.executableURL = URL(fileURLWithPath: Self.executable!)
            process.arguments = ["-H", "127.0.0.1", "-p", String(self.port)]
                + (self.certificates.map { ["-s", "-c", $0.serverCertificate, "-k", $0.serverKey] } ?? [])
        }
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// A configuration for `bucket` on this server; moto accepts any credentials.
    func configuration(bucket: String, prefix: String = "") -> S3SinkConfiguration {
        var configuration = S3SinkConfiguration(endpoint: endpoint, bucket: bucket)
        configuration.prefix = prefix
        configuration.accessKeyId = "AKIDMOTOTEST"
        configuration.secretAccessKey = "moto-secret"
        configuration.retries = 2
        configuration.retryBackoffMs = 20
        configuration.stagingDirectory = makeTemporaryDirectory("s3-staging")
        configuration.caFile = certificates?.authority ?? ""
        return configuration
    }

    /// Creates the bucket once the server answers (it takes a second or two to start).
    func createBucket(_ configuration: S3SinkConfiguration) throws {
        var probe = configuration
        probe.retries = 0
        let client = S3Client(configuration: probe, logger: Logger(label: "moto") { _ in SwiftLogNoOpLogHandler() })
        try retryUntilListening(process, client, seconds: 30) { try client.createBucket() }
    }

    func stop() {
        // SIGKILL: the test process blocks SIGTERM (for graceful-shutdown handling) and children
        // inherit the mask, so moto would never see a SIGTERM.
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

/// `request` to a server process just started, repeated while it is not listening yet: the
/// connection refused, none ever opened by `client`, the process still running; for up to
/// `seconds`.
func retryUntilListening<T>(_ process: Process, _ client: S3Client, seconds: Double, _ request: () throws -> T) throws -> T {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        do {
            return try request()
        } catch let error as S3Error
            where error.code == "ConnectionFailed" && Date() < deadline && client.connectionsOpened == 0 && process.isRunning {
            usleep(50_000)
        }
    }
}

/// One of the compat helpers' small HTTP servers (`Tests/compat/helpers/<script>`), run by the
/// system's python3 on a free loopback port.
final class HelperServer: @unchecked Sendable {
    let process = Process()
    let port: Int

    init(_ script: String, _ arguments: [String] = []) throws {
        port = try freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [MotoServer.repository.appendingPathComponent("Tests/compat/helpers/" + script).path, String(port)] + arguments
        try process.run()
    }

    /// A configuration for a bucket on this server (it checks no credentials).
    var configuration: S3SinkConfiguration {
        var configuration = S3SinkConfiguration(endpoint: "http://127.0.0.1:\(port)", bucket: "b")
        configuration.accessKeyId = "a"
        configuration.secretAccessKey = "s"
        return configuration
    }

    func whenListening<T>(_ client: S3Client, _ request: () throws -> T) throws -> T {
        try retryUntilListening(process, client, seconds: 10, request)
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// A throwaway certificate authority and a server certificate it issued for `localhost` (no IP
/// entry, so that connecting by address fails verification), made by the compat helpers'
/// `make_certificates` with the openssl command-line tool (PEM files in `directory`).
struct TestCertificates {
    let authority: String
    let serverCertificate: String
    let serverKey: String

    init(directory: String) throws {
        authority = directory + "/ca.pem"
        serverCertificate = directory + "/server.pem"
        serverKey = directory + "/server.key"
        let helper = MotoServer.repository.appendingPathComponent("Tests/compat/helpers/s3.py").path
        let (status, output) = try run("/usr/bin/python3", [helper, "certificates", directory])
        guard status == 0 else { throw CertificateError(output: String(decoding: output, as: UTF8.self)) }
    }

    struct CertificateError: Error, CustomStringConvertible {
        var output: String
        var description: String { "making test certificates failed: \(output)" }
    }
}

/// Forwards to another sink and records what was published, written and marked, in order.
final class RecordingSink: HourSink, Sendable {
    let inner: any HourSink
    let events = Mutex<[String]>([])

    init(_ inner: any HourSink) { self.inner = inner }

    private func note(_ event: String) { events.withLock { $0.append(event) } }

    func stagingPath(for path: String, instance: String) throws -> String { try inner.stagingPath(for: path, instance: instance) }
    func publish(staged: String, to path: String) throws {
        try inner.publish(staged: staged, to: path)
        note("publish " + path)
    }
    func discard(staged: String) { inner.discard(staged: staged) }
    func syncDirectory(_ directory: String) throws { try inner.syncDirectory(directory) }
    func write(_ contents: [UInt8], to path: String, instance: String) throws {
        try inner.write(contents, to: path, instance: instance)
        note("write " + path)
    }
    func read(_ path: String) throws -> [UInt8]? { try inner.read(path) }
    func list(_ directory: String) throws -> [String] { try inner.list(directory) }
    func exists(_ path: String) -> Bool { inner.exists(path) }
    func createMarker(_ path: String) throws -> Bool {
        let created = try inner.createMarker(path)
        note((created ? "marker " : "marker-existed ") + path)
        return created
    }
    func delete(_ path: String) throws {
        try inner.delete(path)
        note("delete " + path)
    }
    func location(of path: String) -> String { inner.location(of: path) }
}

@Suite(.serialized, .enabled(if: MotoServer.executable != nil, "moto_server is not installed: run scripts/compat-venv (or set LOGFLUME_MOTO_SERVER)"))
struct S3SinkMotoTests {
    static let quiet = Logger(label: "s3-test") { _ in SwiftLogNoOpLogHandler() }

    @Test func httpsEndpointsAreVerifiedAgainstTheTrustedAuthorities() throws {
        let moto = try MotoServer(tls: true)
        defer { moto.stop() }
        let configuration = moto.configuration(bucket: "tls", prefix: "pfx")
        try moto.createBucket(configuration)
        let sink = S3Sink(configuration: configuration, logger: Self.quiet)
        let hour = "web/dt=2024-03-01/hr=08"
        let completion = Array("{\"partition\": 0}\n".utf8)
        try sink.write(completion, to: hour + "/_partitions/0.json", instance: "i1")
        #expect(try sink.read(hour + "/_partitions/0.json") == completion)
        #expect(try sink.createMarker(hour + "/_SUCCESS"))
        #expect(try sink.list(hour) == ["_SUCCESS", "_partitions"])


        // Each change below must fail the connection, with the reason in the error.
        // Handshake failures are not retried: the next attempt meets the same certificate.
        let handshake = S3TLS.handshakeFailedCode
        let refusals: [(why: String, change: (inout S3SinkConfiguration) -> Void, code: String, says: String?)] = [
            ("the system's roots only, not the test CA", { $0.caFile = "" }, handshake, "CERTIFICATE_VERIFY_FAILED"),
            ("virtual-hosted style names tls.localhost, which the certificate does not carry", { $0.pathStyle = false }, handshake, "tls.localhost"),
            ("by IP address: the certificate has no IP entry", { $0.endpoint = "https://127.0.0.1:\(moto.port)" }, handshake, "failedToValidateHostname"),
            ("plain HTTP to the TLS port", { $0.endpoint = "http://localhost:\(moto.port)"; $0.caFile = "" }, "ConnectionFailed", nil),
        ]
        for refusal in refusals {
            var changed = configuration
            changed.retries = refusal.code == handshake ? 3 : 0
            changed.retryBackoffMs = 1
            refusal.change(&changed)
            do {
                _ = try S3Client(configuration: changed, logger: Self.quiet).getObject("pfx/" + hour + "/_partitions/0.json")
                Issue.record("connected although \(refusal.why)")
            } catch let error as S3Error {
                #expect(error.code == refusal.code, "\(refusal.why): \(error)")
                #expect(error.attempts == 1, "\(refusal.why): \(error)")
                if let says = refusal.says { #expect(error.message.contains(says), "\(refusal.why): \(error)") }
            }
        }
    }

    @Test(arguments: [false, true])
    func keptConnectionsCarryTheNextRequestsAndAStaleOneIsReplaced(tls: Bool) throws {
        let moto = try MotoServer(tls: tls, keepAlive: true)
        defer { moto.stop() }
        var configuration = moto.configuration(bucket: "keep")
        try moto.createBucket(configuration)
        // No retries: a kept connection the server closed must not cost the request.
        configuration.retries = 0
        let client = S3Client(configuration: configuration, logger: Self.quiet)
        let body = Array("kept\n".utf8)
        for index in 0..<10 {
            try client.putObject("k/\(index)", body: .bytes(body))
            #expect(try client.getObject("k/\(index)") == body)
            #expect(try client.headObject("k/\(index)"))
        }
        #expect(client.connectionsOpened == 1, "30 requests took \(client.connectionsOpened) connections")

        // The server goes away and comes back on the same port: the kept connection is dead. (On
        // loopback the close arrives before the next request, so the connection is dropped when
        // taken; one that dies under a request is sent again at once, not counted as an attempt.)
        moto.stop()
        let restarted = try MotoServer(tls: tls, keepAlive: true, port: moto.port, certificates: moto.certificates)
        defer { restarted.stop() }
        try restarted.createBucket(restarted.configuration(bucket: "keep"))
        try client.putObject("k/after", body: .bytes(body))
        #expect(try client.getObject("k/after") == body)
        #expect(client.connectionsOpened == 2)
    }

    /// A kept connection the server drops after reading the next request: a repeatable request
    /// (HEAD) goes again at once on a new connection, even with no retries; a conditional PUT
    /// (the marker) is not sent twice that way, since a first copy that did arrive would turn the
    /// answer into 412.
    @Test(arguments: [false, true])
    func aRequestOnADroppedKeptConnectionIsRepeatedOnlyWhenThatIsHarmless(conditional: Bool) throws {
        let server = try HelperServer("drop_second_request.py")
        defer { server.stop() }
        var configuration = server.configuration
        configuration.retries = 0
        let client = S3Client(configuration: configuration, logger: Self.quiet)
        func request() throws -> Bool {
            conditional ? try client.putObject("m/_SUCCESS", body: .empty, ifAbsent: true) : try client.headObject("m/_SUCCESS")
        }
        #expect(try server.whenListening(client) { try request() })
        let openedBefore = client.connectionsOpened
        if conditional {
            do {
                _ = try request()
                Issue.record("a conditional PUT was sent again on a new connection")
            } catch let error as S3Error {
                #expect(error.code == "ConnectionFailed" && error.attempts == 1, "\(error)")
            }
            #expect(client.connectionsOpened == openedBefore)
        } else {
            #expect(try request())
            #expect(client.connectionsOpened == openedBefore + 1)
        }
    }

    @Test func sinkOperationsAgainstARealS3Server() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let configuration = moto.configuration(bucket: "ops", prefix: "pfx")
        try moto.createBucket(configuration)
        let sink = S3Sink(configuration: configuration, logger: Self.quiet)
        let hour = "web/dt=2024-03-01/hr=08"

        #expect(try sink.read(hour + "/_manifest.json") == nil)
        #expect(!sink.exists(hour))
        #expect(try sink.list(hour) == [])

        let completion = Array("{\"partition\": 0}\n".utf8)
        try sink.write(completion, to: hour + "/_partitions/0.json", instance: "i1")
        #expect(try sink.read(hour + "/_partitions/0.json") == completion)
        #expect(sink.exists(hour + "/_partitions/0.json"))
        #expect(sink.exists(hour))
        #expect(sink.exists("web/dt=2024-03-01"))
        #expect(!sink.exists("web/dt=2024-03-01/hr=0"))
        #expect(!sink.exists(hour + "/_partitions/0.js"))

        // A data file: staged locally, uploaded in chunks, then the staged copy is gone.
        let name = "web-0-00000000000000000042.jsonl.gz"
        let staged = try sink.stagingPath(for: hour + "/" + name, instance: "i1")
        #expect(staged.hasPrefix(configuration.stagingDirectory + "/"))
        let data = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        #expect(FileManager.default.createFile(atPath: staged, contents: Data(data)))
        try sink.publish(staged: staged, to: hour + "/" + name)
        #expect(!FileManager.default.fileExists(atPath: staged))
        #expect(!FileManager.default.fileExists(atPath: (staged as NSString).deletingLastPathComponent))
        #expect(FileManager.default.fileExists(atPath: "\(configuration.stagingDirectory)/\(getpid())"))
        #expect(try sink.read(hour + "/" + name) == data)
        #expect(try sink.list(hour) == ["_partitions", name])
        #expect(try sink.list("web") == ["dt=2024-03-01"])
        #expect(try sink.list("") == ["web"])

        // The done-marker is created once.
        #expect(try sink.createMarker(hour + "/_SUCCESS"))
        #expect(try !sink.createMarker(hour + "/_SUCCESS"))
        #expect(try sink.read(hour + "/_SUCCESS") == [])
        try sink.write([], to: hour + "/_SUCCESS", instance: "i1")

        try sink.delete(hour + "/" + name)
        try sink.delete(hour + "/" + name)
        #expect(try sink.read(hour + "/" + name) == nil)
        #expect(sink.location(of: hour) == "s3://ops/pfx/" + hour)

        // Listing follows continuation tokens.
        for i in 0..<7 { try sink.write([UInt8(i)], to: "paged/\(i)", instance: "i1") }
        let paged = try sink.client.listAll(prefix: "pfx/paged/", delimiter: "/", pageSize: 2)
        #expect(paged.keys == (0..<7).map { "pfx/paged/\($0)" })
    }

    /// Data files from the threshold on go up as multipart uploads (the object's ETag says how
    /// many parts), smaller ones with one PUT; either way the object is the file. An upload that
    /// fails part-way is aborted: nothing is left in progress and no object appears.
    @Test func largeDataFilesGoUpInPartsAndAFailedUploadIsAborted() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        var configuration = moto.configuration(bucket: "parts", prefix: "pfx")
        configuration.multipartThresholdBytes = 8 << 20
        configuration.multipartPartBytes = 5 << 20
        try moto.createBucket(configuration)
        let sink = S3Sink(configuration: configuration, logger: Self.quiet)
        let hour = "web/dt=2024-03-01/hr=08"
        func etag(_ path: String) throws -> String {
            try sink.client.send("HEAD", key: sink.key(of: path)).header("ETag") ?? ""
        }
        for (name, size, parts) in [("web-0-00000000000000000000.jsonl.gz", (12 << 20) + 12_345, 3), ("web-1-00000000000000000000.jsonl.gz", 1 << 20, 0)] {
            let staged = try sink.stagingPath(for: hour + "/" + name, instance: "i1")
            let data = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
            #expect(FileManager.default.createFile(atPath: staged, contents: Data(data)))
            try sink.publish(staged: staged, to: hour + "/" + name)
            #expect(!FileManager.default.fileExists(atPath: staged))
            #expect(try sink.read(hour + "/" + name) == data)
            let tag = try etag(hour + "/" + name)
            #expect(parts > 0 ? tag.hasSuffix("-\(parts)\"") : !tag.contains("-"), "\(name): ETag \(tag)")
        }
        #expect(try sink.client.listMultipartUploads(prefix: "pfx/") == [])

        // The file is shorter than the upload expects: the last part cannot be read, and the
        // upload begun is aborted.
        let path = hour + "/web-2-00000000000000000000.jsonl.gz"
        let staged = try sink.stagingPath(for: path, instance: "i1")
        #expect(FileManager.default.createFile(atPath: staged, contents: Data(count: 11 << 20)))
        let plan = try S3MultipartPlan(fileBytes: 12 << 20, configuredPartBytes: 5 << 20, location: sink.location(of: path))
        do {
            try sink.client.putObjectInParts(sink.key(of: path), file: staged, plan: plan)
            Issue.record("an upload of bytes the file does not have succeeded")
        } catch let error as S3Error {
            #expect(error.code == "LocalReadFailed" && error.operation == "UploadPart 3", "\(error)")
        }
        #expect(try sink.client.listMultipartUploads(prefix: "pfx/") == [])
        #expect(try sink.read(path) == nil)
    }

    /// S3 can answer CompleteMultipartUpload 200 with an error in the body. One it asks to retry
    /// (InternalError) is retried and the upload completes; any other fails the upload, which is
    /// then aborted. Either way the completion lists every part's ETag in order.
    @Test(arguments: ["transient", "fatal"])
    func aCompletionAnswered200WithAnErrorIsRetriedOrFails(mode: String) throws {
        let server = try HelperServer("multipart_completion_errors.py", [mode])
        defer { server.stop() }
        var configuration = server.configuration
        configuration.retries = 2
        configuration.retryBackoffMs = 1
        let client = S3Client(configuration: configuration, logger: Self.quiet)
        let file = makeTemporaryDirectory("multipart") + "/part-file"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(count: (5 << 20) + 10)))
        let plan = try S3MultipartPlan(fileBytes: (5 << 20) + 10, configuredPartBytes: 5 << 20, location: "s3://b/k")
        _ = try server.whenListening(client) { try client.send("GET", key: "calls") }
        do {
            try client.putObjectInParts("k", file: file, plan: plan)
            #expect(mode == "transient")
        } catch let error as S3Error {
            #expect(mode == "fatal" && error.code == "AccessDenied" && error.operation == "CompleteMultipartUpload" && error.attempts == 1, "\(error)")
        }
        let calls = String(decoding: try client.send("GET", key: "calls").body, as: UTF8.self)
        let expected = mode == "transient" ? "complete=2 abort=0" : "complete=1 abort=1"
        // Both parts were in flight at once (the default concurrency, 4), and the completion lists
        // them in part order whichever finished first.
        #expect(calls == "create=1 part=2 \(expected) etags=\"part-1\",\"part-2\" most=2", "\(calls)")
    }

    @Test func failuresCarryTheS3ErrorCode() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let configuration = moto.configuration(bucket: "present")
        try moto.createBucket(configuration)

        let missing = S3Sink(configuration: moto.configuration(bucket: "absent-bucket"), logger: Self.quiet)
        do {
            try missing.write([1], to: "x/y", instance: "i1")
            Issue.record("a PUT into a missing bucket succeeded")
        } catch let error as S3Error {
            #expect(error.status == 404 && error.code == "NoSuchBucket", "\(error)")
            #expect("\(error)".contains("s3://absent-bucket/x/y") && "\(error)".contains("NoSuchBucket"))
        }

        // Nobody listens: retried, then a connection error naming the attempts.
        var closed = moto.configuration(bucket: "present")
        closed.endpoint = "http://127.0.0.1:\(try freeLoopbackPort())"
        closed.retries = 2
        let unreachable = S3Sink(configuration: closed, logger: Self.quiet)
        do {
            _ = try unreachable.read("x")
            Issue.record("a GET from a closed port succeeded")
        } catch let error as S3Error {
            #expect(error.code == "ConnectionFailed" && error.attempts == 3 && error.status == nil, "\(error)")
        }
        #expect(!unreachable.exists("x"))

        // A part whose upload another part's failure has doomed stops retrying: one attempt.
        do {
            _ = try unreachable.client.send("PUT", key: "x", body: .bytes([1]), retryingWhile: { false })
            Issue.record("a PUT to a closed port succeeded")
        } catch let error as S3Error {
            #expect(error.code == "ConnectionFailed" && error.attempts == 1, "\(error)")
        }
    }

    /// The aggregator end to end into S3: every hour has its data objects, manifest and
    /// `_SUCCESS` (created after everything else in the hour), records are in their hour exactly
    /// once, and the done-hook runs once per hour with the s3:// location. With a crash between a
    /// completion record and the commit, recovery reads the completions back from S3.
    @Test(arguments: [nil, CrashPoint.afterCompletion])
    func aggregatorWritesHoursIntoS3(crashAt point: CrashPoint?) async throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let topic = point == nil ? "web" : "crashy"
        let configuration = moto.configuration(bucket: "hours", prefix: "logs")
        try moto.createBucket(configuration)
        let s3 = S3Sink(configuration: configuration, logger: Self.quiet)
        let sink = RecordingSink(s3)

        let broker = try await InProcessBroker()
        let produced = try await broker.withCluster { try await AggregatorIntegrationTests().produce($0, topic: topic) }
        var config = AggregatorIntegrationTests().configuration(topic: topic, root: "/nonexistent-local-root")
        let hookLog = makeTemporaryDirectory("s3-hook") + "/hook.log"
        var hook = DoneHook(command: "printf '%s %s\\n' \"$LOGFLUME_BUCKET_PATH\" \"$LOGFLUME_HR\" >> '\(hookLog)'")
        hook.backoffMs = 10
        config.doneHook = hook
        let crash = point.map { CrashOnce($0, at: 5) }

        let hours = AggregatorIntegrationTests.hours
        let markerKeys = (0..<hours).map { "logs/\(topic)/dt=2024-03-01/hr=\(pad(8 + $0, 2))/_SUCCESS" }
        try await broker.withCluster { cluster in
            let faults: (@Sendable (CrashPoint) throws -> Void)? = crash.map { crash in { @Sendable in try crash.reach($0) } }
            let service = AggregatorService(
                config: config, cluster: cluster, sink: sink, clock: ShiftedClock(startingAt: at("2024-03-01T12:30Z")), logger: broker.logger,
                faults: faults
            )
            let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: broker.logger))
            let running = Task { try await group.run() }
            for _ in 0..<1200 {
                if try markerKeys.allSatisfy({ try s3.client.headObject($0) }) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            // Give the done-hook task a moment to run for the last bucket.
            for _ in 0..<100 where (try? String(contentsOfFile: hookLog, encoding: .utf8))?.split(separator: "\n").count ?? 0 < hours {
                try await Task.sleep(for: .milliseconds(50))
            }
            await group.triggerGracefulShutdown()
            try await running.value
        }
        await broker.stop()
        if let crash { #expect(crash.hasCrashed) }

        let keys = try s3.client.listAll(prefix: "logs/\(topic)/", delimiter: nil).keys
        var found: [Produced] = []
        let events = sink.events.withLock { $0 }
        for hour in 0..<hours {
            let directory = "\(topic)/dt=2024-03-01/hr=\(pad(8 + hour, 2))"
            #expect(keys.contains("logs/\(directory)/_SUCCESS"))
            let manifestBytes = try #require(try s3.read(directory + "/_manifest.json"))
            let manifest = try JSONDecoder().decode(BucketManifest.self, from: Data(manifestBytes))
            let dataObjects = keys.filter { $0.hasPrefix("logs/\(directory)/\(topic)-") }.map { String($0.dropFirst("logs/\(directory)/".count)) }
            #expect(dataObjects.sorted() == manifest.files.map(\.name).sorted())
            #expect(try s3.list(directory).filter { $0.hasPrefix("_partitions") || $0.hasPrefix("_") }.sorted() == ["_SUCCESS", "_manifest.json", "_partitions"])

            // _SUCCESS was created once, after every data object the manifest lists, every
            // completion record and the manifest. (After the crash, the hour is rebuilt with the
            // same names and bytes, see docs/aggregator.md; the marker stays as it was.)
            #expect(events.filter { $0 == "marker \(directory)/_SUCCESS" }.count == 1)
            let markerIndex = try #require(events.firstIndex(of: "marker \(directory)/_SUCCESS"))
            let before = Set(events[..<markerIndex])
            for file in manifest.files { #expect(before.contains("publish \(directory)/\(file.name)"), "\(file.name) after the marker") }
            for partition in 0..<3 { #expect(before.contains("write \(directory)/_partitions/\(partition).json")) }
            #expect(before.contains("write \(directory)/_manifest.json"))

            let start = AggregatorIntegrationTests.firstHour + Int64(hour) * 3_600_000
            var inHour: Int64 = 0
            for file in manifest.files {
                let compressed = try #require(try s3.read(directory + "/" + file.name))
                #expect(Int64(compressed.count) == file.bytes)
                let bytes = try CompressionCodec.gzip.decompress(compressed)
                for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                    let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                    let record = Produced(
                        partition: Int32(object["partition"] as! Int), offset: Int64(object["offset"] as! Int),
                        timestamp: Int64(object["timestamp"] as! Int), value: object["value"] as! String
                    )
                    #expect(record.timestamp >= start && record.timestamp < start + 3_600_000, "\(record) is not in hour \(8 + hour)")
                    found.append(record)
                    inHour += 1
                }
            }
            #expect(manifest.records == inHour)
        }
        #expect(found.count == produced.count)
        #expect(found.sorted() == produced.sorted())

        let hookLines = try String(contentsOfFile: hookLog, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(hookLines.sorted() == (0..<hours).map { "s3://hours/logs/\(topic)/dt=2024-03-01/hr=\(pad(8 + $0, 2)) \(pad(8 + $0, 2))" })

        // Nothing staged is left behind locally, not even the directories.
        let leftovers = FileManager.default.enumerator(atPath: configuration.stagingDirectory)?.allObjects.compactMap { $0 as? String } ?? []
        #expect(leftovers.allSatisfy { !$0.contains("/") }, "\(leftovers)")
    }
}
