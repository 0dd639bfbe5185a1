/// What happens to a record whose event time falls in a bucket that is already closed.
public enum LatePolicy: String, Sendable, Equatable, CaseIterable {
    /// Write it under the bucket's `late/` directory, which has its own manifest and marker; the
    /// closed bucket itself never changes. The default.
    case lateDirectory = "late-dir"
    /// Count it and leave it out.
    case drop
    /// Write it into the bucket directory as a new part file and publish a new manifest version.
    case reopen
}
