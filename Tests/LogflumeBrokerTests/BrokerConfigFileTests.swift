import Foundation
import LogflumeBroker
import LogflumeConfig
import Testing

/// conf/broker.toml is the documentation of every broker key: it must list each one with its
/// default, and parse (all commented out) through the schema.
@Suite struct BrokerConfigFileTests {
    var file: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("conf/broker.toml").path
    }

    @Test func everyKeyIsDocumentedWithItsDefault() throws {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for key in BrokerConfig.schema.keys {
            let line = text.split(separator: "\n").first { $0.hasPrefix("# \(key.name) = ") }
            #expect(line != nil, "conf/broker.toml does not document \(key.name)")
            if let line {
                let documented = key.defaultValue.isEmpty ? line.hasSuffix("\"\"") : line.contains(key.defaultValue)
                #expect(documented, "\(key.name): documented '\(line)', default '\(key.defaultValue)'")
            }
        }
        _ = try BrokerConfig.load(file: file)
    }

    @Test func unknownAndMalformedKeysNameFileLineAndKey() throws {
        let path = NSTemporaryDirectory() + "broker-\(UUID().uuidString).toml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "listen = \"127.0.0.1:9092\"\nnum.partitions = \"many\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigError(file: path, line: 2, key: "num.partitions", message: "expected an integer, found a string")) {
            try BrokerConfig.load(file: path)
        }
        try "lisen = \"127.0.0.1:9092\"\n".write(toFile: path, atomically: true, encoding: .utf8)
        do { _ = try BrokerConfig.load(file: path); Issue.record("unknown key accepted") } catch {
            #expect(error.line == 1 && error.key == "lisen" && error.message.hasPrefix("unknown key"))
        }
    }
}
