public import LogflumeWire
public import NIOCore

/// The group coordinator as a value-type state machine: every group with its membership,
/// generation and committed offsets, driven by method calls that carry the time, with no
/// sockets, files or clocks of its own.
///
/// Each input (`join`, `sync`, `heartbeat`, `leave`, `commitOffsets`, `fetchOffsets`,
/// `describe`, `list`, `delete`, `tick`) returns an `Outcome`: records for `__consumer_offsets`
/// and responses to deliver, each addressed by the `RequestToken` its request came with.
/// JoinGroup and SyncGroup requests may be *parked*: their responses arrive in the outcome of a
/// later input (another member's join, the leader's sync, a `tick` that reaches a deadline).
///
/// ## The caller's contract
///
/// 1. Pass every request with a fresh token, and run inputs one at a time in the order they
///    happened, with a `now` (milliseconds since the epoch) that never goes backwards.
/// 2. With each outcome, **first append `recordsToAppend`** to `__consumer_offsets` (in order;
///    each record to `config.partition(forGroup:)` of its group; one batch per partition keeps a
///    commit atomic; `ConsumerOffsetsTopic.encode` or `Outcome.encodedRecords()` gives the bytes),
///    **then deliver `responses`** to their tokens. Kafka answers an offset commit, a
///    DeleteGroups and the end of a rebalance only after their records are in the log, and a
///    restart rebuilds exactly what was acknowledged.
/// 3. The state already includes the outcome's changes when the call returns. If appending
///    fails, answer with `outcome.failed(with:)` instead (every response carrying that error,
///    e.g. COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR, so clients rediscover the coordinator
///    and retry) and reload the state from the log (`beginLoading`, `replay`, `finishLoading`).
/// 4. Call `tick(now:)` when `nextDeadline` passes (or periodically); every other input also
///    fires the deadlines due by its `now` first, so a late timer never changes the result.
/// 5. On start, `beginLoading()`, `replay` every record of `__consumer_offsets` in offset order,
///    then `finishLoading(now:)`. Meanwhile requests are answered COORDINATOR_LOAD_IN_PROGRESS
///    (SyncGroup: REBALANCE_IN_PROGRESS; Heartbeat: no error), as Kafka does.
///
/// Topic and partition existence are not checked here: the broker answers
/// UNKNOWN_TOPIC_OR_PARTITION for those before calling `commitOffsets`.
public struct GroupCoordinatorState: Equatable, Sendable {
    public let config: GroupCoordinatorConfig
    /// Every group this coordinator holds, by group id. Dead groups are removed.
    public internal(set) var groups: [String: Group] = [:]
    /// True between `beginLoading()` and `finishLoading(now:)`.
    public internal(set) var isLoading = false
    /// When expired offsets and empty groups are next removed (set by the first input).
    public internal(set) var nextOffsetExpirationCheck: Int64?
    /// The state of the generator behind new member ids.
    var randomState: UInt64

    /// - Parameters:
    ///   - config: the coordinator's settings.
    ///   - randomSeed: seeds the member-id generator (member ids are `clientId-UUID`, as in
    ///     Kafka); pass a fixed seed for reproducible tests.
    public init(config: GroupCoordinatorConfig = GroupCoordinatorConfig(), randomSeed: UInt64 = .random(in: .min ... .max)) {
        self.config = config
        self.randomState = randomSeed
    }

    /// Identifies one request so that its (possibly delayed) response can be routed back to
    /// its connection. The caller chooses the values; they only need to be unique among the
    /// requests in flight.
    public struct RequestToken: Hashable, Sendable, CustomStringConvertible {
        public var rawValue: UInt64

        public init(_ rawValue: UInt64) {
            self.rawValue = rawValue
        }

        public var description: String { "#\(rawValue)" }
    }

    /// A response to one group request.
    public enum Response: Equatable, Sendable {
        case joinGroup(JoinGroupResponse)
        case syncGroup(SyncGroupResponse)
        case heartbeat(HeartbeatResponse)
        case leaveGroup(LeaveGroupResponse)
        case offsetCommit(OffsetCommitResponse)
        case offsetFetch(OffsetFetchResponse)
        case describeGroups(DescribeGroupsResponse)
        case listGroups(ListGroupsResponse)
        case deleteGroups(DeleteGroupsResponse)

