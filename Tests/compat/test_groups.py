"""Consumer groups judged by librdkafka, kafka-python and kcat: partitions split without overlap,
commits (with metadata) come back from OffsetFetch and survive a broker restart."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaConsumer

from conftest import create_topic, new_topic_name, watermarks


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


def read_events(path):
    """The JSON lines of a member's --events file (none if it was never created)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def current_partitions(events):
    """What a member holds after its last rebalance callback (eager: a revoke drops everything)."""
    held = set()
    for e in events:
        if e["ev"] == "assign":
            held = set(e["ps"])
        elif e["ev"] == "revoke":
            held -= set(e["ps"])
    return held


def test_commits_after_processing_lose_nothing_across_member_restarts(broker, tmp_path):
    """At-least-once across restarts: three librdkafka member processes on 6 partitions while a
    producer keeps producing; each records every record it processes and then commits it
    synchronously. Members are restarted five times, three times closed cleanly (LeaveGroup) and
    twice SIGKILLed (their session times out), and after each restart the group must settle
    with every partition held by exactly one live member.

    Then: every produced record was processed (by key and offset); a record was processed twice
    only if an earlier processing of it was never confirmed by a successful commit (its member
    was SIGKILLed between processing and commit, or the commit failed); no partition was held by
    two members at the same moment and every record was processed by the member holding its
    partition; and the committed offsets equal the log end offsets."""
    import threading

    partitions = 6
    topic = create_topic(broker, partitions=partitions)
    group = new_topic_name("alo")
    script = str(Path(__file__).parent / "helpers" / "group_member.py")
    procs = {}       # instance name -> Popen
    paths = {}       # instance name -> events file
    ended = {}       # instance name -> (how, time): "closed" or "killed"
    in_flight = {}   # killed instance -> its last "proc" event if the kill came before that record's commit was sent
    live = {}        # slot -> instance name
    stderr_files = []

    def start(slot):
        n = sum(1 for name in procs if name.startswith(slot)) + 1
        name = f"{slot}{n}"
        paths[name] = tmp_path / f"{name}.jsonl"
        stderr_files.append(open(tmp_path / f"{name}.err", "w"))
        procs[name] = subprocess.Popen([sys.executable, script, broker.bootstrap, group, topic, name,
                                        "--events", str(paths[name]), "--process", "--work-ms", "10"],
                                       stdout=subprocess.DEVNULL, stderr=stderr_files[-1])
        live[slot] = name

    def close(slot):
        name = live.pop(slot)
        procs[name].send_signal(signal.SIGTERM)  # the member closes: LeaveGroup
        procs[name].wait(timeout=20)
        assert procs[name].returncode == 0, f"{name} exited with {procs[name].returncode}: {(tmp_path / f'{name}.err').read_text()[-2000:]}"
        ended[name] = ("closed", None)

    def last_event(name):
        with open(paths[name], "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 400))
            lines = f.read().splitlines()
        return json.loads(lines[-1]) if lines else None

    def kill(slot):
        """SIGKILL, aimed at a record's work (--work-ms), after it was processed and before its
        commit was sent (tried for up to 2 s)."""
        name = live.pop(slot)
        deadline = time.time() + 2
        while time.time() < deadline and (last_event(name) or {}).get("ev") != "proc":
            time.sleep(0.001)
        at = time.time()
        os.kill(procs[name].pid, signal.SIGKILL)
        procs[name].wait(timeout=5)
        ended[name] = ("killed", at)
        # The member writes "committing" before it sends the commit: if the kill came first, the
        # record was processed and certainly never committed, and must be processed again.
        last = last_event(name)
        in_flight[name] = last if last and last["ev"] == "proc" else None

    def wait_settled(timeout):
        """Every live member holds partitions, none twice, all of them covered."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            held = {name: current_partitions(read_events(paths[name])) for name in live.values()}
            flat = sorted(p for ps in held.values() for p in ps)
            if all(held.values()) and flat == list(range(partitions)):
                return held
            for name in live.values():
                assert procs[name].poll() is None, f"member {name} exited: {(tmp_path / f'{name}.err').read_text()[-2000:]}"
            time.sleep(0.1)
        raise AssertionError(f"the group did not settle within {timeout} s: live {sorted(live.values())} hold "
                             f"{ {n: sorted(current_partitions(read_events(paths[n]))) for n in live.values()} }")

    delivered = {}   # (partition, offset) -> key
    delivery_errors = []
    stop_producing = threading.Event()

    def produce():
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "acks": "all"})

        def on_delivery(err, msg):
            if err is not None:
                delivery_errors.append(err)
            else:
                delivered[(msg.partition(), msg.offset())] = msg.key().decode()
        seq = 0
        while not stop_producing.is_set():
            for _ in range(6):  # about 120 records/s
                p.produce(topic, key=f"k{seq}".encode(), value=f"v{seq}".encode(), partition=seq % partitions,
                          on_delivery=on_delivery)
                seq += 1
            p.poll(0)
            time.sleep(0.05)
        assert p.flush(20) == 0

    producer = threading.Thread(target=produce, daemon=True)
    settled = []
    try:
        for slot in "abc":
            start(slot)
        producer.start()
        settled.append(wait_settled(25))
        # Clean closes settle within a rebalance; a SIGKILL only after the dead member's session
        # (6 s) expires. Each replacement starts at once, while the producer keeps producing.
        for action, slot in [(close, "a"), (kill, "b"), (close, "c"), (close, "b"), (kill, "a")]:
            time.sleep(1.5)  # some processing and committing in this generation
            action(slot)
            start(slot)
            settled.append(wait_settled(20))
        time.sleep(1.0)
        stop_producing.set()
        producer.join(timeout=30)
        assert not producer.is_alive(), "the producer did not finish"
        assert not delivery_errors, f"{len(delivery_errors)} delivery errors, first {delivery_errors[0]}"

        # The members catch up and commit everything.
        ends = {p: watermarks(broker, topic, p)[1] for p in range(partitions)}
        assert sum(ends.values()) == len(delivered), f"log end offsets {ends} but {len(delivered)} records delivered"
        checker = group_consumer(broker, group)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = {}
        deadline = time.time() + 20
        while time.time() < deadline:
            committed = {tp.partition: tp.offset for tp in checker.committed(tps, timeout=10)}
            if committed == ends:
                break
            time.sleep(0.2)
        assert committed == ends, f"committed offsets {committed} never reached the log end offsets {ends}"
        for slot in list(live):
            close(slot)
        # Closing commits nothing more and loses nothing.
        assert {tp.partition: tp.offset for tp in checker.committed(tps, timeout=10)} == ends
        checker.close()
    finally:
        stop_producing.set()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        for f in stderr_files:
            f.close()

    events = {name: read_events(path) for name, path in paths.items()}
    for name, evs in events.items():
        errors = [e for e in evs if e["ev"] == "error" and e["err"] != "_PARTITION_EOF"]
        assert not errors, f"{name} saw consumer errors: {errors[:5]}"

    # 1. Every produced record processed, with its key.
    processings = {}  # (p, o) -> [(t, instance, confirmed, commit error)]
    for name, evs in events.items():
        # proc, committing, commit for each record; only a killed member stops within the three.
        steps = [e for e in evs if e["ev"] in ("proc", "committing", "commit")]
        kinds = [e["ev"] for e in steps]
        assert kinds == (["proc", "committing", "commit"] * len(kinds))[:len(kinds)], f"{name}: steps out of order"
        for i in range(0, len(steps), 3):
            e = steps[i]
            outcome = steps[i + 2] if i + 2 < len(steps) else None
            assert outcome is None or (outcome["p"], outcome["o"]) == (e["p"], e["o"] + 1), f"{name}: {e} then {outcome}"
            assert (e["p"], e["o"]) in delivered, f"{name} processed p{e['p']}@{e['o']}, which was never delivered"
            assert e["k"] == delivered[(e["p"], e["o"])], f"{name}: p{e['p']}@{e['o']} has key {e['k']}, produced {delivered[(e['p'], e['o'])]}"
            processings.setdefault((e["p"], e["o"]), []).append(
                (e["t"], name, outcome is not None and outcome["ok"], outcome and outcome.get("err")))
    missing = sorted(set(delivered) - set(processings))
    assert not missing, f"{len(missing)} of {len(delivered)} records never processed, first {missing[:10]}"

    # 2. Duplicates only where an earlier processing was never confirmed by its commit.
    unconfirmed_by_kill = unconfirmed_by_error = 0
    duplicates = 0
    for key, runs in processings.items():
        runs.sort()
        duplicates += len(runs) - 1
        for t, name, confirmed, error in runs[:-1]:
            assert not confirmed, (f"p{key[0]}@{key[1]} processed again after {name} committed it successfully "
                                   f"(the broker acknowledged a commit of offset {key[1] + 1} and later handed "
                                   f"out an earlier offset): {runs}")
            if error is not None:
                unconfirmed_by_error += 1
            else:
                # No outcome recorded: only a SIGKILLed member stops between processing and commit.
                assert ended.get(name, ("",))[0] == "killed", f"{name} processed p{key[0]}@{key[1]} without a commit outcome: {runs}"
                unconfirmed_by_kill += 1
    killed = [n for n, (how, _) in ended.items() if how == "killed"]
    # Each member commits a record before processing the next: a killed one leaves at most one
    # record without a commit outcome.
    assert unconfirmed_by_kill <= len(killed), f"{unconfirmed_by_kill} duplicates from {len(killed)} SIGKILLs"
    for name, e in in_flight.items():
        if e is not None:
            again = [r for r in processings[(e["p"], e["o"])] if r[1] != name]
            assert again, f"p{e['p']}@{e['o']} was processed by {name}, which was killed before committing it, and never again"
    commit_errors = sorted({str(e) for runs in processings.values() for *_, e in runs if e is not None})

    # 3. Ownership: no partition held by two members at once; every record processed by its holder.
    intervals = {p: [] for p in range(partitions)}  # p -> [(start, end, instance)]
    for name, evs in events.items():
        held = {}
        end_of_instance = ended[name][1] if ended[name][0] == "killed" else next(e["t"] for e in evs if e["ev"] == "closing")
        for e in evs:
            if e["ev"] == "assign":
                for p in e["ps"]:
                    held[p] = e["t"]
            elif e["ev"] == "revoke":
                for p in e["ps"]:
                    if p in held:
                        intervals[p].append((held.pop(p), e["t"], name))
            elif e["ev"] == "closing":
                break
        for p, since in held.items():
            intervals[p].append((since, end_of_instance, name))
    for p, spans in intervals.items():
        spans.sort()
        for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
            assert s2 >= e1, f"partition {p} held by {n1} ({s1:.3f}-{e1:.3f}) and by {n2} from {s2:.3f}"
    for (p, o), runs in processings.items():
        for t, name, *_ in runs:
            assert any(n == name and s <= t <= e for s, e, n in intervals[p]), f"{name} processed p{p}@{o} at {t:.3f} without holding p{p}"

    assignments = sum(1 for evs in events.values() for e in evs if e["ev"] == "assign")
    print(f"\n{len(delivered)} records, {sum(len(r) for r in processings.values())} processings, {duplicates} duplicates "
          f"({unconfirmed_by_kill} after SIGKILL, {unconfirmed_by_error} after failed commits {commit_errors}); in flight at "
          f"the kills (record, processings): {[(n, e and ((e['p'], e['o']), len(processings[(e['p'], e['o'])]))) for n, e in in_flight.items()]}; "
          f"{len(procs)} member instances, {len(killed)} killed, {assignments} assignments; settled: "
          + "; ".join(" ".join(f"{n}={sorted(ps)}" for n, ps in sorted(s.items())) for s in settled))
