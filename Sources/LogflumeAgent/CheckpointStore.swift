import Foundation
import LogflumeStorage

/// Where each file is safe up to, kept in `<state_dir>/checkpoints.json`.
///
/// Written whole to a temporary file, fsynced and renamed, so a crash leaves either the old or
/// the new version. Offsets in it only ever cover lines that are safe (acknowledged, spooled or
/// dropped by configuration): a crash re-reads what was in flight, it never skips it.
struct CheckpointStore {
    struct Entry: Codable, Equatable {
        var key: FileKey
        var fingerprint: Fingerprint
        var offset: Int64
        var path: String
        /// Wall-clock ms when the file was last seen, for expiry.
        var seenAt: Int64
    }

    private struct Document: Codable {
        var version = 1
        var files: [Entry]
    }

    let path: String
    private(set) var entries: [FileKey: Entry] = [:]

    init(path: String) {
        self.path = path
    }

    /// Loads the file if there is one.
    mutating func load() throws {
        guard let bytes = try AtomicFile.read(path) else { return }
        do {
            let document = try JSONDecoder().decode(Document.self, from: Data(bytes))
            entries = Dictionary(document.files.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        } catch {
            throw AgentError.corruptCheckpoints(path: path, reason: "\(error)")
        }
    }

    mutating func update(_ entry: Entry) {
        entries[entry.key] = entry
    }

    mutating func remove(_ key: FileKey) {
        entries[key] = nil
    }

    /// The entry for a file found on disk: same device and inode and the same first bytes; or,
    /// failing that, a file whose device and inode changed but whose first bytes match (a file
    /// renamed or copied while the agent was down, or a device id that changed).
    /// Entries of files open now with the same fingerprint are skipped: those files are being
    /// tailed, so a second file starting the same way is not them.
    func entry(for key: FileKey, descriptor: Int32, openFiles: [FileKey: Fingerprint]) -> Entry? {
        if let entry = entries[key] {
            return entry.fingerprint.matches(descriptor: descriptor) ? entry : nil
        }
        var hashed: [Int: Fingerprint?] = [:]
        for entry in entries.values.sorted(by: { $0.seenAt > $1.seenAt }) where openFiles[entry.key] != entry.fingerprint && entry.fingerprint.length > 0 {
            let length = entry.fingerprint.length
            if hashed[length] == nil { hashed[length] = Fingerprint.read(descriptor: descriptor, length: length) }
            if hashed[length] == entry.fingerprint { return entry }
        }
        return nil
    }

    /// Forgets files not seen since `cutoff`.
    mutating func expire(olderThan cutoff: Int64) -> Int {
        let stale = entries.values.filter { $0.seenAt < cutoff }.map(\.key)
        for key in stale { entries[key] = nil }
        return stale.count
    }

    func save() throws {
        let document = Document(files: entries.values.sorted { ($0.path, $0.key.inode) < ($1.path, $1.key.inode) })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(document)
        try AtomicFile.write([UInt8](data), to: path)
    }
}
