"""kcat (Debian's, on Debian's librdkafka) against the broker: -L, -P with each codec, -C from the
beginning / an offset / a timestamp, -Q, and byte-exact values."""

import json
import re

import pytest

from conftest import (
    CODEC_IDS,
    Rec,
    admin_client,
    assert_records_equal,
    consume_confluent,
    create_topic,
    kcat,
    kcat_consume,
    now_ms,
    produce_confluent,
    stored_batches,
)

HEADERS = (("source", b"kcat"), ("trace-id", b"abc-123"), ("empty", b""))


def test_metadata_list(broker):
    topic = create_topic(broker, partitions=3, prefix="kcat-meta")
    md = json.loads(kcat(broker, "-L", "-J").stdout)
    assert [(b["id"], b["name"]) for b in md["brokers"]] == [(0, broker.bootstrap)], md["brokers"]
    topics = {t["topic"]: t for t in md["topics"]}
    assert topic in topics, f"{topic} missing from -L: {sorted(topics)}"
    parts = sorted(topics[topic]["partitions"], key=lambda p: p["partition"])
    assert [p["partition"] for p in parts] == [0, 1, 2]
    for p in parts:
        assert p["leader"] == 0, p
        assert [r["id"] for r in p["replicas"]] == [0], p
        assert [r["id"] for r in p["isrs"]] == [0], p
    assert "error" not in topics[topic] or not topics[topic]["error"], topics[topic]

    # The plain listing of one topic.
    text = kcat(broker, "-L", "-t", topic).stdout.decode()
    assert f"broker 0 at {broker.bootstrap}" in text, text
    assert f'topic "{topic}" with 3 partitions:' in text, text
    for p in range(3):
        assert f"partition {p}, leader 0, replicas: 0, isrs: 0" in text, text


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_produce_with_codec_and_read_back(broker, codec):
    topic = create_topic(broker, prefix=f"kcat-{codec}")
    n = 60
    # Compressible values, so that librdkafka does not fall back to sending them uncompressed.
    lines = [f"key-{i}:value-{i}-{'abc' * (20 + i % 7)}" for i in range(n)]
    before = now_ms()
    # -d msg: librdkafka says so when it decides not to compress for this broker.
    args = ["-P", "-t", topic, "-p", "0", "-K:", "-X", "linger.ms=50", "-d", "msg"]
    if codec != "none":
        args += ["-z", codec]
    for name, value in HEADERS:
        args += ["-H", f"{name}={value.decode()}"]
    result = kcat(broker, *args, input=("\n".join(lines) + "\n").encode())
    after = now_ms()
    stderr = result.stderr.decode(errors="replace")
    assert "delivery failed" not in stderr.lower(), stderr[-3000:]
    not_compressing = [line for line in stderr.splitlines() if "not compressing" in line]

    got = kcat_consume(broker, topic)
    assert len(got) == n, f"kcat read {len(got)} of {n} records"
    for r in got:
        assert before - 1000 <= r.timestamp <= after + 1000, f"CreateTime {r.timestamp} outside produce window [{before}, {after}]: {r.brief()}"
    expected = [
        Rec(0, i, line.split(":", 1)[0].encode(), line.split(":", 1)[1].encode(), HEADERS, got[i].timestamp)
        for i, line in enumerate(lines)
    ]
    assert_records_equal(got, expected, f"kcat -C after kcat -P -z {codec}")

    # librdkafka reads the same, including the timestamp type.
    via_librdkafka = consume_confluent(broker, topic, {0: 0}, {0: n})
    assert_records_equal(via_librdkafka, expected, "confluent-kafka after kcat -P")

    # The broker keeps the producer's batches as they came: same codec, valid CRCs.
    batches = stored_batches(broker, topic, 0)
    assert batches, "no batches found in the segment files"
    assert all(b.crc_ok for b in batches), [b for b in batches if not b.crc_ok]
    assert not not_compressing, f"kcat (librdkafka 2.0.2) sent {codec} batches uncompressed: {not_compressing[0]}"
    assert {b.codec for b in batches} == {CODEC_IDS[codec]}, [(b.base_offset, b.attributes) for b in batches]
    assert sum(b.records_count for b in batches) == n
    assert [b.base_offset for b in batches] == sorted(b.base_offset for b in batches)


def test_binary_values_byte_exact(broker):
    """Values holding newlines, tabs, CR and high bytes survive kcat -P / -C byte for byte."""
    topic = create_topic(broker, prefix="kcat-bin")
    values = [
        b"line one\nline two\n",
        b"\t\r\n",
        bytes(range(1, 30)) + bytes(range(31, 256)),  # everything but NUL and the 0x1e delimiter
        "κόσμε ✓".encode(),
        b"x" * 70000,
    ]
    kcat(broker, "-P", "-t", topic, "-p", "0", "-D", r"\x1e", input=b"".join(v + b"\x1e" for v in values))
    got = kcat_consume(broker, topic)
    assert [r.value for r in got] == values
    assert [r.offset for r in got] == list(range(len(values)))
    assert all(r.key is None for r in got)


@pytest.fixture(scope="module")
def timed_topic(broker):
    """20 records on partition 0 with timestamps t0 + 1000*i, all in one batch."""
    topic = create_topic(broker, prefix="kcat-times")
    t0 = now_ms() - 3_600_000
    records = [{"partition": 0, "key": f"k{i}".encode(), "value": f"v{i}".encode(), "headers": (), "timestamp": t0 + 1000 * i}
               for i in range(20)]
    produce_confluent(broker, topic, records, **{"linger.ms": 200})
    return topic, t0


