#!/usr/bin/env python3
"""bench/groups.sh's measurements, through confluent-kafka (librdkafka) only; run with the compat
venv's python. BOOTSTRAP is HOST:PORT.

  wait BOOTSTRAP [--timeout S]
      until the broker answers Metadata.
  rebalance BOOTSTRAP --work DIR [--runs N] [--session-ms MS] [--heartbeat-ms MS]
      Per run: a fresh 6-partition topic and group, 3 member processes (`member`, below). Once
      they hold 2 partitions each, and after a random pause of up to 2 heartbeat intervals (so
      that the close does not fall at a fixed point of the members' heartbeat cycle), one member
      closes (close(): revoke, LeaveGroup); measured: from the start of its close() to the moment
      the 2 survivors hold all 6 partitions (the later of their on_assign callbacks). A third
      member is started again; once the group is 3 x 2 again, and after another random pause,
      one member is SIGKILLed and the same is measured from the kill (its session has to expire
      first). Prints a line per run (on standard error) and `leave_s=`, `kill_s=` (one value per
      run), and `leave_notice_s=`, `kill_notice_s=`: until the first survivor's on_revoke.
  member BOOTSTRAP GROUP TOPIC --events FILE [--session-ms MS] [--heartbeat-ms MS]
      one librdkafka member (subscribe, poll(0.1) in a loop): appends a JSON line per
      on_assign/on_revoke to FILE ({"ev", "ps", "t"}, t = CLOCK_MONOTONIC seconds, which every
      process on the machine shares), one write(2) each; SIGTERM closes it ("closing" event
      just before close()).
  commits BOOTSTRAP [--runs N] [--seconds S] [--broker-pid PID]
      One consumer, a member of a fresh group holding all 6 partitions of a fresh topic, commits
      for S seconds per figure: synchronously one partition per call, synchronously all 6
      partitions per call, and asynchronously one partition per call (up to 1,000 in flight,
      counted when the commit callback reports them). The peer figure from the same library on
      the same broker: a Producer (linger.ms=0, acks=1) sending one 100 B record and waiting for
      its delivery report before the next (a produce request/response round trip). Runs of the
      four figures alternate. Prints a line per run (on standard error) and `sync1=`, `sync6=`,
      `async1=`, `produce=` (per second, one value per run); with --broker-pid also
      `sync1_cpu_us=` etc.: the broker's CPU time (user + system, /proc) per call or record.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

# The broker bench's helpers: topics, waiting for a broker, a process's CPU time.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "broker"))
from tools import cmd_wait, create_topic, delete_topics, process_cpu_seconds  # noqa: E402

PARTITIONS = 6


def new_topic(bootstrap, partitions=PARTITIONS) -> str:
    name = f"bench-groups-{uuid.uuid4().hex[:10]}"
    if not create_topic(bootstrap, name, partitions, timeout=30):
        raise SystemExit(f"topic {name} has no leaders after 30 s")
    return name


# --- member process ------------------------------------------------------------------------------


def cmd_member(args):
    fd = os.open(args.events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def event(ev, **fields):
        os.write(fd, (json.dumps({"ev": ev, **fields, "t": time.monotonic()}) + "\n").encode())

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap, "group.id": args.group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False, "session.timeout.ms": args.session_ms, "heartbeat.interval.ms": args.heartbeat_ms,
        "log_level": 3,
    })
    consumer.subscribe([args.topic],
                       on_assign=lambda c, ps: event("assign", ps=sorted(p.partition for p in ps)),
                       on_revoke=lambda c, ps: event("revoke", ps=sorted(p.partition for p in ps)))
    event("started")
    while not stopping:
        consumer.poll(0.1)
    event("closing")
    consumer.close()
    event("closed")
    return 0


# --- rebalance times -----------------------------------------------------------------------------


def read_events(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def holding(events: list[dict]) -> tuple[set[int], float | None]:
    """The partitions a member holds after its last callback, and when it got them."""
    held, since = set(), None
    for e in events:
        if e["ev"] == "assign":
            held, since = set(e["ps"]), e["t"]
        elif e["ev"] == "revoke":
            held -= set(e["ps"])
    return held, since


class Group:
    def __init__(self, args, run: int):
        self.args = args
        self.topic = new_topic(args.bootstrap)
        self.group = f"bench-group-{uuid.uuid4().hex[:10]}"
        self.dir = Path(args.work) / f"run-{run}"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen] = {}
        self.count = 0

    def start(self) -> str:
        self.count += 1
        name = f"m{self.count}"
        cmd = [sys.executable, __file__, "member", self.args.bootstrap, self.group, self.topic,
               "--events", str(self.dir / f"{name}.jsonl"), "--session-ms", str(self.args.session_ms),
               "--heartbeat-ms", str(self.args.heartbeat_ms)]
        self.procs[name] = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open(self.dir / f"{name}.err", "w"))
        return name

    def events(self, name) -> list[dict]:
        return read_events(self.dir / f"{name}.jsonl")

    def wait_split(self, members: list[str], after: float, timeout: float = 60.0, settle: float = 1.0) -> float:
        """Waits until `members` hold all partitions between them, disjoint, each at least one,
        every one assigned after `after`, and nothing changes for `settle` s; returns the time of
        the last of those on_assign callbacks."""
        deadline = time.monotonic() + timeout
        stable_since, last_state = None, None
        while time.monotonic() < deadline:
            for name in members:
                if self.procs[name].poll() is not None:
                    raise SystemExit(f"member {name} exited: {(self.dir / f'{name}.err').read_text()[-2000:]}")
            held = {name: holding(self.events(name)) for name in members}
            flat = sorted(p for ps, _ in held.values() for p in ps)
            ok = flat == list(range(PARTITIONS)) and all(ps and since > after for ps, since in held.values())
            state = {name: (tuple(sorted(ps)), since) for name, (ps, since) in held.items()}
            if ok and state == last_state:
                if time.monotonic() - stable_since >= settle:
                    return max(since for _, since in held.values())
            else:
                stable_since, last_state = time.monotonic(), state if ok else None
            time.sleep(0.02)
        raise SystemExit(f"no stable split over {members} within {timeout} s: "
                         f"{ {n: sorted(holding(self.events(n))[0]) for n in members} }")

    def first_revoke_after(self, members: list[str], t0: float) -> float:
        """When the first survivor heard of the rebalance (its on_revoke)."""
        return min(e["t"] for name in members for e in self.events(name) if e["ev"] == "revoke" and e["t"] > t0)

    def close(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        delete_topics(self.args.bootstrap, [self.topic])


def cmd_rebalance(args):
    leave, kill, leave_notice, kill_notice = [], [], [], []
    # Members that joined one generation together heartbeat in step, every heartbeat.interval.ms
    # from the same SyncGroup answer. A close or kill a fixed time after the split would always
    # land at the same point of that cycle; a random pause puts it anywhere (seeded: repeatable).
    rng = random.Random(4)
    cycle = 2 * args.heartbeat_ms / 1000
    for run in range(1, args.runs + 1):
        g = Group(args, run)
        try:
            members = [g.start() for _ in range(3)]
            g.wait_split(members, after=0.0)

            # 1. A clean close: revoke, LeaveGroup.
            time.sleep(rng.uniform(0, cycle))
            leaving = members.pop(0)
            g.procs[leaving].send_signal(signal.SIGTERM)
            g.procs[leaving].wait(timeout=30)
            t0 = next(e["t"] for e in g.events(leaving) if e["ev"] == "closing")
            done = g.wait_split(members, after=t0)
            leave.append(done - t0)
            leave_notice.append(g.first_revoke_after(members, t0) - t0)

            # Back to three members, then a SIGKILL.
            members.append(g.start())
            g.wait_split(members, after=done)
            time.sleep(rng.uniform(0, cycle))
            victim = members.pop(0)
            t0 = time.monotonic()
            os.kill(g.procs[victim].pid, signal.SIGKILL)
            g.procs[victim].wait(timeout=10)
            done = g.wait_split(members, after=t0)
            kill.append(done - t0)
            kill_notice.append(g.first_revoke_after(members, t0) - t0)
        finally:
            g.close()
        print(f"  rebalance run {run}: after a close (LeaveGroup) {leave[-1]:.3f} s (survivors told after "
              f"{leave_notice[-1]:.3f} s); after a SIGKILL {kill[-1]:.3f} s (survivors told after {kill_notice[-1]:.3f} s)",
              file=sys.stderr, flush=True)
    print("leave_s=" + " ".join(f"{v:.4f}" for v in leave))
    print("kill_s=" + " ".join(f"{v:.4f}" for v in kill))
    print("leave_notice_s=" + " ".join(f"{v:.4f}" for v in leave_notice))
    print("kill_notice_s=" + " ".join(f"{v:.4f}" for v in kill_notice))
    return 0


# --- commit rates --------------------------------------------------------------------------------


def member_holding_everything(bootstrap, topic) -> Consumer:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-commits-{uuid.uuid4().hex[:10]}",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 3,
                  "on_commit": lambda err, parts: on_commit(err, parts)})
    c.subscribe([topic])
    deadline = time.monotonic() + 60
    while len(c.assignment()) < PARTITIONS:
        if time.monotonic() > deadline:
            raise SystemExit(f"the commit member got {c.assignment()} after 60 s")
        c.poll(0.1)
    return c


async_state = {"done": 0, "errors": 0, "first_error": None}
broker_pid = None


def broker_cpu() -> float:
    """The broker's user + system CPU seconds so far (0 without --broker-pid)."""
    return 0.0 if broker_pid is None else process_cpu_seconds(broker_pid)


