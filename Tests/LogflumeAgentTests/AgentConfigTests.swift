import Foundation
import LogflumeAgent
import LogflumeConfig
import Testing

@Suite("Agent config")
struct AgentConfigTests {
    private func load(_ text: String) throws -> AgentConfig {
        let path = NSTemporaryDirectory() + "agent-config-\(UUID().uuidString).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try AgentConfig.load(file: path)
    }

    private func error(_ text: String) -> String {
        do {
            _ = try load(text)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test("defaults and a full input")
    func reads() throws {
        let config = try load("""
            topic = "web"
            output.compression = "gzip"
            buffer.memory_bytes = "4MiB"

            [[input]]
            paths = ["/var/log/nginx/access.log*"]
            format = "nginx_combined"
            key = "remote_addr"
            value = "json"
            max_line_bytes = "64KiB"
            """)
        #expect(config.topic == "web")
        #expect(config.producer.compression == .gzip)
        #expect(config.memoryBufferBytes == 4 << 20)
        #expect(config.inputs.count == 1)
        #expect(config.inputs[0].maxLineBytes == 64 << 10)
        #expect(config.inputs[0].key == .remoteAddress)
        #expect(config.producer.acks == .all)
        #expect(config.producer.idempotence)
    }

    @Test("unknown keys, bad values and contradictions name the file, line and key")
    func errors() {
        #expect(error("topics = \"x\"\n[[input]]\npaths = [\"/a\"]").contains(":1: key 'topics': unknown key"))
        #expect(error("[[input]]\npaths = [\"/a\"]\nformat = \"apache\"").contains(":3: key 'format':"))
        #expect(error("[[input]]\npaths = [\"relative.log\"]").contains(":2: key 'paths':"))
        #expect(error("[[input]]\npaths = [\"/a\"]\nformat = \"nginx\"\nlog_format = \"$a$b\"").contains("log_format"))
        #expect(error("[[input]]\npaths = [\"/a\"]\nvalue = \"json\"").contains(":3: key 'value':"))
        #expect(error("scan_interval = \"soon\"\n[[input]]\npaths = [\"/a\"]").contains(":1: key 'scan_interval':"))
        #expect(error("topic = \"logs\"").contains("[[input]]"))
        #expect(error("brokers = [\"nohost\"]\n[[input]]\npaths = [\"/a\"]").contains(":1: key 'brokers':"))
    }

    /// The value a `key = value` line gives, in a comparable form, read through the schema.
    private func typedValue(_ line: String, schema: ConfigSchema) throws -> String {
        let values = try schema.read(ConfigDocument.parse(line, file: "sample"))
        return Self.render(values, schema: schema, key: String(line.split(separator: "=")[0]).trimmingCharacters(in: .whitespaces))
    }

    private static func render(_ values: ConfigValues, schema: ConfigSchema, key: String) -> String {
        switch schema.key(key)!.kind {
        case .string, .choice: return values.string(key)
        case .integer, .duration, .size: return String(values.integer(key))
        case .boolean: return String(values.boolean(key))
        case .float: return String(values.float(key))
        case .stringArray: return values.strings(key).joined(separator: ",")
        }
    }

    @Test("the sample configs document every key with its real default (`# key = default`)")
    func samplesDocumentDefaults() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for sample in ["nginx.toml", "app.toml"] {
            let text = try String(contentsOf: root.appendingPathComponent("agents/\(sample)"), encoding: .utf8)
            var top: [String: String] = [:]
            var firstInput: [String: String] = [:]
            var inputs = 0
            for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let line = raw.trimmingCharacters(in: .whitespaces)
                if line.hasPrefix("[[input]]") { inputs += 1 }
                guard line.hasPrefix("# "), line.contains(" = ") else { continue }
                let assignment = String(line.dropFirst(2))
                let key = String(assignment.split(separator: "=")[0]).trimmingCharacters(in: .whitespaces)
                guard !key.contains(" ") else { continue }
                if inputs == 0 { top[key] = assignment } else if inputs == 1 { firstInput[key] = assignment }
            }
            for (schema, documented, part) in [(AgentConfig.schema, top, "top level"), (InputConfig.schema, firstInput, "first [[input]]")] {
                let defaults = try schema.read(ConfigDocument.parse("", file: "defaults"))
                let expectedKeys = Set(schema.keys.map(\.name)).subtracting(part == "first [[input]]" ? ["paths"] : [])
                #expect(Set(documented.keys) == expectedKeys, "\(sample) \(part): keys documented differ from the schema")
                for (key, line) in documented where schema.key(key) != nil {
                    #expect(try typedValue(line, schema: schema) == Self.render(defaults, schema: schema, key: key), "\(sample): \(line)")
                }
            }
        }
    }

    @Test("the sample configs under agents/ are valid")
    func samples() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let agents = root.appendingPathComponent("agents")
        let samples = (try? FileManager.default.contentsOfDirectory(atPath: agents.path))?.filter { $0.hasSuffix(".toml") } ?? []
        #expect(!samples.isEmpty)
        for sample in samples {
            let config = try AgentConfig.load(file: agents.appendingPathComponent(sample).path)
            #expect(!config.inputs.isEmpty, "\(sample)")
        }
    }
}
