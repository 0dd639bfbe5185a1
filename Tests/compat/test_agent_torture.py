"""The agent under rotation, SIGKILL and broker outages: the topic is read back and every line
written must be in it. Duplicates are allowed only where documented (after a SIGKILL, lines
shipped but not yet checkpointed are read again) and are counted in the report."""

from __future__ import annotations

import collections
import random
import shutil
import time
from pathlib import Path

import pytest
from conftest import new_topic_name, read_all_confluent
from helpers.agent import AgentProcess, NumberedWriter


def shipped_lines(broker, topic: str) -> collections.Counter:
    return collections.Counter(r.value.decode() for r in read_all_confluent(broker, topic, timeout=60))


def check_all_arrived(counts: collections.Counter, prefix: str, written: int) -> int:
    """Asserts lines 1..written all arrived, nothing else did; returns how many were duplicated."""
    expected = {f"{prefix}-{n}" for n in range(1, written + 1)}
    missing = sorted(expected - set(counts), key=lambda s: int(s.rsplit("-", 1)[1]))
    unexpected = sorted(set(counts) - expected)
    assert not missing, f"{len(missing)} of {written} lines missing, first: {missing[:10]}"
    assert not unexpected, f"lines never written arrived: {unexpected[:10]}"
    return sum(c - 1 for c in counts.values())


@pytest.mark.timeout(240)
def test_rotation_torture(broker, tmp_path: Path):
    """A fast writer while the file is rotated by rename + create, copytruncate, delete + recreate and
    truncation, in turns. Truncation and deletion throw away what was not read yet, as they would in
    production; the writer does them only once the agent has caught up, so every line must arrive,
    exactly once (no crash here, so no duplicate is allowed)."""
    topic = new_topic_name("torture")
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "app.log"
    writer = NumberedWriter(log, "w")
    agent = AgentProcess(tmp_path, broker.bootstrap, topic, [{"paths": [str(logs / "app.log*")]}])
    agent.start()
    strategies = ["rename", "copytruncate", "delete", "truncate"] * 3
    rotated = 0
    try:
        for strategy in strategies:
            for _ in range(20):
                writer.write(100)
                time.sleep(0.01)
            if strategy in ("delete", "truncate"):
                agent.wait_status(lambda s: int(s["read"]) >= writer.written and s["behind"] == "0B")
            if strategy == "rename":
                for older in sorted(logs.glob("app.log.*"), reverse=True):
                    older.rename(logs / f"app.log.{rotated}.old")
                log.rename(logs / "app.log.1")
                writer.write(50)  # still into the renamed file, before the server reopens
                writer.reopen()
            elif strategy == "copytruncate":
                shutil.copyfile(log, logs / f"app.log.{rotated}.copy")
                with open(log, "r+b") as f:
                    f.truncate(0)
            elif strategy == "delete":
                log.unlink()
                writer.reopen()
            elif strategy == "truncate":
                with open(log, "r+b") as f:
                    f.truncate(0)
            rotated += 1
        writer.write(500)
        agent.wait_status(lambda s: int(s["shipped"]) >= writer.written and s["behind"] == "0B", timeout=90)
        assert agent.stop() == 0
    finally:
        writer.close()
        agent.close()
    counts = shipped_lines(broker, topic)
    duplicates = check_all_arrived(counts, "w", writer.written)
    print(f"rotation torture: {writer.written} lines, {rotated} rotations, {duplicates} duplicates; agent: {agent.status()}")
    assert duplicates == 0, f"{duplicates} lines arrived twice without any crash"
    assert int(agent.status()["lost_bytes"]) == 0


@pytest.mark.timeout(300)
def test_sigkill_ten_times(broker, tmp_path: Path):
    """SIGKILL the agent ten times while it ships a steady stream; after each restart it resumes from
    its checkpoint. No line may be lost; duplicates (lines acknowledged after the last checkpoint)
    are counted."""
    topic = new_topic_name("sigkill")
    log = tmp_path / "app.log"
    writer = NumberedWriter(log, "k")
    agent = AgentProcess(tmp_path, broker.bootstrap, topic, [{"paths": [str(log)]}])
    rng = random.Random(7)
    agent.start()
    try:
        for _ in range(10):
            deadline = time.monotonic() + rng.uniform(0.5, 1.5)
            while time.monotonic() < deadline:
                writer.write(200)
                time.sleep(0.01)
            agent.kill9()
            writer.write(300)  # written while the agent is down
            agent.start()
        writer.write(1000)
        agent.wait_status(lambda s: int(s["behind"].rstrip("B")) == 0 and int(s["read"]) > 0, timeout=90)
        # Everything on disk is read; wait until the broker has it all.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(shipped_lines(broker, topic)) >= writer.written:
                break
            time.sleep(0.5)
        assert agent.stop() == 0
    finally:
        writer.close()
        agent.close()
    counts = shipped_lines(broker, topic)
    duplicates = check_all_arrived(counts, "k", writer.written)
    print(f"sigkill x10: {writer.written} lines, {agent.kills} kills, {duplicates} duplicates ({duplicates / writer.written:.2%})")


@pytest.mark.timeout(300)
def test_broker_outage_spools_and_drains(broker_factory, tmp_path: Path):
    """The broker stops for 30 s while lines keep coming. The memory buffer is small, so lines go to
    the on-disk spool; after the broker returns the spool drains and reading goes on. No line lost."""
    b = broker_factory()
    topic = new_topic_name("outage")
    log = tmp_path / "app.log"
    writer = NumberedWriter(log, "o")
    agent = AgentProcess(
        tmp_path, b.bootstrap, topic, [{"paths": [str(log)]}],
        **{"buffer.memory_bytes": "64KiB", "output.retry_backoff_max": "1s"},
    )
    agent.start()
    try:
        writer.write(2000)
        agent.wait_status(lambda s: int(s["shipped"]) >= 2000)
        b.stop()
        outage_end = time.monotonic() + 30
        while time.monotonic() < outage_end:
            writer.write(500)
            time.sleep(0.2)
        # Reading goes on into the spool, with the broker still away.
        during = agent.wait_status(lambda s: int(s["read"]) >= writer.written, timeout=10)
        assert during["mode"] == "spooling", f"expected the agent to spool while the broker is away: {during}"
        assert int(during["spool"].rstrip("B")) > 0
        b.start()
        writer.write(1000)
        after = agent.wait_status(
            lambda s: int(s["shipped"]) >= writer.written and s["spool"] == "0B" and s["mode"] == "direct", timeout=120
        )
        assert agent.stop() == 0
    finally:
        writer.close()
        agent.close()
    counts = shipped_lines(b, topic)
    duplicates = check_all_arrived(counts, "o", writer.written)
    print(f"outage: {writer.written} lines, during outage {during}, after {after}, {duplicates} duplicates")
