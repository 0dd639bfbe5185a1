"""The aggregator as real processes against a real broker: hour-exact buckets with done-markers,
exactly once across SIGKILL and rebalances, idle partitions, late records, the done-hook and replay
(docs/aggregator.md describes what is promised; helpers/aggregator.py runs and reads the processes).

Event times lie hours in the past, so buckets close as fast as the event-time watermark moves, and
once every partition is caught up and idle (`buckets.idle_timeout`) the wall clock closes the rest.
Records jitter by up to 5 minutes around their nominal time, so they cross hour boundaries out of
order; the delay (15 minutes) is larger, so none of them is late unless a test makes it so.

Correctness checks only, no timing assertions: each test's pytest timeout just bounds a hang.
"""

from __future__ import annotations

import datetime
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer
from conftest import Broker, create_topic, logflume_binary, now_ms, producer_conf
from helpers.aggregator import (
    HOUR_MS,
    AggregatorProcess,
    bucket_label,
    check_bucket,
    closed_records,
    compare_multiset,
    done_labels,
    label_start,
    labels_between,
    read_tree,
    unfinished_late,
    wait_markers,
    wait_until,
)

JITTER_MS = 5 * 60_000
DELAY = "15m"
DELAY_MS = 15 * 60_000


# --------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A broker whose groups form at once and accept short sessions, so that a SIGKILLed
    aggregator's membership expires in 2 s rather than 10."""
    b = Broker(tmp_path_factory.mktemp("broker"), name="aggregator-exactly-once",
               config={"group.initial.rebalance.delay.ms": 0, "group.min.session.timeout.ms": 1000})
    b.start()
    yield b
    b.close()


@pytest.fixture
def procs():
    """Aggregators a test made; killed at teardown, their log tails printed (shown on failure)."""
    made: list[AggregatorProcess] = []
    yield made
    for p in made:
        print(p.log_tail(60))
        p.close()


def aggregator(procs, workdir: Path, broker: Broker, topic: str, group: str, root: Path, name: str = "agg",
               start: bool = True, **settings) -> AggregatorProcess:
    defaults = {"buckets.delay": DELAY, "buckets.idle_timeout": "1s", "buckets.max_open_hours": 48}
    defaults.update(settings)
    p = AggregatorProcess(workdir, broker.bootstrap, [topic], group, root, name=name, **defaults)
    procs.append(p)
    if start:
        p.start()
    return p


def hours_ago(n: int) -> int:
    """The start of the UTC hour n hours before the current one."""
    return now_ms() // HOUR_MS * HOUR_MS - n * HOUR_MS


# --------------------------------------------------------------------------------------------
# Input: records with jittered event times, and what the broker assigned them


class Feed:
    """Makes records with unique values and produces them; `expected` maps (partition, offset) to
    (timestamp, key, value, headers) from the delivery reports."""

    def __init__(self, broker: Broker, topic: str, partitions: int, tag: str, seed: int, jitter_ms: int = JITTER_MS):
        self.broker = broker
        self.topic = topic
        self.partitions = partitions
        self.tag = tag
        self.rng = random.Random(seed)
        self.jitter_ms = jitter_ms
        self.seq = 0
        self.expected: dict[tuple, tuple] = {}
        self.order: dict[int, list[int]] = {p: [] for p in range(partitions)}  # timestamps in produce order
        self._producer = None

    def record(self, partition: int, ts: int) -> dict:
        n = self.seq
        self.seq += 1
        key = None if n % 13 == 0 else f"k{n % 50}".encode()
        if n % 97 == 5:
            value = b"\xff\xfe not utf-8 " + f"{self.tag}-{n}".encode()  # written as value_base64
        else:
            value = f"{self.tag}-p{partition}-{n}-".encode() + b"x" * (n % 40)
        headers = (("h", f"{n}".encode()), ("null", None)) if n % 5 == 0 else ()
        return {"partition": partition, "key": key, "value": value, "headers": headers, "timestamp": ts}

    def span(self, start_ms: int, end_ms: int, per_partition: int, partitions=None, jitter: bool = True) -> list[dict]:
        """Records with nominal times spread evenly over [start, end) in every partition, each moved by
        up to the jitter either way, interleaved across partitions in nominal order."""
        partitions = list(range(self.partitions)) if partitions is None else list(partitions)
        out = []
        step = (end_ms - start_ms) / per_partition
        for i in range(per_partition):
            for p in partitions:
                nominal = int(start_ms + i * step + self.rng.random() * step)
                ts = nominal + (self.rng.randint(-self.jitter_ms, self.jitter_ms) if jitter else 0)
                out.append(self.record(p, ts))
        return out

    def send(self, records: list[dict]):
        if self._producer is None:
            self._producer = Producer(producer_conf(self.broker))
        p = self._producer
        reports: list = [None] * len(records)
        errors = []

        def cb(i):
            def on(err, msg):
                if err is not None:
                    errors.append(err)
                reports[i] = msg
            return on

        for i, r in enumerate(records):
            kwargs = dict(partition=r["partition"], key=r["key"], value=r["value"], timestamp=r["timestamp"], on_delivery=cb(i))
            if r["headers"]:
                kwargs["headers"] = list(r["headers"])
            while True:
                try:
                    p.produce(self.topic, **kwargs)
                    break
                except BufferError:
                    p.poll(0.05)
            p.poll(0)
        assert p.flush(30) == 0, "records still undelivered after flush(30)"
        assert not errors, f"{len(errors)} delivery errors, first {errors[0]}"
        for r, m in zip(records, reports):
            self.expected[(m.partition(), m.offset())] = (r["timestamp"], r["key"], r["value"], tuple(r["headers"]))
            self.order[m.partition()].append(r["timestamp"])

    def crossings(self) -> int:
        """Records that arrived after a record of a later hour in the same partition."""
        n = 0
        for stamps in self.order.values():
            newest = None
            for ts in stamps:
                if newest is not None and ts // HOUR_MS < newest // HOUR_MS:
                    n += 1
                newest = ts if newest is None else max(newest, ts)
        return n

    def labels(self) -> set[str]:
        return {bucket_label(v[0]) for v in self.expected.values()}


