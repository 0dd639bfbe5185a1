"""aiokafka (asyncio; infers the broker version from the ApiVersions maximums) against the broker:
producer with acks 0, 1 and all, idempotent, every codec; consumer with assign, seek and the
offset queries. Every record's key, value, headers, timestamp and offset is checked."""

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition as ATP

from conftest import (
    Rec,
    assert_records_equal,
    consume_confluent,
    create_topic,
    end_offsets_of,
    expected_records,
    now_ms,
    produce_confluent,
    sample_records,
    wait_for_high_watermark,
)


async def aio_produce(broker, topic, records, **conf):
    p = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, request_timeout_ms=20000, **conf)
    await p.start()
    try:
        futures = [
            await p.send(topic, value=r["value"], key=r["key"], partition=r["partition"], timestamp_ms=r["timestamp"],
                         headers=list(r["headers"]))
            for r in records
        ]
        return await asyncio.wait_for(asyncio.gather(*futures), 30)
    finally:
        await p.stop()


def aio_consumer(broker, **conf):
    return AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="none",
        fetch_max_wait_ms=100, request_timeout_ms=20000, **conf,
    )


def rec_from_aio(r) -> Rec:
    return Rec(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp, r.timestamp_type == 1)


async def aio_consume(broker, topic, start, end, timeout=20.0):
    c = aio_consumer(broker)
    await c.start()
    out = []
    try:
        tps = {p: ATP(topic, p) for p in start}
        c.assign(list(tps.values()))
        for p, o in start.items():
            c.seek(tps[p], o)
        position = dict(start)
        deadline = time.monotonic() + timeout
        while any(position[p] < end.get(p, 0) for p in start):
            assert time.monotonic() < deadline, f"aiokafka consumer stuck at {position}, want {end}; {len(out)} read"
            for tp, batch in (await c.getmany(timeout_ms=200)).items():
                for r in batch:
                    if r.offset < end.get(tp.partition, 0):
                        out.append(rec_from_aio(r))
                        position[tp.partition] = r.offset + 1
    finally:
        await c.stop()
    return sorted(out, key=lambda r: (r.partition, r.offset))


def produce_order_offsets(records):
    next_offset, out = {}, []
    for r in records:
        o = next_offset.get(r["partition"], 0)
        next_offset[r["partition"]] = o + 1
        out.append((r["partition"], o))
    return out


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_produce_and_consume_every_field(broker, acks):
    topic = create_topic(broker, partitions=2, prefix=f"aio-acks-{acks}")
    records = sample_records(200, partitions=2, tag=f"aio{acks}-")
    metas = asyncio.run(aio_produce(broker, topic, records, acks=acks, linger_ms=5))
    expected = expected_records(records)
    ends = end_offsets_of(expected)
    if acks == 0:
        for p, end in ends.items():
            wait_for_high_watermark(broker, topic, p, end)
    else:
        assert [(m.partition, m.offset) for m in metas] == produce_order_offsets(records), "RecordMetadata offsets"
        # (Not RecordMetadata.timestamp: aiokafka 0.14 gives every record of a CreateTime batch the
        # first record's timestamp there, whatever the broker answers.)
    got = asyncio.run(aio_consume(broker, topic, {0: 0, 1: 0}, ends))
    assert_records_equal(got, expected, f"aiokafka acks={acks}, read by aiokafka")
    if acks == "all":
        assert_records_equal(consume_confluent(broker, topic, {0: 0, 1: 0}, ends), expected,
                             "aiokafka producer, read by librdkafka")


