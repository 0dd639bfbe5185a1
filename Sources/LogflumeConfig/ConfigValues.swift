/// Values read through a schema; typed getters fall back to the schema's defaults.
public struct ConfigValues: Sendable {
    public let file: String
    public let line: Int
    let schema: ConfigSchema
    let values: [String: Typed]
    let lines: [String: Int]
    public let sections: [String: [ConfigValues]]

    enum Typed: Sendable {
        case string(String), integer(Int64), boolean(Bool), float(Double), strings([String])
    }

    /// Where a key was set, for messages about values that parse but make no sense together.
    public func location(of key: String) -> (file: String, line: Int) {
        (file, lines[key] ?? line)
    }

    /// An error about a value that parsed but is unusable (out of range, contradicting another).
    public func invalid(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: lines[key] ?? line, key: key, message: message)
    }

    public func isSet(_ key: String) -> Bool { values[key] != nil }

    private func typed(_ key: String) -> Typed {
        if let value = values[key] { return value }
        guard let definition = schema.key(key) else { preconditionFailure("key \(key) is not in the schema") }
        let entry = ConfigEntry(key: key, value: Self.parseDefault(definition), line: 0)
        // Defaults are written by us; a default that does not parse is a programming error.
        do { return try Self.convert(entry, kind: definition.kind, file: "<default>") } catch { preconditionFailure("\(error)") }
    }

    private static func parseDefault(_ key: ConfigSchema.Key) -> ConfigValue {
        switch key.kind {
        case .integer: return Int64(key.defaultValue).map(ConfigValue.integer) ?? .string(key.defaultValue)
        case .boolean: return .boolean(key.defaultValue == "true")
        case .float: return .float(Double(key.defaultValue) ?? 0)
        case .stringArray:
            let parts = key.defaultValue.isEmpty ? [] : key.defaultValue.split(separator: ",").map { ConfigValue.string(String($0)) }
            return .array(parts)
        case .duration, .size: return Int64(key.defaultValue).map(ConfigValue.integer) ?? .string(key.defaultValue)
        case .string, .choice: return .string(key.defaultValue)
        }
    }

    public func string(_ key: String) -> String {
        if case .string(let value) = typed(key) { return value }
        preconditionFailure("\(key) is not a string key")
    }

    public func integer(_ key: String) -> Int64 {
        if case .integer(let value) = typed(key) { return value }
        preconditionFailure("\(key) is not an integer key")
    }

    public func int(_ key: String) -> Int { Int(integer(key)) }

    public func boolean(_ key: String) -> Bool {
        if case .boolean(let value) = typed(key) { return value }
        preconditionFailure("\(key) is not a boolean key")
    }

    public func float(_ key: String) -> Double {
        if case .float(let value) = typed(key) { return value }
        preconditionFailure("\(key) is not a float key")
    }

    public func strings(_ key: String) -> [String] {
        if case .strings(let value) = typed(key) { return value }
        preconditionFailure("\(key) is not a string-array key")
    }

    static func convert(_ entry: ConfigEntry, kind: ConfigSchema.Kind, file: String) throws(ConfigError) -> Typed {
        func mismatch(_ expected: String) -> ConfigError {
            ConfigError(file: file, line: entry.line, key: entry.key, message: "expected \(expected), found \(entry.value.typeName)")
        }
        switch (kind, entry.value) {
        case (.string, .string(let s)): return .string(s)
        case (.choice(let options), .string(let s)):
            guard options.contains(s) else {
                throw ConfigError(file: file, line: entry.line, key: entry.key, message: "'\(s)' is not one of \(options.joined(separator: ", "))")
            }
            return .string(s)
        case (.integer, .integer(let i)): return .integer(i)
        case (.boolean, .boolean(let b)): return .boolean(b)
        case (.float, .float(let f)): return .float(f)
        case (.float, .integer(let i)): return .float(Double(i))
        case (.duration, .integer(let i)), (.size, .integer(let i)): return .integer(i)
        case (.duration, .string(let s)):
            guard let ms = parseDuration(s) else {
                throw ConfigError(file: file, line: entry.line, key: entry.key, message: "'\(s)' is not a duration (e.g. 500ms, 30s, 5m, 2h, 7d)")
            }
            return .integer(ms)
        case (.size, .string(let s)):
            guard let bytes = parseSize(s) else {
                throw ConfigError(file: file, line: entry.line, key: entry.key, message: "'\(s)' is not a size (e.g. 4096, 64KiB, 1MiB, 1GiB)")
            }
            return .integer(bytes)
        case (.stringArray, .array(let elements)):
            var strings: [String] = []
            for element in elements {
                guard case .string(let s) = element else { throw mismatch("an array of strings") }
                strings.append(s)
            }
            return .strings(strings)
        case (.string, _), (.choice, _): throw mismatch("a string")
        case (.integer, _): throw mismatch("an integer")
        case (.boolean, _): throw mismatch("a boolean (true or false)")
        case (.float, _): throw mismatch("a number")
        case (.duration, _): throw mismatch("a duration")
        case (.size, _): throw mismatch("a size")
        case (.stringArray, _): throw mismatch("an array of strings")
        }
    }

    /// "250ms", "30s", "5m", "2h", "7d" or a plain number of milliseconds.
    public static func parseDuration(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if suffix == "s" && number.hasSuffix("m") { continue }
            if let value = Int64(number) { return value * factor }
        }
        return Int64(text)
    }

    /// "4096", "64KiB", "1MiB", "1GiB", "512MB", "10KB".
    public static func parseSize(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [
            ("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("TiB", 1 << 40),
            ("KB", 1_000), ("MB", 1_000_000), ("GB", 1_000_000_000), ("B", 1),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            if let value = Int64(text.dropLast(suffix.count)) { return value * factor }
        }
        return Int64(text)
    }
}
