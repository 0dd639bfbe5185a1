"""The broker killed (SIGKILL) or stopped (SIGTERM) while a librdkafka acks=1 producer is writing:
after a restart on the same data directory every acknowledged record is there once, at the
offset its acknowledgement named, and nothing else is out of place."""

import socket
import subprocess
import threading
import time
from collections import Counter

from confluent_kafka import Producer

from conftest import (
    API_FETCH,
    KafkaWire,
    admin_client,
    create_topic,
    describe_topic_configs,
    fetch_v4_body,
    logflume_binary,
    now_ms,
    produce_confluent,
    producer_conf,
    read_all_confluent,
    read_fetch_v4_response,
    watermarks,
)

PARTITIONS = 2


class SequentialProducer:
    """Produces values seq-00000000, seq-00000001, ... round-robin over the partitions, from a
    background thread while running, and keeps the delivery report of each: the offset if
    acknowledged, the error otherwise."""

    def __init__(self, broker, topic):
        self.topic = topic
        self.next = 0
        self.acked: dict[bytes, tuple[int, int]] = {}
        self.failed: dict[bytes, str] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.thread_error: BaseException | None = None
        # retries=0: a request in flight when the broker dies fails instead of being sent again,
        # so no record can be written twice (once unacknowledged, once acknowledged).
        self.producer = Producer(producer_conf(broker, **{
            "acks": "1", "retries": 0, "enable.idempotence": False, "linger.ms": 1, "message.timeout.ms": 30000,
            "reconnect.backoff.ms": 50, "reconnect.backoff.max.ms": 250, "queue.buffering.max.messages": 1_000_000,
        }))

    def _report(self, err, msg):
        with self.lock:
            if err is None:
                self.acked[msg.value()] = (msg.partition(), msg.offset())
            else:
                self.failed[msg.value()] = err.name()

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)

    def produce(self, count: int):
        for _ in range(count):
            i = self.next
            self.next += 1
            self.producer.produce(self.topic, value=f"seq-{i:08d}".encode(), key=str(i).encode(), partition=i % PARTITIONS,
                                  headers=[("seq", str(i).encode())], on_delivery=self._report)
        self.producer.poll(0)

    def start(self):
        def loop():
            try:
                while not self.stopping.is_set():
                    self.produce(20)
                    time.sleep(0.002)
            except BaseException as e:  # noqa: BLE001
                self.thread_error = e
        self.stopping.clear()
        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        assert self.thread_error is None, f"producer thread failed: {self.thread_error!r}"

    def wait_acked(self, count: int, limit: float = 30.0):
        deadline = time.monotonic() + limit
        while self.acked_count() < count:
            assert time.monotonic() < deadline, f"only {self.acked_count()} acknowledged after {limit} s ({len(self.failed)} failed)"
            time.sleep(0.01)

    def flush(self):
        remaining = self.producer.flush(40)
        assert remaining == 0, f"{remaining} records neither delivered nor failed after 40 s"


def check_log(broker, topic, p: SequentialProducer) -> str:
    ends = {q: watermarks(broker, topic, q)[1] for q in range(PARTITIONS)}
    records = read_all_confluent(broker, topic, range(PARTITIONS), timeout=40)
    at = {(r.partition, r.offset): r for r in records}
    for q in range(PARTITIONS):
        offsets = [r.offset for r in records if r.partition == q]
        assert offsets == list(range(ends[q])), f"partition {q}: offsets are not 0..{ends[q] - 1} without gaps"
        seqs = [int(r.value[4:]) for r in records if r.partition == q]
        assert seqs == sorted(seqs), f"partition {q}: records out of produce order"
        assert all(s % PARTITIONS == q for s in seqs), f"partition {q} holds another partition's records"
    counts = Counter(r.value for r in records)
    duplicated = sorted(v for v, c in counts.items() if c > 1)
    assert not duplicated, f"{len(duplicated)} values appear more than once, e.g. {duplicated[:5]}"
    lost = []
    for value, (q, offset) in sorted(p.acked.items()):
        r = at.get((q, offset))
        if r is None or r.value != value:
            lost.append((value, q, offset, r and r.value))
    assert not lost, (f"{len(lost)} of {len(p.acked)} acknowledged records are not at their acknowledged offset; first: "
                      f"{lost[0][0]!r} acknowledged at {lost[0][1]}@{lost[0][2]}, log holds {lost[0][3]!r}")
    for r in records:
        seq = str(int(r.value[4:])).encode()
        assert r.key == seq and r.headers == (("seq", seq),), r.brief()
    unacked_present = sum(1 for r in records if r.value not in p.acked)
    summary = (f"{len(p.acked)} acknowledged, {len(p.failed)} failed ({sorted(set(p.failed.values()))}), "
               f"log holds {len(records)} ({unacked_present} of them written but not acknowledged)")
    return summary, unacked_present