def test_idempotent_producer(broker):
    topic = create_topic(broker, partitions=2, prefix="aio-idem")
    records = sample_records(200, partitions=2, tag="aioidem-")
    metas = asyncio.run(aio_produce(broker, topic, records, enable_idempotence=True, acks="all", linger_ms=2, max_batch_size=2000))
    assert [(m.partition, m.offset) for m in metas] == produce_order_offsets(records)
    expected = expected_records(records)
    got = asyncio.run(aio_consume(broker, topic, {0: 0, 1: 0}, end_offsets_of(expected)))
    assert_records_equal(got, expected, "aiokafka idempotent producer")


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_producer(broker, codec):
    topic = create_topic(broker, partitions=1, prefix=f"aio-{codec}")
    records = sample_records(150, partitions=1, tag=f"aio{codec}-")
    asyncio.run(aio_produce(broker, topic, records, acks=1, compression_type=codec, linger_ms=20))
    expected = expected_records(records)
    got = asyncio.run(aio_consume(broker, topic, {0: 0}, end_offsets_of(expected)))
    assert_records_equal(got, expected, f"aiokafka {codec}")


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_consumes_what_librdkafka_wrote(broker, codec):
    topic = create_topic(broker, partitions=1, prefix=f"aio-read-{codec}")
    records = sample_records(120, partitions=1, tag=f"ard{codec}-")
    produce_confluent(broker, topic, records, **{"compression.type": codec, "linger.ms": 20})
    expected = expected_records(records)
    got = asyncio.run(aio_consume(broker, topic, {0: 0}, end_offsets_of(expected)))
    assert_records_equal(got, expected, f"librdkafka {codec} producer, read by aiokafka")


def test_seek_and_offset_queries(broker):
    topic = create_topic(broker, partitions=1, prefix="aio-seek")
    t0 = now_ms() - 600_000
    records = [{"partition": 0, "key": f"k{i}".encode(), "value": f"v{i}".encode(), "headers": (), "timestamp": t0 + 100 * i}
               for i in range(30)]
    asyncio.run(aio_produce(broker, topic, records, acks=1))

    async def scenario():
        tp = ATP(topic, 0)
        c = aio_consumer(broker)
        await c.start()
        try:
            c.assign([tp])
            assert await c.beginning_offsets([tp]) == {tp: 0}
            assert await c.end_offsets([tp]) == {tp: 30}
            found = (await c.offsets_for_times({tp: t0 + 1050}))[tp]
            assert (found.offset, found.timestamp) == (11, t0 + 1100)
            assert (await c.offsets_for_times({tp: t0 + 100 * 30}))[tp] is None

            async def next_offsets(n):
                got = []
                deadline = time.monotonic() + 10
                while len(got) < n:
                    assert time.monotonic() < deadline, f"only {got} after 10 s"
                    for batch in (await c.getmany(tp, timeout_ms=200, max_records=n - len(got))).values():
                        got += [(r.offset, r.value) for r in batch]
                return got

            c.seek(tp, 25)
            assert await next_offsets(2) == [(25, b"v25"), (26, b"v26")]
            c.seek(tp, 4)
            assert await next_offsets(1) == [(4, b"v4")]
            assert await c.position(tp) == 5
            await c.seek_to_beginning(tp)
            assert await next_offsets(1) == [(0, b"v0")]
            await c.seek_to_end(tp)
            assert await c.position(tp) == 30
        finally:
            await c.stop()

    asyncio.run(scenario())


