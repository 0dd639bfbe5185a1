"""Error paths and topic administration, through clients and through raw requests where a client
would hide the broker's error code: NOT_ENOUGH_REPLICAS, MESSAGE_TOO_LARGE, CORRUPT_MESSAGE,
unknown topics and partitions, auto-creation on Metadata, CreateTopics (configs, validate-only,
errors), DeleteTopics, DescribeConfigs, LogAppendTime, ApiVersions negotiation."""

import os
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import ConfigSource, NewTopic
from kafka import KafkaProducer
from kafka.errors import MessageSizeTooLargeError, NotEnoughReplicasError

from conftest import (
    API_CREATE_TOPICS,
    API_DELETE_TOPICS,
    API_DESCRIBE_CONFIGS,
    API_FETCH,
    API_INIT_PRODUCER_ID,
    API_LIST_OFFSETS,
    API_METADATA,
    API_PRODUCE,
    API_VERSIONS,
    KafkaWire,
    admin_client,
    batch_around,
    build_record_batch,
    compact_string,
    consume_confluent,
    create_topic,
    describe_topic_configs,
    i8,
    new_topic_name,
    now_ms,
    produce_confluent,
    producer_conf,
    raw_api_versions,
    raw_list_offsets_v1,
    raw_metadata_v4,
    raw_produce,
    stored_batches,
    topic_names,
    uvarint,
    varint,
    wait_for_topic,
    watermarks,
)

NONE, CORRUPT_MESSAGE, UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE = 0, 2, 3, 5
MESSAGE_TOO_LARGE, NOT_ENOUGH_REPLICAS, UNSUPPORTED_VERSION = 10, 19, 35


def deliver_one(broker, topic, value, partition=0, **conf):
    """Produces one record; returns (error or None, message)."""
    p = Producer(producer_conf(broker, **conf))
    result = []
    p.produce(topic, value=value, partition=partition, on_delivery=lambda err, msg: result.append((err, msg)))
    assert p.flush(30) == 0, "record still queued after 30 s"
    return result[0]


# -- acks=all with too few in-sync replicas


def test_acks_all_with_min_insync_replicas_2_fails(broker):
    topic = create_topic(broker, config={"min.insync.replicas": "2"}, prefix="err-isr")
    err, _ = deliver_one(broker, topic, b"x", acks="all", retries=0, **{"message.timeout.ms": 10000})
    assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, f"librdkafka acks=all: {err}"

    # kafka-python surfaces the same code.
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", retries=0, request_timeout_ms=10000)
    try:
        with pytest.raises(NotEnoughReplicasError):
            p.send(topic, value=b"y", partition=0).get(timeout=20)
    finally:
        p.close(timeout=5)

    # Raw: acks=-1 answers NOT_ENOUGH_REPLICAS and appends nothing; acks=1 on the same topic works.
    batch = build_record_batch([(None, b"raw", ())], now_ms())
    assert raw_produce(broker, topic, 0, batch, acks=-1)["error_code"] == NOT_ENOUGH_REPLICAS
    assert watermarks(broker, topic) == (0, 0), "a rejected acks=all produce was appended"
    ok = raw_produce(broker, topic, 0, batch, acks=1)
    assert (ok["error_code"], ok["base_offset"]) == (NONE, 0)
    err, msg = deliver_one(broker, topic, b"z", acks="1")
    assert err is None and msg.offset() == 1, err


# -- message size


def test_max_message_bytes_gives_message_too_large(broker):
    topic = create_topic(broker, config={"max.message.bytes": "2048"}, prefix="err-size")
    small = os.urandom(1000)
    err, msg = deliver_one(broker, topic, small, **{"compression.type": "none"})
    assert err is None and msg.offset() == 0, err
    err, _ = deliver_one(broker, topic, os.urandom(4000), **{"compression.type": "none"})
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, f"librdkafka: {err}"

    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks=1, retries=0)
    try:
        with pytest.raises(MessageSizeTooLargeError):
            p.send(topic, value=os.urandom(4000), partition=0).get(timeout=20)
    finally:
        p.close(timeout=5)

    raw = raw_produce(broker, topic, 0, build_record_batch([(None, os.urandom(4000), ())], now_ms()))
    assert raw["error_code"] == MESSAGE_TOO_LARGE
    # Nothing but the small record got in.
    assert watermarks(broker, topic) == (0, 1)
    assert [r.value for r in consume_confluent(broker, topic, {0: 0}, {0: 1})] == [small]


