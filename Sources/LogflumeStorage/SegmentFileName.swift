/// Kafka's segment file names: the base offset as 20 zero-padded digits plus a suffix (also
/// the agent's spool segments).
public enum SegmentFileName {
    public static let log = ".log"
    static let offsetIndex = ".index"
    static let timeIndex = ".timeindex"
    /// Written by the cleaner before the swap; incomplete if it survives a crash.
    static let cleaned = ".cleaned"
    /// A finished cleaned segment waiting to replace the original; completed on recovery.
    static let swap = ".swap"
    /// Removed from the log, unlinked after `file.delete.delay.ms`.
    static let deleted = ".deleted"

    public static func stem(_ baseOffset: Int64) -> String {
        let digits = String(baseOffset)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    public static func path(_ directory: String, _ baseOffset: Int64, _ suffix: String) -> String {
        "\(directory)/\(stem(baseOffset))\(suffix)"
    }

    /// The base offset of a file name like `00000000000000001234.log`, or nil for other files.
    public static func baseOffset(of name: String, suffix: String) -> Int64? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.dropLast(suffix.count)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int64(stem)
    }
}
