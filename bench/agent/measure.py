#!/usr/bin/env python3
"""Helpers for bench/agent.sh (confluent-kafka, from the compat venv).

Subcommands (BOOTSTRAP is HOST:PORT):
  ship BOOTSTRAP TOPIC --expect N [--timeout S] [--broker-pid P] [--log F] -- CMD...
      Runs CMD (a log shipper) in its own session and samples every --interval seconds (default
      0.1): the CPU time (user + sys) of CMD's process tree from /proc/<pid>/stat (live threads
      and descendants, plus children it has reaped), the main process's VmHWM and the tree's
      summed VmRSS, and the topic's end offsets (ListOffsets latest, summed over partitions)
      through one librdkafka handle. When the end offsets reach N, the clock stops and the CPU and
      peak RSS are read at that moment; then CMD gets SIGTERM (SIGKILL after --stop-timeout, default
      30 s), and after it exits the end offsets are read again after --settle seconds (default 2),
      so that anything sent twice shows up as more than N. With --broker-pid, the broker's CPU
      seconds over the same interval are reported too.
      Prints key=value lines: wall_s, cpu_s, cpu_user_s, cpu_sys_s, hwm_kb, tree_rss_max_kb,
      delivered_at_done, delivered, stop_s, exit_code, broker_cpu_s, status (ok|timeout|exited).
  digest FILE
      An order-independent digest of the lines of FILE: "lines=N digest=HEX".
  digest-topic BOOTSTRAP TOPIC
      The same digest over the values of every record in TOPIC (all partitions, from the start to
      the end offsets read first): "lines=N digest=HEX".
"""
from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

TICK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------------------------
# /proc


def _stat_fields(pid: int, tid: int | None = None) -> list[str] | None:
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        with open(path) as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may hold spaces; fields restart after the last ')'.
    return data[data.rfind(")") + 2:].split()


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out += [int(x) for x in f.read().split()]
            except (FileNotFoundError, ProcessLookupError):
                pass
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


class Tree:
    """CPU and memory of a process and its descendants, sampled from /proc."""

    def __init__(self, root: int):
        self.root = root
        self.last_cpu: dict[int, tuple[int, int]] = {}  # pid -> (user ticks, sys ticks), children reaped included
        self.tree_rss_max_kb = 0

    def pids(self) -> list[int]:
        seen, todo = [], [self.root]
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.append(pid)
            todo += _children(pid)
        return seen

    def sample(self) -> tuple[float, float]:
        """(user s, sys s) of the tree so far."""
        current: dict[int, tuple[int, int]] = {}
        for pid in self.pids():
            f = _stat_fields(pid)
            if f is None:
                continue
            # utime, stime, cutime, cstime are fields 14..17 (1-based) = indexes 11..14 after the name.
            utime, stime, cutime, cstime = (int(x) for x in f[11:15])
            current[pid] = (utime + cutime, stime + cstime)
        # A descendant that disappeared was reaped by its parent, whose cutime/cstime (counted
        # above) now hold its time; the root's reaped children are in the root's own c* fields.
        self.last_cpu = current or self.last_cpu
        rss = sum(_status_kb(pid, "VmRSS") for pid in current)
        self.tree_rss_max_kb = max(self.tree_rss_max_kb, rss)
        user = sum(u for u, _ in self.last_cpu.values()) / TICK
        system = sum(s for _, s in self.last_cpu.values()) / TICK
        return user, system


def proc_cpu_s(pid: int) -> float:
    f = _stat_fields(pid)
    if f is None:
        return float("nan")
    return (int(f[11]) + int(f[12])) / TICK


# --------------------------------------------------------------------------------------------
# Kafka


def consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "logflume-bench-agent", "enable.auto.commit": False,
                     "log_level": 3, "socket.timeout.ms": 10000})


def partitions(c: Consumer, topic: str) -> list[int]:
    md = c.list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None:
        raise SystemExit(f"topic {topic}: {t and t.error}")
    return sorted(t.partitions)


def end_offsets(c: Consumer, topic: str, parts: list[int]) -> int:
    total = 0
    for p in parts:
        _, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
        total += high
    return total


# --------------------------------------------------------------------------------------------
# ship


