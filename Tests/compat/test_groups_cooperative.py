"""The cooperative rebalance protocol (KIP-429) with librdkafka as the judge: a Swift member
(`logflume consume --group --assignor cooperative-sticky`) and a librdkafka member
(`partition.assignment.strategy=cooperative-sticky`) share one group, whichever of them leads.
When the second member joins, the first gives up only the partitions that move (an incremental
revocation, never everything), the two never hold one partition at once, and together they
read every record exactly once."""
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer

from conftest import create_topic, logflume_binary, new_topic_name

PARTITIONS = 6


def fill(b, topic, start, count):
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(topic, value=f"v{i}".encode(), partition=i % PARTITIONS)
    assert p.flush(15) == 0


class RdMember:
    """A librdkafka member whose incremental assign/revoke callbacks are recorded."""

    def __init__(self, b, group, topic):
        self.events = []
        self.held = set()
        self.seen = {}
        self.consumer = Consumer({
            "bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 300,
            "partition.assignment.strategy": "cooperative-sticky",
        })
        self.consumer.subscribe([topic], on_assign=self._assigned, on_revoke=self._revoked)

    def _assigned(self, consumer, partitions):
        self.events.append(("assigned", sorted(tp.partition for tp in partitions)))
        self.held |= {tp.partition for tp in partitions}
        consumer.incremental_assign(partitions)

    def _revoked(self, consumer, partitions):
        self.events.append(("revoked", sorted(tp.partition for tp in partitions)))
        self.held -= {tp.partition for tp in partitions}
        consumer.incremental_unassign(partitions)

    def poll(self, timeout=0.2):
        msg = self.consumer.poll(timeout)
        if msg is not None and msg.error() is None:
            key = (msg.partition(), msg.offset())
            assert key not in self.seen, f"librdkafka read {key} twice"
            self.seen[key] = msg.value()
            self.consumer.commit(message=msg, asynchronous=False)


class SwiftMember:
    """`logflume consume --group` in a child process; stdout holds records, stderr rebalances."""

    def __init__(self, b, group, topic, tmp_path):
        self.out_path = tmp_path / "swift.out"
        self.out = open(self.out_path, "w")
        self.proc = subprocess.Popen(
            [str(logflume_binary()), "consume", "--bootstrap", b.bootstrap, "--topic", topic, "--group", group,
             "--assignor", "cooperative-sticky", "--format", "full"],
            stdout=self.out, stderr=subprocess.PIPE, text=True)
        self.events = []
        self.stderr = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            self.stderr.append(line)
            if line.startswith("logflume: rebalance: "):
                kind, generation, partitions = line.split(": ", 2)[2].split()
                listed = partitions.split("=", 1)[1]
                self.events.append((kind, sorted(int(p.rsplit("-", 1)[1]) for p in listed.split(",") if p)))

    def held(self):
        held = set()
        for kind, partitions in list(self.events):
            if kind == "assigned":
                held |= set(partitions)
            else:
                held -= set(partitions)
        return held

    def records(self):
        lines = [l for l in self.out_path.read_text().splitlines() if l]
        return [tuple(int(x) for x in l.split("\t")[:2]) for l in lines]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        finally:
            self.out.close()


def wait_until(condition, timeout, step):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        step()
    return condition()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("leader", ["librdkafka", "swift"])
def test_cooperative_members_of_both_clients_hand_over_only_what_moves(broker, tmp_path, leader):
    topic = create_topic(broker, partitions=PARTITIONS)
    group = new_topic_name("coop")
    fill(broker, topic, 0, 300)
    rd = swift = None
    try:
        if leader == "librdkafka":
            rd = RdMember(broker, group, topic)
            assert wait_until(lambda: rd.held == set(range(PARTITIONS)), 40, rd.poll), rd.events
            # Read what is there, so the handover has positions to carry over.
            assert wait_until(lambda: len(rd.seen) == 300, 30, rd.poll)
            swift = SwiftMember(broker, group, topic, tmp_path)
            first_events, first_held = (lambda: rd.events), (lambda: rd.held)
            step = rd.poll
        else:
            swift = SwiftMember(broker, group, topic, tmp_path)
            assert wait_until(lambda: swift.held() == set(range(PARTITIONS)) and len(swift.records()) == 300, 40,
                              lambda: time.sleep(0.2)), (swift.events, "".join(swift.stderr[-20:]))
            rd = RdMember(broker, group, topic)
            first_events, first_held = (lambda: swift.events), swift.held
            step = rd.poll

        def settled():
            return len(rd.held) == 3 and len(swift.held()) == 3 and not (rd.held & swift.held())

        assert wait_until(settled, 60, step), (rd.events, swift.events, "".join(swift.stderr[-20:]))
        fill(broker, topic, 300, 300)
        assert wait_until(lambda: len(rd.seen) + len(swift.records()) >= 600, 40, step), \
            (len(rd.seen), len(swift.records()))
        # A moment more: a duplicate would show up now.
        for _ in range(10):
            step()

        revocations = [p for kind, p in first_events() if kind == "revoked"]
        assert revocations, f"the first member gave nothing up: {first_events()}"
        assert all(len(p) < PARTITIONS for p in revocations), f"an eager revocation: {first_events()}"
        assert sum(len(p) for p in revocations) == 3, f"more moved than the newcomer's share: {first_events()}"
        assert len(first_held()) == 3

        swift_records = swift.records()
        assert len(set(swift_records)) == len(swift_records), "the Swift member read a record twice"
        overlap = set(swift_records) & set(rd.seen)
        assert not overlap, f"read by both members: {sorted(overlap)[:5]}"
        assert len(swift_records) + len(rd.seen) == 600
        assert swift.held() | rd.held == set(range(PARTITIONS))
    finally:
        if swift is not None:
            swift.stop()
        if rd is not None:
            rd.consumer.close()