def verify_partition_dirs(broker, topic):
    """`logflume log verify` on each partition directory of the stopped broker."""
    for q in range(PARTITIONS):
        d = broker.partition_dir(topic, q)
        proc = subprocess.run([str(logflume_binary()), "log", "verify", str(d)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"logflume log verify {d}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_sigkill_during_acks1_produce(broker_factory):
    b = broker_factory()
    topic = create_topic(b, partitions=PARTITIONS, prefix="crash-kill")
    p = SequentialProducer(b, topic)
    p.start()
    kills = 0
    try:
        # A kill can fall between two produce requests; kill again (up to 4 times) until one
        # lands with requests in flight, which the producer reports as failed deliveries.
        for kills in range(1, 5):
            failed_before = len(p.failed)
            p.wait_acked(p.acked_count() + 2000)
            b.kill9()  # the producer thread keeps going: requests in flight, then queued
            acked_at_kill = p.acked_count()
            time.sleep(0.3)
            b.start()
            p.wait_acked(acked_at_kill + 1000)
            if len(p.failed) > failed_before:
                break
    finally:
        p.stop()
    p.flush()
    summary, _ = check_log(b, topic, p)
    print(f"SIGKILL during acks=1 produce ({kills} kills): {summary}; last restart took {b.last_start_seconds:.2f} s")
    b.stop()
    verify_partition_dirs(b, topic)


def test_two_sigkills_in_a_row(broker_factory):
    """Recovery after a crash must itself survive a crash right after it."""
    b = broker_factory()
    topic = create_topic(b, partitions=PARTITIONS, prefix="crash-twice")
    p = SequentialProducer(b, topic)
    p.start()
    try:
        p.wait_acked(1000)
        b.kill9()
        b.start()
        p.wait_acked(p.acked_count() + 1000)
        b.kill9()
        b.start()
        p.wait_acked(p.acked_count() + 500)
    finally:
        p.stop()
    p.flush()
    print(f"two SIGKILLs: {check_log(b, topic, p)[0]}")


def test_sigterm_during_produce(broker_factory):
    b = broker_factory()
    topic = create_topic(b, partitions=PARTITIONS, prefix="crash-term",
                         config={"retention.ms": "86400000", "max.message.bytes": "2000000"})
    cluster_id = admin_client(b).list_topics(timeout=10).cluster_id
    p = SequentialProducer(b, topic)
    p.start()
    try:
        p.wait_acked(3000)
        seconds = b.stop()  # SIGTERM under load: exit 0 within 10 s, clean-shutdown markers
        acked_at_stop = p.acked_count()
        b.start()
        p.wait_acked(acked_at_stop + 1000)
    finally:
        p.stop()
    p.flush()
    summary, unacked_present = check_log(b, topic, p)
    print(f"SIGTERM under load: stopped in {seconds:.2f} s; {summary}")
    # A graceful stop finishes what it read: a produce request the broker appended is answered.
    # (Written-but-unacknowledged records are what a retrying producer turns into duplicates.)
    assert unacked_present == 0, (f"SIGTERM: {unacked_present} records were appended but their produce responses never "
                                  f"reached the producer ({summary})")
    # Topic, configs and cluster id survive a restart.
    assert admin_client(b).list_topics(timeout=10).cluster_id == cluster_id
    configs = describe_topic_configs(b, topic)
    assert (configs["retention.ms"].value, configs["max.message.bytes"].value) == ("86400000", "2000000")
    b.stop()
    verify_partition_dirs(b, topic)


def test_sigterm_answers_a_waiting_fetch(broker_factory):
    """A long-polling Fetch is an in-flight request: SIGTERM answers it at once (with what there
    is) rather than holding the shutdown for the client's max wait (30 s here, past the 10 s a
    stop may take)."""
    b = broker_factory()
    topic = create_topic(b, partitions=1, prefix="term-fetch")
    produce_confluent(b, topic, [{"partition": 0, "key": None, "value": b"only", "headers": (), "timestamp": now_ms()}])
    with KafkaWire(b) as w:
        correlation_id = w.send(API_FETCH, 4, fetch_v4_body(topic, 0, offset=1, max_wait_ms=30000))
        time.sleep(0.5)  # the broker has parked the fetch by now
        b.sigterm()
        sent = time.monotonic()
        w.sock.settimeout(5)
        try:
            response = read_fetch_v4_response(w.receive(correlation_id))
        except socket.timeout:
            raise AssertionError("the waiting Fetch (max wait 30 s) was not answered within 5 s of SIGTERM") from None
        except ConnectionError as e:
            raise AssertionError(f"the broker closed the connection instead of answering the waiting Fetch: {e}") from None
        answered = time.monotonic() - sent
    seconds = b.wait_stopped()
    assert [(p, hw) for p, _err, hw, _records in response] == [(0, 1)], response
    print(f"waiting Fetch answered {answered:.2f} s after SIGTERM (error {response[0][1]}); broker exited after {seconds:.2f} s")