def cmd_ship(args) -> int:
    c = consumer(args.bootstrap)
    parts = partitions(c, args.topic)
    before = end_offsets(c, args.topic, parts)
    if before != 0:
        print(f"measure.py: topic {args.topic} is not empty ({before} records)", file=sys.stderr)
        return 2
    log = open(args.log, "ab") if args.log else subprocess.DEVNULL
    broker_cpu0 = proc_cpu_s(args.broker_pid) if args.broker_pid else float("nan")
    started = time.monotonic()
    proc = subprocess.Popen(args.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    tree = Tree(proc.pid)
    hwm = 0
    status = "timeout"
    delivered = 0
    user = system = 0.0
    wall = float("nan")
    broker_cpu = float("nan")
    next_offsets = started
    while True:
        now = time.monotonic()
        if proc.poll() is not None:
            status = "exited"
            break
        user, system = tree.sample()
        hwm = max(hwm, _status_kb(proc.pid, "VmHWM"))
        if now >= next_offsets:
            try:
                delivered = end_offsets(c, args.topic, parts)
            except KafkaException as error:  # the broker is busy: try again next time
                print(f"measure.py: end offsets: {error}", file=sys.stderr)
            next_offsets = now + args.interval
            if delivered >= args.expect:
                wall = time.monotonic() - started
                user, system = tree.sample()
                hwm = max(hwm, _status_kb(proc.pid, "VmHWM"))
                if args.broker_pid:
                    broker_cpu = proc_cpu_s(args.broker_pid) - broker_cpu0
                status = "ok"
                break
        if now - started > args.timeout:
            break
        time.sleep(args.interval)
    delivered_at_done = delivered
    # Stop the shipper.
    stop_started = time.monotonic()
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=args.stop_timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            print(f"measure.py: {args.cmd[0]} did not exit within {args.stop_timeout} s of SIGTERM; killed", file=sys.stderr)
    stop_s = time.monotonic() - stop_started
    time.sleep(args.settle)
    delivered = end_offsets(c, args.topic, parts)
    c.close()
    if status != "ok":
        wall = time.monotonic() - started
    print(f"status={status}")
    print(f"wall_s={wall:.3f}")
    print(f"cpu_user_s={user:.2f}")
    print(f"cpu_sys_s={system:.2f}")
    print(f"cpu_s={user + system:.2f}")
    print(f"hwm_kb={hwm}")
    print(f"tree_rss_max_kb={tree.tree_rss_max_kb}")
    print(f"delivered_at_done={delivered_at_done}")
    print(f"delivered={delivered}")
    print(f"stop_s={stop_s:.2f}")
    print(f"exit_code={proc.returncode}")
    print(f"broker_cpu_s={broker_cpu:.2f}")
    return 0


# --------------------------------------------------------------------------------------------
# digests


def _line_digest(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=16).digest(), "big")


def cmd_digest(args) -> int:
    total, n = 0, 0
    with open(args.file, "rb") as f:
        for line in f:
            if line.endswith(b"\n"):
                line = line[:-1]
            total = (total + _line_digest(line)) % (1 << 128)
            n += 1
    print(f"lines={n} digest={total:032x}")
    return 0


def cmd_digest_topic(args) -> int:
    c = consumer(args.bootstrap)
    parts = partitions(c, args.topic)
    ends = {}
    for p in parts:
        _, high = c.get_watermark_offsets(TopicPartition(args.topic, p), timeout=10, cached=False)
        ends[p] = high
    c.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in parts if ends[p] > 0])
    remaining = {p for p in parts if ends[p] > 0}
    total, n = 0, 0
    deadline = time.monotonic() + args.timeout
    while remaining and time.monotonic() < deadline:
        for m in c.consume(num_messages=10000, timeout=1.0):
            if m.error():
                raise SystemExit(f"consume: {m.error()}")
            if m.partition() not in remaining or m.offset() >= ends[m.partition()]:
                continue
            total = (total + _line_digest(m.value() or b"")) % (1 << 128)
            n += 1
            if m.offset() + 1 >= ends[m.partition()]:
                remaining.discard(m.partition())
    c.close()
    if remaining:
        print(f"measure.py: digest-topic: partitions {sorted(remaining)} not read to their end within {args.timeout} s", file=sys.stderr)
        return 1
    print(f"lines={n} digest={total:032x}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("ship")
    s.add_argument("bootstrap")
    s.add_argument("topic")
    s.add_argument("--expect", type=int, required=True)
    s.add_argument("--timeout", type=float, default=600)
    s.add_argument("--interval", type=float, default=0.1)
    s.add_argument("--stop-timeout", type=float, default=30)
    s.add_argument("--settle", type=float, default=2)
    s.add_argument("--broker-pid", type=int)
    s.add_argument("--log")
    argv = sys.argv[1:]
    cmd: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, cmd = argv[:cut], argv[cut + 1:]
    d = sub.add_parser("digest")
    d.add_argument("file")
    t = sub.add_parser("digest-topic")
    t.add_argument("bootstrap")
    t.add_argument("topic")
    t.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args(argv)
    args.cmd = cmd
    if args.command == "ship":
        if not args.cmd:
            ap.error("ship: no command after --")
        return cmd_ship(args)
    if args.command == "digest":
        return cmd_digest(args)
    return cmd_digest_topic(args)


if __name__ == "__main__":
    sys.exit(main())
