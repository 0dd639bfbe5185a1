/// Why an nginx `log_format` string could not be compiled, and where.
public struct LogFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kinds of mistakes a `log_format` string can hold.
    public enum Kind: Sendable, Equatable {
        /// The format string is empty.
        case emptyFormat
        /// `${` with no closing `}`.
        case unterminatedBrace
        /// `$` (or `${}`) not followed by a variable name.
        case missingVariableName
        /// Two variables with no literal text between them: a line could be split between them anywhere.
        case adjacentVariables(first: String, second: String)
    }

    /// What is wrong.
    public var kind: Kind
    /// UTF-8 byte offset into the format string where the problem starts.
    public var offset: Int
    /// The format string as given.
    public var format: String

    public var description: String {
        let what: String
        switch kind {
        case .emptyFormat:
            return "log_format is empty"
        case .unterminatedBrace:
            what = "unterminated '${'"
        case .missingVariableName:
            what = "'$' not followed by a variable name"
        case .adjacentVariables(let first, let second):
            what = "$\(first) is followed directly by $\(second) with no text between them, so a line cannot be split"
        }
        return "log_format: \(what) at offset \(offset) (near \"\(excerpt)\")"
    }

    /// A short piece of the format from the offending offset, so long formats still point at the spot.
    private var excerpt: String {
        let bytes = Array(format.utf8)
        let start = min(max(offset, 0), bytes.count)
        let end = min(start + 24, bytes.count)
        let text = String(decoding: bytes[start..<end], as: UTF8.self)
        return end < bytes.count ? text + "…" : text
    }
}
