"""kafka-python (pure Python, negotiates versions through ApiVersions) against the broker:
producer with acks 0, 1 and all, idempotent, every codec; consumer with assign, seek and the
offset queries. Every record's key, value, headers, timestamp and offset is checked, and what
kafka-python writes librdkafka reads the same."""

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KTP

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


def kp_produce(broker, topic, records, **conf):
    """Sends in order; returns the RecordMetadata of each record (raises on a failed send).

    kafka-python 3.0's send() refuses headers whose value is None, so its records use
    sample_records(null_header_values=False); it reads such headers fine (see
    test_consumes_what_librdkafka_wrote)."""
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, request_timeout_ms=20000, **conf)
    try:
        futures = [
            p.send(topic, value=r["value"], key=r["key"], headers=list(r["headers"]), partition=r["partition"],
                   timestamp_ms=r["timestamp"])
            for r in records
        ]
        p.flush(timeout=30)
        return [f.get(timeout=30) for f in futures]
    finally:
        p.close(timeout=10)


def kp_consumer(broker, **conf):
    return KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="none",
        fetch_max_wait_ms=100, request_timeout_ms=20000, **conf,
    )


def rec_from_kp(r) -> Rec:
    return Rec(r.partition, r.offset, r.key, r.value, tuple(r.headers or ()), r.timestamp, r.timestamp_type == 1)


def kp_consume(broker, topic, start, end, timeout=20.0, **conf):
    c = kp_consumer(broker, **conf)
    out = []
    try:
        tps = {p: KTP(topic, p) for p in start}
        c.assign(list(tps.values()))
        for p, o in start.items():
            c.seek(tps[p], o)
        position = dict(start)
        deadline = time.monotonic() + timeout
        while any(position[p] < end.get(p, 0) for p in start):
            assert time.monotonic() < deadline, f"kafka-python consumer stuck at {position}, want {end}; {len(out)} read"
            for tp, batch in c.poll(timeout_ms=200).items():
                for r in batch:
                    if r.offset < end.get(tp.partition, 0):
                        out.append(rec_from_kp(r))
                        position[tp.partition] = r.offset + 1
    finally:
        c.close()
    return sorted(out, key=lambda r: (r.partition, r.offset))


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_produce_and_consume_every_field(broker, acks):
    topic = create_topic(broker, partitions=2, prefix=f"kp-acks-{acks}")
    records = sample_records(200, partitions=2, tag=f"kp{acks}-", null_header_values=False)
    metas = kp_produce(broker, topic, records, acks=acks, linger_ms=5)
    expected = expected_records(records)
    ends = end_offsets_of(expected)
    if acks == 0:
        for p, end in ends.items():
            wait_for_high_watermark(broker, topic, p, end)
    else:
        by_record = [(m.partition, m.offset) for m in metas]
        next_offset = {}
        want = []
        for r in records:
            o = next_offset.get(r["partition"], 0)
            next_offset[r["partition"]] = o + 1
            want.append((r["partition"], o))
        assert by_record == want, "RecordMetadata offsets differ from produce order"
        assert [m.timestamp for m in metas] == [r["timestamp"] for r in records], "RecordMetadata timestamps"
    got = kp_consume(broker, topic, {0: 0, 1: 0}, ends)
    assert_records_equal(got, expected, f"kafka-python acks={acks}, read by kafka-python")
    if acks == "all":
        assert_records_equal(consume_confluent(broker, topic, {0: 0, 1: 0}, ends), expected,
                             "kafka-python producer, read by librdkafka")


def test_idempotent_producer(broker):
    topic = create_topic(broker, partitions=2, prefix="kp-idem")
    records = sample_records(200, partitions=2, tag="kpidem-", null_header_values=False)
    kp_produce(broker, topic, records, enable_idempotence=True, acks="all", linger_ms=2, batch_size=2000)
    expected = expected_records(records)
    got = kp_consume(broker, topic, {0: 0, 1: 0}, end_offsets_of(expected))
    assert_records_equal(got, expected, "kafka-python idempotent producer")


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compressed_producer(broker, codec):
    topic = create_topic(broker, partitions=1, prefix=f"kp-{codec}")
    records = sample_records(150, partitions=1, tag=f"kp{codec}-", null_header_values=False)
    kp_produce(broker, topic, records, acks=1, compression_type=codec, linger_ms=20)
    expected = expected_records(records)
    got = kp_consume(broker, topic, {0: 0}, end_offsets_of(expected))
    assert_records_equal(got, expected, f"kafka-python {codec}")


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_consumes_what_librdkafka_wrote(broker, codec):
    topic = create_topic(broker, partitions=1, prefix=f"kp-read-{codec}")
    records = sample_records(120, partitions=1, tag=f"rd{codec}-")
    produce_confluent(broker, topic, records, **{"compression.type": codec, "linger.ms": 20})
    expected = expected_records(records)
    assert_records_equal(kp_consume(broker, topic, {0: 0}, end_offsets_of(expected)), expected,
                         f"librdkafka {codec} producer, read by kafka-python")


def test_seek_and_offset_queries(broker):
    topic = create_topic(broker, partitions=1, prefix="kp-seek")
    t0 = now_ms() - 600_000
    records = [{"partition": 0, "key": f"k{i}".encode(), "value": f"v{i}".encode(), "headers": (), "timestamp": t0 + 100 * i}
               for i in range(30)]
    kp_produce(broker, topic, records, acks=1)
    tp = KTP(topic, 0)
    c = kp_consumer(broker)
    try:
        c.assign([tp])
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 30}
        found = c.offsets_for_times({tp: t0 + 1050})[tp]
        assert (found.offset, found.timestamp) == (11, t0 + 1100)
        assert c.offsets_for_times({tp: t0 + 100 * 30})[tp] is None

        def next_offsets(n):
            got = []
            deadline = time.monotonic() + 10
            while len(got) < n:
                assert time.monotonic() < deadline, f"only {got} after 10 s"
                for batch in c.poll(timeout_ms=200, max_records=n - len(got)).values():
                    got += [(r.offset, r.value) for r in batch]
            return got

        c.seek(tp, 25)
        assert next_offsets(2) == [(25, b"v25"), (26, b"v26")]
        c.seek(tp, 4)
        assert next_offsets(1) == [(4, b"v4")]
        assert c.position(tp) == 5
        c.seek_to_beginning(tp)
        assert next_offsets(1) == [(0, b"v0")]
        c.seek_to_end(tp)
        assert c.position(tp) == 30
    finally:
        c.close()
