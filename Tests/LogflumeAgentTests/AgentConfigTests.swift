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