        /// The same response answering `error` everywhere it has an error code (used when the
        /// records it depends on could not be appended).
        public func failed(with error: KafkaErrorCode) -> Response {
            let code = error.rawValue
            switch self {
            case .joinGroup(let r):
                return .joinGroup(JoinGroupResponse(errorCode: code, memberId: r.memberId))
            case .syncGroup:
                return .syncGroup(SyncGroupResponse(errorCode: code))
            case .heartbeat:
                return .heartbeat(HeartbeatResponse(errorCode: code))
            case .leaveGroup(var r):
                r.errorCode = code
                for i in r.members.indices { r.members[i].errorCode = code }
                return .leaveGroup(r)
            case .offsetCommit(var r):
                for t in r.topics.indices {
                    for p in r.topics[t].partitions.indices { r.topics[t].partitions[p].errorCode = code }
                }
                return .offsetCommit(r)
            case .offsetFetch(var r):
                r.errorCode = code
                for t in r.topics.indices {
                    for p in r.topics[t].partitions.indices { r.topics[t].partitions[p].errorCode = code }
                }
                return .offsetFetch(r)
            case .describeGroups(var r):
                for g in r.groups.indices { r.groups[g] = DescribeGroupsResponse.DescribedGroup(errorCode: code, groupId: r.groups[g].groupId) }
                return .describeGroups(r)
            case .listGroups:
                return .listGroups(ListGroupsResponse(errorCode: code))
            case .deleteGroups(var r):
                for i in r.results.indices { r.results[i].errorCode = code }
                return .deleteGroups(r)
            }
        }
    }

    /// What one input produced: records to append, then responses to deliver (see the type's
    /// contract: append first, answer after).
    public struct Outcome: Equatable, Sendable {
        public struct Delivery: Equatable, Sendable {
            public var token: RequestToken
            public var response: Response

            public init(token: RequestToken, response: Response) {
                self.token = token
                self.response = response
            }
        }

        /// Records for `__consumer_offsets`, in the order they must be appended: offset
        /// commits, group metadata at the end of each rebalance (and when a group empties or a
        /// static member is replaced), tombstones for deleted groups and expired offsets.
        public var recordsToAppend: [GroupMetadataRecord] = []
        /// Responses to deliver once the records are appended, possibly to requests parked by
        /// earlier inputs.
        public var responses: [Delivery] = []

        public init(recordsToAppend: [GroupMetadataRecord] = [], responses: [Delivery] = []) {
            self.recordsToAppend = recordsToAppend
            self.responses = responses
        }

        public var isEmpty: Bool { recordsToAppend.isEmpty && responses.isEmpty }

        /// The response addressed to `token`, if this outcome has one.
        public func response(for token: RequestToken) -> Response? {
            responses.first { $0.token == token }?.response
        }

        /// The records as key and value bytes (nil value = tombstone).
        public func encodedRecords() -> [(key: ByteBuffer, value: ByteBuffer?)] {
            recordsToAppend.map(ConsumerOffsetsTopic.encode)
        }

        /// The responses to deliver instead when appending the records failed.
        public func failed(with error: KafkaErrorCode) -> [Delivery] {
            responses.map { Delivery(token: $0.token, response: $0.response.failed(with: error)) }
        }

        mutating func respond(_ token: RequestToken, _ response: Response) {
            responses.append(Delivery(token: token, response: response))
        }

        mutating func append(_ record: GroupMetadataRecord) {
            recordsToAppend.append(record)
        }
    }
}

/// The bookkeeping of one input while it runs: its time (a deadline's own time while timers
/// fire), the settings, and what it has produced so far.
struct GroupStep {
    var now: Int64
    let config: GroupCoordinatorConfig
    var outcome = GroupCoordinatorState.Outcome()
}

extension GroupCoordinatorState {
    /// Starts an input at `now`: fires every deadline due by then.
    mutating func begin(_ now: Int64) -> GroupStep {
        if nextOffsetExpirationCheck == nil { nextOffsetExpirationCheck = now + config.offsetsRetentionCheckIntervalMs }
        var step = GroupStep(now: now, config: config)
        fireDeadlines(upTo: now, &step)
        step.now = now
        return step
    }

    /// Ends an input: fires deadlines the input itself made due (a zero initial delay), and
    /// returns what it produced.
    mutating func finish(_ step: GroupStep) -> Outcome {
        var step = step
        let now = step.now
        fireDeadlines(upTo: now, &step)
        return step.outcome
    }

    /// A new member id, `clientId-` and a random (v4-shaped) UUID, as Kafka makes them.
    mutating func makeMemberId(clientId: String, in group: Group) -> String {
        while true {
            let high = nextRandom(), low = nextRandom()
            let hex = { (value: UInt64, digits: Int) -> String in
                let text = String(value, radix: 16)
                return String(repeating: "0", count: max(0, digits - text.count)) + text
            }
            let a = (high >> 32) & 0xffff_ffff
            let b = (high >> 16) & 0xffff
            let c = (high & 0x0fff) | 0x4000
            let d = ((low >> 48) & 0x3fff) | 0x8000
            let e = low & 0xffff_ffff_ffff
            let id = "\(clientId)-\(hex(a, 8))-\(hex(b, 4))-\(hex(c, 4))-\(hex(d, 4))-\(hex(e, 12))"
            if !group.has(id) && group.pendingMembers[id] == nil { return id }
        }
    }

    /// SplitMix64.
    mutating func nextRandom() -> UInt64 {
        randomState &+= 0x9e37_79b9_7f4a_7c15
        var z = randomState
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
