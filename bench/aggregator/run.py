#!/usr/bin/env python3
"""bench/aggregator.sh's measurements (run with the compat venv's python).

  throughput: a topic filled by the logflume agent from a generated nginx access log (event
      times spanning a few hours) is read by kcat -C to /dev/null (the raw consume rate), then by
      the aggregator writing gzip and zstd hour files. Each aggregator run is timed from start
      twice: until its records_bucketed_total counter (scraped from /metrics, adaptively) reaches
      the topic's record count, every record formatted into its hour's part file (the last
      chunks may still be compressing: at most 9 x 256 KiB per part), which is the rate, timed
      like kcat, which stops at the last record; and until every hour holding records has its
      _SUCCESS marker, which adds the idle_timeout (200 ms) after which a quiet partition stops
      holding the watermark back and the last hours' publishing. Medians of RUNS runs.
  latency: a writer appends a line every 50 ms (request time = now) to a file the agent tails;
      the aggregator buckets by minute with a delay of DELAY s. For each minute M that closes, the
      time from the minute's last line being written to M's _SUCCESS appearing is measured; it
      must be at most delay + 10 s.
"""
from __future__ import annotations

import argparse
import datetime
import gzip
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

REPO = Path(__file__).resolve().parents[2]


def end_offsets(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets"})
    try:
        md = c.list_topics(topic, timeout=10)
        total = 0
        for p in md.topics[topic].partitions:
            _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high
        return total
    finally:
        c.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bucketed(metrics: str, topic: str) -> int:
    """The aggregator's logflume_aggregator_records_bucketed_total for `topic`; 0 until it serves."""
    try:
        text = urllib.request.urlopen(f"http://{metrics}/metrics", timeout=1).read().decode()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("logflume_aggregator_records_bucketed_total") and f'topic="{topic}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def wait_bucketed(proc: subprocess.Popen, metrics: str, topic: str, total: int, timeout: float, name: str) -> float:
    """When the aggregator's counter reached `total` (time.monotonic, read after the scrape), to
    within about 5 ms. Each scrape costs this process about 2 ms of CPU, which on 2 cores the
    aggregator would miss: polls come every 50 ms at first, then every half of the time the rest
    should take at the rate so far."""
    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the {name} aggregator exited with {proc.returncode} before bucketing {total} records")
        count, now = bucketed(metrics, topic), time.monotonic()
        if count >= total:
            return now
        if count > 0 and first is None:
            first = (now, count)
        pause = 0.05
        if first is not None and count > first[1]:
            rate = (count - first[1]) / (now - first[0])
            pause = min(0.05, max(0.005, (total - count) / rate / 2))
        time.sleep(pause)
    raise SystemExit(f"timed out waiting for the {name} aggregator to bucket {total} records")


def wait_for(predicate, timeout: float, what: str, poll: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise SystemExit(f"timed out waiting for {what}")


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def floor_tool(codec: str, level: int, encoder: str) -> list[str]:
    """The command line compressing a file to stdout with the library and level the aggregator
    uses: libdeflate-gzip, igzip (ISA-L) or zstd."""
    if codec == "zstd":
        return ["zstd", f"-{level}", "-q", "-c"]
    return ["igzip", f"-{level}", "-c"] if encoder == "isa-l" else ["libdeflate-gzip", f"-{level}", "-c"]


def compression_floor(root: Path, tool: list[str], work: Path) -> tuple[float, int]:
    """Seconds one core needs only to compress the run's output (its part files decompressed and
    concatenated) with the same library and level, median of 3: the CPU no aggregator writing these
    files can avoid."""
    plain = work / "plain-output"
    size = 0
    with open(plain, "wb") as out:
        for part in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".gz", ".zst")):
            if part.suffix == ".gz":
                data = gzip.decompress(part.read_bytes())
            else:
                data = subprocess.run(["zstd", "-d", "-q", "-c", str(part)], capture_output=True, check=True).stdout
            out.write(data)
            size += len(data)
    times = []
    for _ in range(3):
        started = time.monotonic()
        subprocess.run(tool + [str(plain)], stdout=subprocess.DEVNULL, check=True)
        times.append(time.monotonic() - started)
    plain.unlink()
    return statistics.median(times), size