class Ticker(threading.Thread):
    """Keeps producing: every `period` s a batch of `per_batch` records per partition whose event
    clock moves `step_ms` forward, until stopped or the clock reaches `end_ms`."""

    def __init__(self, feed: Feed, start_ms: int, end_ms: int, step_ms: int, per_batch: int, partitions=None,
                 period: float = 0.03):
        super().__init__(daemon=True)
        self.feed = feed
        self.clock = start_ms
        self.end_ms = end_ms
        self.step_ms = step_ms
        self.per_batch = per_batch
        self.partitions = partitions
        self.period = period
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.batches = 0

    def run(self):
        try:
            while not self.stopping.is_set() and self.clock < self.end_ms:
                hi = min(self.clock + self.step_ms, self.end_ms)
                self.feed.send(self.feed.span(self.clock, hi, self.per_batch, self.partitions))
                self.clock = hi
                self.batches += 1
                time.sleep(self.period)
        except BaseException as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self):
        self.stopping.set()
        self.join(timeout=60)
        assert not self.is_alive(), "producer thread did not stop"
        if self.error is not None:
            raise AssertionError(f"producer thread failed: {self.error!r}")


class MarkerWatcher(threading.Thread):
    """Looks at every `_SUCCESS` as soon as it appears and records which partitions had a main
    completion record at that moment (completion records are written before the marker, so all
    of them must already be there)."""

    def __init__(self, root: Path, topic: str, partitions: int):
        super().__init__(daemon=True)
        self.base = Path(root) / topic
        self.partitions = partitions
        self.seen: dict[str, set[int]] = {}
        self.stopping = threading.Event()

    def scan(self):
        if not self.base.is_dir():
            return
        for marker in self.base.glob("dt=*/hr=*/_SUCCESS"):
            label = str(marker.parent.relative_to(self.base))
            if label in self.seen:
                continue
            names = [p.name for p in (marker.parent / "_partitions").glob("*.json")]
            self.seen[label] = {int(n[:-5]) for n in names if n[:-5].isdigit()}

    def run(self):
        while not self.stopping.is_set():
            self.scan()
            time.sleep(0.03)

    def stop(self) -> dict[str, set[int]]:
        self.stopping.set()
        self.join(timeout=10)
        self.scan()
        return self.seen

    def early(self) -> dict[str, list[int]]:
        want = set(range(self.partitions))
        return {label: sorted(want - got) for label, got in self.seen.items() if got != want}


# --------------------------------------------------------------------------------------------
# Done-hook


def hook_command(workdir: Path, fail_first: bool = False) -> tuple[str, Path]:
    """A hook appending one line per successful run to hooks.txt; with `fail_first` every bucket's
    first attempt exits 3 (the retry must then succeed)."""
    runs = workdir / "hooks.txt"
    script = workdir / "hook.sh"
    flags = workdir / "hook-flags"
    flags.mkdir(exist_ok=True)
    script.write_text(f"""#!/bin/sh
flag="{flags}/$(echo "$LOGFLUME_BUCKET" | tr / _)-v$LOGFLUME_MANIFEST_VERSION"
if [ "{1 if fail_first else 0}" = 1 ] && [ ! -e "$flag" ]; then touch "$flag"; exit 3; fi
echo "$LOGFLUME_TOPIC $LOGFLUME_BUCKET $LOGFLUME_MANIFEST_VERSION $LOGFLUME_DT $LOGFLUME_HR $LOGFLUME_BUCKET_START $LOGFLUME_BUCKET_END $LOGFLUME_BUCKET_PATH" >> "{runs}"
""")
    script.chmod(0o755)
    return str(script), runs


