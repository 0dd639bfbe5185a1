import Foundation
@testable import LogflumeAgent
import Testing

@Suite("Checkpoint store")
struct CheckpointStoreTests {
    private func entry(_ inode: UInt64, seenAt: Int64, offset: Int64 = 10) -> CheckpointStore.Entry {
        CheckpointStore.Entry(key: FileKey(device: 1, inode: inode), fingerprint: Fingerprint(length: 4, crc: 7), offset: offset, path: "/logs/\(inode)", seenAt: seenAt)
    }

    @Test("saved atomically and read back; entries of files gone longer than the expiry are forgotten")
    func saveLoadExpire() throws {
        let dir = try ScratchDirectory("checkpoints")
        defer { dir.cleanup() }
        var store = CheckpointStore(path: dir.file("checkpoints.json"))
        store.update(entry(1, seenAt: 1_000))
        store.update(entry(2, seenAt: 90_000, offset: 77))
        #expect(store.expire(olderThan: 50_000) == 1)
        try store.save()
        var reloaded = CheckpointStore(path: dir.file("checkpoints.json"))
        try reloaded.load()
        #expect(reloaded.entries.count == 1)
        #expect(reloaded.entries[FileKey(device: 1, inode: 2)]?.offset == 77)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["checkpoints.json"])
    }

    @Test("a corrupt checkpoint file is an error naming the file, not a silent restart")
    func corrupt() throws {
        let dir = try ScratchDirectory("checkpoints-corrupt")
        defer { dir.cleanup() }
        try "{not json".write(toFile: dir.file("checkpoints.json"), atomically: true, encoding: .utf8)
        var store = CheckpointStore(path: dir.file("checkpoints.json"))
        #expect(throws: AgentError.self) { try store.load() }
    }
}
