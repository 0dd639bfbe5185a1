public import NIOCore

/// DescribeConfigs request (key 32), v0-3. v1 adds include_synonyms; v2 repeats the layout; v3
/// adds include_documentation.
public struct DescribeConfigsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.describeConfigs
    public static let versions: ClosedRange<Int16> = 0...3

    /// Resource types (`ConfigResource.Type`).
    public static let topicResourceType: Int8 = 2
    public static let brokerResourceType: Int8 = 4
    public static let brokerLoggerResourceType: Int8 = 8

    public struct DescribeConfigsResource: Equatable, Sendable {
        public var resourceType: Int8
        public var resourceName: String
        /// nil = every key.
        public var configurationKeys: [String]?

        public init(resourceType: Int8, resourceName: String, configurationKeys: [String]? = nil) {
            self.resourceType = resourceType
            self.resourceName = resourceName
            self.configurationKeys = configurationKeys
        }
    }

    public var resources: [DescribeConfigsResource]
    /// v1+.
    public var includeSynonyms: Bool
    /// v3+.
    public var includeDocumentation: Bool

    public init(resources: [DescribeConfigsResource] = [], includeSynonyms: Bool = false, includeDocumentation: Bool = false) {
        self.resources = resources
        self.includeSynonyms = includeSynonyms
        self.includeDocumentation = includeDocumentation
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        resources = try buffer.readKafkaArray("resources", minElementSize: 7) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            DescribeConfigsResource(
                resourceType: try b.readKafkaInt8("resources.resource_type"),
                resourceName: try b.readKafkaString("resources.resource_name"),
                configurationKeys: try b.readKafkaNullableStringArray("resources.configuration_keys")
            )
        }
        if version >= 1 {
            includeSynonyms = try buffer.readKafkaBool("include_synonyms")
        }
        if version >= 3 {
            includeDocumentation = try buffer.readKafkaBool("include_documentation")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaArray(resources) { b, resource in
            b.writeInteger(resource.resourceType)
            b.writeKafkaString(resource.resourceName)
            b.writeKafkaNullableStringArray(resource.configurationKeys)
        }
        if version >= 1 {
            buffer.writeKafkaBool(includeSynonyms)
        }
        if version >= 3 {
            buffer.writeKafkaBool(includeDocumentation)
        }
    }
}

