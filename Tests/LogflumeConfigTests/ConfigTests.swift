import LogflumeConfig
import Testing

@Suite struct ConfigTests {
    let schema = ConfigSchema(
        keys: [
            .init("listen", .string, default: "127.0.0.1:9092", "Address to accept Kafka clients on."),
            .init("node.id", .integer, default: "0", "This broker's id."),
            .init("log.retention.ms", .duration, default: "7d", "Retention."),
            .init("log.segment.bytes", .size, default: "1GiB", "Segment size."),
            .init("auto.create.topics.enable", .boolean, default: "true", "Create topics on first use."),
            .init("ratio", .float, default: "0.5", "A ratio."),
            .init("paths", .stringArray, default: "", "Paths."),
            .init("mode", .choice(["a", "b"]), default: "a", "Mode."),
        ],
        sections: ["inputs": ConfigSchema(keys: [.init("path", .string, default: "", "Glob.")])]
    )

    @Test func parsesTablesDottedKeysAndTypes() throws {
        let text = """
            # broker
            listen = "0.0.0.0:19092"   # trailing comment
            node.id = 3
            auto.create.topics.enable = false
            ratio = 1

            [log]
            retention.ms = "2h"
            "segment.bytes" = "64MiB"

            paths = [
              "/var/log/nginx/*.log", # first
              '/srv/app/*.log',
            ]
            """
        // `paths` sits under [log] here, so it is `log.paths`: unknown.
        let document = try ConfigDocument.parse(text, file: "broker.toml")
        #expect(document.entries["log.retention.ms"]?.line == 8)
        #expect(throws: ConfigError(file: "broker.toml", line: 11, key: "log.paths", message: "unknown key (known keys here: log.retention.ms, log.segment.bytes)")) {
            try schema.read(document)
        }
        let values = try schema.read(ConfigDocument.parse(String(text.split(separator: "\n", omittingEmptySubsequences: false).prefix(9).joined(separator: "\n")), file: "broker.toml"))
        #expect(values.string("listen") == "0.0.0.0:19092")
        #expect(values.integer("node.id") == 3)
        #expect(values.boolean("auto.create.topics.enable") == false)
        #expect(values.float("ratio") == 1)
        #expect(values.integer("log.retention.ms") == 7_200_000)
        #expect(values.integer("log.segment.bytes") == 64 << 20)
    }

    @Test func typedValuesAndDefaults() throws {
        let values = try schema.read(ConfigDocument.parse("""
            listen = "0.0.0.0:1"
            log.retention.ms = "30s"
            log.segment.bytes = 4096
            paths = ["a", "b"]
            mode = "b"
            """, file: "f.toml"))
        #expect(values.string("listen") == "0.0.0.0:1")
        #expect(values.integer("log.retention.ms") == 30_000)
        #expect(values.integer("log.segment.bytes") == 4096)
        #expect(values.strings("paths") == ["a", "b"])
        #expect(values.string("mode") == "b")
        #expect(values.integer("node.id") == 0, "default")
        #expect(values.boolean("auto.create.topics.enable") == true, "default")
        #expect(values.float("ratio") == 0.5, "default")
        #expect(values.location(of: "mode") == ("f.toml", 5))
    }

    @Test func sectionsAreReadWithTheirOwnSchema() throws {
        let values = try schema.read(ConfigDocument.parse("""
            [[inputs]]
            path = "/a/*.log"
            [[inputs]]
            path = "/b/*.log"
            """, file: "agent.toml"))
        #expect(values.sections["inputs"]?.map { $0.string("path") } == ["/a/*.log", "/b/*.log"])
        #expect(throws: ConfigError(file: "agent.toml", line: 2, key: "colour", message: "unknown key")) {
            try schema.read(ConfigDocument.parse("[[inputs]]\ncolour = \"red\"\n", file: "agent.toml"))
        }
    }

    @Test(arguments: [
        ("node.id = \"three\"", ConfigError(file: "c.toml", line: 1, key: "node.id", message: "expected an integer, found a string")),
        ("log.retention.ms = \"soon\"", ConfigError(file: "c.toml", line: 1, key: "log.retention.ms", message: "'soon' is not a duration (e.g. 500ms, 30s, 5m, 2h, 7d)")),
        ("mode = \"c\"", ConfigError(file: "c.toml", line: 1, key: "mode", message: "'c' is not one of a, b")),
        ("listen = 1\nlisten = 2", ConfigError(file: "c.toml", line: 2, key: "listen", message: "set twice (first on line 1)")),
        ("\n\nbogus = 1", ConfigError(file: "c.toml", line: 3, key: "bogus", message: "unknown key")),
    ])
    func errorsNameFileLineAndKey(text: String, expected: ConfigError) {
        #expect(throws: expected) { try schema.read(ConfigDocument.parse(text, file: "c.toml")) }
    }

    @Test(arguments: ["listen = ", "listen \"x\"", "listen = \"open", "listen = bare", "[log", "x = [1, 2", "a = 1 2"])
    func malformedLinesAreErrorsWithALineNumber(text: String) {
        do {
            _ = try ConfigDocument.parse(text, file: "bad.toml")
            Issue.record("expected an error for \(text)")
        } catch {
            #expect(error.file == "bad.toml" && error.line >= 1)
        }
    }

    @Test func durationsAndSizes() {
        #expect(ConfigValues.parseDuration("250ms") == 250)
        #expect(ConfigValues.parseDuration("5m") == 300_000)
        #expect(ConfigValues.parseDuration("7d") == 604_800_000)
        #expect(ConfigValues.parseSize("1GiB") == 1 << 30)
        #expect(ConfigValues.parseSize("10KB") == 10_000)
        #expect(ConfigValues.parseSize("12") == 12)
    }
}
