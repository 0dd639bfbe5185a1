import Foundation
import LogflumeAggregator
import LogflumeConfig
import Testing

@Suite struct AggregatorConfigTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func theShippedFileLoadsAndDocumentsEveryKey() throws {
        let path = Self.repository + "/conf/aggregator.toml"
        let config = try AggregatorConfig.load(file: path)
        #expect(config.topics == ["nginx"])
        #expect(config.granularity == .hour)
        #expect(config.timeZone == .utc)
        #expect(config.aggregation.delayMs == 600_000)
        #expect(config.output.codec == .gzip)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for key in AggregatorConfig.schema.keys {
            let name = String(key.name.split(separator: ".").last!)
            #expect(text.contains("# \(name) = ") || text.contains("\n\(name) = "), "conf/aggregator.toml does not document \(key.name)")
        }
    }

    @Test func unknownKeysAndBadValuesNameFileLineAndKey() throws {
        do {
            _ = try AggregatorConfig.schema.read(ConfigDocument.parse("[kafka]\ntopics = [\"a\"]\ntopix = 1\n", file: "agg.toml"))
            Issue.record("accepted an unknown key")
        } catch {
            #expect(error.file == "agg.toml" && error.line == 3 && error.key == "kafka.topix")
        }
        do {
            _ = try AggregatorConfig(values: AggregatorConfig.schema.read(ConfigDocument.parse("[kafka]\ntopics = [\"a\"]\n[buckets]\ntimezone = \"Mars/Base\"\n", file: "agg.toml")))
            Issue.record("accepted a bad timezone")
        } catch {
            #expect(error == ConfigError(file: "agg.toml", line: 4, key: "buckets.timezone", message: "'Mars/Base' is neither UTC, a fixed offset like +09:00, nor a known IANA zone"))
        }
        let parsed = try AggregatorConfig(values: AggregatorConfig.schema.read(ConfigDocument.parse("""
            [kafka]
            topics = ["a", "b"]
            [buckets]
            granularity = "minute"
            timezone = "+09:00"
            delay = "30s"
            [late]
            policy = "reopen"
            [done_hook]
            command = "true"
            """, file: "agg.toml")))
        #expect(parsed.calendar == BucketCalendar(granularity: .minute, zone: .fixed(seconds: 32_400)))
        #expect(parsed.aggregation.latePolicy == .reopen)
        #expect(parsed.doneHook?.command == "true")
    }

    @Test func compressionLevelsAreCheckedAgainstTheGzipEncoder() throws {
        func load(_ output: String) throws(ConfigError) -> AggregatorConfig {
            try AggregatorConfig(values: AggregatorConfig.schema.read(ConfigDocument.parse("[kafka]\ntopics = [\"a\"]\n[output]\n" + output, file: "agg.toml")))
        }
        let fast = try load("gzip_encoder = \"isa-l\"\ncompression_level = 3\n")
        #expect(fast.output.gzipEncoder == .isal && fast.output.compressionLevel == 3)
        #expect(try load("").output.gzipEncoder == .isal)
        #expect(try load("gzip_encoder = \"libdeflate\"\ncompression_level = 9\n").output.compressionLevel == 9)
        do {
            _ = try load("gzip_encoder = \"isa-l\"\ncompression_level = 6\n")
            Issue.record("accepted level 6 for ISA-L")
        } catch {
            #expect(error == ConfigError(
                file: "agg.toml", line: 5, key: "output.compression_level",
                message: "6 is out of range for gzip with isa-l (0-3, or -1); isa-l is the default gzip_encoder: set output.gzip_encoder = \"libdeflate\" for levels up to 9"
            ))
        }
        do {
            _ = try load("compression_level = 12\n")
            Issue.record("accepted level 12 for the default encoder")
        } catch {
            #expect(error == ConfigError(file: "agg.toml", line: 4, key: "output.compression_level", message: "12 is out of range for gzip with isa-l (0-3, or -1)"))
        }
        do {
            _ = try load("gzip_encoder = \"zlib\"\n")
            Issue.record("accepted an unknown encoder")
        } catch {
            #expect(error.line == 4 && error.key == "output.gzip_encoder")
        }
    }
}
