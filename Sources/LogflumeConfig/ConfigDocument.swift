/// A parsed configuration file: flat dotted keys plus `[[name]]` sections.
public struct ConfigDocument: Equatable, Sendable {
    public let file: String
    /// Line of the `[[section]]` header (0 for the file itself).
    public let line: Int
    public private(set) var entries: [String: ConfigEntry] = [:]
    public internal(set) var sections: [String: [ConfigDocument]] = [:]

    public init(file: String, line: Int = 0) {
        self.file = file
        self.line = line
    }

    mutating func add(_ entry: ConfigEntry) throws(ConfigError) {
        if let earlier = entries[entry.key] {
            throw ConfigError(file: file, line: entry.line, key: entry.key, message: "set twice (first on line \(earlier.line))")
        }
        entries[entry.key] = entry
    }

    /// Parses `text` read from `file`.
    public static func parse(_ text: String, file: String) throws(ConfigError) -> ConfigDocument {
        var parser = ConfigParser(text: text, file: file)
        return try parser.parse()
    }
}
