import Foundation

/// Done-hook runs owed, kept on the sink beside the topic's hours (`<topic>/_hooks/`), so that a
/// crash or a shutdown between a bucket's marker and its hook cannot lose the run.
///
/// An entry is written, durably, before the marker is created (or rewritten for a new manifest
/// version), and deleted once the hook has succeeded. An entry whose bucket has its marker is
/// therefore a run that may not have happened: after every rebuild, and at periodic checks
/// (`OwedHookCheck`), the instance that owns partition 0 of the topic queues those again. A hook
/// runs at least once per bucket and version; a crash after it succeeded but before its entry
/// was deleted runs it twice, so the command should be idempotent (`ADD IF NOT EXISTS
/// PARTITION`). An entry without a marker is from a crash just before the marker; whoever
/// finishes the bucket writes it again.
struct DoneHookJournal: Sendable {
    let sink: any HourSink
    let instance: String

    static func directory(topic: String) -> String { "\(topic)/_hooks" }

    /// `<bucket start, ms>-v<manifest version>`.
    static func entryName(bucketStart: Int64, version: Int) -> String { "\(bucketStart)-v\(version)" }

    /// The entry of a bucket's hook run at a manifest version.
    static func path(topic: String, bucketStart: Int64, version: Int) -> String {
        directory(topic: topic) + "/" + entryName(bucketStart: bucketStart, version: version)
    }

    static func path(of job: DoneHook.Job) -> String {
        path(topic: job.topic, bucketStart: job.bucket.start, version: job.manifestVersion)
    }

    func owe(topic: String, bucket: Bucket, version: Int) throws {
        let description = #"{"topic":"\#(topic)","bucket":"\#(bucket.label.path)","manifestVersion":\#(version)}"# + "\n"
        try sink.write(Array(description.utf8), to: Self.path(topic: topic, bucketStart: bucket.start, version: version), instance: instance)
    }

    /// Whether the job's entry is still there: a job queued from a listing may have run and been
    /// settled since (here, or on another instance).
    func isOwed(_ job: DoneHook.Job) -> Bool { sink.exists(Self.path(of: job)) }

    func settle(_ job: DoneHook.Job) throws { try sink.delete(Self.path(of: job)) }

    /// The entries of `topic`, oldest bucket and version first.
    func owed(topic: String, calendar: BucketCalendar) throws -> [(bucket: Bucket, version: Int)] {
        try sink.list(Self.directory(topic: topic)).compactMap { name -> (bucket: Bucket, version: Int)? in
            // Only canonical names (`settle` deletes by the name it builds); anything else there,
            // such as a staged write, is not an entry.
            guard let separator = name.range(of: "-v", options: .backwards),
                  let start = Int64(name[..<separator.lowerBound]), let version = Int(name[separator.upperBound...]),
                  Self.entryName(bucketStart: start, version: version) == name else { return nil }
            let bucket = calendar.bucket(containing: start)
            return bucket.start == start ? (bucket, version) : nil
        }.sorted { ($0.bucket.start, $0.version) < ($1.bucket.start, $1.version) }
    }
}
