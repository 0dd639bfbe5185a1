import Foundation
import LogflumeAgent
import LogflumeClient
import LogflumeWire
import NIOCore
import LogflumeTestSupport
import Testing

/// What becomes of odd lines, and of nginx lines, on their way to the topic.
@Suite("Agent lines", .serialized)
struct AgentLineTests {
    private func header(_ record: ConsumerRecord, _ key: String) -> String? {
        record.headers.first { $0.key == key }?.value.map { String(buffer: $0) }
    }

    @Test("long lines are cut and flagged, the file keeps flowing; a last line without newline waits, then ships flagged")
    func longAndUnterminatedLines() async throws {
        let dir = try ScratchDirectory("lines")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("app.log")
        let long = String(repeating: "z", count: 5_000)
        append("first\n\(long)\nafter\nno-newline", to: log)
        let config = testConfig(state: dir.file("state"), broker: broker, topic: "lines", paths: [log]) { input in
            input.maxLineBytes = 1_000
            input.partialLineTimeoutMs = 700
        }
        let agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 4 })
        try await agent.stop()
        let records = try await readTopic(broker, "lines")
        #expect(values(records) == ["first", String(repeating: "z", count: 1_000), "after", "no-newline"])
        #expect(header(records[1], "logflume.truncated") == "5000")
        #expect(header(records[3], "logflume.unterminated") == "true")
        #expect(header(records[0], "path") == log)
        #expect(agent.agent.counters[.truncatedLines] == 1)
        #expect(agent.agent.counters[.unterminatedLines] == 1)
        await broker.stop()
    }

    @Test("a line still being written is not cut in two")
    func partialLineCompletes() async throws {
        let dir = try ScratchDirectory("partial")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("app.log")
        append("one\ntw", to: log)
        let agent = try RunningAgent(config: testConfig(state: dir.file("state"), broker: broker, topic: "partial", paths: [log]), broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 1 })
        try await Task.sleep(for: .milliseconds(300))
        append("o\nthree\n", to: log)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 3 })
        try await agent.stop()
        #expect(values(try await readTopic(broker, "partial")) == ["one", "two", "three"])
        await broker.stop()
    }

    @Test("nginx combined: the request time becomes the timestamp; JSON values and remote_addr keys; bad lines go raw with a reason")
    func nginxLines() async throws {
        let dir = try ScratchDirectory("nginx")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("access.log")
        let good = #"203.0.113.9 - alice [10/Oct/2000:13:55:36 -0700] "GET /a.gif?x=1 HTTP/1.1" 200 2326 "http://example.com/" "Mozilla/5.0 (X11; \"quoted\")""#
        let bad = "this is not nginx"
        append(good + "\n" + bad + "\n", to: log)
        let config = testConfig(state: dir.file("state"), broker: broker, topic: "nginx", paths: [log]) { input in
            input.format = .nginx(try! NginxLogFormat(#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#))
            input.value = .json
            input.key = .remoteAddress
        }
        let agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 2 })
        try await agent.stop()
        let records = try await readTopic(broker, "nginx")
        try #require(records.count == 2)
        #expect(records[0].timestamp == 971_211_336_000)
        #expect(records[0].key.map { String(buffer: $0) } == "203.0.113.9")
        let object = try JSONSerialization.jsonObject(with: Data(values(records)[0].utf8)) as? [String: Any]
        #expect(object?["status"] as? Int == 200)
        #expect(object?["request_method"] as? String == "GET")
        #expect(object?["request_uri"] as? String == "/a.gif?x=1")
        #expect(object?["remote_user"] as? String == "alice")
        #expect(values(records)[1] == bad)
        #expect(header(records[1], "logflume.parse_error") != nil)
        #expect(agent.agent.counters[.parseErrors] == 1)
        await broker.stop()
    }
}