def hook_runs(runs: Path) -> list[list[str]]:
    try:
        return [line.split(" ") for line in runs.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


def wait_hook_runs(runs: Path, root: Path, topic: str, procs: list, timeout: float = 60):
    """Until every finished hour's hook has run: a stop leaves queued runs owed in the journal for
    the next start rather than wait for them."""
    wait_until(lambda: done_labels(root, topic) <= {r[1] for r in hook_runs(runs)}, timeout, "a done-hook run per finished hour", procs)


def owed_labels(root: Path, topic: str) -> set[str]:
    """Buckets whose hook run the journal still owes (`<topic>/_hooks/<start ms>-v<version>`): a
    marker that appeared while stopping has its run there, for the next start."""
    directory = root / topic / "_hooks"
    names = [p.name for p in directory.iterdir() if not p.name.startswith(".")] if directory.exists() else []
    return {bucket_label(int(name.rsplit("-v", 1)[0])) for name in names}


def check_hook_runs(runs: list[list[str]], topic: str, root: Path):
    """Every run names a finished bucket with consistent variables."""
    for topic_, label, version, dt, hr, start, end, path in runs:
        assert topic_ == topic
        assert label == f"dt={dt}/hr={hr}", f"LOGFLUME_BUCKET {label} vs LOGFLUME_DT {dt} LOGFLUME_HR {hr}"
        assert Path(path) == root / topic / label, f"LOGFLUME_BUCKET_PATH {path} for {label}"
        assert (Path(path) / "_SUCCESS").exists(), f"hook ran for {label} without its marker"
        iso = lambda ms: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ms // 1000))  # noqa: E731
        assert (start, end) == (iso(label_start(label)), iso(label_start(label) + HOUR_MS)), \
            f"LOGFLUME_BUCKET_START/END {start} {end} for {label}"


def check_closed_output(root: Path, topic: str, partitions: int, expected: dict, labels, verify_crc: bool = True) -> dict:
    """Every bucket in `labels` is finished; every finished bucket passes check_bucket; the finished
    buckets (and late rounds with their marker) hold exactly `expected`. Returns the tree."""
    tree = read_tree(root, topic)
    missing = sorted(set(labels) - {label for label, b in tree.items() if b.marker})
    assert not missing, f"buckets without _SUCCESS: {missing}"
    for b in tree.values():
        if b.marker:
            check_bucket(b, topic, partitions, verify_crc=verify_crc)
    compare_multiset(closed_records(tree), expected, f"records in finished buckets of {topic}")
    return tree


def staging_leftovers(tree: dict, topic: str) -> list[str]:
    """Hidden staging data files left in finished bucket directories."""
    return [f"{b.label}/{name}" for b in tree.values() if b.marker for name in b.hidden if name.startswith("." + topic + "-")]


# --------------------------------------------------------------------------------------------
# 1. Hour exactness, manifests and markers


@pytest.mark.timeout(90)
@pytest.mark.parametrize("codec", ["gzip", "gzip-libdeflate", "zstd"])
def test_hours_exact_with_markers(broker, procs, tmp_path: Path, codec: str):
    """Records of six hours over three partitions, jittered across the hour boundaries, half of them
    produced before the aggregator starts and half while it runs. Every hour gets its marker; every
    record of `hr=HH` has its event time in that hour; the finished hours hold the input exactly;
    manifests and completion records agree with the decompressed files (several part files per
    hour); the done-hook, failing once per bucket, succeeds on its retry and runs once per bucket.
    `gzip` writes with the default encoder (ISA-L), `gzip-libdeflate` with libdeflate; Python's
    gzip module reads both."""
    partitions = 3
    topic = create_topic(broker, partitions=partitions, config={"retention.ms": -1}, prefix=f"exact-{codec}")
    feed = Feed(broker, topic, partitions, "e", seed=1)
    base = hours_ago(9)
    feed.send(feed.span(base, base + 3 * HOUR_MS, 300))
    command, runs_path = hook_command(tmp_path, fail_first=True)
    root = tmp_path / "out"
    agg = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, **{
        "output.codec": codec.split("-")[0], "output.max_file_bytes": "6KiB",
        **({"output.gzip_encoder": "libdeflate"} if codec == "gzip-libdeflate" else {}),
        "done_hook.command": command, "done_hook.backoff": "100ms",
    })
    feed.send(feed.span(base + 3 * HOUR_MS, base + 6 * HOUR_MS, 300))
    assert feed.crossings() > 20, "the input should cross hour boundaries out of order"
    data_labels = feed.labels()
    # Every hour from the first record's to the newest the wall clock can close has a marker,
    # including the empty hours after the data.
    newest_closable = (now_ms() - DELAY_MS) // HOUR_MS * HOUR_MS - HOUR_MS
    all_labels = set(labels_between(min(v[0] for v in feed.expected.values()), newest_closable + 1))
    wait_markers(root, topic, all_labels | data_labels, [agg], timeout=60)
    # The hook of the last marker may still be retrying: wait for one run per marker.
    wait_until(lambda: len(hook_runs(runs_path)) >= len(done_labels(root, topic)), 30, "a done-hook run per marker", [agg])
    assert agg.stop() == 0, agg.log_tail()

    tree = check_closed_output(root, topic, partitions, feed.expected, all_labels | data_labels)
    files = sum(len(b.data_files) for b in tree.values())
    parts = [len([f for f in b.data_files if f.startswith(f"{topic}-{p}-")]) for b in tree.values() for p in range(partitions)]
    assert max(parts) >= 3, f"expected several part files per hour and partition, got at most {max(parts)}"
    suffix = {"gzip": ".jsonl.gz", "gzip-libdeflate": ".jsonl.gz", "zstd": ".jsonl.zst"}[codec]
    assert all(name.endswith(suffix) for b in tree.values() for name in b.data_files)
    assert not any(b.late for b in tree.values()), "no record was late, yet a late/ directory exists"
    assert not any(b.hidden for b in tree.values() if b.marker), "staging files left without any crash"
    assert any(r.value and r.value.startswith(b"\xff\xfe") for r in closed_records(tree)), "value_base64 records round-trip"

    runs = hook_runs(runs_path)
    check_hook_runs(runs, topic, root)
    ran = [label for _, label, *_ in runs]
    done = done_labels(root, topic)
    assert sorted(ran) == sorted(done), (f"done-hook runs should be exactly one per marker; duplicated "
                                         f"{sorted({x for x in ran if ran.count(x) > 1})}, missing {sorted(done - set(ran))}")
    assert all(v == "1" for _, _, v, *_ in runs)
    failures = agg.log_lines("done-hook failed")
    assert len(failures) == len(done), f"each bucket's first hook attempt fails: {len(failures)} failures logged for {len(done)} buckets"
    print(f"{codec}: {len(feed.expected)} records, {feed.crossings()} boundary crossings, {len(done)} buckets, {files} files")


