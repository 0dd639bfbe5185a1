public import NIOCore

/// AlterConfigs request (key 33), v0-1 (v1 only changes throttling; v2 is flexible and not
/// advertised). Replaces a resource's whole set of dynamic configs.
public struct AlterConfigsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.alterConfigs
    public static let versions: ClosedRange<Int16> = 0...1

    public struct AlterableConfig: Equatable, Sendable {
        public var name: String
        public var value: String?

        public init(name: String, value: String?) {
            self.name = name
            self.value = value
        }
    }

    public struct AlterConfigsResource: Equatable, Sendable {
        public var resourceType: Int8
        public var resourceName: String
        public var configs: [AlterableConfig]

        public init(resourceType: Int8, resourceName: String, configs: [AlterableConfig]) {
            self.resourceType = resourceType
            self.resourceName = resourceName
            self.configs = configs
        }
    }

    public var resources: [AlterConfigsResource]
    public var validateOnly: Bool

    public init(resources: [AlterConfigsResource] = [], validateOnly: Bool = false) {
        self.resources = resources
        self.validateOnly = validateOnly
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        resources = try buffer.readKafkaArray("resources", minElementSize: 7) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            AlterConfigsResource(
                resourceType: try b.readKafkaInt8("resources.resource_type"),
                resourceName: try b.readKafkaString("resources.resource_name"),
                configs: try b.readKafkaArray("resources.configs", minElementSize: 4) { (c: inout ByteBuffer) throws(KafkaDecodingError) in
                    AlterableConfig(
                        name: try c.readKafkaString("resources.configs.name"),
                        value: try c.readKafkaNullableString("resources.configs.value")
                    )
                }
            )
        }
        validateOnly = try buffer.readKafkaBool("validate_only")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaArray(resources) { b, resource in
            b.writeInteger(resource.resourceType)
            b.writeKafkaString(resource.resourceName)
            b.writeKafkaArray(resource.configs) { c, config in
                c.writeKafkaString(config.name)
                c.writeKafkaNullableString(config.value)
            }
        }
        buffer.writeKafkaBool(validateOnly)
    }
}

/// AlterConfigs response (key 33), v0-1.
public struct AlterConfigsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.alterConfigs
    public static let versions: ClosedRange<Int16> = 0...1

    public struct AlterConfigsResourceResponse: Equatable, Sendable {
        public var errorCode: Int16
        public var errorMessage: String?
        public var resourceType: Int8
        public var resourceName: String

        public init(errorCode: Int16 = 0, errorMessage: String? = nil, resourceType: Int8, resourceName: String) {
            self.errorCode = errorCode
            self.errorMessage = errorMessage
            self.resourceType = resourceType
            self.resourceName = resourceName
        }
    }

    public var throttleTimeMs: Int32
    public var responses: [AlterConfigsResourceResponse]

    public init(throttleTimeMs: Int32 = 0, responses: [AlterConfigsResourceResponse] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.responses = responses
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        responses = try buffer.readKafkaArray("responses", minElementSize: 7) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            AlterConfigsResourceResponse(
                errorCode: try b.readKafkaInt16("responses.error_code"),
                errorMessage: try b.readKafkaNullableString("responses.error_message"),
                resourceType: try b.readKafkaInt8("responses.resource_type"),
                resourceName: try b.readKafkaString("responses.resource_name")
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeInteger(throttleTimeMs)
        buffer.writeKafkaArray(responses) { b, response in
            b.writeInteger(response.errorCode)
            b.writeKafkaNullableString(response.errorMessage)
            b.writeInteger(response.resourceType)
            b.writeKafkaString(response.resourceName)
        }
    }
}
