/// How the lines of one input are turned into an event time and fields.
public enum LineFormat: Sendable {
    /// Lines are opaque: no fields, no event time.
    case plain
    /// Each line is one JSON object; the event time is read from the top-level key `timeField`.
    case json(timeField: String)
    /// Each line was written by nginx with this `log_format`.
    case nginx(NginxLogFormat)
}
