public import NIOCore

/// ApiVersions request (key 18), v0-3. v0-2 have an empty body; v3 is the first flexible
/// version and adds the client's software name and version (compact strings) and tagged fields.
public struct ApiVersionsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.apiVersions
    public static let versions: ClosedRange<Int16> = 0...3

    /// v3+.
    public var clientSoftwareName: String
    /// v3+.
    public var clientSoftwareVersion: String

    public init(clientSoftwareName: String = "", clientSoftwareVersion: String = "") {
        self.clientSoftwareName = clientSoftwareName
        self.clientSoftwareVersion = clientSoftwareVersion
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 3 {
            clientSoftwareName = try buffer.readKafkaString("client_software_name", flexible: true)
            clientSoftwareVersion = try buffer.readKafkaString("client_software_version", flexible: true)
            try buffer.skipKafkaTaggedFields()
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 3 {
            buffer.writeKafkaString(clientSoftwareName, flexible: true)
            buffer.writeKafkaString(clientSoftwareVersion, flexible: true)
            buffer.writeKafkaEmptyTaggedFields()
        }
    }
}

/// ApiVersions response (key 18), v0-3: error code, the supported version range of every API,
/// throttle time (v1+). v3 is flexible in the body (compact array, per-entry and top-level tagged
/// fields, with the feature tags 0-3) while its header stays v0.
public struct ApiVersionsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.apiVersions
    public static let versions: ClosedRange<Int16> = 0...3

    public struct SupportedFeatureKey: Equatable, Sendable {
        public var name: String
        public var minVersion: Int16
        public var maxVersion: Int16
        public init(name: String, minVersion: Int16, maxVersion: Int16) {
            self.name = name
            self.minVersion = minVersion
            self.maxVersion = maxVersion
        }
    }

    public struct FinalizedFeatureKey: Equatable, Sendable {
        public var name: String
        public var maxVersionLevel: Int16
        public var minVersionLevel: Int16
        public init(name: String, maxVersionLevel: Int16, minVersionLevel: Int16) {
            self.name = name
            self.maxVersionLevel = maxVersionLevel
            self.minVersionLevel = minVersionLevel
        }
    }

    public var errorCode: Int16
    public var apiKeys: [ApiVersionRange]
    /// v1+.
    public var throttleTimeMs: Int32
    /// v3+, tagged field 0.
    public var supportedFeatures: [SupportedFeatureKey]
    /// v3+, tagged field 1; -1 = unknown.
    public var finalizedFeaturesEpoch: Int64
    /// v3+, tagged field 2.
    public var finalizedFeatures: [FinalizedFeatureKey]
    /// v3+, tagged field 3.
    public var zkMigrationReady: Bool

    public init(
        errorCode: Int16 = 0, apiKeys: [ApiVersionRange] = [], throttleTimeMs: Int32 = 0,
        supportedFeatures: [SupportedFeatureKey] = [], finalizedFeaturesEpoch: Int64 = -1,
        finalizedFeatures: [FinalizedFeatureKey] = [], zkMigrationReady: Bool = false
    ) {
        self.errorCode = errorCode
        self.apiKeys = apiKeys
        self.throttleTimeMs = throttleTimeMs
        self.supportedFeatures = supportedFeatures
        self.finalizedFeaturesEpoch = finalizedFeaturesEpoch
        self.finalizedFeatures = finalizedFeatures
        self.zkMigrationReady = zkMigrationReady
    }

    /// The broker's answer: the advertised table, no error.
    public static func advertising(_ table: [ApiVersionRange] = SupportedVersions.table, throttleTimeMs: Int32 = 0) -> ApiVersionsResponse {
        ApiVersionsResponse(errorCode: 0, apiKeys: table, throttleTimeMs: throttleTimeMs)
    }

    /// The answer to an ApiVersions request at a version the broker does not support: error
    /// UNSUPPORTED_VERSION with the full table, to be encoded at `unsupportedVersionAnswerVersion`
    /// (v0) under response header v0. Clients (librdkafka, the Java client) parse it as v0 and
    /// retry at the highest ApiVersions version listed (KIP-511).
    public static func unsupportedVersion(_ table: [ApiVersionRange] = SupportedVersions.table) -> ApiVersionsResponse {
        ApiVersionsResponse(errorCode: KafkaErrorCode.unsupportedVersion.rawValue, apiKeys: table)
    }

    public static let unsupportedVersionAnswerVersion: Int16 = 0

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        let flexible = version >= 3
        self.init()
        errorCode = try buffer.readKafkaInt16("error_code")
        apiKeys = try buffer.readKafkaArray("api_keys", flexible: flexible, minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let key = try b.readKafkaInt16("api_key")
            let min = try b.readKafkaInt16("min_version")
            let max = try b.readKafkaInt16("max_version")
            if flexible { try b.skipKafkaTaggedFields() }
            return ApiVersionRange(apiKey: key, minVersion: min, maxVersion: max)
        }
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        if flexible {
            var supported: [SupportedFeatureKey] = []
            var epoch: Int64 = -1
            var finalized: [FinalizedFeatureKey] = []
            var zkReady = false
            try buffer.readKafkaTaggedFields("tagged fields") { (tag: UInt32, data: inout ByteBuffer) throws(KafkaDecodingError) in
                switch tag {
                case 0:
                    supported = try data.readKafkaArray("supported_features", flexible: true, minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
                        let name = try b.readKafkaString("name", flexible: true)
                        let min = try b.readKafkaInt16("min_version")
                        let max = try b.readKafkaInt16("max_version")
                        try b.skipKafkaTaggedFields()
                        return SupportedFeatureKey(name: name, minVersion: min, maxVersion: max)
                    }
                case 1:
                    epoch = try data.readKafkaInt64("finalized_features_epoch")
                case 2:
                    finalized = try data.readKafkaArray("finalized_features", flexible: true, minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
                        let name = try b.readKafkaString("name", flexible: true)
                        let max = try b.readKafkaInt16("max_version_level")
                        let min = try b.readKafkaInt16("min_version_level")
                        try b.skipKafkaTaggedFields()
                        return FinalizedFeatureKey(name: name, maxVersionLevel: max, minVersionLevel: min)
                    }
                case 3:
                    zkReady = try data.readKafkaBool("zk_migration_ready")
                default:
                    break
                }
            }
            supportedFeatures = supported
            finalizedFeaturesEpoch = epoch
            finalizedFeatures = finalized
            zkMigrationReady = zkReady
        }
    }

    /// Decodes as the Java client does: a client that sent a version the broker does not support
    /// gets a v0 body, so when the body does not parse at `version` it is parsed again as v0.
    public static func decodeWithFallback(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) -> ApiVersionsResponse {
        let start = buffer.readerIndex
        do throws(KafkaDecodingError) {
            return try ApiVersionsResponse(from: &buffer, version: version)
        } catch {
            guard version != 0 else { throw error }
            buffer.moveReaderIndex(to: start)
            return try ApiVersionsResponse(from: &buffer, version: 0)
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        let flexible = version >= 3
        buffer.writeInteger(errorCode)
        buffer.writeKafkaArray(apiKeys, flexible: flexible) { b, e in
            b.writeInteger(e.apiKey)
            b.writeInteger(e.minVersion)
            b.writeInteger(e.maxVersion)
            if flexible { b.writeKafkaEmptyTaggedFields() }
        }
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
        if flexible {
            var tagged: [(tag: UInt32, payload: ByteBuffer)] = []
            if !supportedFeatures.isEmpty {
                var p = ByteBuffer()
                p.writeKafkaArray(supportedFeatures, flexible: true) { b, f in
                    b.writeKafkaString(f.name, flexible: true)
                    b.writeInteger(f.minVersion)
                    b.writeInteger(f.maxVersion)
                    b.writeKafkaEmptyTaggedFields()
                }
                tagged.append((0, p))
            }
            if finalizedFeaturesEpoch != -1 {
                var p = ByteBuffer()
                p.writeInteger(finalizedFeaturesEpoch)
                tagged.append((1, p))
            }
            if !finalizedFeatures.isEmpty {
                var p = ByteBuffer()
                p.writeKafkaArray(finalizedFeatures, flexible: true) { b, f in
                    b.writeKafkaString(f.name, flexible: true)
                    b.writeInteger(f.maxVersionLevel)
                    b.writeInteger(f.minVersionLevel)
                    b.writeKafkaEmptyTaggedFields()
                }
                tagged.append((2, p))
            }
            if zkMigrationReady {
                var p = ByteBuffer()
                p.writeKafkaBool(true)
                tagged.append((3, p))
            }
            buffer.writeKafkaTaggedFields(tagged)
        }
    }

    /// The advertised range for `apiKey`, if listed.
    public func range(of apiKey: ApiKey) -> ClosedRange<Int16>? {
        guard let row = apiKeys.first(where: { $0.apiKey == apiKey.rawValue }) else { return nil }
        return row.minVersion...row.maxVersion
    }
}
