import Foundation

/// What became of a bucket's done-marker after a close.
public enum MarkerOutcome: Equatable, Sendable {
    /// Some partition of the topic has not completed the bucket yet.
    case incomplete
    /// This call wrote the manifest and created the marker: run the done-hook.
    case created(version: Int)
    /// The marker was already there (another instance, or an earlier run, finished first).
    case alreadyDone(version: Int)
    /// A `reopen` round changed a finished bucket: new manifest version, marker rewritten.
    case reopened(version: Int)
}

/// Publishes closed buckets on a sink, in the order that keeps them crash-safe:
/// data files (fsynced, then renamed) → directory fsync → per-partition completion record →
/// (once every partition completed) manifest → done-hook journal entry → done-marker. The caller
/// commits offsets only after `complete` returned for every partition of a close.
struct BucketPublisher {
    let topic: String
    let sink: any HourSink
    let zone: BucketTimeZone
    let instance: String
    /// Where a done-hook run is owed before a marker appears; nil without a done-hook (and for
    /// replay, which runs none).
    var journal: DoneHookJournal?
    let layout = BucketLayout()

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return encoder
    }()

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try encoder.encode(value)) + [0x0A]
    }

    // MARK: Completion

    /// Publishes one partition's files of a closed bucket (or round) and writes its completion
    /// record, then removes files of the partition that no completion lists (left by a run that
    /// crashed before completing, and since rebuilt under the same or other names).
    func complete(_ close: BucketClose, partition: Int32, writer: BucketFileWriter?) throws -> PartitionCompletion {
        let directory = layout.directory(topic: topic, bucket: close.bucket, kind: close.key.kind)
        let files = try writer?.publish() ?? []
        if !files.isEmpty { try sink.syncDirectory(directory) }
        let completion = PartitionCompletion(
            topic: topic, partition: partition, bucket: close.bucket, kind: close.key.kind, slice: close.slices[partition], files: files
        )
        try writeCompletion(completion, directory: directory)
        try collectGarbage(directory: directory, partition: partition, newest: completion)
        return completion
    }

    /// An empty completion: the partition closed the bucket without records in it.
    func completeEmpty(bucket: Bucket, partition: Int32) throws {
        let completion = PartitionCompletion(topic: topic, partition: partition, bucket: bucket, kind: .main, slice: nil, files: [])
        try writeCompletion(completion, directory: layout.directory(topic: topic, bucket: bucket))
    }

    private func writeCompletion(_ completion: PartitionCompletion, directory: String) throws {
        try sink.write(Self.encode(completion), to: directory + "/" + BucketLayout.completionDirectory + "/" + completion.fileName, instance: instance)
    }

    /// Every completion record in a bucket directory (or its `late/`).
    func completions(in directory: String) throws -> [PartitionCompletion] {
        let completionDirectory = directory + "/" + BucketLayout.completionDirectory
        var found: [PartitionCompletion] = []
        for name in try sink.list(completionDirectory) where name.hasSuffix(".json") && !name.hasPrefix(".") {
            guard let bytes = try sink.read(completionDirectory + "/" + name) else { continue }
            found.append(try JSONDecoder().decode(PartitionCompletion.self, from: Data(bytes)))
        }
        return found
    }

    /// The partition's main completion of a bucket, nil when it has not closed it.
    func mainCompletion(bucket: Bucket, partition: Int32) throws -> PartitionCompletion? {
        let path = layout.completionDirectory(topic: topic, bucket: bucket) + "/" + PartitionCompletion.fileName(partition: partition, roundFirstOffset: nil)
        guard let bytes = try sink.read(path) else { return nil }
        return try JSONDecoder().decode(PartitionCompletion.self, from: Data(bytes))
    }

    /// Removes what a crash left in a bucket whose completion a new owner adopted instead of
    /// writing: a kill between the completion record and its garbage collection would otherwise
    /// leave staging files there for good.
    func sweepAdopted(_ completion: PartitionCompletion, bucket: Bucket) throws {
        try collectGarbage(directory: layout.directory(topic: topic, bucket: bucket), partition: completion.partition, newest: completion)
    }

    private func collectGarbage(directory: String, partition: Int32, newest: PartitionCompletion) throws {
        let completionDirectory = directory + "/" + BucketLayout.completionDirectory
        var kept: [PartitionCompletion] = []
        for completion in try completions(in: directory) where completion.partition == partition {
            let overlapsNewest = completion.fileName != newest.fileName && completion.kind == newest.kind && completion.kind != "main"
                && rangesOverlap(completion, newest)
            if overlapsNewest {
                try sink.delete(completionDirectory + "/" + completion.fileName)
            } else {
                kept.append(completion)
            }
        }
        let listed = Set(kept.flatMap(\.files).map(\.name))
        let prefix = "\(topic)-\(partition)-"
        for name in try sink.list(directory) {
            let isData = name.hasPrefix(prefix)
            let isStale = name.hasPrefix("." + prefix) && name.hasSuffix(".tmp")
            if (isData && !listed.contains(name)) || isStale { try sink.delete(directory + "/" + name) }
        }
    }

    private func rangesOverlap(_ a: PartitionCompletion, _ b: PartitionCompletion) -> Bool {
        guard let a0 = a.firstOffset, let a1 = a.lastOffset, let b0 = b.firstOffset, let b1 = b.lastOffset else { return false }
        return a0 <= b1 && b0 <= a1
    }

    // MARK: Manifest and marker

    /// Writes the manifest and then the marker once every partition of the topic has completed
    /// the bucket. Both are deterministic, so instances racing here write the same bytes.
    func finishMain(bucket: Bucket, partitionCount: Int32) throws -> MarkerOutcome {
        let directory = layout.directory(topic: topic, bucket: bucket)
        let all = try completions(in: directory)
        let completed = Set(all.filter { $0.kind == BucketKind.main.description }.map(\.partition))
        guard partitionCount > 0, (0..<partitionCount).allSatisfy(completed.contains) else { return .incomplete }
        let manifest = BucketManifest(topic: topic, bucket: bucket, timeZone: zone, completions: all)
        try sink.write(Self.encode(manifest), to: layout.manifestPath(topic: topic, bucket: bucket), instance: instance)
        let marker = layout.markerPath(topic: topic, bucket: bucket)
        // Only for a marker still to come: another instance's, already there, owes its own run.
        // Losing the race to create it leaves this entry owed (the winner may settle it first):
        // its run waits for a later check of the journal, a second run at worst, never a lost one.
        if !sink.exists(marker) { try journal?.owe(topic: topic, bucket: bucket, version: manifest.version) }
        return try sink.createMarker(marker) ? .created(version: manifest.version) : .alreadyDone(version: manifest.version)
    }

    /// After a `reopen` round: a finished bucket gets a new manifest version and its marker is
    /// rewritten; an unfinished one simply includes the round when it finishes.
    func finishReopen(bucket: Bucket, partitionCount: Int32) throws -> MarkerOutcome {
        guard sink.exists(layout.markerPath(topic: topic, bucket: bucket)) else {
            return try finishMain(bucket: bucket, partitionCount: partitionCount)
        }
        let all = try completions(in: layout.directory(topic: topic, bucket: bucket))
        let manifest = BucketManifest(topic: topic, bucket: bucket, timeZone: zone, completions: all)
        try sink.write(Self.encode(manifest), to: layout.manifestPath(topic: topic, bucket: bucket), instance: instance)
        try journal?.owe(topic: topic, bucket: bucket, version: manifest.version)
        try sink.write([], to: layout.markerPath(topic: topic, bucket: bucket), instance: instance)
        return .reopened(version: manifest.version)
    }

    /// After a late round: `late/_manifest.json` lists every late round completed so far, then
    /// `late/_SUCCESS`. The manifest is rewritten until a re-read finds no new round, so an
    /// instance that lost a race to a stale writer repairs it.
    func finishLate(bucket: Bucket) throws -> MarkerOutcome {
        let directory = layout.directory(topic: topic, bucket: bucket, kind: .late)
        var written: [PartitionCompletion]?
        while true {
            let all = try completions(in: directory).sorted { ($0.partition, $0.firstOffset ?? 0) < ($1.partition, $1.firstOffset ?? 0) }
            if let written, written == all { break }
            let manifest = BucketManifest(topic: topic, bucket: bucket, timeZone: zone, completions: all)
            try sink.write(Self.encode(manifest), to: layout.manifestPath(topic: topic, bucket: bucket, kind: .late), instance: instance)
            written = all
        }
        return try sink.createMarker(layout.markerPath(topic: topic, bucket: bucket, kind: .late)) ? .created(version: 1) : .alreadyDone(version: 1)
    }
}
