public import NIOCore

/// The records of the internal `__consumer_offsets` topic, in Apache Kafka's layout so that tools
/// which read that topic (Burrow, kafka-consumer-groups' offset dumps) understand ours.
///
/// A key is an int16 version then its fields: versions 0 and 1 are an `OffsetCommitKey`, 2 a
/// `GroupMetadataKey`. A value is an int16 version then its fields; a null value is a tombstone
/// (the offset or the group was deleted), which compaction keeps until delete.retention.ms. The
/// topic is compacted, so a key must always encode to the same bytes: keys keep the version
/// they were read with.
///
/// Kafka writes offset values at v1 when the commit carried an explicit retention (the only
/// version with expire_timestamp) and v3 otherwise, and group values at v3; Burrow reads offset
/// values 0, 1 and 3 (not 2) and group values 0-3. Flexible versions (4+) are not implemented.
public enum GroupMetadataRecord: Equatable, Sendable {
    /// A committed offset; nil = tombstone.
    case offsetCommit(OffsetCommitKey, OffsetCommitValue?)
    /// A group's membership and generation; nil = tombstone.
    case groupMetadata(GroupMetadataKey, GroupMetadataValue?)

    /// Decodes a record's key and value (nil for a null value).
    public init(key: ByteBuffer, value: ByteBuffer?) throws(KafkaDecodingError) {
        switch try GroupMetadataRecordKey(from: key) {
        case .offsetCommit(let k):
            guard let value else { self = .offsetCommit(k, nil); return }
            self = .offsetCommit(k, try OffsetCommitValue(from: value))
        case .groupMetadata(let k):
            guard let value else { self = .groupMetadata(k, nil); return }
            self = .groupMetadata(k, try GroupMetadataValue(from: value))
        }
    }

    public var key: GroupMetadataRecordKey {
        switch self {
        case .offsetCommit(let k, _): return .offsetCommit(k)
        case .groupMetadata(let k, _): return .groupMetadata(k)
        }
    }

    public var isTombstone: Bool {
        switch self {
        case .offsetCommit(_, let v): return v == nil
        case .groupMetadata(_, let v): return v == nil
        }
    }
}

/// The key of a `__consumer_offsets` record.
public enum GroupMetadataRecordKey: Hashable, Sendable {
    case offsetCommit(OffsetCommitKey)
    case groupMetadata(GroupMetadataKey)

    /// Decodes a whole key; bytes after its fields are refused.
    public init(from bytes: ByteBuffer) throws(KafkaDecodingError) {
        var buffer = bytes
        let start = buffer.readerIndex
        let version = try buffer.readKafkaInt16("key version")
        switch version {
        case OffsetCommitKey.versions:
            self = .offsetCommit(try OffsetCommitKey(fieldsFrom: &buffer, version: version))
        case GroupMetadataKey.version:
            self = .groupMetadata(try GroupMetadataKey(fieldsFrom: &buffer))
        default:
            throw .invalidValue(field: "key version", position: start, reason: "unknown __consumer_offsets key version \(version)")
        }
        try checkFullyRead(buffer, "key")
    }

    public var group: String {
        switch self {
        case .offsetCommit(let k): return k.group
        case .groupMetadata(let k): return k.group
        }
    }

    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .offsetCommit(let k): k.encode(into: &buffer)
        case .groupMetadata(let k): k.encode(into: &buffer)
        }
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }
}

/// Key versions 0 and 1 (the same layout): group, topic, partition.
public struct OffsetCommitKey: Hashable, Sendable {
    public static let versions: ClosedRange<Int16> = 0...1
    /// The version Kafka writes.
    public static let currentVersion: Int16 = 1

    /// 0 or 1, kept so the key re-encodes to the bytes it was read from.
    public var version: Int16
    public var group: String
    public var topic: String
    public var partition: Int32

    public init(group: String, topic: String, partition: Int32, version: Int16 = OffsetCommitKey.currentVersion) {
        self.version = version
        self.group = group
        self.topic = topic
        self.partition = partition
    }

    init(fieldsFrom buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        self.version = version
        group = try buffer.readKafkaString("group")
        topic = try buffer.readKafkaString("topic")
        partition = try buffer.readKafkaInt32("partition")
    }

    /// Appends the version and the fields.
    public func encode(into buffer: inout ByteBuffer) {
        assert(Self.versions.contains(version), "OffsetCommitKey v\(version) is outside \(Self.versions)")
        buffer.writeInteger(version)
        buffer.writeKafkaString(group)
        buffer.writeKafkaString(topic)
        buffer.writeInteger(partition)
    }
}

