"""Fixtures and helpers for the client-compatibility suite.

Every test talks to a real `logflume broker` process on 127.0.0.1 through real Kafka clients
(kcat, confluent-kafka, kafka-python, aiokafka) or through the few raw requests below.

- `broker`: one broker per test module, started with only `--listen` and `--data-dir`; stopped at
  the end with SIGTERM, which must exit 0 within 10 s and leave a `.clean-shutdown` marker in
  every partition directory.
- `broker_factory`: brokers of a test's own (own data directory, optional config file), for
  crash and configuration tests.

The broker's output goes to a file beside its data directory; when a test fails, the lines the
broker wrote during that test are attached to the report.

Test modules import the helpers with `from conftest import ...`.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from rawkafka import array, batch_around, build_record_batch, crc32c, i8, i16, i32, i64, string, uvarint, varint  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
TEST_TIMEOUT_S = 60
STARTUP_TIMEOUT_S = 30
SHUTDOWN_LIMIT_S = 10
CLEAN_SHUTDOWN_MARKER = ".clean-shutdown"


# --------------------------------------------------------------------------------------------
# pytest wiring


def pytest_collection_modifyitems(config, items):
    """Every test gets a pytest-timeout limit unless it names its own."""
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))


_LIVE_BROKERS: list["Broker"] = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._broker_log_marks = {id(b): b.log_size() for b in _LIVE_BROKERS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    marks = getattr(item, "_broker_log_marks", {})
    for b in list(_LIVE_BROKERS):
        text = b.log_text(since=marks.get(id(b), 0), lines=80)
        if not text:
            continue  # a broker this test did not touch
        state = "running" if b.running else f"not running (exit codes so far: {b.exit_codes})"
        report.sections.append(
            (f"broker {b.name} on {b.bootstrap}, {state}: log during this test (last 80 lines of {b.log_path})", text)
        )


@atexit.register
def _kill_leftover_brokers():
    for b in _LIVE_BROKERS:
        if b.proc is not None and b.proc.poll() is None:
            b.proc.kill()


# --------------------------------------------------------------------------------------------
# The broker process


def logflume_binary() -> Path:
    env = os.environ.get("LOGFLUME_BIN")
    return Path(env) if env else REPO / ".build" / "debug" / "logflume"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Broker:
    """One `logflume broker` process with its own data directory and port."""

    def __init__(self, workdir: Path, name: str, config: dict | None = None, args: list[str] | None = None):
        self.workdir = Path(workdir)
        self.name = name
        self.host = "127.0.0.1"
        self.port = free_port()
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "broker.log"
        self.config_path: Path | None = None
        if config:
            self.config_path = self.workdir / "broker.toml"
            self.config_path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in config.items()))
        # Extra command-line flags; "{port}" in them becomes the listen port.
        self.args = [a.replace("{port}", str(self.port)) for a in (args or [])]
        self.proc: subprocess.Popen | None = None
        self.exit_codes: list[int] = []
        self.starts = 0
        self.last_start_seconds = 0.0
        self.last_stop_seconds = 0.0

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        cmd = [str(logflume_binary()), "broker", "--listen", self.bootstrap, "--data-dir", str(self.data_dir)]
        if self.config_path is not None:
            cmd += ["--config", str(self.config_path)]
        return cmd + self.args

    # -- logs

    def log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, since: int = 0, lines: int = 60) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                data = f.read()
        except FileNotFoundError:
            return ""
        return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])

    def _note(self, text: str):
        with open(self.log_path, "ab") as f:
            f.write(f"==== [compat] {time.strftime('%H:%M:%S')} {text}\n".encode())

    # -- lifecycle

    def start(self):
        binary = logflume_binary()
        if not binary.exists():
            pytest.fail(f"{binary} does not exist: run `swift build` first (or set LOGFLUME_BIN)")
        assert not self.running, "broker already running"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        self._note(f"start #{self.starts}: {' '.join(self.command())}")
        log = open(self.log_path, "ab")
        started = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=self.workdir, start_new_session=True,
            )
        finally:
            log.close()
        if self not in _LIVE_BROKERS:
            _LIVE_BROKERS.append(self)
        self._wait_ready(started)
        self.last_start_seconds = time.monotonic() - started

    def _fail_start(self, why: str):
        if self.running:
            self.proc.kill()
            self.proc.wait()
        pytest.fail(f"broker {self.bootstrap} did not start: {why}\n--- broker log ---\n{self.log_text(lines=60)}")

    def _wait_ready(self, started: float):
        deadline = started + STARTUP_TIMEOUT_S
        # 1. The port accepts connections.
        while True:
            if self.proc.poll() is not None:
                self._fail_start(f"exited with code {self.proc.returncode} before listening")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self._fail_start(f"port {self.port} not accepting connections after {STARTUP_TIMEOUT_S} s")
                time.sleep(0.05)
        # 2. A full ApiVersions + Metadata round trip through librdkafka.
        last_error = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._fail_start(f"exited with code {self.proc.returncode} while answering the first Metadata request")
            try:
                admin = AdminClient({"bootstrap.servers": self.bootstrap, "socket.timeout.ms": 5000})
                admin.list_topics(timeout=5)
                return
            except KafkaException as e:  # noqa: PERF203
                last_error = e
                time.sleep(0.2)
        self._fail_start(f"no Metadata answer through librdkafka within {STARTUP_TIMEOUT_S} s: {last_error}")

    def stop(self, check: bool = True) -> float:
        """SIGTERM; must exit 0 within 10 s and leave clean-shutdown markers. Returns the seconds taken."""
        assert self.proc is not None, "broker was never started"
        if self.proc.poll() is not None:
            if check:
                pytest.fail(f"broker {self.bootstrap} had already exited with code {self.proc.returncode}\n{self.log_text()}")
            return 0.0
        self.sigterm()
        return self.wait_stopped(check)

    def sigterm(self):
        """Sends SIGTERM without waiting; wait_stopped() checks the outcome."""
        self._note("SIGTERM")
        self._sigterm_at = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)

    def wait_stopped(self, check: bool = True) -> float:
        started = self._sigterm_at
        try:
            code = self.proc.wait(timeout=max(0.0, started + SHUTDOWN_LIMIT_S - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
            self.exit_codes.append(code)
            self._note(f"did not exit within {SHUTDOWN_LIMIT_S} s of SIGTERM; killed")
            if check:
                pytest.fail(f"broker did not exit within {SHUTDOWN_LIMIT_S} s of SIGTERM\n{self.log_text()}")
            return float(SHUTDOWN_LIMIT_S)
        self.last_stop_seconds = time.monotonic() - started
        self.exit_codes.append(code)
        self._note(f"exited with {code} after {self.last_stop_seconds:.2f} s")
        if check:
            assert code == 0, f"broker exited with code {code} after SIGTERM\n{self.log_text()}"
            missing = [d.name for d in self.partition_dirs() if not (d / CLEAN_SHUTDOWN_MARKER).exists()]
            assert not missing, f"partition directories without {CLEAN_SHUTDOWN_MARKER} after SIGTERM: {missing}\n{self.log_text()}"
        return self.last_stop_seconds

    def kill9(self):
        assert self.running, "broker is not running"
        self._note("SIGKILL")
        self.proc.send_signal(signal.SIGKILL)
        self.exit_codes.append(self.proc.wait())

    def restart(self):
        """Stops the broker (SIGTERM, checked) if it runs, then starts it on the same port and data directory."""
        if self.running:
            self.stop()
        self.start()

    def close(self):
        """Fixture teardown: a running broker must stop cleanly."""
        if self.running:
            self.stop(check=True)

    def partition_dirs(self) -> list[Path]:
        """`<topic>-<partition>` directories holding segments."""
        if not self.data_dir.exists():
            return []
        return sorted(
            d for d in self.data_dir.iterdir()
            if d.is_dir() and re.fullmatch(r".+-\d+", d.name) and any(d.glob("*.log"))
        )

    def partition_dir(self, topic: str, partition: int) -> Path:
        return self.data_dir / f"{topic}-{partition}"


@pytest.fixture(scope="module")
def broker(tmp_path_factory, request):
    """A broker shared by one test module, started with only --listen and --data-dir."""
    b = Broker(tmp_path_factory.mktemp("broker"), name=request.module.__name__.rsplit(".", 1)[-1])
    b.start()
    yield b
    b.close()


@pytest.fixture
def broker_factory(tmp_path_factory, request):
    """Makes brokers owned by one test: broker_factory(config={...}, args=[...], start=True)."""
    made: list[Broker] = []

    def make(config: dict | None = None, args: list[str] | None = None, start: bool = True) -> Broker:
        b = Broker(tmp_path_factory.mktemp("broker"), name=f"{request.node.name}#{len(made) + 1}", config=config, args=args)
        made.append(b)
        if start:
            b.start()
        return b

    yield make
    for b in made:
        b.close()


# --------------------------------------------------------------------------------------------
# Topics


def new_topic_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def admin_client(b: Broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": b.bootstrap, "socket.timeout.ms": 10000})


def create_topic(b: Broker, name: str | None = None, partitions: int = 1, config: dict | None = None,
                 prefix: str = "t") -> str:
    name = name or new_topic_name(prefix)
    admin = admin_client(b)  # the futures fail with _DESTROY if the client goes away first
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1, config={k: str(v) for k, v in (config or {}).items()})],
        operation_timeout=10, request_timeout=20,
    )
    futures[name].result(timeout=30)
    wait_for_topic(b, name, partitions)
    return name


def wait_for_topic(b: Broker, name: str, partitions: int, timeout: float = 10.0):
    """Waits until metadata shows the topic with every partition led by a broker."""
    admin = admin_client(b)
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        md = admin.list_topics(topic=name, timeout=5)
        t = md.topics.get(name)
        last = t
        if t is not None and t.error is None and len(t.partitions) == partitions and all(
            p.leader >= 0 and p.error is None for p in t.partitions.values()
        ):
            return
        time.sleep(0.1)
    raise AssertionError(f"topic {name} not ready with {partitions} partitions after {timeout} s: {last and (last.error, last.partitions)}")


def describe_topic_configs(b: Broker, topic: str) -> dict:
    """DescribeConfigs for one topic: {name: ConfigEntry}."""
    res = ConfigResource(ResourceType.TOPIC, topic)
    admin = admin_client(b)
    return admin.describe_configs([res], request_timeout=15)[res].result(timeout=20)


def topic_names(b: Broker) -> set[str]:
    return set(admin_client(b).list_topics(timeout=10).topics)


def watermarks(b: Broker, topic: str, partition: int = 0) -> tuple[int, int]:
    c = Consumer(consumer_conf(b))
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


def wait_for_high_watermark(b: Broker, topic: str, partition: int, expected: int, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    high = None
    while time.monotonic() < deadline:
        _, high = watermarks(b, topic, partition)
        if high >= expected:
            return high
        time.sleep(0.1)
    raise AssertionError(f"{topic}[{partition}] high watermark {high}, expected {expected} within {timeout} s")


# --------------------------------------------------------------------------------------------
# Records: what we send and what we expect back


@dataclass(frozen=True)
class Rec:
    """A record as read back; `log_append_time` tells the timestamp type."""
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    timestamp: int
    log_append_time: bool = False

    def brief(self) -> str:
        def cut(b):
            return None if b is None else (b[:40] + (b"..." if len(b) > 40 else b""))
        return (f"p{self.partition}@{self.offset} key={cut(self.key)!r} value={cut(self.value)!r} "
                f"({None if self.value is None else len(self.value)} B) headers={self.headers!r} "
                f"ts={self.timestamp}{' (LogAppendTime)' if self.log_append_time else ''}")


def now_ms() -> int:
    return int(time.time() * 1000)


def sample_records(n: int, partitions: int = 2, base_ts: int | None = None, tag: str = "",
                   null_header_values: bool = True) -> list[dict]:
    """n records spread over partitions, with every shape a record can take.

    Each dict has partition, key, value, headers (tuple of (str, bytes|None)) and timestamp.
    Timestamps are mostly increasing with some going backwards, as producers' clocks do.
    """
    base_ts = base_ts if base_ts is not None else now_ms() - 120_000
    out = []
    for i in range(n):
        key: bytes | None = f"key-{tag}{i}".encode()
        if i % 7 == 3:
            key = None
        elif i % 9 == 4:
            key = bytes([i % 256, 0, 255, 10, 13]) + b"binary-key"
        if i % 11 == 5:
            value = None
        elif i % 13 == 6:
            value = b""
        elif i % 17 == 8:
            value = bytes(range(256)) * 4
        elif i % 19 == 9:
            value = ("ünïcødé-" + tag + str(i) + " ✓").encode()
        else:
            value = f"value-{tag}{i:06d}-".encode() + b"x" * (i % 50)
        if value is None and key is None:
            key = b"key-of-a-tombstone"
        h = i % 5
        if h == 0:
            headers: tuple = ()
        elif h == 1:
            headers = (("index", str(i).encode()),)
        elif h == 2:
            headers = (("dup", b"first"), ("dup", b"second"), ("empty", b""))
        elif h == 3:
            headers = (("utf8-ключ", "значение".encode()), ("bin", bytes([0, 1, 2, 255])))
        else:
            headers = (("null-value", None if null_header_values else b"not-null"), ("after", b"x"))
        ts = base_ts + i * 7
        if i % 10 == 9:
            ts = base_ts - 1000 - i
        out.append({"partition": i % partitions, "key": key, "value": value, "headers": headers, "timestamp": ts})
    return out


def expected_records(records: list[dict], first_offsets: dict[int, int] | None = None) -> list[Rec]:
    """What a log that received `records` in order holds: offsets follow produce order per partition."""
    next_offset = dict(first_offsets or {})
    out = []
    for r in records:
        p = r["partition"]
        o = next_offset.get(p, 0)
        next_offset[p] = o + 1
        out.append(Rec(p, o, r["key"], r["value"], tuple(r["headers"]), r["timestamp"]))
    return sorted(out, key=lambda r: (r.partition, r.offset))


def end_offsets_of(records: Iterable[Rec]) -> dict[int, int]:
    ends: dict[int, int] = {}
    for r in records:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    return ends


def assert_records_equal(actual: list[Rec], expected: list[Rec], what: str = "records"):
    actual = sorted(actual, key=lambda r: (r.partition, r.offset))
    expected = sorted(expected, key=lambda r: (r.partition, r.offset))
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a != e:
            fields = [f for f in ("partition", "offset", "key", "value", "headers", "timestamp", "log_append_time")
                      if getattr(a, f) != getattr(e, f)]
            raise AssertionError(
                f"{what}: record #{i} differs in {', '.join(fields)}\n"
                f"  expected {e.brief()}\n  actual   {a.brief()}\n"
                + "".join(f"  {f}: expected {getattr(e, f)!r}\n          actual   {getattr(a, f)!r}\n" for f in fields
                          if f not in ("value",) or (a.value is not None and e.value is not None and len(a.value) < 300))
            )
    if len(actual) != len(expected):
        extra = actual[len(expected):] if len(actual) > len(expected) else expected[len(actual):]
        raise AssertionError(
            f"{what}: got {len(actual)} records, expected {len(expected)}; first "
            f"{'unexpected' if len(actual) > len(expected) else 'missing'}: {extra[0].brief()}"
        )


# --------------------------------------------------------------------------------------------
# confluent-kafka (librdkafka)


def producer_conf(b: Broker, **extra) -> dict:
    conf = {"bootstrap.servers": b.bootstrap, "linger.ms": 5, "message.timeout.ms": 20000}
    conf.update(extra)
    return conf


def consumer_conf(b: Broker, **extra) -> dict:
    # librdkafka wants a group.id even for assign(); nothing is ever committed.
    conf = {
        "bootstrap.servers": b.bootstrap,
        "group.id": f"logflume-compat-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
        "socket.timeout.ms": 10000,
    }
    conf.update(extra)
    return conf


def produce_confluent(b: Broker, topic: str, records: list[dict], **conf) -> list:
    """Produces in order and flushes; returns the delivered messages (delivery reports) in record order.

    Raises with the first delivery error."""
    p = Producer(producer_conf(b, **conf))
    reports: list = [None] * len(records)
    errors: list = []

    def on_delivery(index):
        def cb(err, msg):
            if err is not None:
                errors.append((index, err))
            reports[index] = msg
        return cb

    for i, r in enumerate(records):
        kwargs = dict(value=r["value"], key=r["key"], on_delivery=on_delivery(i))
        if r.get("partition") is not None:
            kwargs["partition"] = r["partition"]
        if r.get("timestamp") is not None:
            kwargs["timestamp"] = r["timestamp"]
        if r.get("headers"):
            kwargs["headers"] = list(r["headers"])
        while True:
            try:
                p.produce(topic, **kwargs)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    remaining = p.flush(30)
    assert remaining == 0, f"{remaining} messages still undelivered after flush(30)"
    if errors:
        i, err = errors[0]
        raise AssertionError(f"{len(errors)} delivery errors; first for record #{i}: {err.name()} ({err.code()}): {err.str()}")
    return reports


def rec_from_confluent(msg) -> Rec:
    ts_type, ts = msg.timestamp()
    return Rec(msg.partition(), msg.offset(), msg.key(), msg.value(), tuple(msg.headers() or ()), ts,
               ts_type == TIMESTAMP_LOG_APPEND_TIME)


def consume_confluent(b: Broker, topic: str, start: dict[int, int], end: dict[int, int] | None = None,
                      timeout: float = 20.0, **conf) -> list[Rec]:
    """Reads partitions from `start` offsets up to `end` (exclusive) or, without `end`, to end of log."""
    c = Consumer(consumer_conf(b, **conf))
    out: list[Rec] = []
    other_errors: list[str] = []
    try:
        c.assign([TopicPartition(topic, p, o) for p, o in start.items()])
        position = dict(start)
        done = {p for p in start if end is not None and position[p] >= end.get(p, 0)}
        deadline = time.monotonic() + timeout
        while len(done) < len(start):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"consuming {topic}: timed out after {timeout} s at positions {position} (want {end or 'end of log'}); "
                    f"{len(out)} records read; client errors: {other_errors[-5:]}")
            msg = c.poll(0.2)
            if msg is None:
                continue
            if msg.error():
                err = msg.error()
                if err.code() == KafkaError._PARTITION_EOF:
                    if end is None:
                        done.add(msg.partition())
                    continue
                if msg.topic() == topic or err.fatal():
                    raise AssertionError(f"consume error on {msg.topic()}[{msg.partition()}]: {err.name()} ({err.code()}): {err.str()}")
                other_errors.append(f"{err.name()}: {err.str()}")
                continue
            r = rec_from_confluent(msg)
            if end is not None and r.offset >= end.get(r.partition, 0):
                done.add(r.partition)
                continue
            out.append(r)
            position[r.partition] = r.offset + 1
            if end is not None and position[r.partition] >= end.get(r.partition, 0):
                done.add(r.partition)
    finally:
        c.close()
    return sorted(out, key=lambda r: (r.partition, r.offset))


def read_all_confluent(b: Broker, topic: str, partitions: Iterable[int] = (0,), timeout: float = 20.0) -> list[Rec]:
    return consume_confluent(b, topic, {p: OFFSET_BEGINNING for p in partitions}, None, timeout)


# --------------------------------------------------------------------------------------------
# kcat


KCAT_FORMAT = r"%p\t%o\t%T\t%K\t%S\t%h\t%k%s\n"


def kcat(b: Broker, *args: str, input: bytes | None = None, timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["kcat", "-b", b.bootstrap, "-m", "10", *args]
    proc = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {proc.returncode}\nstderr: {proc.stderr.decode(errors='replace')[-3000:]}")
    return proc


def parse_kcat_headers(text: str) -> tuple:
    if not text:
        return ()
    out = []
    for item in text.split(","):
        name, _, value = item.partition("=")
        out.append((name, value.encode()))
    return tuple(out)


def parse_kcat_records(data: bytes) -> list[Rec]:
    """Parses output of KCAT_FORMAT: six tab-separated fields, then key and value by their lengths."""
    out = []
    pos = 0
    while pos < len(data):
        fields = []
        for _ in range(6):
            tab = data.index(b"\t", pos)
            fields.append(data[pos:tab])
            pos = tab + 1
        p, o, ts, klen, vlen = (int(f) for f in fields[:5])
        key = None
        if klen >= 0:
            key = data[pos:pos + klen]
            pos += klen
        value = None
        if vlen >= 0:
            value = data[pos:pos + vlen]
            pos += vlen
        assert data[pos:pos + 1] == b"\n", f"kcat output out of step at byte {pos}: {data[pos - 40:pos + 40]!r}"
        pos += 1
        out.append(Rec(p, o, key, value, parse_kcat_headers(fields[5].decode()), ts))
    return out


def kcat_consume(b: Broker, topic: str, partition: int = 0, offset: str = "beginning",
                 count: int | None = None, extra: Iterable[str] = ()) -> list[Rec]:
    args = ["-C", "-t", topic, "-p", str(partition), "-o", offset, "-e", "-q", "-f", KCAT_FORMAT, *extra]
    if count is not None:
        args += ["-c", str(count)]
    return parse_kcat_records(kcat(b, *args).stdout)


# --------------------------------------------------------------------------------------------
# Raw Kafka protocol (non-flexible versions), for error codes no client surfaces as such


def compact_string(s: str) -> bytes:
    b = s.encode()
    return uvarint(len(b) + 1) + b


class Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), f"response truncated: want {n} bytes at {self.pos} of {len(self.data)}"
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def i8(self): return struct.unpack(">b", self.take(1))[0]
    def i16(self): return struct.unpack(">h", self.take(2))[0]
    def i32(self): return struct.unpack(">i", self.take(4))[0]
    def i64(self): return struct.unpack(">q", self.take(8))[0]

    def string(self):
        n = self.i16()
        return None if n < 0 else self.take(n).decode()

    def array(self, decode):
        n = self.i32()
        return [] if n < 0 else [decode(self) for _ in range(n)]

    def uvarint(self):
        shift = result = 0
        while True:
            byte = self.take(1)[0]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7

    def compact_array(self, decode):
        n = self.uvarint() - 1
        return [] if n < 0 else [decode(self) for _ in range(n)]

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())

    @property
    def remaining(self):
        return len(self.data) - self.pos


class KafkaWire:
    """One connection speaking raw Kafka requests. Header v1 unless `flexible_header`."""

    def __init__(self, b: Broker, client_id: str = "logflume-compat"):
        self.sock = socket.create_connection((b.host, b.port), timeout=15)
        self.client_id = client_id
        self.correlation_id = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, api_key: int, version: int, body: bytes, flexible_header: bool = False) -> int:
        self.correlation_id += 1
        header = i16(api_key) + i16(version) + i32(self.correlation_id) + string(self.client_id)
        if flexible_header:
            header += uvarint(0)  # no tagged fields
        frame = header + body
        self.sock.sendall(i32(len(frame)) + frame)
        return self.correlation_id

    def receive(self, correlation_id: int) -> Reader:
        size = struct.unpack(">i", self._read_exactly(4))[0]
        r = Reader(self._read_exactly(size))
        got = r.i32()
        assert got == correlation_id, f"response correlation id {got}, expected {correlation_id}"
        return r

    def request(self, api_key: int, version: int, body: bytes, flexible_header: bool = False) -> Reader:
        """Response header v0 (correlation id only) is consumed; the reader is at the body."""
        return self.receive(self.send(api_key, version, body, flexible_header))

    def _read_exactly(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError(f"broker closed the connection after {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)


API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA = 0, 1, 2, 3
API_VERSIONS, API_CREATE_TOPICS, API_DELETE_TOPICS, API_INIT_PRODUCER_ID, API_DESCRIBE_CONFIGS = 18, 19, 20, 22, 32


def raw_produce(b: Broker, topic: str, partition: int, batch: bytes, acks: int = 1, version: int = 3,
                timeout_ms: int = 10000) -> dict:
    """Produce v3+; returns {error_code, base_offset, log_append_time} for the one partition."""
    body = string(None) + i16(acks) + i32(timeout_ms) + array(
        [topic], lambda t: string(t) + array([partition], lambda p: i32(p) + i32(len(batch)) + batch))
    with KafkaWire(b) as w:
        r = w.request(API_PRODUCE, version, body)
        topics = r.array(lambda r: (r.string(), r.array(lambda r: {
            "partition": r.i32(), "error_code": r.i16(), "base_offset": r.i64(), "log_append_time": r.i64(),
            **({"log_start_offset": r.i64()} if version >= 5 else {}),
        })))
    assert len(topics) == 1 and len(topics[0][1]) == 1, f"unexpected Produce response shape: {topics}"
    return topics[0][1][0]


def fetch_v4_body(topic: str, partition: int, offset: int, max_wait_ms: int, min_bytes: int = 1,
                  max_bytes: int = 1 << 20) -> bytes:
    return (i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
            + array([topic], lambda t: string(t) + array([partition], lambda p: i32(p) + i64(offset) + i32(max_bytes))))


def read_fetch_v4_response(r: Reader) -> list[tuple[int, int, int, bytes]]:
    """[(partition, error_code, high_watermark, records)] of the one topic."""
    r.i32()  # throttle
    out = []
    for _topic, parts in r.array(lambda r: (r.string(), r.array(lambda r: (
            r.i32(), r.i16(), r.i64(), r.i64(), r.array(lambda r: (r.i64(), r.i64())), r.take(max(0, r.i32())))))):
        out += [(p, err, hw, records) for p, err, hw, _lso, _aborted, records in parts]
    return out


def raw_api_versions(b: Broker, version: int = 0) -> tuple[int, dict[int, tuple[int, int]]]:
    with KafkaWire(b) as w:
        r = w.request(API_VERSIONS, version, b"")
        error = r.i16()
        apis = {k: (lo, hi) for k, lo, hi in r.array(lambda r: (r.i16(), r.i16(), r.i16()))}
    return error, apis


def raw_metadata_v4(b: Broker, topics: list[str] | None, allow_auto_topic_creation: bool) -> dict:
    """Metadata v4; returns {topic: (error_code, [(partition, error, leader, replicas, isr)])} and brokers."""
    body = (i32(-1) if topics is None else array(topics, string)) + i8(1 if allow_auto_topic_creation else 0)
    with KafkaWire(b) as w:
        r = w.request(API_METADATA, 4, body)
        r.i32()  # throttle
        brokers = r.array(lambda r: (r.i32(), r.string(), r.i32(), r.string()))
        r.string()  # cluster id
        r.i32()  # controller
        result = {}
        partition = lambda r: (r.i16(), r.i32(), r.i32(), r.array(Reader.i32), r.array(Reader.i32))  # noqa: E731
        for error, name, _internal, parts in r.array(lambda r: (r.i16(), r.string(), r.i8(), r.array(partition))):
            result[name] = (error, [(p, e, leader, replicas, isr) for e, p, leader, replicas, isr in parts])
    return {"brokers": brokers, "topics": result}


def raw_list_offsets_v1(b: Broker, topic: str, partition: int, timestamp: int) -> tuple[int, int, int]:
    """ListOffsets v1; returns (error_code, timestamp, offset)."""
    body = i32(-1) + array([topic], lambda t: string(t) + array([partition], lambda p: i32(p) + i64(timestamp)))
    with KafkaWire(b) as w:
        r = w.request(API_LIST_OFFSETS, 1, body)
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    (_, parts), = topics
    (_, error, ts, offset), = parts
    return error, ts, offset


# --------------------------------------------------------------------------------------------
# Segment files as the broker stored them (Kafka's on-disk layout, see README "The partition log")


@dataclass
class StoredBatch:
    segment: str
    position: int
    base_offset: int
    batch_length: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int
    crc_ok: bool

    @property
    def codec(self) -> int:
        return self.attributes & 0x7

    @property
    def log_append_time(self) -> bool:
        return bool(self.attributes & 0x8)


CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def stored_batches(b: Broker, topic: str, partition: int, verify_crc: bool = True) -> list[StoredBatch]:
    out = []
    for seg in sorted(b.partition_dir(topic, partition).glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 12 <= len(data):
            base_offset, length = struct.unpack_from(">qi", data, pos)
            if length <= 0 or pos + 12 + length > len(data):
                break
            (_epoch, magic, crc, attributes, last_delta, base_ts, max_ts, pid, pepoch, base_seq, count) = struct.unpack_from(
                ">ibIhiqqqhii", data, pos + 12)
            crc_ok = crc32c(data[pos + 21:pos + 12 + length]) == crc if verify_crc else True
            out.append(StoredBatch(seg.name, pos, base_offset, length, magic, crc, attributes, last_delta, base_ts, max_ts,
                                   pid, pepoch, base_seq, count, crc_ok))
            pos += 12 + length
    return out


# --------------------------------------------------------------------------------------------
# Small utilities


def with_offsets(records: list[dict], reports: list) -> list[Rec]:
    """Expected records placed at the offsets their delivery reports gave."""
    return [Rec(m.partition(), m.offset(), r["key"], r["value"], tuple(r["headers"]), r["timestamp"])
            for r, m in zip(records, reports)]


