/// Turns lines of one input into event times and, on request, fields.
///
/// A value type with no I/O: build one per input and call `parse` for every line. Parsing never
/// traps, whatever the bytes (invalid UTF-8 included); a line that does not fit gets a `failure`.
public struct LineParser: Sendable {
    /// The format this parser reads.
    public let format: LineFormat
    /// The JSON time field's name as UTF-8, kept so keys compare without converting per line.
    private let timeFieldBytes: [UInt8]

    /// - Parameter format: the format of the input's lines.
    public init(format: LineFormat) {
        self.format = format
        if case .json(let timeField) = format {
            timeFieldBytes = Array(timeField.utf8)
        } else {
            timeFieldBytes = []
        }
    }

    /// Parses one line (without its newline). With `wantFields` false only the event time is extracted (the fast path: no allocation).
    ///
    /// - Parameters:
    ///   - line: the line's bytes, without the newline.
    ///   - wantFields: whether to build `fields` (needed for `value(of:)` and `jsonObject()`).
    /// - Returns: the event time, the fields, or why the line does not fit the format.
    public func parse(_ line: UnsafeRawBufferPointer, wantFields: Bool) -> ParsedLine {
        switch format {
        case .plain:
            ParsedLine()
        case .json:
            parseJSONLine(line, timeField: timeFieldBytes, wantFields: wantFields)
        case .nginx(let nginx):
            nginx.parse(line, wantFields: wantFields)
        }
    }
}
