"""Consumer groups judged by librdkafka, kafka-python and kcat: partitions split without overlap,
commits (with metadata) come back from OffsetFetch and survive a broker restart."""
import subprocess
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer

from conftest import create_topic, new_topic_name


def fill(b, topic, n, partitions):
    p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 5})
    for i in range(n):
        p.produce(topic, key=str(i).encode(), value=f"v{i}".encode(), partition=i % partitions)
    assert p.flush(15) == 0


def group_consumer(b, group, **extra):
    conf = {"bootstrap.servers": b.bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    conf.update(extra)
    return Consumer(conf)


def test_three_librdkafka_members_split_partitions_and_commit(broker):
    topic = create_topic(broker, partitions=6)
    fill(broker, topic, 600, 6)
    group = new_topic_name("g")
    members = [group_consumer(broker, group) for _ in range(3)]
    for m in members:
        m.subscribe([topic])
    seen = {}
    deadline = time.time() + 40
    while time.time() < deadline and len(seen) < 600:
        for m in members:
            msg = m.poll(0.1)
            if msg is not None and msg.error() is None:
                key = (msg.partition(), msg.offset())
                assert key not in seen, f"{key} delivered twice"
                seen[key] = msg.value()
    assert len(seen) == 600
    assignments = [sorted(tp.partition for tp in m.assignment()) for m in members]
    flat = sorted(p for a in assignments for p in a)
    assert flat == list(range(6)), f"partitions not split exactly once: {assignments}"
    assert all(a for a in assignments), f"a member got nothing: {assignments}"
    # Commit with a metadata string; OffsetFetch must return both.
    owner = members[0]
    mine = owner.assignment()
    owner.commit(offsets=[TopicPartition(topic, tp.partition, 100, metadata="checkpoint-7") for tp in mine], asynchronous=False)
    committed = owner.committed([TopicPartition(topic, tp.partition) for tp in mine], timeout=10)
    assert [tp.offset for tp in committed] == [100] * len(mine)
    assert all(getattr(tp, "metadata", "checkpoint-7") == "checkpoint-7" for tp in committed)
    for m in members:
        m.close()


def test_committed_offsets_survive_a_broker_restart(broker_factory):
    b = broker_factory()
    topic = create_topic(b, partitions=2)
    fill(b, topic, 20, 2)
    group = new_topic_name("g")
    c = group_consumer(b, group)
    c.commit(offsets=[TopicPartition(topic, 0, 7), TopicPartition(topic, 1, 9)], asynchronous=False)
    c.close()
    b.stop()
    b.start()
    c = group_consumer(b, group)
    got = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    assert [tp.offset for tp in got] == [7, 9]
    # A member resumes at the committed offsets.
    c.subscribe([topic])
    first = {}
    deadline = time.time() + 30
    while time.time() < deadline and len(first) < 2:
        msg = c.poll(0.2)
        if msg is not None and msg.error() is None:
            first.setdefault(msg.partition(), msg.offset())
    assert first == {0: 7, 1: 9}
    c.close()
    b.stop()


def test_kafka_python_group_and_kcat_group(broker):
    topic = create_topic(broker, partitions=3)
    fill(broker, topic, 90, 3)
    consumer = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=new_topic_name("kp"),
                             auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=15000)
    values = {m.value for m in consumer}
    consumer.close()
    assert len(values) == 90
    out = subprocess.run(["kcat", "-b", broker.bootstrap, "-G", new_topic_name("kc"), topic, "-e", "-q",
                          "-X", "auto.offset.reset=earliest", "-f", "%s\n"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(set(out.stdout.split())) == 90


def test_logflume_groups_describe_shows_committed_offsets_and_lag(broker):
    from conftest import logflume_binary
    topic = create_topic(broker, partitions=2)
    fill(broker, topic, 40, 2)
    group = new_topic_name("lag")
    c = group_consumer(broker, group)
    c.commit(offsets=[TopicPartition(topic, 0, 5, metadata="m0"), TopicPartition(topic, 1, 20)], asynchronous=False)
    c.close()
    listed = subprocess.run([str(logflume_binary()), "groups", "list", "--bootstrap", broker.bootstrap],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert group in listed.stdout
    out = subprocess.run([str(logflume_binary()), "groups", "describe", "--bootstrap", broker.bootstrap, "--group", group],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines() if line.startswith(topic)]
    # confluent-kafka-python sends the metadata with its C terminator; the broker keeps the bytes.
    assert [(r[1], r[2], r[3], r[4], r[7].rstrip("\x00")) for r in rows] == [("0", "5", "20", "15", "m0"), ("1", "20", "20", "0", "")]


def test_reset_offsets_to_datetime_then_consumption_starts_there(broker):
    from conftest import logflume_binary
    topic = create_topic(broker, partitions=1)
    base = 1_700_000_000_000
    p = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(10):
        p.produce(topic, value=f"v{i}".encode(), partition=0, timestamp=base + i * 60_000)
    assert p.flush(15) == 0
    group = new_topic_name("reset")
    c = group_consumer(broker, group)
    c.commit(offsets=[TopicPartition(topic, 0, 9)], asynchronous=False)
    c.close()

    def reset(*args):
        return subprocess.run([str(logflume_binary()), "groups", "reset-offsets", "--bootstrap", broker.bootstrap,
                               "--group", group, "--topic", topic, *args], capture_output=True, text=True, timeout=60)

    # 2023-11-14T22:16:40Z is base + 3m20s: the first record at or after it is offset 4.
    dry = reset("--to-datetime", "2023-11-14T22:16:40Z")
    assert dry.returncode == 0, dry.stderr
    assert f"{topic}\t0\t9\t4" in dry.stdout and "dry run" in dry.stdout
    check = group_consumer(broker, group)
    assert check.committed([TopicPartition(topic, 0)], timeout=10)[0].offset == 9, "a dry run changed the offset"
    check.close()
    # Refused while a member is live.
    live = group_consumer(broker, group)
    live.subscribe([topic])
    deadline = time.time() + 20
    while time.time() < deadline and not live.assignment():
        live.poll(0.2)
    refused = reset("--to-datetime", "2023-11-14T22:16:40Z", "--execute")
    assert refused.returncode != 0 and "live member" in refused.stderr
    live.close()
    applied = reset("--to-datetime", "2023-11-14T22:16:40Z", "--execute")
    assert applied.returncode == 0, applied.stderr
    resumed = group_consumer(broker, group)
    resumed.subscribe([topic])
    first = None
    deadline = time.time() + 30
    while time.time() < deadline and first is None:
        msg = resumed.poll(0.2)
        if msg is not None and msg.error() is None:
            first = (msg.offset(), msg.timestamp()[1])
    resumed.close()
    assert first == (4, base + 4 * 60_000)
    shifted = reset("--shift-by", "-2", "--execute")
    assert shifted.returncode == 0 and f"{topic}\t0\t" in shifted.stdout
    # Records from 2023 are all older than an hour: --by-duration PT1H lands at the end.
    recent = reset("--by-duration", "PT1H")
    assert recent.returncode == 0 and f"{topic}\t0\t" in recent.stdout and recent.stdout.split("\n")[1].endswith("\t10")
    bad = reset("--by-duration", "1H")
    assert bad.returncode != 0 and "ISO 8601 duration" in bad.stderr


def test_partitions_move_when_members_leave_or_die(broker):
    """Three member processes on 6 partitions; one closes (LeaveGroup), one is SIGKILLed (its
    session times out): every partition ends up owned by the survivor."""
    import json
    import os
    import signal
    import sys
    import threading
    from pathlib import Path

    topic = create_topic(broker, partitions=6)
    group = new_topic_name("members")
    script = str(Path(__file__).parent / "helpers" / "group_member.py")
    members = {name: subprocess.Popen([sys.executable, script, broker.bootstrap, group, topic, name],
                                      stdout=subprocess.PIPE, text=True)
               for name in ["a", "b", "c"]}
    latest = {}
    lock = threading.Lock()

    def follow(name, proc):
        for line in proc.stdout:
            event = json.loads(line)
            if "partitions" in event:
                with lock:
                    latest[name] = event["partitions"]

    for name, proc in members.items():
        threading.Thread(target=follow, args=(name, proc), daemon=True).start()

    def owners():
        with lock:
            return {k: list(v) for k, v in latest.items()}

    def wait_for(predicate, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if predicate(owners()):
                return True
            time.sleep(0.2)
        return False

    try:
        everyone = lambda o: len(o) == 3 and sorted(p for ps in o.values() for p in ps) == list(range(6)) and all(o.values())
        assert wait_for(everyone, 30), f"no stable 3-member assignment: {owners()}"
        members["b"].send_signal(signal.SIGTERM)  # librdkafka closes: LeaveGroup
        members["b"].wait(timeout=15)
        two = lambda o: sorted(o.get("a", []) + o.get("c", [])) == list(range(6)) and o.get("a") and o.get("c")
        assert wait_for(two, 20), f"partitions did not move after LeaveGroup: {owners()}"
        os.kill(members["c"].pid, signal.SIGKILL)  # no LeaveGroup: the session timeout (6 s) must notice
        members["c"].wait(timeout=5)
        alone = lambda o: sorted(o.get("a", [])) == list(range(6))
        assert wait_for(alone, 25), f"partitions did not move after SIGKILL: {owners()}"
    finally:
        for proc in members.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)


def test_swift_and_librdkafka_members_share_one_group(broker, tmp_path):
    """A `logflume consume --group` member (the Swift GroupConsumer) and a librdkafka member in
    one group: they agree on one assignment (whichever is leader), split the partitions without
    overlap, and together read every record exactly once."""
    from conftest import logflume_binary
    topic = create_topic(broker, partitions=4)
    group = new_topic_name("mixed")
    rd = group_consumer(broker, group)
    rd.subscribe([topic])
    out = open(tmp_path / "swift.out", "w")
    swift = subprocess.Popen([str(logflume_binary()), "consume", "--bootstrap", broker.bootstrap, "--topic", topic,
                              "--group", group, "--format", "full"], stdout=out, stderr=subprocess.PIPE)
    try:
        # Both members in the group: librdkafka then holds exactly half of the partitions.
        deadline = time.time() + 40
        while time.time() < deadline and len(rd.assignment()) != 2:
            rd.poll(0.2)
        assert len(rd.assignment()) == 2, f"librdkafka's assignment never settled at 2 of 4: {rd.assignment()}"
        fill(broker, topic, 400, 4)
        seen = {}
        deadline = time.time() + 40
        while time.time() < deadline:
            msg = rd.poll(0.2)
            if msg is not None and msg.error() is None:
                key = (msg.partition(), msg.offset())
                assert key not in seen
                seen[key] = "librdkafka"
            swift_lines = [l for l in (tmp_path / "swift.out").read_text().splitlines() if l]
            if len(seen) + len(swift_lines) >= 400 and len(swift_lines) > 0:
                break
        swift_lines = [l for l in (tmp_path / "swift.out").read_text().splitlines() if l]
        for line in swift_lines:
            partition, offset = (int(x) for x in line.split("\t")[:2])
            assert (partition, offset) not in seen, f"{(partition, offset)} read by both members"
            seen[(partition, offset)] = "swift"
        assert len(seen) == 400, f"{len(seen)} of 400 records read ({len(swift_lines)} by the Swift member)"
        rd_partitions = {p for (p, _), who in seen.items() if who == "librdkafka"}
        swift_partitions = {p for (p, _), who in seen.items() if who == "swift"}
        assert rd_partitions and swift_partitions and not (rd_partitions & swift_partitions)
        assert rd_partitions | swift_partitions == {0, 1, 2, 3}
    finally:
        swift.terminate()
        swift.wait(timeout=15)
        out.close()
        rd.close()