def agent_config(path: Path, bootstrap: str, topic: str, state: Path, log_glob: str):
    path.write_text(
        f'brokers = ["{bootstrap}"]\ntopic = "{topic}"\nstate_dir = "{state}"\nscan_interval = "200ms"\n'
        f'output.linger = "5ms"\n\n[[input]]\npaths = ["{log_glob}"]\nformat = "nginx_combined"\n'
    )


def aggregator_config(path: Path, bootstrap: str, topic: str, group: str, root: Path, codec: str, granularity: str, delay: str, idle: str,
                      format: str = "jsonl", metrics_listen: str = "", level: int = -1, encoder: str = "isa-l", s3: str = ""):
    """`s3`: the `[s3]` section's lines, which also switch output.sink to s3."""
    path.write_text(
        f'tick_interval = "200ms"\nlog_level = "warning"\nmetrics_listen = "{metrics_listen}"\n[kafka]\nbootstrap_servers = "{bootstrap}"\ngroup_id = "{group}"\n'
        f'topics = ["{topic}"]\nmax_poll_records = 5000\n[buckets]\ngranularity = "{granularity}"\ndelay = "{delay}"\n'
        f'idle_timeout = "{idle}"\nmax_open_hours = 8\n[output]\nroot = "{root}"\ncodec = "{codec}"\nformat = "{format}"\n'
        f'compression_level = {level}\ngzip_encoder = "{encoder}"\n' + (f'sink = "s3"\n[s3]\n{s3}' if s3 else "")
    )


