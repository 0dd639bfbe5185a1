import LogflumeBroker
import LogflumeStorage
import Testing

@Suite struct TopicConfigTests {
    @Test func overridesMapToLogSettings() throws {
        let config = try TopicConfig(settings: [
            ("retention.ms", "3600000"), ("segment.bytes", "1048576"), ("cleanup.policy", "compact,delete"),
            ("message.timestamp.type", "LogAppendTime"), ("min.insync.replicas", "2"), ("compression.type", "zstd"),
        ])
        #expect(config.logConfig.retentionMs == 3_600_000)
        #expect(config.logConfig.segmentBytes == 1 << 20)
        #expect(config.logConfig.cleanupPolicy == [.compact, .delete])
        #expect(config.timestampType == .logAppendTime)
        #expect(config.minInsyncReplicas == 2)
        #expect(config.compression == .zstd)
        #expect(config.isDefault(.retentionBytes) && !config.isDefault(.retentionMs))
        #expect(TopicConfig().compression == nil, "the default keeps the producer's codec")
    }

    @Test(arguments: [
        ("retention.ms", "soon"), ("segment.bytes", "1"), ("cleanup.policy", "shred"), ("message.timestamp.type", "Now"),
        ("min.cleanable.dirty.ratio", "2"), ("no.such.key", "1"), ("compression.type", "brotli"),
    ])
    func invalidValuesNameTheKey(key: String, value: String) {
        #expect(throws: TopicConfigError.self) { try TopicConfig(settings: [(key, value)]) }
        do { _ = try TopicConfig(settings: [(key, value)]) } catch { #expect(error.key == key) }
    }
}
