"""The `logflume aggregator` as a child process, and its output read back, for tests that kill,
restart and rebalance it (see docs/aggregator.md for the layout and the guarantees).

- `AggregatorProcess`: one instance with a generated config file, its own log file; `start`,
  `kill9`, `stop` (SIGTERM, must exit 0), `wait_until` (fails as soon as the process died).
- `read_tree` / `read_bucket`: every bucket directory of a topic with its marker, manifest,
  completion records and decompressed data files (gzip, zstd or none; jsonl or raw).
- `check_bucket`: the manifest and completion records agree with the files on disk (names, record
  counts, offset ranges, event-time ranges, sizes, CRC-32C) and every record lies in the bucket.
- `bucket_label` / `bucket_bounds`: the directory a UTC event time belongs to.
"""

from __future__ import annotations

import base64
import calendar
import gzip
import json
import signal
import subprocess
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import zstandard
from conftest import crc32c, logflume_binary, toml_value

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
DAY_MS = 86_400_000
GRANULARITY_MS = {"hour": HOUR_MS, "minute": MINUTE_MS, "day": DAY_MS}

# Keys written before any [table] in the config file.
TOP_LEVEL_KEYS = {"tick_interval", "log_level"}

_LIVE: list["AggregatorProcess"] = []


def kill_leftovers():
    """SIGKILLs every aggregator a test left running (called from fixture teardown)."""
    for agg in list(_LIVE):
        agg.close()


# --------------------------------------------------------------------------------------------
# The process


class AggregatorProcess:
    """One `logflume aggregator` instance; `settings` uses dotted keys of conf/aggregator.toml
    (`"buckets.delay": "15m"`), plus the top-level `tick_interval` and `log_level`."""

    def __init__(self, workdir: Path, bootstrap: str, topics: list[str], group: str, root: Path,
                 name: str = "agg", **settings):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.root = Path(root)
        self.config_path = self.workdir / f"{name}.toml"
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.kills = 0
        self.kill_times: list[float] = []  # wall clock (time.time()) of each SIGKILL
        self.start_times: list[float] = []  # wall clock of each start
        self.exit_codes: list[int] = []
        values = {
            "tick_interval": "100ms",
            "kafka.bootstrap_servers": bootstrap,
            "kafka.topics": list(topics),
            "kafka.group_id": group,
            "kafka.session_timeout": "2s",
            "output.root": str(self.root),
        }
        values.update(settings)
        self.settings = values
        self.config_path.write_text(render_config(values))

    # -- lifecycle

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        assert not self.running, f"{self.name} already running"
        binary = logflume_binary()
        assert binary.exists(), f"{binary} does not exist: build it first (or set LOGFLUME_BIN)"
        self.starts += 1
        self.start_times.append(time.time())
        self._note(f"start #{self.starts}")
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(binary), "aggregator", "--config", str(self.config_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True,
            )
        finally:
            log.close()
        if self not in _LIVE:
            _LIVE.append(self)

    def kill9(self):
        assert self.running, f"{self.name} is not running (exit code {self.proc and self.proc.returncode})\n{self.log_tail()}"
        self.kill_times.append(time.time())
        self.proc.send_signal(signal.SIGKILL)
        self.exit_codes.append(self.proc.wait())
        self.kills += 1
        self._note("SIGKILL")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM and wait; returns the exit code (callers assert 0)."""
        if not self.running:
            return self.proc.returncode if self.proc else 0
        self._note("SIGTERM")
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._note(f"no exit within {timeout} s of SIGTERM; killed")
            raise AssertionError(f"{self.name} did not exit within {timeout} s of SIGTERM\n{self.log_tail()}")
        self.exit_codes.append(code)
        self._note(f"exited with {code}")
        return code

    def close(self):
        if self.running:
            self.proc.kill()
            self.proc.wait()
        if self in _LIVE:
            _LIVE.remove(self)

    def check_alive(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with code {self.proc.returncode}\n{self.log_tail()}")

    # -- logs

    def _note(self, text: str):
        with open(self.log_path, "ab") as f:
            f.write(f"==== [test] {time.strftime('%H:%M:%S')} {self.name} {text}\n".encode())

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return f"--- {self.log_path} (last {lines} lines) ---\n" + "\n".join(self.log_text().splitlines()[-lines:])

    def log_lines(self, needle: str) -> list[str]:
        return [line for line in self.log_text().splitlines() if needle in line]


def render_config(values: dict) -> str:
    top = [f"{k} = {_toml(v)}" for k, v in values.items() if k in TOP_LEVEL_KEYS]
    tables: dict[str, list[str]] = {}
    for key, value in values.items():
        if key in TOP_LEVEL_KEYS:
            continue
        table, _, name = key.partition(".")
        assert name, f"config key {key!r} needs a table, e.g. buckets.delay"
        tables.setdefault(table, []).append(f"{name} = {_toml(value)}")
    out = top[:]
    for table, lines in tables.items():
        out += ["", f"[{table}]", *lines]
    return "\n".join(out) + "\n"


def _toml(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return toml_value(value)


def wait_until(predicate, timeout: float, what: str, procs: list[AggregatorProcess] = (), interval: float = 0.1):
    """Polls `predicate` until it returns something truthy (returned); fails when a process in
    `procs` dies or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        for p in procs:
            p.check_alive()
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            tails = "\n".join(p.log_tail() for p in procs)
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tails}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Buckets: names