def test_group_members_split_commit_and_hand_over(broker):
    """Two AIOKafkaConsumer members of one group (subscribe, manual commits) split 4 partitions
    2 + 2 and read every record exactly once; the committed offsets come back from
    `committed()` (also in a fresh consumer); when one member leaves (stop: LeaveGroup) the
    other is handed all 4 partitions and resumes each at its committed offset."""
    from aiokafka import ConsumerRebalanceListener

    from conftest import new_topic_name

    topic = create_topic(broker, partitions=4, prefix="aio-group")
    group = new_topic_name("aio-g")
    tps = [ATP(topic, p) for p in range(4)]
    owned = {}  # member -> partitions of the first generation

    class Listener(ConsumerRebalanceListener):
        def __init__(self):
            self.events = []

        def on_partitions_revoked(self, revoked):
            self.events.append(("revoked", sorted(tp.partition for tp in revoked), time.time()))

        def on_partitions_assigned(self, assigned):
            self.events.append(("assigned", sorted(tp.partition for tp in assigned), time.time()))

    def member():
        return AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False,
                                auto_offset_reset="earliest", session_timeout_ms=6000, heartbeat_interval_ms=500,
                                fetch_max_wait_ms=100, request_timeout_ms=20000)

    def batch(start, n):
        return [{"partition": i % 4, "key": f"k{i}".encode(), "value": f"v{i}".encode(), "headers": (),
                 "timestamp": now_ms()} for i in range(start, start + n)]

    async def drain(consumers, seen, until, timeout):
        """getmany on every member until `until(seen)`; commits each batch (last offset + 1)."""
        deadline = time.monotonic() + timeout
        while not until(seen):
            assert time.monotonic() < deadline, f"after {timeout} s: {sum(len(v) for v in seen.values())} records read, " \
                f"assignments {[sorted(tp.partition for tp in c.assignment()) for c in consumers.values()]}"
            for name, c in consumers.items():
                for tp, records in (await c.getmany(timeout_ms=100)).items():
                    for r in records:
                        assert (r.partition, r.offset) not in seen[name], f"{name} read p{r.partition}@{r.offset} twice"
                        seen[name][(r.partition, r.offset)] = r.key
                    await c.commit({tp: records[-1].offset + 1})

    async def scenario():
        listeners = {"m1": Listener(), "m2": Listener()}
        consumers = {"m1": member(), "m2": member()}
        for name, c in consumers.items():
            c.subscribe([topic], listener=listeners[name])
        # start() returns after the first join: both start at once, so both are in the first
        # generation (the broker's initial rebalance delay gathers them).
        await asyncio.gather(*(c.start() for c in consumers.values()))
        try:
            seen = {name: {} for name in consumers}
            # Both members join before anything is produced: the first generation has both.
            split = lambda _: all(len(c.assignment()) == 2 for c in consumers.values())  # noqa: E731
            await drain(consumers, seen, split, 30)
            owned.update({name: {tp.partition for tp in c.assignment()} for name, c in consumers.items()})
            assert owned["m1"].isdisjoint(owned["m2"]) and owned["m1"] | owned["m2"] == {0, 1, 2, 3}, owned

            first = batch(0, 400)
            produce_confluent(broker, topic, first)
            await drain(consumers, seen, lambda s: sum(len(v) for v in s.values()) >= 400, 30)
            quiet_until = time.monotonic() + 0.5  # nothing more may come
            await drain(consumers, seen, lambda _: time.monotonic() > quiet_until, 5)
            both = {**seen["m1"], **seen["m2"]}
            assert len(both) == len(seen["m1"]) + len(seen["m2"]) == 400, "a record was read by both members"
            assert sorted(both) == [(p, o) for p in range(4) for o in range(100)]
            for name, got in seen.items():
                assert {p for p, _ in got} == owned[name], f"{name} read partitions it was not assigned"
            assert all(both[(r["partition"], i // 4)] == r["key"] for i, r in enumerate(first))
            for c in consumers.values():
                assert [await c.committed(tp) for tp in tps] == [100, 100, 100, 100]

            # m2 leaves; m1 is handed every partition and resumes at the committed offsets.
            await consumers.pop("m2").stop()
            left = time.time()
            await drain(consumers, seen, lambda _: len(consumers["m1"].assignment()) == 4, 20)
            assert listeners["m1"].events[-1][:2] == ("assigned", [0, 1, 2, 3]), listeners["m1"].events
            # LeaveGroup starts the rebalance; without it m2's session (6 s) would have to expire.
            assert listeners["m1"].events[-1][2] - left < 6, f"hand-over took {listeners['m1'].events[-1][2] - left:.1f} s"
            before = dict(seen["m1"])
            produce_confluent(broker, topic, batch(400, 200))
            await drain(consumers, seen, lambda s: len(s["m1"]) - len(before) >= 200, 30)
            new = sorted(set(seen["m1"]) - set(before))
            assert new == [(p, o) for p in range(4) for o in range(100, 150)], \
                f"m1 did not resume every partition at 100: {new[:5]}...{new[-5:]}"
            assert [await consumers["m1"].committed(tp) for tp in tps] == [150, 150, 150, 150]
        finally:
            for c in consumers.values():
                await c.stop()
        # The commits outlive the members: a fresh consumer of the group reads them back.
        fresh = member()
        await fresh.start()
        try:
            assert [await fresh.committed(tp) for tp in tps] == [150, 150, 150, 150]
        finally:
            await fresh.stop()
        return listeners

    listeners = asyncio.run(scenario())
    # One generation with both members, then one with m1 alone.
    assert [e[:2] for e in listeners["m2"].events if e[0] == "assigned"] == [("assigned", sorted(owned["m2"]))], listeners["m2"].events
    assert [e[:2] for e in listeners["m1"].events if e[0] == "assigned"] == [("assigned", sorted(owned["m1"])), ("assigned", [0, 1, 2, 3])], \
        listeners["m1"].events