def throughput(args) -> None:
    work = Path(args.work)
    bin = args.bin
    topic = "agg-bench"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.input, logs / "access.log")
    lines = sum(1 for _ in open(args.input, "rb"))
    agent_config(work / "agent.toml", args.bootstrap, topic, work / "agent-state", str(logs / "access.log"))
    agent = start([bin, "agent", "--config", str(work / "agent.toml")], work / "agent.log")
    wait_for(lambda: end_offsets(args.bootstrap, topic) >= lines, 300, "the agent to ship the input", poll=0.5)
    stop(agent)
    total = end_offsets(args.bootstrap, topic)
    hours = sorted({l.split(b"[", 1)[1][:14] for l in open(args.input, "rb")})  # dd/Mon/yyyy:HH
    print(f"topic {topic}: {total} records of {lines} lines, written over {len(hours)} hours", flush=True)

    def kcat_rate() -> float:
        started = time.monotonic()
        # -c: exit on the last record. With -e alone kcat waits for a fetch at the end of the
        # partition to come back empty, which the broker (like Kafka) holds for fetch.wait.max.ms
        # (500 ms): that wait once made up half of this figure and flattered every ratio below.
        subprocess.run(["kcat", "-b", args.bootstrap, "-t", topic, "-C", "-e", "-c", str(total), "-q", "-o", "beginning", "-f", "%s\n"],
                       stdout=subprocess.DEVNULL, check=True)
        return total / (time.monotonic() - started)

    raw = [kcat_rate() for _ in range(args.runs)]
    print(f"kcat -C raw consume: median {statistics.median(raw):,.0f} records/s over {args.runs} runs ({', '.join(f'{r:,.0f}' for r in raw)}); "
          f"it runs again before every aggregator run, and each row's ratio is to the kcat runs alongside it (this machine drifts)", flush=True)

    floors = {}
    # The aggregator's defaults (gzip through ISA-L at level 1, zstd 1), libdeflate's gzip at its
    # default level 6 and at 1, and zstd 3 (zstd's own default). ROWS picks some by number (1-10).
    defaults = {("gzip", "isa-l"): 1, ("gzip", "libdeflate"): 6, ("zstd", "isa-l"): 1}
    rows = [("jsonl", "gzip", 1, "isa-l"), ("jsonl", "zstd", 1, "isa-l"), ("raw", "gzip", 1, "isa-l"), ("raw", "zstd", 1, "isa-l"),
            ("jsonl", "gzip", 6, "libdeflate"), ("raw", "gzip", 6, "libdeflate"),
            ("jsonl", "gzip", 1, "libdeflate"), ("raw", "gzip", 1, "libdeflate"), ("jsonl", "zstd", 3, "isa-l"), ("raw", "zstd", 3, "isa-l")]
    if args.rows:
        picked = [n.strip() for n in args.rows.split(",") if n.strip()]
        if not all(n.isdigit() and 1 <= int(n) <= len(rows) for n in picked):
            sys.exit(f"--rows/ROWS: '{args.rows}' is not a comma-separated list of row numbers 1-{len(rows)}")
        rows = [rows[int(n) - 1] for n in picked]
    for format, codec, level, encoder in rows:
        name = f"{format}+{codec}" + (" libdeflate" if encoder == "libdeflate" else "") + (f" level {level}" if level != defaults[(codec, encoder)] else "")
        tag = f"{format}-{codec}-{encoder}-{level}"
        rates, marker_rates, cpus, sizes, alongside = [], [], [], [], []
        for run in range(args.runs):
            alongside.append(kcat_rate())
            root = work / f"out-{tag}-{run}"
            shutil.rmtree(root, ignore_errors=True)
            config = work / f"aggregator-{tag}.toml"
            metrics = f"127.0.0.1:{free_port()}"
            aggregator_config(config, args.bootstrap, topic, f"bench-{codec}-{run}-{time.time_ns()}", root, codec, "hour", "1m", "200ms", format,
                              metrics, level, encoder)
            started = time.monotonic()
            proc = start([bin, "aggregator", "--config", str(config)], work / f"aggregator-{tag}.log")
            to_last = wait_bucketed(proc, metrics, topic, total, 600, name) - started

            # Event time is when a request started ($msec - $request_time), so some records belong to
            # the hour before the first logged one: done when the hours with markers hold every record.
            # Each manifest is read once: polling every 10 ms must not take a core from the aggregator.
            manifests: dict[Path, int] = {}

            def closed_records() -> int:
                if not (root / topic).exists():
                    return 0
                for marker in (root / topic).glob("dt=*/hr=*/_SUCCESS"):
                    if marker not in manifests:
                        manifests[marker] = json.loads((marker.parent / "_manifest.json").read_text())["records"]
                return sum(manifests.values())
            wait_for(lambda: closed_records() >= total, 600, f"markers over all {total} records from the {name} aggregator", poll=0.01)
            elapsed = time.monotonic() - started
            cpus.append(cpu_seconds(proc.pid))
            # A session that restarted would read records again and count them twice, and the
            # rate above would have stopped early: then the run is void.
            counted = bucketed(metrics, topic)
            stop(proc)
            assert counted == total, f"{name}: {counted} records bucketed, the topic has {total} (a session restarted?)"
            written = closed_records()
            assert written == total, f"{name}: manifests count {written} records, the topic has {total}"
            rates.append(total / to_last)
            marker_rates.append(total / elapsed)
            sizes.append(sum(p.stat().st_size for p in root.rglob("*") if p.suffix in (".gz", ".zst")))
            if run == 0 and shutil.which(floor_tool(codec, level, encoder)[0]):
                floors[name] = compression_floor(root, floor_tool(codec, level, encoder), work)
            shutil.rmtree(root, ignore_errors=True)
        rate = statistics.median(rates)
        marker_rate = statistics.median(marker_rates)
        raw_rate = statistics.median(alongside)
        print(f"aggregator {name}: to the last record median {rate:,.0f} records/s ({', '.join(f'{r:,.0f}' for r in rates)}), "
              f"ratio to kcat {rate / raw_rate:.2f} (goal >= 0.70; kcat alongside {raw_rate:,.0f}: {', '.join(f'{r:,.0f}' for r in alongside)}); to every marker {marker_rate:,.0f} records/s "
              f"({', '.join(f'{r:,.0f}' for r in marker_rates)}) = {marker_rate / raw_rate:.2f} x kcat; CPU {statistics.median(cpus):.2f} s; files {statistics.median(sizes) / 1e6:.1f} MB", flush=True)
        if name in floors:
            seconds, size = floors[name]
            tool = " ".join(floor_tool(codec, level, encoder)[:2])
            # igzip compresses the file as one stream, not in 256 KiB chunks: close to, not exactly, the work.
            print(f"  compressing its {size / 1e6:,.0f} MB of output alone ({tool}, one core): {seconds:.2f} s = {total / seconds:,.0f} records/s; "
                  f"both cores doing nothing else: {2 * total / seconds:,.0f} records/s = {2 * total / seconds / raw_rate:.2f} x kcat", flush=True)