def bucket_bounds(ts_ms: int, granularity: str = "hour") -> tuple[int, int]:
    width = GRANULARITY_MS[granularity]
    start = ts_ms - ts_ms % width
    return start, start + width


def bucket_label(ts_ms: int, granularity: str = "hour") -> str:
    """`dt=YYYY-MM-DD/hr=HH[/min=MM]` of a UTC event time (ms)."""
    t = time.gmtime(ts_ms // 1000)
    label = f"dt={t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
    if granularity in ("hour", "minute"):
        label += f"/hr={t.tm_hour:02d}"
    if granularity == "minute":
        label += f"/min={t.tm_min:02d}"
    return label


def label_start(label: str) -> int:
    """The UTC start (ms) of a bucket label."""
    parts = dict(p.split("=", 1) for p in label.split("/"))
    y, m, d = (int(x) for x in parts["dt"].split("-"))
    return calendar.timegm((y, m, d, int(parts.get("hr", 0)), int(parts.get("min", 0)), 0)) * 1000


def labels_between(start_ms: int, end_ms: int, granularity: str = "hour") -> list[str]:
    """Labels of every bucket overlapping [start_ms, end_ms)."""
    width = GRANULARITY_MS[granularity]
    t = start_ms - start_ms % width
    out = []
    while t < end_ms:
        out.append(bucket_label(t, granularity))
        t += width
    return out


# --------------------------------------------------------------------------------------------
# Buckets: contents


@dataclass(frozen=True)
class OutRecord:
    """One line of a data file, parsed (jsonl) or as the value (raw)."""
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple
    file: str

    @property
    def identity(self) -> tuple:
        return (self.partition, self.offset)


@dataclass
class BucketDir:
    path: Path
    label: str                      # dt=.../hr=... (same for a late/ directory)
    kind: str                       # "main" or "late"
    marker: bool
    manifest: dict | None
    completions: dict[str, dict]    # file name in _partitions/ -> completion record
    data_files: dict[str, bytes]    # visible data file name -> raw bytes on disk
    hidden: list[str]               # names starting with "." (staging leftovers)
    late: "BucketDir | None" = None
    records: list[OutRecord] = field(default_factory=list)
    lines: list[bytes] = field(default_factory=list)  # raw format: the lines


def decompress(name: str, data: bytes) -> bytes:
    if name.endswith(".gz"):
        # Standard gzip: one complete member per compressed chunk, back to back (RFC 1952 2.2),
        # which gzip -d, Hadoop and Spark read as one stream (docs/aggregator.md).
        out, rest, members = b"", data, 0
        while rest or members == 0:
            d = zlib.decompressobj(wbits=31)
            out += d.decompress(rest) + d.flush()
            assert d.eof, f"{name}: gzip member {members} does not end"
            rest, members = d.unused_data, members + 1
        assert gzip.decompress(data) == out
        return out
    if name.endswith(".zst"):
        # One complete frame per compressed chunk; zstd -d reads the frames as one stream.
        with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as r:
            out = r.read()
        assert subprocess.run(["zstd", "-d", "-c", "-q"], input=data, capture_output=True, check=True).stdout == out, name
        return out
    return data


def _bytes_field(obj: dict, name: str) -> bytes | None:
    if name + "_base64" in obj:
        return base64.b64decode(obj[name + "_base64"])
    v = obj.get(name)
    return None if v is None else v.encode("utf-8")


def parse_jsonl(data: bytes, file: str) -> list[OutRecord]:
    out = []
    assert data == b"" or data.endswith(b"\n"), f"{file}: last line has no newline"
    for line in data.split(b"\n")[:-1] if data else []:
        obj = json.loads(line)
        headers = tuple((h["key"], _bytes_field(h, "value")) for h in obj["headers"])
        out.append(OutRecord(obj["partition"], obj["offset"], obj["timestamp"], _bytes_field(obj, "key"),
                             _bytes_field(obj, "value"), headers, file))
    return out


def read_bucket(path: Path, label: str, kind: str = "main", fmt: str = "jsonl") -> BucketDir:
    marker = (path / "_SUCCESS").exists()
    manifest = None
    if (path / "_manifest.json").exists():
        manifest = json.loads((path / "_manifest.json").read_text())
    completions = {}
    cdir = path / "_partitions"
    if cdir.is_dir():
        for f in sorted(cdir.iterdir()):
            if f.name.endswith(".json") and not f.name.startswith("."):
                completions[f.name] = json.loads(f.read_text())
    data_files, hidden = {}, []
    for f in sorted(path.iterdir()):
        if f.name.startswith("."):
            hidden.append(f.name)
        elif f.is_file() and not f.name.startswith("_"):
            data_files[f.name] = f.read_bytes()
    b = BucketDir(path, label, kind, marker, manifest, completions, data_files, hidden)
    for name, raw in data_files.items():
        plain = decompress(name, raw)
        if fmt == "jsonl":
            b.records += parse_jsonl(plain, name)
        else:
            b.lines += plain.split(b"\n")[:-1]
    if kind == "main" and (path / "late").is_dir():
        b.late = read_bucket(path / "late", label, "late", fmt)
    return b


def read_tree(root: Path, topic: str, fmt: str = "jsonl") -> dict[str, BucketDir]:
    """Every bucket directory of a topic under the output root, by label."""
    base = Path(root) / topic
    out: dict[str, BucketDir] = {}
    if not base.is_dir():
        return out
    for marker_dir in sorted(base.glob("dt=*")):
        for d in [marker_dir, *sorted(marker_dir.glob("hr=*")), *sorted(marker_dir.glob("hr=*/min=*"))]:
            label = str(d.relative_to(base))
            # A bucket directory is the deepest level that holds something other than subdirectories.
            if any(c.is_file() or c.name in ("_partitions", "late") for c in d.iterdir()):
                out[label] = read_bucket(d, label, "main", fmt)
    return out


def done_labels(root: Path, topic: str) -> set[str]:
    """Labels of buckets with `_SUCCESS` (cheap: no data is read)."""
    base = Path(root) / topic
    if not base.is_dir():
        return set()
    return {str(p.parent.relative_to(base)) for p in base.glob("dt=*/**/_SUCCESS") if p.parent.name != "late"}


def late_done_labels(root: Path, topic: str) -> set[str]:
    base = Path(root) / topic
    if not base.is_dir():
        return set()
    return {str(p.parent.parent.relative_to(base)) for p in base.glob("dt=*/**/late/_SUCCESS")}


def unfinished_late(root: Path, topic: str) -> list[str]:
    """`late/` directories that hold data or completion records but no `_SUCCESS` yet."""
    base = Path(root) / topic
    if not base.is_dir():
        return []
    out = []
    for d in base.glob("dt=*/**/late"):
        if not (d / "_SUCCESS").exists() and any(not c.name.startswith(".") for c in d.iterdir()):
            out.append(str(d.parent.relative_to(base)))
    return sorted(out)


def wait_markers(root: Path, topic: str, labels, procs: list[AggregatorProcess], timeout: float = 60,
                 late: bool = False) -> set[str]:
    want = set(labels)
    get = late_done_labels if late else done_labels
    wait_until(lambda: want <= get(root, topic), timeout,
               f"{'late ' if late else ''}markers of {sorted(want)[:3]}... ({len(want)}); "
               f"missing {sorted(want - get(root, topic))[:5]}", procs, interval=0.2)
    return get(root, topic)


# --------------------------------------------------------------------------------------------
# Checks


def check_bucket(b: BucketDir, topic: str, partitions: int, granularity: str = "hour", verify_crc: bool = True):
    """A finished bucket (or late round directory): manifest, completions and files agree, and every
    record's event time lies in the bucket. Raises AssertionError naming the bucket."""
    where = f"{topic}/{b.label}{'/late' if b.kind == 'late' else ''}"
    assert b.marker, f"{where}: no _SUCCESS"
    assert b.manifest is not None, f"{where}: _SUCCESS without _manifest.json"
    start = label_start(b.label)
    width = GRANULARITY_MS[granularity]
    m = b.manifest
    assert m["topic"] == topic and m["bucket"] == b.label, f"{where}: manifest names {m['topic']}/{m['bucket']}"
    # Completions: one main per partition (main dir), each naming files that exist.
    if b.kind == "main":
        mains = {c["partition"] for c in b.completions.values() if c["kind"] == "main"}
        assert mains == set(range(partitions)), f"{where}: marker present but main completions only for partitions {sorted(mains)}"
    completion_files = [f for c in b.completions.values() for f in c["files"]]
    manifest_files = {f["name"]: f for f in m["files"]}
    assert sorted(f["name"] for f in completion_files) == sorted(manifest_files), \
        f"{where}: manifest files {sorted(manifest_files)} != completion files {sorted(f['name'] for f in completion_files)}"
    assert set(manifest_files) == set(b.data_files), \
        f"{where}: data files on disk {sorted(b.data_files)} != manifest {sorted(manifest_files)}"
    assert m["records"] == sum(c["records"] for c in b.completions.values()), f"{where}: manifest record count"
    by_file: dict[str, list[OutRecord]] = {}
    for r in b.records:
        by_file.setdefault(r.file, []).append(r)
    total = 0
    for name, f in manifest_files.items():
        recs = by_file.get(name, [])
        raw = b.data_files[name]
        assert f["bytes"] == len(raw), f"{where}/{name}: manifest says {f['bytes']} bytes, file has {len(raw)}"
        if verify_crc:
            assert f["crc32c"] == f"{crc32c(raw):08x}", f"{where}/{name}: CRC-32C mismatch"
        assert f["records"] == len(recs), f"{where}/{name}: manifest says {f['records']} records, file has {len(recs)}"
        offsets = [r.offset for r in recs]
        assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets), f"{where}/{name}: offsets not strictly increasing"
        assert all(r.partition == f["partition"] for r in recs), f"{where}/{name}: records of another partition"
        assert (f["firstOffset"], f["lastOffset"]) == (offsets[0], offsets[-1]), f"{where}/{name}: offset range"
        assert name.startswith(f"{topic}-{f['partition']}-{f['firstOffset']:020d}."), f"{where}/{name}: name does not carry partition and first offset"
        ts = [r.timestamp for r in recs]
        assert (f["minTimestamp"], f["maxTimestamp"]) == (min(ts), max(ts)), f"{where}/{name}: event-time range"
        total += len(recs)
    assert total == m["records"] == len(b.records), f"{where}: {len(b.records)} records in files, manifest says {m['records']}"
    # Per-partition ranges.
    for pr in m["partitions"]:
        recs = [r for r in b.records if r.partition == pr["partition"]]
        assert pr["records"] == len(recs), f"{where}: manifest partition {pr['partition']} count {pr['records']} != {len(recs)}"
        if recs:
            assert (pr["firstOffset"], pr["lastOffset"]) == (min(r.offset for r in recs), max(r.offset for r in recs)), \
                f"{where}: partition {pr['partition']} offset range"
    if b.records:
        assert (m["minTimestamp"], m["maxTimestamp"]) == (min(r.timestamp for r in b.records), max(r.timestamp for r in b.records)), \
            f"{where}: manifest event-time range"
    # Hour exactness.
    outside = [r for r in b.records if not start <= r.timestamp < start + width]
    assert not outside, (f"{where}: {len(outside)} records outside [{start}, {start + width}), first: "
                         f"p{outside[0].partition}@{outside[0].offset} ts={outside[0].timestamp} ({bucket_label(outside[0].timestamp, granularity)})")
    if b.late is not None and b.late.marker:
        check_bucket(b.late, topic, partitions, granularity, verify_crc)