/// Key version 2: the group.
public struct GroupMetadataKey: Hashable, Sendable {
    public static let version: Int16 = 2

    public var group: String

    public init(group: String) {
        self.group = group
    }

    init(fieldsFrom buffer: inout ByteBuffer) throws(KafkaDecodingError) {
        group = try buffer.readKafkaString("group")
    }

    /// Appends the version and the field.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.version)
        buffer.writeKafkaString(group)
    }
}

/// The value of an offset commit, v0-3. v0: offset, metadata, commit_timestamp; v1 adds
/// expire_timestamp; v2 drops it again (the v0 layout); v3 adds leader_epoch after offset.
public struct OffsetCommitValue: Equatable, Sendable {
    public static let versions: ClosedRange<Int16> = 0...3

    public var offset: Int64
    /// v3+; -1 = unknown.
    public var leaderEpoch: Int32
    /// Not nullable: a commit without metadata stores "".
    public var metadata: String
    public var commitTimestamp: Int64
    /// v1 only; -1 = none (expiry follows offsets.retention.minutes).
    public var expireTimestamp: Int64

    public init(offset: Int64 = 0, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestamp: Int64 = 0, expireTimestamp: Int64 = -1) {
        self.offset = offset
        self.leaderEpoch = leaderEpoch
        self.metadata = metadata
        self.commitTimestamp = commitTimestamp
        self.expireTimestamp = expireTimestamp
    }

    /// The version Kafka would write this value at: v1 when it has an expire timestamp, else v3.
    public var preferredVersion: Int16 { expireTimestamp == -1 ? 3 : 1 }

    /// Decodes a whole value (version and fields); bytes after the fields are refused.
    public init(from bytes: ByteBuffer) throws(KafkaDecodingError) {
        var buffer = bytes
        let version = try readRecordValueVersion(&buffer, Self.versions, "OffsetCommitValue")
        self.init()
        offset = try buffer.readKafkaInt64("offset")
        if version >= 3 {
            leaderEpoch = try buffer.readKafkaInt32("leader_epoch")
        }
        metadata = try buffer.readKafkaString("metadata")
        commitTimestamp = try buffer.readKafkaInt64("commit_timestamp")
        if version == 1 {
            expireTimestamp = try buffer.readKafkaInt64("expire_timestamp")
        }
        try checkFullyRead(buffer, "OffsetCommitValue")
    }

    /// Appends the version and the fields of `version`.
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        assert(Self.versions.contains(version), "OffsetCommitValue v\(version) is outside \(Self.versions)")
        buffer.writeInteger(version)
        buffer.writeInteger(offset)
        if version >= 3 {
            buffer.writeInteger(leaderEpoch)
        }
        buffer.writeKafkaString(metadata)
        buffer.writeInteger(commitTimestamp)
        if version == 1 {
            buffer.writeInteger(expireTimestamp)
        }
    }

    /// The value at `version`, by default the one Kafka would write.
    public func encoded(version: Int16? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer, version: version ?? preferredVersion)
        return buffer
    }
}

/// The value of a group's metadata, v0-3: protocol_type, generation, protocol (nullable), leader
/// (nullable), [v2+ current_state_timestamp], members. Per member: member_id, [v3+
/// group_instance_id], client_id, client_host, [v1+ rebalance_timeout], session_timeout,
/// subscription, assignment.
public struct GroupMetadataValue: Equatable, Sendable {
    public static let versions: ClosedRange<Int16> = 0...3
    /// The version Kafka writes.
    public static let currentVersion: Int16 = 3

    public struct MemberMetadata: Equatable, Sendable {
        public var memberId: String
        /// v3+.
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        /// v1+; 0 when read from v0, whose readers take the session timeout in its place.
        public var rebalanceTimeout: Int32
        public var sessionTimeout: Int32
        /// The member's metadata for the group's protocol (its JoinGroup protocol metadata).
        public var subscription: ByteBuffer
        /// The member's assignment (from the leader's SyncGroup).
        public var assignment: ByteBuffer