class Window:
    """The timed part of a figure: operations, wall seconds and the broker's CPU seconds."""

    def __init__(self, seconds: float):
        self.n = 0
        self.cpu0 = broker_cpu()
        self.start = time.monotonic()
        self.end = self.start + seconds

    def close(self) -> "Window":
        self.elapsed = time.monotonic() - self.start
        self.cpu = broker_cpu() - self.cpu0
        return self

    @property
    def rate(self) -> float:
        return self.n / self.elapsed

    @property
    def cpu_us(self) -> float:
        return self.cpu / self.n * 1e6


def on_commit(err, parts):
    async_state["done"] += 1
    bad = err is not None or any(p.error is not None for p in parts)
    if bad:
        async_state["errors"] += 1
        async_state["first_error"] = async_state["first_error"] or str(err or next(p.error for p in parts if p.error))


def rate_sync(c: Consumer, topic: str, partitions: int, seconds: float) -> Window:
    w = Window(seconds)
    while True:
        offset = w.n + 1
        result = c.commit(offsets=[TopicPartition(topic, p, offset) for p in range(partitions)], asynchronous=False)
        if any(tp.error is not None for tp in result):
            raise SystemExit(f"commit failed: {result}")
        w.n += 1
        if w.n % 16 == 0 and time.monotonic() >= w.end:
            return w.close()