@pytest.mark.parametrize("start", [0, 7, 19])
def test_consume_from_offset(broker, timed_topic, start):
    topic, t0 = timed_topic
    got = kcat_consume(broker, topic, offset=str(start))
    assert [(r.offset, r.value, r.timestamp) for r in got] == [(i, f"v{i}".encode(), t0 + 1000 * i) for i in range(start, 20)]


def test_consume_from_end_relative(broker, timed_topic):
    topic, _ = timed_topic
    got = kcat_consume(broker, topic, offset="-5")
    assert [r.offset for r in got] == list(range(15, 20))


@pytest.mark.parametrize("delta,first", [(-5, 0), (0, 0), (10_000, 10), (10_500, 11), (19_000, 19)])
def test_consume_from_timestamp(broker, timed_topic, delta, first):
    topic, t0 = timed_topic
    got = kcat_consume(broker, topic, offset=f"s@{t0 + delta}")
    assert [r.offset for r in got] == list(range(first, 20))
    assert [r.value for r in got] == [f"v{i}".encode() for i in range(first, 20)]


def test_consume_until_timestamp(broker, timed_topic):
    topic, t0 = timed_topic
    # e@ stops before the first record at or after the timestamp.
    proc = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", f"s@{t0 + 3000}", "-o", f"e@{t0 + 8000}", "-q", "-f", r"%o\n")
    assert proc.stdout.decode().split() == [str(i) for i in range(3, 8)]


def query(broker, topic, ts) -> int:
    out = kcat(broker, "-Q", "-t", f"{topic}:0:{ts}").stdout.decode()
    m = re.search(r"\[0\]\s+offset\s+(-?\d+)", out)
    assert m, f"unexpected kcat -Q output: {out!r}"
    return int(m.group(1))


def test_query_offsets_for_times(broker, timed_topic):
    topic, t0 = timed_topic
    assert query(broker, topic, t0 - 1) == 0
    assert query(broker, topic, t0) == 0
    assert query(broker, topic, t0 + 1) == 1
    assert query(broker, topic, t0 + 10_000) == 10
    assert query(broker, topic, t0 + 10_500) == 11
    assert query(broker, topic, t0 + 19_000) == 19
    # Past the newest record: no offset (-1 in ListOffsets v1+, which librdkafka reports as -1).
    assert query(broker, topic, t0 + 19_001) == -1
    # The special timestamps: -1 latest (the log end offset), -2 earliest.
    assert query(broker, topic, -1) == 20
    assert query(broker, topic, -2) == 0


def test_json_envelope(broker):
    topic = create_topic(broker, prefix="kcat-json")
    ts = now_ms() - 5000
    produce_confluent(broker, topic, [
        {"partition": 0, "key": b"k1", "value": b"hello", "headers": (("a", b"1"), ("b", b"2")), "timestamp": ts},
        {"partition": 0, "key": None, "value": b"world", "headers": (), "timestamp": ts + 1},
    ])
    lines = kcat(broker, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-J").stdout.decode().splitlines()
    docs = [json.loads(line) for line in lines if line.strip()]
    assert len(docs) == 2, docs
    first, second = docs
    assert (first["topic"], first["partition"], first["offset"]) == (topic, 0, 0)
    assert first["tstype"] == "create" and first["ts"] == ts
    assert first["key"] == "k1" and first["payload"] == "hello"
    assert first["broker"] == 0
    headers = first["headers"]
    # kcat prints headers as a flat [name, value, ...] list.
    assert headers in (["a", "1", "b", "2"], {"a": "1", "b": "2"}), headers
    assert (second["offset"], second["ts"], second["key"], second["payload"]) == (1, ts + 1, None, "world")


def test_broker_fetch_cap_still_delivers_everything(broker_factory):
    """A broker whose fetch.max.bytes (KIP-541) is far below what librdkafka asks for (1 KiB
    against 50 MiB) answers with at most that much past the first batch; kcat and
    confluent-kafka still read every record of every partition, in order, and the broker reports
    the setting through DescribeConfigs."""
    from confluent_kafka.admin import ConfigResource

    capped = broker_factory(config={"fetch.max.bytes": "1KiB"})
    topic = create_topic(capped, partitions=3, prefix="capped")
    records = [{"partition": i % 3, "key": None, "value": f"record-{i}-{'x' * 300}".encode()} for i in range(300)]
    # Batches of two records (~700 bytes), so that the cap cuts answers between and inside
    # batches rather than every answer being one batch larger than the cap.
    produce_confluent(capped, topic, records, **{"linger.ms": 20, "batch.num.messages": 2})
    for p in range(3):
        expected = [r["value"] for r in records if r["partition"] == p]
        got = kcat_consume(capped, topic, partition=p)
        assert [r.value for r in got] == expected, f"partition {p}: kcat read {len(got)} of {len(expected)}"
        assert [r.offset for r in got] == list(range(len(expected)))
    via_librdkafka = consume_confluent(capped, topic, {p: 0 for p in range(3)}, {p: 100 for p in range(3)})
    assert sorted((r.partition, r.offset) for r in via_librdkafka) == [(p, o) for p in range(3) for o in range(100)]

    admin = admin_client(capped)
    resource = ConfigResource(ConfigResource.Type.BROKER, "0")
    described = admin.describe_configs([resource])[resource].result(timeout=10)
    assert described["fetch.max.bytes"].value == "1024", described["fetch.max.bytes"]