        public init(
            memberId: String, groupInstanceId: String? = nil, clientId: String = "", clientHost: String = "",
            rebalanceTimeout: Int32 = 0, sessionTimeout: Int32 = 0, subscription: ByteBuffer = ByteBuffer(), assignment: ByteBuffer = ByteBuffer()
        ) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.clientId = clientId
            self.clientHost = clientHost
            self.rebalanceTimeout = rebalanceTimeout
            self.sessionTimeout = sessionTimeout
            self.subscription = subscription
            self.assignment = assignment
        }
    }

    public var protocolType: String
    public var generation: Int32
    /// nil while the group has no protocol (Empty).
    public var `protocol`: String?
    public var leader: String?
    /// v2+; -1 = unknown.
    public var currentStateTimestamp: Int64
    public var members: [MemberMetadata]

    public init(
        protocolType: String = "", generation: Int32 = 0, protocol: String? = nil, leader: String? = nil,
        currentStateTimestamp: Int64 = -1, members: [MemberMetadata] = []
    ) {
        self.protocolType = protocolType
        self.generation = generation
        self.protocol = `protocol`
        self.leader = leader
        self.currentStateTimestamp = currentStateTimestamp
        self.members = members
    }

    /// Decodes a whole value (version and fields); bytes after the fields are refused.
    public init(from bytes: ByteBuffer) throws(KafkaDecodingError) {
        var buffer = bytes
        let version = try readRecordValueVersion(&buffer, Self.versions, "GroupMetadataValue")
        self.init()
        protocolType = try buffer.readKafkaString("protocol_type")
        generation = try buffer.readKafkaInt32("generation")
        `protocol` = try buffer.readKafkaNullableString("protocol")
        leader = try buffer.readKafkaNullableString("leader")
        if version >= 2 {
            currentStateTimestamp = try buffer.readKafkaInt64("current_state_timestamp")
        }
        members = try buffer.readKafkaArray("members", minElementSize: 18) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            var member = MemberMetadata(memberId: try b.readKafkaString("members.member_id"))
            if version >= 3 {
                member.groupInstanceId = try b.readKafkaNullableString("members.group_instance_id")
            }
            member.clientId = try b.readKafkaString("members.client_id")
            member.clientHost = try b.readKafkaString("members.client_host")
            if version >= 1 {
                member.rebalanceTimeout = try b.readKafkaInt32("members.rebalance_timeout")
            }
            member.sessionTimeout = try b.readKafkaInt32("members.session_timeout")
            member.subscription = try b.readKafkaBytes("members.subscription")
            member.assignment = try b.readKafkaBytes("members.assignment")
            return member
        }
        try checkFullyRead(buffer, "GroupMetadataValue")
    }

    /// Appends the version and the fields of `version`.
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        assert(Self.versions.contains(version), "GroupMetadataValue v\(version) is outside \(Self.versions)")
        buffer.writeInteger(version)
        buffer.writeKafkaString(protocolType)
        buffer.writeInteger(generation)
        buffer.writeKafkaNullableString(`protocol`)
        buffer.writeKafkaNullableString(leader)
        if version >= 2 {
            buffer.writeInteger(currentStateTimestamp)
        }
        buffer.writeKafkaArray(members) { b, member in
            b.writeKafkaString(member.memberId)
            if version >= 3 {
                b.writeKafkaNullableString(member.groupInstanceId)
            }
            b.writeKafkaString(member.clientId)
            b.writeKafkaString(member.clientHost)
            if version >= 1 {
                b.writeInteger(member.rebalanceTimeout)
            }
            b.writeInteger(member.sessionTimeout)
            b.writeKafkaBytes(member.subscription)
            b.writeKafkaBytes(member.assignment)
        }
    }

    public func encoded(version: Int16 = GroupMetadataValue.currentVersion) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer, version: version)
        return buffer
    }
}

private func readRecordValueVersion(_ buffer: inout ByteBuffer, _ versions: ClosedRange<Int16>, _ name: String) throws(KafkaDecodingError) -> Int16 {
    let start = buffer.readerIndex
    let version = try buffer.readKafkaInt16("value version")
    guard versions.contains(version) else {
        buffer.moveReaderIndex(to: start)
        throw .invalidValue(field: "value version", position: start, reason: "unknown \(name) version \(version)")
    }
    return version
}

private func checkFullyRead(_ buffer: ByteBuffer, _ name: String) throws(KafkaDecodingError) {
    guard buffer.readableBytes == 0 else {
        throw .invalidValue(field: "\(name)", position: buffer.readerIndex, reason: "\(buffer.readableBytes) bytes left after the last field")
    }
}