def rate_async(c: Consumer, topic: str, seconds: float, window: int = 1000) -> Window:
    async_state.update(done=0, errors=0, first_error=None)
    w = Window(seconds)
    while time.monotonic() < w.end:
        while w.n - async_state["done"] < window:
            w.n += 1
            c.commit(offsets=[TopicPartition(topic, 0, w.n)], asynchronous=True)
        c.poll(0)  # serves the commit callbacks
    while async_state["done"] < w.n:
        c.poll(0.1)
        if time.monotonic() > w.end + 60:
            raise SystemExit(f"{w.n - async_state['done']} async commits unanswered after 60 s")
    w.close()
    if async_state["errors"]:
        raise SystemExit(f"{async_state['errors']} async commits failed, first: {async_state['first_error']}")
    committed = c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
    if committed != w.n:
        raise SystemExit(f"after {w.n} async commits the committed offset is {committed}, expected {w.n}")
    return w


def rate_produce(bootstrap, topic, seconds: float) -> Window:
    delivered = []
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "acks": 1, "log_level": 3})
    value = b"x" * 100
    p.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: delivered.append(err))
    p.flush(10)  # connection and metadata before the clock
    w = Window(seconds)
    while True:
        delivered.clear()
        p.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: delivered.append(err))
        while not delivered:
            p.poll(1)
        if delivered[0] is not None:
            raise SystemExit(f"delivery failed: {delivered[0]}")
        w.n += 1
        if w.n % 16 == 0 and time.monotonic() >= w.end:
            return w.close()


