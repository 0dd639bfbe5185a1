"""Cross-checks between the Swift client (`logflume produce` / `logflume consume`) and kcat:
what one writes the other reads byte for byte. Skipped until the subcommands exist.

Planned CLI:
  logflume produce --bootstrap HOST:PORT --topic T [--key-separator SEP] [--partition N]
                   [--codec none|gzip|snappy|lz4|zstd] [--acks 0|1|all]      (lines from stdin)
  logflume consume --bootstrap HOST:PORT --topic T [--partition N]
                   [--from earliest|latest|OFFSET|@TIMESTAMP_MS] [--format value|full] [--exit-at-end]
"""

import functools
import subprocess

import pytest

from conftest import (
    CODEC_IDS,
    consume_confluent,
    create_topic,
    kcat,
    kcat_consume,
    logflume_binary,
    now_ms,
    produce_confluent,
    stored_batches,
)

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


@functools.cache
def subcommand_available(name: str) -> bool:
    try:
        proc = subprocess.run([str(logflume_binary()), name, "--help"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    # ArgumentParser answers `logflume UNKNOWN --help` with the top-level help and exit 0, so
    # look for the subcommand's own usage line.
    return proc.returncode == 0 and f"USAGE: logflume {name}".encode() in proc.stdout


@pytest.fixture
def swift_produce():
    if not subcommand_available("produce"):
        pytest.skip("logflume produce not available yet")

    def run(broker, topic, data: bytes, *args: str):
        cmd = [str(logflume_binary()), "produce", "--bootstrap", broker.bootstrap, "--topic", topic, *args]
        proc = subprocess.run(cmd, input=data, capture_output=True, timeout=45)
        assert proc.returncode == 0, f"{' '.join(cmd)} exited with {proc.returncode}\n{proc.stderr.decode(errors='replace')[-3000:]}"
        return proc

    return run


@pytest.fixture
def swift_consume():
    if not subcommand_available("consume"):
        pytest.skip("logflume consume not available yet")

    def run(broker, topic, *args: str) -> bytes:
        cmd = [str(logflume_binary()), "consume", "--bootstrap", broker.bootstrap, "--topic", topic, "--exit-at-end", *args]
        proc = subprocess.run(cmd, capture_output=True, timeout=45)
        assert proc.returncode == 0, f"{' '.join(cmd)} exited with {proc.returncode}\n{proc.stderr.decode(errors='replace')[-3000:]}"
        return proc.stdout

    return run


def sample_lines(tag: str, n: int = 80) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs; values are compressible and hold tabs, spaces and multi-byte UTF-8."""
    pairs = []
    for i in range(n):
        value = f"{tag} value {i}\twith tab, ünïcødé ✓ and padding {'pad' * (i % 13)}".encode()
        pairs.append((f"key-{i}".encode(), value))
    return pairs


@pytest.mark.parametrize("codec", CODECS)
def test_swift_producer_read_by_kcat(broker, swift_produce, codec):
    topic = create_topic(broker, prefix=f"swift-to-kcat-{codec}")
    pairs = sample_lines(f"swift-{codec}")
    before = now_ms()
    swift_produce(broker, topic, b"".join(k + b":" + v + b"\n" for k, v in pairs),
                  "--key-separator", ":", "--partition", "0", "--codec", codec, "--acks", "all")
    after = now_ms()
    got = kcat_consume(broker, topic)
    assert [(r.offset, r.key, r.value) for r in got] == [(i, k, v) for i, (k, v) in enumerate(pairs)]
    assert all(before - 1000 <= r.timestamp <= after + 1000 for r in got), [r.timestamp for r in got][:5]
    assert all(r.headers == () for r in got)
    batches = stored_batches(broker, topic, 0)
    assert all(b.crc_ok for b in batches)
    assert any(b.codec == CODEC_IDS[codec] for b in batches), f"no {codec} batch: {[(b.base_offset, b.attributes) for b in batches]}"
    # librdkafka agrees.
    via_librdkafka = consume_confluent(broker, topic, {0: 0}, {0: len(pairs)})
    assert [(r.key, r.value) for r in via_librdkafka] == pairs


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_swift_producer_acks(broker, swift_produce, acks):
    topic = create_topic(broker, prefix=f"swift-acks-{acks}")
    lines = [f"line {i}".encode() for i in range(30)]
    swift_produce(broker, topic, b"\n".join(lines) + b"\n", "--acks", acks, "--partition", "0")
    got = kcat_consume(broker, topic)
    assert [(r.offset, r.key, r.value) for r in got] == [(i, None, v) for i, v in enumerate(lines)]


def test_swift_producer_partition_and_bytes(broker, swift_produce):
    topic = create_topic(broker, partitions=3, prefix="swift-bytes")
    values = [b"plain", b"\xff\xfe not utf-8 \x80\x81", b"nul\x00inside", b"\xc3\xa9t\xc3\xa9", b"  spaces  ", b"tab\tend\t"]
    swift_produce(broker, topic, b"\n".join(values) + b"\n", "--partition", "2")
    got = kcat_consume(broker, topic, partition=2)
    assert [r.value for r in got] == values
    assert kcat_consume(broker, topic, partition=0) == [] and kcat_consume(broker, topic, partition=1) == []


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_producer_read_by_swift(broker, swift_consume, codec):
    topic = create_topic(broker, prefix=f"kcat-to-swift-{codec}")
    pairs = sample_lines(f"kcat-{codec}")
    args = ["-P", "-t", topic, "-p", "0", "-K:", "-X", "linger.ms=50"]
    if codec != "none":
        args += ["-z", codec]
    kcat(broker, *args, input=b"".join(k + b":" + v + b"\n" for k, v in pairs))
    out = swift_consume(broker, topic, "--partition", "0", "--from", "earliest", "--format", "value")
    assert out == b"".join(v + b"\n" for _, v in pairs)


def test_swift_consumer_prints_values_of_every_size(broker, swift_consume):
    """`--format value` writes values of 256 bytes or more straight from the fetched buffers and
    copies shorter ones: sizes on both sides of that line, empty and null values, and more than a
    flush's worth (1 MiB) of output, read through a pipe, come out byte for byte in order."""
    topic = create_topic(broker, prefix="swift-consume-sizes", partitions=1)
    sizes = [0, 1, 255, 256, 257, 1000, 4096, 100_000, 255, 300]
    values = [None if i % 97 == 13 else bytes((i + j) % 251 for j in range(sizes[i % len(sizes)])).replace(b"\n", b"_")
              for i in range(600)]
    produce_confluent(broker, topic, [{"partition": 0, "key": None, "value": v, "headers": ()} for v in values], **{"linger.ms": 20})
    out = swift_consume(broker, topic, "--from", "earliest", "--format", "value")
    # A null value prints an empty line, as an empty one does.
    assert out == b"".join((v or b"") + b"\n" for v in values)
    assert len(out) > 2 << 20

    # 5,000 values of 300 bytes: a flush holds thousands of buffers, past one writev's 1,024.
    topic = create_topic(broker, prefix="swift-consume-many", partitions=1)
    values = [i.to_bytes(4, "big") * 75 for i in range(5000)]
    produce_confluent(broker, topic, [{"partition": 0, "key": None, "value": v, "headers": ()} for v in values], **{"linger.ms": 20})
    assert swift_consume(broker, topic, "--from", "earliest", "--format", "value") == b"".join(v + b"\n" for v in values)


def test_swift_consumer_from_offset_and_timestamp(broker, swift_consume):
    topic = create_topic(broker, prefix="swift-from")
    t0 = now_ms() - 3_600_000
    produce_confluent(broker, topic, [{"partition": 0, "key": None, "value": f"v{i}".encode(), "headers": (), "timestamp": t0 + 1000 * i}
                                      for i in range(20)])
    expect = lambda first: b"".join(f"v{i}\n".encode() for i in range(first, 20))  # noqa: E731
    assert swift_consume(broker, topic, "--from", "earliest", "--format", "value") == expect(0)
    assert swift_consume(broker, topic, "--from", "7", "--format", "value") == expect(7)
    assert swift_consume(broker, topic, "--from", f"@{t0 + 12_000}", "--format", "value") == expect(12)
    assert swift_consume(broker, topic, "--from", f"@{t0 + 12_500}", "--format", "value") == expect(13)
    assert swift_consume(broker, topic, "--from", "latest", "--format", "value") == b""
    full = swift_consume(broker, topic, "--from", "19", "--format", "full").decode(errors="replace")
    assert "v19" in full and "19" in full, f"--format full shows neither value nor offset: {full!r}"