def test_corrupt_batch_is_rejected(broker):
    topic = create_topic(broker, prefix="err-crc")
    bad = build_record_batch([(b"k", b"v", ())], now_ms(), corrupt_crc=True)
    assert raw_produce(broker, topic, 0, bad)["error_code"] == CORRUPT_MESSAGE
    good = build_record_batch([(b"k", b"v", (("h", b"1"),))], now_ms())
    assert raw_produce(broker, topic, 0, good)["error_code"] == NONE
    assert watermarks(broker, topic) == (0, 1)


def test_record_lengths_claiming_int64_max_are_refused(broker):
    """A value length varint of Int64.max inside a batch whose CRC matches: the broker's record
    walk must refuse it (it once added the length to a position and trapped) and keep serving."""
    topic = create_topic(broker, prefix="err-len")
    huge = bytes([0xFE] + [0xFF] * 8 + [0x01])  # zig-zag varint of 2**63 - 1
    record = i8(0) + varint(0) + varint(0) + varint(-1) + huge + varint(0)
    bad = batch_around(varint(len(record)) + record, 1, now_ms())
    assert raw_produce(broker, topic, 0, bad)["error_code"] == CORRUPT_MESSAGE
    good = build_record_batch([(b"k", b"v", ())], now_ms())
    assert raw_produce(broker, topic, 0, good)["error_code"] == NONE
    assert watermarks(broker, topic) == (0, 1)


# -- unknown topics and partitions


def test_unknown_partition(broker):
    topic = create_topic(broker, partitions=2, prefix="err-part")
    batch = build_record_batch([(None, b"v", ())], now_ms())
    assert raw_produce(broker, topic, 2, batch)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    assert raw_produce(broker, topic, -1, batch)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    assert raw_list_offsets_v1(broker, topic, 7, -1)[0] == UNKNOWN_TOPIC_OR_PARTITION
    err, _ = deliver_one(broker, topic, b"v", partition=5, **{"message.timeout.ms": 5000})
    assert err is not None and err.code() in (KafkaError._UNKNOWN_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART), err


def test_produce_to_unknown_topic_does_not_create_it(broker):
    name = new_topic_name("err-noprod")
    batch = build_record_batch([(None, b"v", ())], now_ms())
    assert raw_produce(broker, name, 0, batch)["error_code"] == UNKNOWN_TOPIC_OR_PARTITION
    assert raw_list_offsets_v1(broker, name, 0, -1)[0] == UNKNOWN_TOPIC_OR_PARTITION
    assert name not in topic_names(broker)


def test_metadata_auto_create_follows_the_request_flag(broker):
    """auto.create.topics.enable defaults to true: Metadata v4 with allow_auto_topic_creation creates."""
    not_created = new_topic_name("auto-no")
    md = raw_metadata_v4(broker, [not_created], allow_auto_topic_creation=False)
    assert md["topics"][not_created][0] == UNKNOWN_TOPIC_OR_PARTITION
    assert not_created not in topic_names(broker)

    created = new_topic_name("auto-yes")
    md = raw_metadata_v4(broker, [created], allow_auto_topic_creation=True)
    assert md["topics"][created][0] in (NONE, LEADER_NOT_AVAILABLE), md["topics"][created]
    wait_for_topic(broker, created, 1)  # num.partitions defaults to 1

    # And as clients see it: a producer writing to a new topic gets it created (offset 0).
    produced = new_topic_name("auto-producer")
    err, msg = deliver_one(broker, produced, b"first", partition=0)
    assert err is None and msg.offset() == 0, err
    wait_for_topic(broker, produced, 1)


