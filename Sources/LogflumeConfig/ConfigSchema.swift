/// The keys a configuration file may hold, each with its type, default and documentation.
/// Reading a document through a schema turns unknown keys and wrong types into errors that name
/// the file, line and key, and keeps the documentation next to the code that uses it.
public struct ConfigSchema: Sendable {
    public struct Key: Sendable {
        public var name: String
        public var kind: Kind
        public var defaultValue: String
        public var documentation: String

        public init(_ name: String, _ kind: Kind, default defaultValue: String, _ documentation: String) {
            self.name = name
            self.kind = kind
            self.defaultValue = defaultValue
            self.documentation = documentation
        }
    }

    public enum Kind: Sendable, Equatable {
        case string
        case integer
        /// Milliseconds, written as an integer or a string like "500ms", "30s", "5m", "2h", "7d".
        case duration
        /// Bytes, written as an integer or a string like "64KiB", "1MiB", "1GiB", "512MB".
        case size
        case boolean
        case float
        case stringArray
        /// One of the listed strings.
        case choice([String])
    }

    public var keys: [Key]
    /// `[[name]]` sections this file may contain, each with its own schema.
    public var sections: [String: ConfigSchema]

    public init(keys: [Key], sections: [String: ConfigSchema] = [:]) {
        self.keys = keys
        self.sections = sections
    }

    public func key(_ name: String) -> Key? { keys.first { $0.name == name } }

    /// Checks every entry against the schema and returns typed access to the values.
    public func read(_ document: ConfigDocument) throws(ConfigError) -> ConfigValues {
        var values: [String: ConfigValues.Typed] = [:]
        var lines: [String: Int] = [:]
        for entry in document.entries.values.sorted(by: { $0.line < $1.line }) {
            guard let key = key(entry.key) else {
                let known = keys.map(\.name).filter { $0.hasPrefix(entry.key.split(separator: ".").first.map(String.init) ?? "") }
                let hint = known.isEmpty ? "" : " (known keys here: \(known.prefix(6).joined(separator: ", ")))"
                throw ConfigError(file: document.file, line: entry.line, key: entry.key, message: "unknown key\(hint)")
            }
            values[entry.key] = try ConfigValues.convert(entry, kind: key.kind, file: document.file)
            lines[entry.key] = entry.line
        }
        var sectionValues: [String: [ConfigValues]] = [:]
        for (name, documents) in document.sections {
            guard let schema = sections[name] else {
                throw ConfigError(file: document.file, line: documents[0].line, key: "[[\(name)]]", message: "unknown section")
            }
            sectionValues[name] = try documents.map { (doc) throws(ConfigError) -> ConfigValues in try schema.read(doc) }
        }
        return ConfigValues(
            file: document.file, line: document.line, schema: self, values: values, lines: lines, sections: sectionValues
        )
    }

    /// Reads and checks a file from disk.
    public func load(file path: String) throws(ConfigError) -> ConfigValues {
        guard let text = readTextFile(path) else {
            throw ConfigError(file: path, line: 0, message: "cannot read the file")
        }
        return try read(ConfigDocument.parse(text, file: path))
    }
}

#if canImport(Glibc)
import Glibc
#endif

private func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}