def cmd_commits(args):
    global broker_pid
    broker_pid = args.broker_pid
    topic = new_topic(args.bootstrap)
    c = member_holding_everything(args.bootstrap, topic)
    figures: dict[str, list[Window]] = {"sync1": [], "sync6": [], "async1": [], "produce": []}
    try:
        rate_sync(c, topic, 1, 0.5)  # warm-up
        for run in range(1, args.runs + 1):
            figures["sync1"].append(rate_sync(c, topic, 1, args.seconds))
            figures["sync6"].append(rate_sync(c, topic, PARTITIONS, args.seconds))
            figures["async1"].append(rate_async(c, topic, args.seconds))
            figures["produce"].append(rate_produce(args.bootstrap, topic, args.seconds))
            if len(c.assignment()) != PARTITIONS:
                raise SystemExit(f"the commit member lost its assignment: {c.assignment()}")
            f = {k: v[-1] for k, v in figures.items()}
            print(f"  commits run {run}: sync 1 partition {f['sync1'].rate:,.0f}/s, sync 6 partitions "
                  f"{f['sync6'].rate:,.0f}/s, async 1 partition {f['async1'].rate:,.0f}/s; "
                  f"produce acks=1 round trips {f['produce'].rate:,.0f}/s"
                  + (f"; broker CPU per call: {f['sync1'].cpu_us:.0f}, {f['sync6'].cpu_us:.0f}, {f['async1'].cpu_us:.0f}; "
                     f"per produce {f['produce'].cpu_us:.0f} us" if broker_pid else ""), file=sys.stderr, flush=True)
    finally:
        c.close()
        delete_topics(args.bootstrap, [topic])
    for key, windows in figures.items():
        print(f"{key}=" + " ".join(f"{w.rate:.1f}" for w in windows))
        if broker_pid:
            print(f"{key}_cpu_us=" + " ".join(f"{w.cpu_us:.2f}" for w in windows))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait")
    p.add_argument("bootstrap")
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(func=cmd_wait)
    p = sub.add_parser("member")
    p.add_argument("bootstrap")
    p.add_argument("group")
    p.add_argument("topic")
    p.add_argument("--events", required=True)
    p.add_argument("--session-ms", type=int, default=6000)
    p.add_argument("--heartbeat-ms", type=int, default=500)
    p.set_defaults(func=cmd_member)
    p = sub.add_parser("rebalance")
    p.add_argument("bootstrap")
    p.add_argument("--work", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--session-ms", type=int, default=6000)
    p.add_argument("--heartbeat-ms", type=int, default=500)
    p.set_defaults(func=cmd_rebalance)
    p = sub.add_parser("commits")
    p.add_argument("bootstrap")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--seconds", type=float, default=3)
    p.add_argument("--broker-pid", type=int, help="also report the broker's CPU time per call (from /proc)")
    p.set_defaults(func=cmd_commits)
    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