def test_auto_create_uses_num_partitions(broker_factory):
    b = broker_factory(config={"num.partitions": 3})
    name = new_topic_name("auto3")
    md = raw_metadata_v4(b, [name], allow_auto_topic_creation=True)
    assert md["topics"][name][0] in (NONE, LEADER_NOT_AVAILABLE), md["topics"][name]
    wait_for_topic(b, name, 3)


def test_auto_create_disabled(broker_factory):
    b = broker_factory(config={"auto.create.topics.enable": False})
    name = new_topic_name("noauto")
    md = raw_metadata_v4(b, [name], allow_auto_topic_creation=True)
    assert md["topics"][name][0] == UNKNOWN_TOPIC_OR_PARTITION, md["topics"][name]
    err, _ = deliver_one(b, name, b"v", partition=0, **{"message.timeout.ms": 3000, "topic.metadata.propagation.max.ms": 1000})
    assert err is not None and err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._MSG_TIMED_OUT), err
    assert name not in topic_names(b)
    # Explicit creation still works.
    create_topic(b, name)
    err, msg = deliver_one(b, name, b"v", partition=0)
    assert err is None and msg.offset() == 0


def test_node_id_and_advertised_listener_flags(broker_factory):
    """--node-id and --advertised-listener reach Metadata; flags override the --config file."""
    b = broker_factory(config={"node.id": 3, "advertised.listener": "127.0.0.1:1"},
                       args=["--node-id", "7", "--advertised-listener", "localhost:{port}"])
    topic = create_topic(b, partitions=2, prefix="node7")
    md = raw_metadata_v4(b, [topic], allow_auto_topic_creation=False)
    assert [(node, host, port) for node, host, port, _rack in md["brokers"]] == [(7, "localhost", b.port)]
    assert [(p, err, leader, replicas, isr) for p, err, leader, replicas, isr in sorted(md["topics"][topic][1])] == [
        (0, NONE, 7, [7], [7]), (1, NONE, 7, [7], [7])]
    # Clients follow the advertised address.
    err, msg = deliver_one(b, topic, b"via localhost", partition=1)
    assert err is None and msg.offset() == 0, err
    assert [r.value for r in consume_confluent(b, topic, {1: 0}, {1: 1})] == [b"via localhost"]


# -- CreateTopics, DeleteTopics, DescribeConfigs


def create_error(broker, topic: NewTopic, validate_only=False):
    admin = admin_client(broker)
    futures = admin.create_topics([topic], validate_only=validate_only, operation_timeout=10, request_timeout=15)
    try:
        futures[topic.topic].result(timeout=20)
        return None
    except KafkaException as e:
        return e.args[0]


def test_create_topics_validate_only(broker):
    name = new_topic_name("validate")
    assert create_error(broker, NewTopic(name, 3, 1, config={"retention.ms": "1000"}), validate_only=True) is None
    time.sleep(0.3)
    assert name not in topic_names(broker), "validate_only created the topic"
    assert not list(broker.data_dir.glob(f"{name}-*")), "validate_only left partition directories"
    err = create_error(broker, NewTopic(name, 1, 1, config={"no.such.config": "1"}), validate_only=True)
    assert err is not None and err.code() == KafkaError.INVALID_CONFIG, err
    err = create_error(broker, NewTopic(name, 1, 1, config={"retention.ms": "soon"}), validate_only=True)
    assert err is not None and err.code() == KafkaError.INVALID_CONFIG, err
    # Creating it for real afterwards works.
    create_topic(broker, name, partitions=3)