def latency(args) -> None:
    """With `--sink s3`, the hours go to moto's S3 API (served by cheroot, which keeps connections
    open as S3 does) on loopback, and markers are looked for with ListObjectsV2."""
    work = Path(args.work) / f"latency-{args.sink}"
    work.mkdir(parents=True, exist_ok=True)
    bin = args.bin
    topic = f"agg-latency-{args.sink}"
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / "access.log"
    log.touch()
    root = work / "out"
    moto, s3_settings, markers = None, "", None
    if args.sink == "s3":
        sys.path.insert(0, str(REPO / "Tests" / "compat"))
        from helpers.s3 import client as s3_client, start_moto, stop as stop_moto
        moto, endpoint, _ = start_moto(REPO / ".build" / "compat-venv" / "bin" / "moto_server", work, free_port(), False, dict(os.environ), True)
        client = s3_client(endpoint)
        client.create_bucket(Bucket="latency")
        s3_settings = f'endpoint = "{endpoint}"\nbucket = "latency"\naccess_key_id = "bench"\nsecret_access_key = "bench"\nstaging_dir = "{work / "staging"}"\n'

        def markers():
            pages = client.get_paginator("list_objects_v2").paginate(Bucket="latency", Prefix=f"{topic}/")
            return [key[len(topic) + 1:-len("/_SUCCESS")] for page in pages for key in (o["Key"] for o in page.get("Contents", []))
                    if key.endswith("/_SUCCESS")]
    else:
        def markers():
            return [str(m.parent.relative_to(root / topic)) for m in (root / topic).glob("dt=*/hr=*/min=*/_SUCCESS")] if (root / topic).exists() else []
    agent_config(work / "agent.toml", args.bootstrap, topic, work / "agent-state", str(log))
    aggregator_config(work / "aggregator.toml", args.bootstrap, topic, f"bench-latency-{time.time_ns()}", root, "gzip",
                      "minute", f"{args.delay}s", "1m", s3=s3_settings)
    agent = start([bin, "agent", "--config", str(work / "agent.toml")], work / "agent.log")
    aggregator = start([bin, "aggregator", "--config", str(work / "aggregator.toml")], work / "aggregator.log")
    last_written: dict[str, float] = {}
    seen: dict[str, float] = {}
    end = time.time() + args.seconds
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        while time.time() < end or len(seen) < 2:
            now = time.time()
            stamp = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
            os.write(fd, f'10.0.0.1 - - [{stamp.strftime("%d/%b/%Y:%H:%M:%S +0000")}] "GET / HTTP/1.1" 200 1 "-" "bench"\n'.encode())
            last_written[stamp.strftime("dt=%Y-%m-%d/hr=%H/min=%M")] = now
            for bucket in markers():
                if bucket not in seen:
                    seen[bucket] = time.time()
            if time.time() > end + 180:
                raise SystemExit(f"no markers after {args.seconds + 180} s: {seen}")
            time.sleep(0.05)
    finally:
        os.close(fd)
        stop(agent)
        stop(aggregator)
        if moto is not None:
            stop_moto(moto)
    worst = 0.0
    for bucket, at in sorted(seen.items()):
        if bucket not in last_written:
            continue
        waited = at - last_written[bucket]
        worst = max(worst, waited)
        print(f"  {bucket}: last line written -> _SUCCESS in {waited:.1f} s (delay {args.delay} s + {waited - args.delay:.1f} s)")
    print(f"latency ({args.sink} sink): worst {worst:.1f} s from a minute's last line to its marker = delay {args.delay} s + "
          f"{worst - args.delay:.1f} s (goal: delay + at most 10 s)", flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("throughput")
    l = sub.add_parser("latency")
    for p in (t, l):
        p.add_argument("--bin", required=True)
        p.add_argument("--bootstrap", required=True)
        p.add_argument("--work", required=True)
    t.add_argument("--input", required=True)
    t.add_argument("--runs", type=int, default=3)
    t.add_argument("--rows", default="", help="comma-separated row numbers (1-10) to run; default all")
    l.add_argument("--delay", type=int, default=5)
    l.add_argument("--seconds", type=int, default=150)
    l.add_argument("--sink", choices=["local", "s3"], default="local")
    args = parser.parse_args()
    throughput(args) if args.command == "throughput" else latency(args)


if __name__ == "__main__":
    main()