/// DescribeConfigs response (key 32), v0-3.
///
/// Per config: v0 has is_default where v1+ has config_source (same position); v1 adds synonyms;
/// v3 adds config_type and documentation.
public struct DescribeConfigsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.describeConfigs
    public static let versions: ClosedRange<Int16> = 0...3

    /// `config_source` values.
    public enum ConfigSource: Int8, Sendable {
        case unknown = 0
        case dynamicTopicConfig = 1
        case dynamicBrokerConfig = 2
        case dynamicDefaultBrokerConfig = 3
        case staticBrokerConfig = 4
        case defaultConfig = 5
        case dynamicBrokerLoggerConfig = 6
    }

    public struct DescribeConfigsSynonym: Equatable, Sendable {
        public var name: String
        public var value: String?
        public var source: Int8

        public init(name: String, value: String?, source: Int8) {
            self.name = name
            self.value = value
            self.source = source
        }
    }

    public struct DescribeConfigsResourceResult: Equatable, Sendable {
        public var name: String
        public var value: String?
        public var readOnly: Bool
        /// v0 only.
        public var isDefault: Bool
        /// v1+; -1 when not sent (v0).
        public var configSource: Int8
        public var isSensitive: Bool
        /// v1+.
        public var synonyms: [DescribeConfigsSynonym]
        /// v3+; 0 = unknown, 1 BOOLEAN, 2 STRING, 3 INT, 4 SHORT, 5 LONG, 6 DOUBLE, 7 LIST, 8 CLASS, 9 PASSWORD.
        public var configType: Int8
        /// v3+.
        public var documentation: String?

        public init(
            name: String, value: String?, readOnly: Bool = false, isDefault: Bool = false, configSource: Int8 = -1,
            isSensitive: Bool = false, synonyms: [DescribeConfigsSynonym] = [], configType: Int8 = 0, documentation: String? = nil
        ) {
            self.name = name
            self.value = value
            self.readOnly = readOnly
            self.isDefault = isDefault
            self.configSource = configSource
            self.isSensitive = isSensitive
            self.synonyms = synonyms
            self.configType = configType
            self.documentation = documentation
        }
    }

    public struct DescribeConfigsResult: Equatable, Sendable {
        public var errorCode: Int16
        public var errorMessage: String?
        public var resourceType: Int8
        public var resourceName: String
        public var configs: [DescribeConfigsResourceResult]

        public init(errorCode: Int16 = 0, errorMessage: String? = nil, resourceType: Int8, resourceName: String, configs: [DescribeConfigsResourceResult] = []) {
            self.errorCode = errorCode
            self.errorMessage = errorMessage
            self.resourceType = resourceType
            self.resourceName = resourceName
            self.configs = configs
        }
    }

    public var throttleTimeMs: Int32
    public var results: [DescribeConfigsResult]

    public init(throttleTimeMs: Int32 = 0, results: [DescribeConfigsResult] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.results = results
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        results = try buffer.readKafkaArray("results", minElementSize: 11) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            var result = DescribeConfigsResult(
                errorCode: try b.readKafkaInt16("results.error_code"),
                errorMessage: try b.readKafkaNullableString("results.error_message"),
                resourceType: try b.readKafkaInt8("results.resource_type"),
                resourceName: try b.readKafkaString("results.resource_name")
            )
            result.configs = try b.readKafkaArray("results.configs", minElementSize: 7) { (c: inout ByteBuffer) throws(KafkaDecodingError) in
                var config = DescribeConfigsResourceResult(
                    name: try c.readKafkaString("configs.name"),
                    value: try c.readKafkaNullableString("configs.value"),
                    readOnly: try c.readKafkaBool("configs.read_only")
                )
                if version == 0 {
                    config.isDefault = try c.readKafkaBool("configs.is_default")
                } else {
                    config.configSource = try c.readKafkaInt8("configs.config_source")
                }
                config.isSensitive = try c.readKafkaBool("configs.is_sensitive")
                if version >= 1 {
                    config.synonyms = try c.readKafkaArray("configs.synonyms", minElementSize: 5) { (s: inout ByteBuffer) throws(KafkaDecodingError) in
                        DescribeConfigsSynonym(
                            name: try s.readKafkaString("synonyms.name"),
                            value: try s.readKafkaNullableString("synonyms.value"),
                            source: try s.readKafkaInt8("synonyms.source")
                        )
                    }
                }
                if version >= 3 {
                    config.configType = try c.readKafkaInt8("configs.config_type")
                    config.documentation = try c.readKafkaNullableString("configs.documentation")
                }
                return config
            }
            return result
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeInteger(throttleTimeMs)
        buffer.writeKafkaArray(results) { b, result in
            b.writeInteger(result.errorCode)
            b.writeKafkaNullableString(result.errorMessage)
            b.writeInteger(result.resourceType)
            b.writeKafkaString(result.resourceName)
            b.writeKafkaArray(result.configs) { c, config in
                c.writeKafkaString(config.name)
                c.writeKafkaNullableString(config.value)
                c.writeKafkaBool(config.readOnly)
                if version == 0 {
                    c.writeKafkaBool(config.isDefault)
                } else {
                    c.writeInteger(config.configSource)
                }
                c.writeKafkaBool(config.isSensitive)
                if version >= 1 {
                    c.writeKafkaArray(config.synonyms) { s, synonym in
                        s.writeKafkaString(synonym.name)
                        s.writeKafkaNullableString(synonym.value)
                        s.writeInteger(synonym.source)
                    }
                }
                if version >= 3 {
                    c.writeInteger(config.configType)
                    c.writeKafkaNullableString(config.documentation)
                }
            }
        }
    }
}