def test_create_topics_errors(broker):
    existing = create_topic(broker, prefix="exists")
    cases = [
        (NewTopic(existing, 1, 1), KafkaError.TOPIC_ALREADY_EXISTS),
        (NewTopic(new_topic_name("rf3"), 1, 3), KafkaError.INVALID_REPLICATION_FACTOR),
        (NewTopic(new_topic_name("p0"), 0, 1), KafkaError.INVALID_PARTITIONS),
        (NewTopic("bad/name", 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic("a" * 250, 1, 1), KafkaError.TOPIC_EXCEPTION),
        (NewTopic(new_topic_name("cfg"), 1, 1, config={"cleanup.policy": "shred"}), KafkaError.INVALID_CONFIG),
    ]
    for topic, code in cases:
        err = create_error(broker, topic)
        assert err is not None and err.code() == code, f"CreateTopics {topic.topic[:40]}: {err}, expected {KafkaError(code).name()}"


def test_create_with_configs_and_describe_configs(broker):
    configs = {"retention.ms": "3600000", "cleanup.policy": "compact", "max.message.bytes": "65536",
               "message.timestamp.type": "LogAppendTime", "segment.bytes": "1048576"}
    topic = create_topic(broker, partitions=2, config=configs, prefix="cfg")
    entries = describe_topic_configs(broker, topic)
    for key, value in configs.items():
        assert key in entries, f"{key} missing from DescribeConfigs: {sorted(entries)}"
        e = entries[key]
        assert e.value == value, f"{key} = {e.value}, expected {value}"
        assert not e.is_default, f"{key} set on the topic but reported as default"
        assert getattr(e.source, "value", e.source) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, f"{key} source {e.source}"
    # Keys the topic does not set show the defaults.
    for key, value in {"min.insync.replicas": "1", "compression.type": "producer", "retention.bytes": "-1"}.items():
        assert key in entries, f"{key} missing from DescribeConfigs"
        assert entries[key].value == value, f"{key} = {entries[key].value}, expected default {value}"
        assert entries[key].is_default, f"{key} not reported as default"


def test_describe_configs_unknown_topic(broker):
    with pytest.raises(KafkaException) as info:
        describe_topic_configs(broker, new_topic_name("nope"))
    assert info.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, info.value


def test_delete_topics(broker):
    topic = create_topic(broker, partitions=2, prefix="del")
    produce_confluent(broker, topic, [{"partition": p, "key": None, "value": b"v", "headers": (), "timestamp": now_ms()}
                                      for p in (0, 1, 1)])
    assert watermarks(broker, topic, 1) == (0, 2)
    admin = admin_client(broker)
    admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    deadline = time.monotonic() + 10
    while topic in topic_names(broker):
        assert time.monotonic() < deadline, "deleted topic still in metadata after 10 s"
        time.sleep(0.1)
    deadline = time.monotonic() + 10
    while [d for d in broker.partition_dirs() if d.name.startswith(topic + "-")]:
        assert time.monotonic() < deadline, "partition directories of a deleted topic still there after 10 s"
        time.sleep(0.1)
    # Deleting it again: UNKNOWN_TOPIC_OR_PARTITION.
    with pytest.raises(KafkaException) as info:
        admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    assert info.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    # The same name again is a new, empty topic.
    create_topic(broker, topic, partitions=1)
    assert watermarks(broker, topic, 0) == (0, 0)
    err, msg = deliver_one(broker, topic, b"again")
    assert err is None and msg.offset() == 0


# -- timestamps


@pytest.mark.parametrize("codec", ["none", "gzip"])
def test_log_append_time(broker, codec):
    topic = create_topic(broker, config={"message.timestamp.type": "LogAppendTime"}, prefix=f"lat-{codec}")
    before = now_ms()
    records = [{"partition": 0, "key": f"k{i}".encode(), "value": f"v{i}".encode() * 10, "headers": (("i", str(i).encode()),),
                "timestamp": 1_000_000 + i} for i in range(20)]
    reports = produce_confluent(broker, topic, records, **{"compression.type": codec, "linger.ms": 20})
    after = now_ms()
    for m in reports:
        ts_type, ts = m.timestamp()
        assert ts_type == 2 and before <= ts <= after, f"delivery report timestamp {m.timestamp()} (want LogAppendTime in [{before}, {after}])"
    got = consume_confluent(broker, topic, {0: 0}, {0: 20})
    assert [(r.offset, r.key, r.value, r.headers) for r in got] == [
        (i, r["key"], r["value"], r["headers"]) for i, r in enumerate(records)]
    for r in got:
        assert r.log_append_time, f"record not marked LogAppendTime: {r.brief()}"
        assert before <= r.timestamp <= after, f"LogAppendTime {r.timestamp} outside [{before}, {after}]"
    batches = stored_batches(broker, topic, 0)
    assert all(b.log_append_time and b.crc_ok for b in batches), batches
    # ListOffsets by time uses the broker's times.
    c_first = raw_list_offsets_v1(broker, topic, 0, before - 1)
    assert (c_first[0], c_first[2]) == (NONE, 0), c_first
    assert raw_list_offsets_v1(broker, topic, 0, 1_000_000)[2] == 0


def test_create_time_is_kept(broker):
    topic = create_topic(broker, prefix="cta")
    ts = [5, 1_000_000_000_000, now_ms() + 3_600_000]  # ancient, 2001, an hour in the future
    produce_confluent(broker, topic, [{"partition": 0, "key": None, "value": b"v", "headers": (), "timestamp": t} for t in ts])
    got = consume_confluent(broker, topic, {0: 0}, {0: 3})
    assert [(r.timestamp, r.log_append_time) for r in got] == [(t, False) for t in ts]


def test_list_offsets_raw(broker):
    topic = create_topic(broker, prefix="lo")
    t0 = now_ms() - 10_000
    produce_confluent(broker, topic, [{"partition": 0, "key": None, "value": b"v", "headers": (), "timestamp": t0 + i * 10} for i in range(5)])
    assert raw_list_offsets_v1(broker, topic, 0, -2) == (NONE, -1, 0)
    assert raw_list_offsets_v1(broker, topic, 0, -1) == (NONE, -1, 5)
    assert raw_list_offsets_v1(broker, topic, 0, t0 + 15) == (NONE, t0 + 20, 2)
    assert raw_list_offsets_v1(broker, topic, 0, t0 + 41) == (NONE, -1, -1)


# -- ApiVersions


REQUIRED_VERSIONS = {
    # api key: versions clients are known to pin (see shared notes "Which versions to advertise")
    API_PRODUCE: (3, 7), API_FETCH: (4, 10), API_LIST_OFFSETS: (1,), API_METADATA: (1, 4),
    API_VERSIONS: (0, 3), API_CREATE_TOPICS: (0,), API_DELETE_TOPICS: (0,), API_INIT_PRODUCER_ID: (0,),
    API_DESCRIBE_CONFIGS: (0,),
}


def test_api_versions(broker):
    error, apis = raw_api_versions(broker, 0)
    assert error == NONE
    for key, versions in REQUIRED_VERSIONS.items():
        assert key in apis, f"api key {key} not advertised"
        lo, hi = apis[key]
        for v in versions:
            assert lo <= v <= hi, f"api key {key} advertises {lo}..{hi}, which lacks version {v}"
    error1, apis1 = raw_api_versions(broker, 1)
    assert (error1, apis1) == (error, apis)


def test_api_versions_v3_flexible(broker):
    """librdkafka's first request: ApiVersions v3 with header v2; the response header stays v0."""
    body = compact_string("logflume-compat") + compact_string("1.0") + uvarint(0)
    with KafkaWire(broker) as w:
        r = w.request(API_VERSIONS, 3, body, flexible_header=True)
        error = r.i16()
        apis = {}
        for key, lo, hi in r.compact_array(lambda r: (r.i16(), r.i16(), r.i16(), r.skip_tags())[:3]):
            apis[key] = (lo, hi)
        r.i32()  # throttle
        r.skip_tags()
        assert r.remaining == 0, f"{r.remaining} unexpected trailing bytes"
    assert error == NONE
    assert apis == raw_api_versions(broker, 0)[1]


def test_api_versions_unsupported_version(broker):
    """A version newer than the broker's: UNSUPPORTED_VERSION with the table, in the v0 shape."""
    body = compact_string("logflume-compat") + compact_string("1.0") + uvarint(0)
    with KafkaWire(broker) as w:
        r = w.request(API_VERSIONS, 99, body, flexible_header=True)
        error = r.i16()
        apis = {k: (lo, hi) for k, lo, hi in r.array(lambda r: (r.i16(), r.i16(), r.i16()))}
    assert error == UNSUPPORTED_VERSION
    assert apis == raw_api_versions(broker, 0)[1]