# --------------------------------------------------------------------------------------------
# 2. Exactly once under SIGKILL


@pytest.mark.timeout(150)
@pytest.mark.parametrize("max_open", [48, 4], ids=["roomy", "tight-max-open-hours"])
def test_exactly_once_across_sigkills(broker, procs, tmp_path: Path, max_open: int):
    """A pre-filled topic plus a producer that keeps adding records with an advancing event clock;
    the aggregator is SIGKILLed twelve times and restarted: at a random moment after it got its
    partitions, at a random moment right after the start (still joining or rebuilding), and right
    after a new `_SUCCESS` appeared (in the middle of publishing a run of hours). At the end every
    hour is finished and the finished hours hold exactly the input, each record once.

    With room for 48 open hours nothing is ever late, so every record must be in its hour. With a
    tight `max_open_hours = 4`, catching up after a restart may close hours early (docs: forced
    closes, records arriving later are late); such records must then be in the hour's `late/`, with
    its marker, still exactly once.

    The done-hook runs at least once for every finished bucket, kills or not: its journal entry,
    written before the marker, is run again after a restart until the hook succeeded. It runs a
    second time only for a bucket finished before a kill that came between a run and the deletion of
    its entry (docs/aggregator.md, "Done-hook"). A marker that appears while the last stop is under
    way leaves its run owed in the journal for the next start."""
    partitions = 4
    topic = create_topic(broker, partitions=partitions, config={"retention.ms": -1}, prefix="kill")
    feed = Feed(broker, topic, partitions, "k", seed=2)
    rng = random.Random(20 + max_open)
    base = hours_ago(30)
    feed.send(feed.span(base, base + 3 * HOUR_MS, 200))
    command, runs_path = hook_command(tmp_path)
    root = tmp_path / "out"
    # A longer idle timeout: a partition must not count as idle while the producer still feeds it.
    agg = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, **{
        "buckets.idle_timeout": "4s", "buckets.max_open_hours": max_open, "output.max_file_bytes": "16KiB",
        "done_hook.command": command,
    })
    ticker = Ticker(feed, base + 3 * HOUR_MS, hours_ago(3), step_ms=2 * 60_000, per_batch=6)
    ticker.start()
    assigned_before = 0  # "partitions assigned" lines in the log before the current start
    kinds = []
    try:
        for round_ in range(12):
            kind = ("consuming", "starting", "publishing")[round_ % 3]
            if kind == "consuming":
                wait_until(lambda: len(agg.log_lines("partitions assigned")) > assigned_before, 30,
                           "the restarted aggregator to get its partitions", [agg])
                time.sleep(rng.uniform(0.1, 2.0))
            elif kind == "starting":
                time.sleep(rng.uniform(0.0, 1.0))
            else:
                markers = len(done_labels(root, topic))
                deadline = time.monotonic() + 10
                while len(done_labels(root, topic)) == markers and time.monotonic() < deadline:
                    agg.check_alive()
                    time.sleep(0.005)
                if len(done_labels(root, topic)) == markers:
                    kind = "publishing (no new marker: killed anyway)"
                time.sleep(rng.uniform(0.0, 0.03))
            kinds.append(kind)
            agg.kill9()
            time.sleep(rng.uniform(0.0, 0.3))
            assigned_before = len(agg.log_lines("partitions assigned"))
            agg.start()
    finally:
        ticker.stop()
    done_before_end = len(done_labels(root, topic))
    wait_markers(root, topic, feed.labels(), [agg], timeout=90)
    wait_until(lambda: not unfinished_late(root, topic), 60, "every late/ directory to get its marker", [agg])
    wait_hook_runs(runs_path, root, topic, [agg])
    assert agg.stop() == 0, agg.log_tail()

    tree = check_closed_output(root, topic, partitions, feed.expected, feed.labels(), verify_crc=False)
    late = sum(len(b.late.records) for b in tree.values() if b.late)
    if max_open == 48:
        assert late == 0, f"{late} records went to late/ although no hour could close before its records arrived"
    # Known bug (reported, not asserted because it needs a kill inside a window of a few syscalls):
    # a SIGKILL between a partition's completion record and the garbage collection that follows it
    # leaves older hidden staging files in the bucket for good, because the next run adopts the
    # completion and never collects that directory again. Hidden names are skipped by readers;
    # visible files are checked exactly above (data files on disk == files in the manifest).
    leftovers = staging_leftovers(tree, topic)

    runs = hook_runs(runs_path)
    check_hook_runs(runs, topic, root)
    ran = [label for _, label, *_ in runs]
    done = done_labels(root, topic)
    lost = sorted(done - set(ran) - owed_labels(root, topic))
    assert not lost, f"done-hook neither ran nor is owed for {lost}"
    dup = sorted({x for x in ran if ran.count(x) > 1})
    last_kill = max(agg.kill_times)
    unexplained = [label for label in dup if (root / topic / label / "_SUCCESS").stat().st_mtime > last_kill + 0.5]
    assert not unexplained, f"done-hook ran twice for buckets finished after the last SIGKILL: {unexplained}"
    print(f"sigkill x{agg.kills}: {len(feed.expected)} records ({ticker.batches} batches while killing), "
          f"{len(done)} buckets ({done_before_end} finished before the producer stopped), {late} late, "
          f"{len(dup)} hooks run twice across kills, {len(agg.log_lines('owed from before'))} owed runs replayed, "
          f"{len(agg.log_lines('session failed'))} failed sessions, "
          f"{len(agg.log_lines('closed before the watermark'))} forced closes; kills: {kinds}; "
          f"hidden staging files left in finished buckets: {leftovers}")


