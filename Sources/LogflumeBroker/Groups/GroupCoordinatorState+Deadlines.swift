extension GroupCoordinatorState {
    /// Fires every deadline due by `now`, each at its own time and in time order: member
    /// sessions (`session.timeout.ms`), KIP-394 pending member ids, the join phase (the
    /// initial rebalance delay or the rebalance timeout), the sync phase (the rebalance
    /// timeout), and the periodic offset expiry.
    public mutating func tick(now: Int64) -> Outcome {
        finish(begin(now))
    }

    /// The earliest time at which `tick` has something to do (nil while loading, or before
    /// the first input).
    public var nextDeadline: Int64? {
        guard !isLoading else { return nil }
        var earliest = nextOffsetExpirationCheck
        for group in groups.values {
            if let deadline = group.earliestTimer?.deadline { earliest = min(earliest ?? deadline, deadline) }
        }
        return earliest
    }

    /// Fires due deadlines until none is left at or before `now`.
    mutating func fireDeadlines(upTo now: Int64, _ step: inout GroupStep) {
        guard !isLoading else { return }
        while true {
            var next: (timer: GroupTimer, groupId: String)?
            for (groupId, group) in groups {
                guard let timer = group.earliestTimer, timer.deadline <= now else { continue }
                if let current = next, (current.timer, current.groupId) <= (timer, groupId) { continue }
                next = (timer, groupId)
            }
            // The offset expiry runs once, at the last of its periods that has begun by `now`.
            var expiryAt: Int64?
            if let check = nextOffsetExpirationCheck, check <= now {
                let interval = config.offsetsRetentionCheckIntervalMs
                expiryAt = check + (now - check) / interval * interval
            }
            if let expiryAt, next.map({ expiryAt < $0.timer.deadline }) ?? true {
                step.now = expiryAt
                nextOffsetExpirationCheck = expiryAt + config.offsetsRetentionCheckIntervalMs
                expireOffsetsAndGroups(&step)
                continue
            }
            guard let (timer, groupId) = next, var group = groups[groupId] else { return }
            step.now = timer.deadline
            switch timer.kind {
            case .heartbeat: group.heartbeatDeadlinePassed(timer.memberId, &step)
            case .pendingMember: group.removePendingMemberAndUpdateGroup(timer.memberId, &step)
            case .join: group.joinDeadlinePassed(&step)
            case .sync: group.syncDeadlinePassed(&step)
            }
            groups[groupId] = group
        }
    }
}

/// One deadline of a group; deadlines due at the same time fire sessions first, then pending
/// member ids, then the join phase, then the sync phase.
struct GroupTimer: Comparable {
    enum Kind: Int {
        case heartbeat, pendingMember, join, sync
    }

    var deadline: Int64
    var kind: Kind
    var memberId: String = ""

    static func < (a: GroupTimer, b: GroupTimer) -> Bool {
        (a.deadline, a.kind.rawValue, a.memberId) < (b.deadline, b.kind.rawValue, b.memberId)
    }
}

extension GroupCoordinatorState.Group {
    var earliestTimer: GroupTimer? {
        var earliest: GroupTimer?
        func consider(_ timer: GroupTimer) {
            if earliest.map({ timer < $0 }) ?? true { earliest = timer }
        }
        for member in members {
            if let deadline = member.heartbeatDeadline { consider(GroupTimer(deadline: deadline, kind: .heartbeat, memberId: member.memberId)) }
        }
        for (memberId, deadline) in pendingMembers { consider(GroupTimer(deadline: deadline, kind: .pendingMember, memberId: memberId)) }
        if let joinDeadline { consider(GroupTimer(deadline: joinDeadline, kind: .join)) }
        if let syncDeadline { consider(GroupTimer(deadline: syncDeadline, kind: .sync)) }
        return earliest
    }
}