def closed_records(tree: dict[str, BucketDir], include_late: bool = True) -> list[OutRecord]:
    """Records of every bucket with `_SUCCESS` (and of late rounds with their own marker)."""
    out = []
    for b in tree.values():
        if b.marker:
            out += b.records
        if include_late and b.late is not None and b.late.marker:
            out += b.late.records
    return out


def compare_multiset(actual: list[OutRecord], expected: dict[tuple, tuple], what: str):
    """`expected` maps (partition, offset) -> (timestamp, key, value, headers). Every expected
    record must appear exactly once and nothing else."""
    seen: dict[tuple, int] = {}
    wrong = []
    for r in actual:
        seen[r.identity] = seen.get(r.identity, 0) + 1
        e = expected.get(r.identity)
        if e is not None and (r.timestamp, r.key, r.value, r.headers) != e:
            wrong.append((r, e))
    dups = sorted(k for k, n in seen.items() if n > 1)
    missing = sorted(k for k in expected if k not in seen)
    extra = sorted(k for k in seen if k not in expected)
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing, first {missing[:8]}")
    if dups:
        problems.append(f"{len(dups)} duplicated, first {dups[:8]} "
                        f"(files: {[r.file for r in actual if r.identity == dups[0]]})")
    if extra:
        problems.append(f"{len(extra)} never produced, first {extra[:8]}")
    if wrong:
        r, e = wrong[0]
        problems.append(f"{len(wrong)} differ from the input, first p{r.partition}@{r.offset}: {r} vs {e}")
    assert not problems, f"{what}: " + "; ".join(problems) + f" ({len(actual)} records read, {len(expected)} expected)"