# --------------------------------------------------------------------------------------------
# 3. Two instances and rebalances


@pytest.mark.timeout(150)
def test_two_instances_with_rebalances(broker, procs, tmp_path: Path):
    """Two aggregators in one group share four partitions while records keep coming. One is
    SIGKILLed and later restarted; then the other is stopped with SIGTERM and restarted. Finished
    hours hold exactly the input; every `_SUCCESS`, the moment it appears, already has the main
    completion record of every partition; each done-hook runs at least once per bucket, and twice
    only for a bucket finished before the last change of membership (a run queued on one instance
    when the partition-0 owner replayed the journal)."""
    partitions = 4
    topic = create_topic(broker, partitions=partitions, config={"retention.ms": -1}, prefix="pair")
    feed = Feed(broker, topic, partitions, "r", seed=3)
    base = hours_ago(30)
    feed.send(feed.span(base, base + 3 * HOUR_MS, 200))
    root = tmp_path / "out"
    command, runs_path = hook_command(tmp_path)
    settings = {"buckets.idle_timeout": "4s", "output.max_file_bytes": "32KiB", "done_hook.command": command}
    a = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, name="a", **settings)
    b = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, name="b", **settings)
    watcher = MarkerWatcher(root, topic, partitions)
    watcher.start()
    ticker = Ticker(feed, base + 3 * HOUR_MS, hours_ago(3), step_ms=2 * 60_000, per_batch=6)
    ticker.start()

    def assigned(p: AggregatorProcess) -> int:
        return len(p.log_lines("partitions assigned"))

    def shares() -> str:
        return " / ".join(f"{p.name}: {(p.log_lines('partitions assigned') or ['-'])[-1].split('assignment=')[-1].split(' ')[0]}" for p in (a, b))

    try:
        wait_until(lambda: assigned(a) and assigned(b), 30, "both instances to get partitions", [a, b])
        first = shares()
        time.sleep(3)
        b.kill9()
        n = assigned(a)
        wait_until(lambda: assigned(a) > n, 30, "a to take over b's partitions after b's session expired", [a])
        after_kill = shares()
        time.sleep(3)
        n = assigned(a)
        b.start()
        wait_until(lambda: assigned(a) > n and assigned(b) >= 1 + b.starts - 1, 30, "the group to rebalance to both again", [a, b])
        time.sleep(3)
        assert a.stop() == 0, a.log_tail()
        n = assigned(b)
        wait_until(lambda: assigned(b) > n, 30, "b to take over after a left", [b])
        time.sleep(2)
        a.start()
        time.sleep(2)
    finally:
        ticker.stop()
    wait_markers(root, topic, feed.labels(), [a, b], timeout=90)
    wait_hook_runs(runs_path, root, topic, [a, b])
    assert a.stop() == 0, a.log_tail()
    assert b.stop() == 0, b.log_tail()
    seen = watcher.stop()

    early = watcher.early()
    assert not early, f"_SUCCESS appeared before these partitions completed the hour: {early}"
    tree = check_closed_output(root, topic, partitions, feed.expected, feed.labels(), verify_crc=False)
    runs = hook_runs(runs_path)
    check_hook_runs(runs, topic, root)
    ran = [label for _, label, *_ in runs]
    lost = sorted(done_labels(root, topic) - set(ran) - owed_labels(root, topic))
    assert not lost, f"done-hook neither ran nor is owed for {lost}"
    dup = sorted({x for x in ran if ran.count(x) > 1})
    # A rebalance ends when the members log their new assignment, seconds after a process starts.
    assigned_at = [datetime.datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S%z").timestamp() + 1.0
                   for p in (a, b) for line in p.log_lines("partitions assigned")]
    last_change = max(b.kill_times + a.start_times + b.start_times + assigned_at)
    unexplained = [label for label in dup if (root / topic / label / "_SUCCESS").stat().st_mtime > last_change + 0.5]
    assert not unexplained, f"done-hook ran twice for buckets finished after the last change of membership: {unexplained}"
    late = sum(len(x.late.records) for x in tree.values() if x.late)
    print(f"two instances: {len(feed.expected)} records, {len(seen)} markers watched, {late} late, {len(dup)} hooks run twice; "
          f"assignments: start {first}; after kill {after_kill}; end {shares()}")


