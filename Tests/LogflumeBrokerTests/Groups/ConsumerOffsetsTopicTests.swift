import LogflumeBroker
import LogflumeConfig
import LogflumeWire
import Testing

@Suite struct ConsumerOffsetsTopicTests {
    @Test func javaStringHashCode() {
        // Values of java.lang.String#hashCode.
        #expect(ConsumerOffsetsTopic.javaStringHashCode("") == 0)
        #expect(ConsumerOffsetsTopic.javaStringHashCode("hello") == 99_162_322)
        #expect(ConsumerOffsetsTopic.javaStringHashCode("Aa") == ConsumerOffsetsTopic.javaStringHashCode("BB"))
        #expect(ConsumerOffsetsTopic.javaStringHashCode("my-group") == -1_906_497_762)
        #expect(ConsumerOffsetsTopic.javaStringHashCode("groupé") == -1_237_460_406)
        #expect(ConsumerOffsetsTopic.javaStringHashCode("😀") == 1_772_899, "over UTF-16 code units (a surrogate pair)")
        #expect(ConsumerOffsetsTopic.javaStringHashCode("polygenelubricants") == Int32.min)
    }

    @Test func partitionForGroupFollowsKafka() {
        #expect(ConsumerOffsetsTopic.partition(forGroup: "hello", partitionCount: 50) == 22)
        #expect(ConsumerOffsetsTopic.partition(forGroup: "my-group", partitionCount: 50) == 12, "abs of a negative hash")
        #expect(ConsumerOffsetsTopic.partition(forGroup: "polygenelubricants", partitionCount: 50) == 0, "Utils.abs(Int.MIN_VALUE) is 0")
        #expect(ConsumerOffsetsTopic.partition(forGroup: "console-consumer-40311", partitionCount: 50) == 40)
        #expect(GroupCoordinatorConfig().partition(forGroup: "logflume-aggregator") == 39)
        #expect(ConsumerOffsetsTopic.partition(forGroup: "anything", partitionCount: 1) == 0)
    }

    @Test func configurationDefaultsAndFile() throws {
        let defaults = GroupCoordinatorConfig()
        #expect(defaults.initialRebalanceDelayMs == 3_000)
        #expect(defaults.minSessionTimeoutMs == 6_000 && defaults.maxSessionTimeoutMs == 1_800_000)
        #expect(defaults.offsetsRetentionMs == 7 * 24 * 3_600_000)
        #expect(defaults.maxSize == Int(Int32.max) && defaults.offsetsTopicNumPartitions == 50)

        let schema = ConfigSchema(keys: GroupCoordinatorConfig.schemaKeys)
        #expect(try GroupCoordinatorConfig(values: schema.read(ConfigDocument.parse("", file: "empty.toml"))) == defaults)
        let text = """
        group.initial.rebalance.delay.ms = "0s"
        group.min.session.timeout.ms = 1000
        offsets.retention.minutes = 1440
        group.max.size = 100
        """
        let read = try GroupCoordinatorConfig(values: schema.read(ConfigDocument.parse(text, file: "groups.toml")))
        #expect(read.initialRebalanceDelayMs == 0 && read.minSessionTimeoutMs == 1_000)
        #expect(read.offsetsRetentionMinutes == 1_440 && read.maxSize == 100)
        #expect(throws: ConfigError.self) {
            try GroupCoordinatorConfig(values: schema.read(ConfigDocument.parse("group.max.session.timeout.ms = 10\n", file: "bad.toml")))
        }
    }
}
