"""Debian's Burrow 1.2.1 reads the group's committed offsets from `__consumer_offsets` (offset key
v1 + value v3 as logflume writes them), the log end offsets through Metadata + ListOffsets, and
reports the lag (log end − committed) of a librdkafka group, also after it commits more.

Burrow runs with a throwaway ZooKeeper (it coordinates itself there) and talks to the broker
directly. It sends every ListOffsets as v0, which the broker offers for this reason.

Known Burrow 1.2.1 limit, not asserted: it cannot decode group metadata value v3 (what Kafka
≥ 2.3 and logflume write), logs "failed to decode ... value version 3" and so shows no owner
or client id for the partitions. The offsets and lag do not depend on it.

Skipped when Burrow or ZooKeeper is not installed (`apt-get install burrow zookeeper`).
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from conftest import Broker, admin_client, create_topic, wait_for_high_watermark
from helpers.burrow import Burrow, ZooKeeper, missing_tools, wait_until

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=f"Burrow cannot run: {missing_tools()}")

LAG_TIMEOUT_S = 30


def java_string_hash(s: str) -> int:
    units = s.encode("utf-16-be")
    h = 0
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i:i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group: str, partitions: int) -> int:
    """The `__consumer_offsets` partition Kafka puts a group in: abs(String.hashCode) % partitions."""
    return abs(java_string_hash(group)) % partitions


class Stack:
    def __init__(self, broker: Broker, zookeeper: ZooKeeper, burrow: Burrow):
        self.broker, self.zookeeper, self.burrow = broker, zookeeper, burrow

    def diagnostics(self) -> str:
        return (f"--- burrow log (last 30 lines, log end offsets left out) ---\n"
                f"{self.burrow.log_tail(30)}\n--- broker log ---\n{self.broker.log_text(lines=20)}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Broker, ZooKeeper and Burrow; stopped in reverse order."""
    root = tmp_path_factory.mktemp("burrow")
    broker = Broker(root / "broker", name="test_burrow")
    zookeeper = burrow = None
    try:
        broker.start()
        zookeeper = ZooKeeper(root / "zookeeper")
        zookeeper.start()
        burrow = Burrow(root / "burrow", zookeeper.address, [broker.bootstrap])
        burrow.start()
        yield Stack(broker, zookeeper, burrow)
    finally:
        if burrow is not None:
            burrow.stop()
        if zookeeper is not None:
            zookeeper.stop()
        broker.close()


def produce(bootstrap: str, topic: str, counts: dict[int, int]):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "message.timeout.ms": 20000})
    for partition, n in counts.items():
        for i in range(n):
            p.produce(topic, value=f"p{partition}-{i}".encode(), partition=partition)
    assert p.flush(20) == 0, "records left unsent"


def lag_by_partition(status: dict | None, topic: str) -> dict[int, tuple[int, int]]:
    """{partition: (committed offset Burrow holds, current lag)} from a /lag status."""
    if not status:
        return {}
    return {p["partition"]: (p["end"]["offset"] if p.get("end") else None, p["current_lag"])
            for p in status.get("partitions") or [] if p["topic"] == topic}


def wait_for_lag(stack: Stack, group: str, topic: str, committed: dict[int, int], log_end: dict[int, int]) -> dict:
    expected = {p: (committed[p], log_end[p] - committed[p]) for p in committed}
    seen = {}

    def check():
        status = stack.burrow.consumer_lag(group)
        seen["status"] = status
        if lag_by_partition(status, topic) == expected and status["totallag"] == sum(l for _, l in expected.values()):
            return status
        return None

    return wait_until(
        f"Burrow's lag for group {group} = {{partition: (committed, log end - committed)}} {expected}", check,
        LAG_TIMEOUT_S, interval=0.2,
        describe=lambda: f"{lag_by_partition(seen.get('status'), topic)}\nstatus: {json.dumps(seen.get('status'))}\n"
                         f"{stack.diagnostics()}")