@pytest.mark.timeout(120)
def test_paused_instance_loses_its_partitions(broker, procs, tmp_path: Path):
    """One of two instances is frozen (SIGSTOP) for longer than the session timeout while records
    keep coming, so the other takes over its partitions; then it is resumed (SIGCONT) and has to
    notice that it lost them. The finished hours still hold exactly the input (docs, known limits:
    a zombie may publish until its next poll; completion GC must keep the hours exact)."""
    partitions = 4
    topic = create_topic(broker, partitions=partitions, config={"retention.ms": -1}, prefix="zombie")
    feed = Feed(broker, topic, partitions, "z", seed=6)
    base = hours_ago(30)
    feed.send(feed.span(base, base + 3 * HOUR_MS, 150))
    root = tmp_path / "out"
    settings = {"buckets.idle_timeout": "4s", "output.max_file_bytes": "32KiB"}
    a = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, name="a", **settings)
    b = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, name="b", **settings)
    watcher = MarkerWatcher(root, topic, partitions)
    watcher.start()
    ticker = Ticker(feed, base + 3 * HOUR_MS, hours_ago(3), step_ms=2 * 60_000, per_batch=6)
    ticker.start()
    try:
        wait_until(lambda: a.log_lines("partitions assigned") and b.log_lines("partitions assigned"), 30,
                   "both instances to get partitions", [a, b])
        time.sleep(3)
        n = len(b.log_lines("partitions assigned"))
        a.proc.send_signal(signal.SIGSTOP)
        try:
            wait_until(lambda: len(b.log_lines("partitions assigned")) > n, 30, "b to take over a's partitions", [b])
            time.sleep(3)
        finally:
            a.proc.send_signal(signal.SIGCONT)
        time.sleep(4)
    finally:
        ticker.stop()
    wait_markers(root, topic, feed.labels(), [a, b], timeout=90)
    assert a.stop() == 0, a.log_tail()
    assert b.stop() == 0, b.log_tail()
    watcher.stop()
    early = watcher.early()
    assert not early, f"_SUCCESS appeared before these partitions completed the hour: {early}"
    tree = check_closed_output(root, topic, partitions, feed.expected, feed.labels(), verify_crc=False)
    late = sum(len(x.late.records) for x in tree.values() if x.late)
    print(f"zombie: {len(feed.expected)} records, {late} late; a: {a.log_lines('partitions assigned')[-1:]} "
          f"{len(a.log_lines('session failed'))} failed sessions")


# --------------------------------------------------------------------------------------------
# 4. An idle partition does not hold hours back


