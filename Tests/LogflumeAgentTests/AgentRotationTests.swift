import Foundation
import LogflumeAgent
import LogflumeClient
import NIOCore
import LogflumeTestSupport
import Testing

/// The agent against a real broker and real files, through every rotation style.
@Suite("Agent rotation", .serialized)
struct AgentRotationTests {
    @Test("ships every line once and resumes from its checkpoint after a restart")
    func resumesFromCheckpoint() async throws {
        let dir = try ScratchDirectory("resume")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("app.log")
        append(numberedLines("a", 1...1000), to: log)
        let config = testConfig(state: dir.file("state"), broker: broker, topic: "resume", paths: [log])
        var agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 1000 })
        try await agent.stop()
        append(numberedLines("a", 1001...1500), to: log)
        agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 500 })
        try await agent.stop()
        let shipped = values(try await readTopic(broker, "resume"))
        #expect(shipped == (1...1500).map { "a-\($0)" })
        await broker.stop()
    }

    @Test("without inotify, polling finds new files and growth")
    func pollingFallback() async throws {
        let dir = try ScratchDirectory("polling")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        var config = testConfig(state: dir.file("state"), broker: broker, topic: "polling", paths: [dir.file("*.log")])
        config.useInotify = false
        append(numberedLines("p", 1...10), to: dir.file("a.log"))
        let agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 10 })
        append(numberedLines("p", 11...20), to: dir.file("a.log"))
        append(numberedLines("q", 1...5), to: dir.file("b.log"))
        #expect(await eventually { agent.agent.counters[.linesShipped] == 25 })
        try await agent.stop()
        #expect(values(try await readTopic(broker, "polling")).count == 25)
        await broker.stop()
    }

    @Test("rename + create: the old file is read to its end through the open descriptor")
    func renameAndCreate() async throws {
        let dir = try ScratchDirectory("rename")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("access.log")
        append(numberedLines("r", 1...300), to: log)
        let agent = try RunningAgent(config: testConfig(state: dir.file("state"), broker: broker, topic: "rename", paths: [dir.file("access.log*")]), broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 300 })
        // The writer still holds the old file open after the rename, as nginx does until USR1.
        let writer = open(log, O_WRONLY | O_APPEND)
        try #require(rename(log, dir.file("access.log.1")) == 0)
        _ = numberedLines("r", 301...400).utf8CString.withUnsafeBufferPointer { write(writer, $0.baseAddress, $0.count - 1) }
        close(writer)
        append(numberedLines("r", 401...600), to: log)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 600 })
        try await agent.stop()
        let shipped = values(try await readTopic(broker, "rename"))
        #expect(Set(shipped) == Set((1...600).map { "r-\($0)" }))
        #expect(shipped.count == 600)
        #expect(agent.agent.counters[.rotations] >= 1)
        await broker.stop()
    }

    @Test("copytruncate: the unread tail is read from the copy, nothing twice")
    func copyTruncate() async throws {
        let dir = try ScratchDirectory("copytruncate")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("app.log")
        append(numberedLines("c", 1...2000), to: log)
        let agent = try RunningAgent(config: testConfig(state: dir.file("state"), broker: broker, topic: "copytruncate", paths: [dir.file("app.log*")]), broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 2000 })
        // Lines the agent has not seen yet when logrotate copies and truncates.
        append(numberedLines("c", 2001...2500), to: log)
        let contents = try Data(contentsOf: URL(fileURLWithPath: log))
        try contents.write(to: URL(fileURLWithPath: dir.file("app.log.1")))
        try #require(truncate(log, 0) == 0)
        append(numberedLines("c", 2501...2600), to: log)
        #expect(await eventually { agent.agent.counters[.linesShipped] >= 2600 })
        try await Task.sleep(for: .milliseconds(500))
        try await agent.stop()
        let shipped = values(try await readTopic(broker, "copytruncate"))
        #expect(shipped.count == 2600)
        #expect(Set(shipped) == Set((1...2600).map { "c-\($0)" }))
        #expect(agent.agent.counters[.copytruncates] == 1)
        #expect(agent.agent.counters[.lostBytes] == 0)
        await broker.stop()
    }

    @Test("copytruncate while the agent was down: the copy resumes where the original's checkpoint was")
    func copyTruncateWhileDown() async throws {
        let dir = try ScratchDirectory("copytruncate-down")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("app.log")
        append(numberedLines("d", 1...100), to: log)
        let config = testConfig(state: dir.file("state"), broker: broker, topic: "copydown", paths: [dir.file("app.log*")])
        var agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 100 })
        try await agent.stop()
        append(numberedLines("d", 101...150), to: log)
        try Data(contentsOf: URL(fileURLWithPath: log)).write(to: URL(fileURLWithPath: dir.file("app.log.1")))
        try #require(truncate(log, 0) == 0)
        append(numberedLines("d", 151...170), to: log)
        agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 70 })
        try await Task.sleep(for: .milliseconds(500))
        try await agent.stop()
        let shipped = values(try await readTopic(broker, "copydown"))
        #expect(shipped.count == 170)
        #expect(Set(shipped) == Set((1...170).map { "d-\($0)" }))
        await broker.stop()
    }

    @Test("truncation in place and delete + recreate start the file over")
    func truncateAndRecreate() async throws {
        let dir = try ScratchDirectory("truncate")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("app.log")
        append(numberedLines("t", 1...100), to: log)
        let agent = try RunningAgent(config: testConfig(state: dir.file("state"), broker: broker, topic: "truncate", paths: [log]), broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 100 })
        try #require(truncate(log, 0) == 0)
        try await Task.sleep(for: .milliseconds(400))
        append(numberedLines("t", 101...150), to: log)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 150 })
        try #require(unlink(log) == 0)
        append(numberedLines("t", 151...200), to: log)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 200 })
        try await agent.stop()
        let shipped = values(try await readTopic(broker, "truncate"))
        #expect(shipped.sorted() == (1...200).map { "t-\($0)" }.sorted())
        #expect(agent.agent.counters[.truncations] >= 1)
        await broker.stop()
    }

    @Test("a path replaced by a directory is skipped with a warning; other files keep flowing")
    func replacedByDirectory() async throws {
        let dir = try ScratchDirectory("directory")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        append(numberedLines("x", 1...10), to: dir.file("x.log"))
        append(numberedLines("y", 1...10), to: dir.file("y.log"))
        let agent = try RunningAgent(config: testConfig(state: dir.file("state"), broker: broker, topic: "dirs", paths: [dir.file("*.log")]), broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 20 })
        try #require(unlink(dir.file("x.log")) == 0)
        try FileManager.default.createDirectory(atPath: dir.file("x.log"), withIntermediateDirectories: false)
        append(numberedLines("y", 11...20), to: dir.file("y.log"))
        #expect(await eventually { agent.agent.counters[.linesShipped] == 30 })
        try await agent.stop()
        #expect(values(try await readTopic(broker, "dirs")).count == 30)
        await broker.stop()
    }

    @Test("a checkpoint whose inode now holds a different file is not trusted (inode reuse)")
    func inodeReuse() async throws {
        let dir = try ScratchDirectory("inode")
        defer { dir.cleanup() }
        let broker = try await EmbeddedBroker(dataDirectory: dir.file("data"))
        let log = dir.file("app.log")
        append(numberedLines("old", 1...50), to: log)
        let config = testConfig(state: dir.file("state"), broker: broker, topic: "inode", paths: [log])
        var agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 50 })
        try await agent.stop()
        // Rewrite the file in place (same inode) with different, longer content: as if the inode
        // had been handed to a new file.
        let fd = open(log, O_WRONLY | O_TRUNC)
        close(fd)
        append(numberedLines("new", 1...80), to: log)
        agent = try RunningAgent(config: config, broker: broker)
        #expect(await eventually { agent.agent.counters[.linesShipped] == 80 })
        try await agent.stop()
        let shipped = values(try await readTopic(broker, "inode"))
        #expect(shipped == (1...50).map { "old-\($0)" } + (1...80).map { "new-\($0)" })
        await broker.stop()
    }
}