def test_burrow_reports_lag_from_consumer_offsets(stack):
    broker, burrow = stack.broker, stack.burrow
    started = time.monotonic()
    topic = create_topic(broker, partitions=3, prefix="burrow")
    log_end = {0: 30, 1: 20, 2: 10}
    produce(broker.bootstrap, topic, log_end)
    for partition, end in log_end.items():
        wait_for_high_watermark(broker, topic, partition, end)

    # Burrow drops commits for topics its cluster module has not seen yet ("no topic"), so wait
    # until it holds the log end offsets it got from ListOffsets.
    wait_until(f"Burrow's log end offsets for {topic} = [30, 20, 10]",
               lambda: burrow.topic_offsets(topic) == [30, 20, 10], LAG_TIMEOUT_S,
               describe=lambda: f"{burrow.topic_offsets(topic)}\n{stack.diagnostics()}")

    # A group whose records land in __consumer_offsets partition 0: Burrow's sarama consumer
    # subscribes the 50 partitions one by one (each subscription waits out a 250 ms fetch), 0 first.
    offsets_partitions = len(admin_client(broker).list_topics("__consumer_offsets", timeout=10)
                             .topics["__consumer_offsets"].partitions)
    group = next(g for g in (f"burrow-compat-{uuid.uuid4().hex[:8]}" for _ in range(10_000))
                 if offsets_partition(g, offsets_partitions) == 0)

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    try:
        consumer.subscribe([topic])
        # Consume part of each partition: the first 12, 5 and 4 records; commit after them.
        committed = {0: 12, 1: 5, 2: 4}
        seen: dict[int, int] = {}
        deadline = time.monotonic() + 30
        while any(seen.get(p, 0) < n for p, n in committed.items()):
            assert time.monotonic() < deadline, f"group consumer got only {seen} of {committed} within 30 s"
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            assert msg.value() == f"p{msg.partition()}-{msg.offset()}".encode()
            seen[msg.partition()] = max(seen.get(msg.partition(), 0), msg.offset() + 1)
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()], asynchronous=False)
        back = consumer.committed([TopicPartition(topic, p) for p in committed], timeout=10)
        assert {tp.partition: tp.offset for tp in back} == committed

        status = wait_for_lag(stack, group, topic, committed, log_end)
        assert status["group"] == group and status["cluster"] == burrow.cluster
        assert status["partition_count"] == 3
        assert status["maxlag"]["partition"] == 0 and status["maxlag"]["current_lag"] == 18
        assert group in burrow.get(f"/v3/kafka/{burrow.cluster}/consumer")["consumers"]
        # Burrow read these from __consumer_offsets, in the partition Kafka would use for the group.
        lines = [json.loads(line) for line in burrow.log_lines('"msg":"consumer offset"')]
        mine = [(r["offset_partition"], r["partition"], r["offset"]) for r in lines if r.get("group") == group]
        assert sorted(mine) == [(0, p, o) for p, o in sorted(committed.items())], mine

        # More records on partition 2; the group catches up on 0, half-way on 1, and commits 4 on 2
        # again. Burrow measures a commit's lag against the log end it holds when the commit
        # arrives, so the commit waits until Burrow holds the new one.
        produce(broker.bootstrap, topic, {2: 5})
        log_end = {0: 30, 1: 20, 2: 15}
        wait_until(f"Burrow's log end offsets for {topic} = [30, 20, 15]",
                   lambda: burrow.topic_offsets(topic) == [30, 20, 15], LAG_TIMEOUT_S,
                   describe=lambda: f"{burrow.topic_offsets(topic)}\n{stack.diagnostics()}")
        committed = {0: 30, 1: 15, 2: 4}
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()], asynchronous=False)

        status = wait_for_lag(stack, group, topic, committed, log_end)
        assert status["totallag"] == 0 + 5 + 11
        assert status["maxlag"]["partition"] == 2 and status["maxlag"]["current_lag"] == 11
    finally:
        consumer.close()
    # Burrow learned the log end offsets through ListOffsets v0, answered by the broker itself.
    assert "ListOffsets v0 is not supported" not in broker.log_text(lines=400)
    elapsed = time.monotonic() - started
    print(f"Burrow reported both lags within {elapsed:.1f} s; ZooKeeper started in {stack.zookeeper.start_seconds:.1f} s")