@pytest.mark.timeout(90)
def test_idle_partition_does_not_block_closing(broker, procs, tmp_path: Path):
    """Partition 2 gets records for the first two hours only; partitions 0 and 1 keep receiving
    records with an advancing event clock, so they are never idle. Later hours still finish, with
    an empty completion record for partition 2, while the watermark is the event time of the busy
    partitions (no hour ahead of what they have seen finishes: the wall clock did not stand in)."""
    partitions = 3
    topic = create_topic(broker, partitions=partitions, config={"retention.ms": -1}, prefix="idle")
    feed = Feed(broker, topic, partitions, "i", seed=4)
    base = hours_ago(40)
    feed.send(feed.span(base, base + 2 * HOUR_MS, 100))
    root = tmp_path / "out"
    agg = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, **{"buckets.idle_timeout": "2s"})
    ticker = Ticker(feed, base + 2 * HOUR_MS, hours_ago(2), step_ms=2 * 60_000, per_batch=3, partitions=[0, 1], period=0.05)
    ticker.start()
    want = {bucket_label(base + h * HOUR_MS) for h in range(3, 6)}  # hour 2 still has jittered records of partition 2
    try:
        wait_markers(root, topic, want, [agg], timeout=60)
        done = done_labels(root, topic)
        clock = ticker.clock  # read after the markers: the clock only moves forward
        assert ticker.is_alive(), "the busy partitions must still be busy when the hours finish"
    finally:
        ticker.stop()
    ahead = sorted(label for label in done if label_start(label) + HOUR_MS + DELAY_MS >= clock + JITTER_MS)
    assert not ahead, f"hours finished ahead of the busy partitions' event time {clock}: {ahead} (wall clock stood in?)"
    assert agg.stop() == 0, agg.log_tail()
    tree = read_tree(root, topic)
    for label in want:
        b = tree[label]
        check_bucket(b, topic, partitions)
        c2 = b.completions["2.json"]
        assert c2["records"] == 0 and c2["files"] == [], f"{label}: partition 2 had no records there: {c2}"
        assert b.manifest["records"] > 0
    closed = {k: v for k, v in feed.expected.items() if bucket_label(v[0]) in done}
    compare_multiset(closed_records(tree), closed, "records of the finished hours")
    print(f"idle partition: {len(done)} hours finished while partitions 0 and 1 were at {time.strftime('%H:%M', time.gmtime(clock // 1000))}")


# --------------------------------------------------------------------------------------------
# 5. Late records


@pytest.mark.timeout(90)
@pytest.mark.parametrize("policy", ["late-dir", "reopen", "drop"])
def test_late_records_follow_the_policy(broker, procs, tmp_path: Path, policy: str):
    """Hours close on event time alone (the idle timeout is an hour). After hours 1 and 2 have their
    markers, 40 records for hour 1 and 25 for hour 2 arrive, then newer records move the watermark on.
    late-dir: they appear, exactly, under `hr=../late/` with its own manifest and `_SUCCESS`, and the
    hour itself is unchanged. reopen: they become new part files of the hour with completion records
    `<p>-<first>.json`, the manifest version rises and the done-hook runs again with it. drop: they
    are nowhere. The hours before stay exact in every case."""
    partitions = 3
    topic = create_topic(broker, partitions=partitions, config={"retention.ms": -1}, prefix=f"late-{policy}")
    feed = Feed(broker, topic, partitions, "l", seed=5)
    base = hours_ago(30)
    root = tmp_path / "out"
    command, runs_path = hook_command(tmp_path)
    agg = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, **{
        "buckets.idle_timeout": "1h", "late.policy": policy, "done_hook.command": command,
    })
    feed.send(feed.span(base, base + 6 * HOUR_MS, 100))
    h = [bucket_label(base + i * HOUR_MS) for i in range(10)]
    wait_markers(root, topic, h[:4], [agg], timeout=60)
    on_time = dict(feed.expected)
    rng = random.Random(55)
    late_records = [feed.record(rng.randrange(partitions), base + 1 * HOUR_MS + rng.randrange(HOUR_MS)) for _ in range(40)]
    late_records += [feed.record(rng.randrange(partitions), base + 2 * HOUR_MS + rng.randrange(HOUR_MS)) for _ in range(25)]
    feed.send(late_records)
    late = {k: v for k, v in feed.expected.items() if k not in on_time}
    assert len(late) == 65
    feed.send(feed.span(base + 6 * HOUR_MS, base + 9 * HOUR_MS, 60))
    wait_markers(root, topic, h[:8], [agg], timeout=60)
    if policy == "late-dir":
        wait_markers(root, topic, h[1:3], [agg], timeout=60, late=True)
    elif policy == "reopen":
        wait_until(lambda: {r[1] for r in hook_runs(runs_path) if r[2] != "1"} >= set(h[1:3]), 60,
                   "the done-hook to run again for the reopened hours", [agg])
    wait_hook_runs(runs_path, root, topic, [agg])
    assert agg.stop() == 0, agg.log_tail()

    tree = read_tree(root, topic)
    for label in h[:8]:
        check_bucket(tree[label], topic, partitions)
    in_main = {k: v for k, v in feed.expected.items() if bucket_label(v[0]) in h[:8]}
    runs = hook_runs(runs_path)
    check_hook_runs(runs, topic, root)
    if policy == "late-dir":
        assert all(tree[label].late and tree[label].late.marker for label in h[1:3])
        assert not any(tree[label].late for label in h if label not in h[1:3] and label in tree)
        main_records = [r for label in h[:8] for r in tree[label].records]
        compare_multiset(main_records, {k: v for k, v in in_main.items() if k not in late}, "on-time records in the hours")
        late_out = [r for label in h[1:3] for r in tree[label].late.records]
        compare_multiset(late_out, late, "late records under late/")
        for label, count in ((h[1], 40), (h[2], 25)):
            lm = tree[label].late.manifest
            assert lm["records"] == count, f"{label}/late/_manifest.json counts {lm['records']} records, {count} were sent late"
            assert all("-" in name for name in tree[label].late.completions), "late rounds are named <p>-<first offset>.json"
            assert len(tree[label].late.completions) <= partitions, f"{label}/late: one round per partition expected"
            assert tree[label].manifest["version"] == 1
    elif policy == "reopen":
        assert not any(b.late for b in tree.values())
        compare_multiset([r for label in h[:8] for r in tree[label].records], in_main, "records in the hours, late ones included")
        for label, count in ((h[1], 40), (h[2], 25)):
            b = tree[label]
            rounds = [c for c in b.completions.values() if c["kind"] == "reopen"]
            assert sum(c["records"] for c in rounds) == count, f"{label}: reopen rounds hold {sum(c['records'] for c in rounds)}, {count} sent"
            assert b.manifest["version"] == 1 + len(rounds), f"{label}: manifest version {b.manifest['version']} after {len(rounds)} rounds"
            versions = sorted(int(r[2]) for r in runs if r[1] == label)
            assert versions[0] == 1 and versions[-1] == b.manifest["version"], f"{label}: hook versions {versions}"
    else:
        assert not any(b.late for b in tree.values())
        compare_multiset([r for label in h[:8] for r in tree[label].records],
                         {k: v for k, v in in_main.items() if k not in late}, "records in the hours, late ones dropped")
        assert all(tree[label].manifest["version"] == 1 for label in h[:8])
    if policy != "reopen":
        ran = [r[1] for r in runs]
        assert sorted(ran) == sorted(done_labels(root, topic)), "one hook run per finished hour"
    print(f"late {policy}: 65 late records; hook runs {len(runs)}")


# --------------------------------------------------------------------------------------------
# 7. Replay


@pytest.mark.timeout(90)
def test_replay_is_byte_identical(broker, procs, tmp_path: Path):
    """A live run in raw format with gzip part files, then `logflume aggregator replay` of three of
    its hours into another directory: data files, completion records and manifests are byte-identical
    and the replay writes nothing outside the range."""
    partitions = 3
    topic = create_topic(broker, partitions=partitions, config={"retention.ms": -1}, prefix="replay")
    feed = Feed(broker, topic, partitions, "p", seed=7)
    base = hours_ago(12)
    feed.send(feed.span(base, base + 5 * HOUR_MS, 250))
    root = tmp_path / "out"
    settings = {"output.format": "raw", "output.codec": "gzip", "output.max_file_bytes": "1KiB"}
    agg = aggregator(procs, tmp_path, broker, topic, f"g-{topic}", root, **settings)
    labels = feed.labels()
    wait_markers(root, topic, labels, [agg], timeout=60)
    assert agg.stop() == 0, agg.log_tail()

    # Raw lines are the values: the finished hours hold every value once.
    tree = read_tree(root, topic, fmt="raw")
    lines = sorted(line for b in tree.values() if b.marker for line in b.lines)
    assert lines == sorted(v[2] for v in feed.expected.values()), "raw lines of the finished hours != the values produced"

    frm, to = base + HOUR_MS, base + 4 * HOUR_MS
    fmt = "%Y-%m-%dT%H:%MZ"
    out = tmp_path / "replay"
    proc = subprocess.run(
        [str(logflume_binary()), "aggregator", "replay", "--config", str(agg.config_path), "--topic", topic,
         "--from", time.strftime(fmt, time.gmtime(frm // 1000)), "--to", time.strftime(fmt, time.gmtime(to // 1000)),
         "--output", str(out)],
        capture_output=True, timeout=60)
    assert proc.returncode == 0, f"replay exited {proc.returncode}\n{proc.stderr.decode(errors='replace')[-2000:]}"
    assert b"replayed 3 bucket(s)" in proc.stdout, proc.stdout
    replayed = labels_between(frm, to)
    assert sorted(str(p.parent.relative_to(out / topic)) for p in (out / topic).glob("dt=*/hr=*/_SUCCESS")) == sorted(replayed)
    for label in replayed:
        live_dir, replay_dir = root / topic / label, out / topic / label
        live = {str(p.relative_to(live_dir)): p.read_bytes() for p in live_dir.rglob("*") if p.is_file() and not p.name.startswith(".")}
        again = {str(p.relative_to(replay_dir)): p.read_bytes() for p in replay_dir.rglob("*") if p.is_file() and not p.name.startswith(".")}
        assert sorted(live) == sorted(again), f"{label}: live files {sorted(live)} vs replayed {sorted(again)}"
        differ = [name for name in live if live[name] != again[name]]
        assert not differ, f"{label}: replayed files differ from the live ones: {differ}"
        assert sum(1 for n in live if n.endswith(".log.gz")) > partitions, f"{label}: expected several part files"
    print(f"replay: {len(replayed)} hours byte-identical, {sum(len(b.data_files) for b in tree.values())} live files")
