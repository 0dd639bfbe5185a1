"""Hostile bytes on the wire: the broker answers with the right Kafka error or closes the
connection with a log line naming the peer and the reason, never crashes, and keeps serving
everyone else."""
import socket
import struct
import time

from confluent_kafka.admin import AdminClient

from conftest import admin_client


def connect(b):
    s = socket.create_connection((b.host, b.port), timeout=5)
    return s


def closed_by_peer(s, timeout=5.0) -> bool:
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def still_serving(b):
    md = admin_client(b).list_topics(timeout=10)
    assert 0 in md.brokers


def log_mentions(b, since, *needles, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = b.log_text(since=since, lines=200)
        if all(n in text for n in needles):
            return text
        time.sleep(0.1)
    raise AssertionError(f"broker log lacks {needles}:\n{b.log_text(since=since, lines=40)}")


def test_oversized_frame_is_refused_before_buffering(broker_factory):
    b = broker_factory(config={"socket.request.max.bytes": "1MiB"})
    since = b.log_size()
    s = connect(b)
    local = "%s:%d" % s.getsockname()
    # Declare 2 GiB - 1 and send only the prefix: the broker must not wait for (or allocate) it.
    s.sendall(struct.pack(">i", 2**31 - 1))
    assert closed_by_peer(s), "the connection stayed open after an oversized frame size"
    text = log_mentions(b, since, "closing connection", "exceeds")
    assert local.split(":")[-1] in text, f"the log line does not name the peer {local}:\n{text}"
    still_serving(b)
    b.stop()


def test_negative_and_garbage_frames(broker):
    for payload in [struct.pack(">i", -5), struct.pack(">i", 3) + b"\x00\x12\x00",
                    struct.pack(">i", 10) + b"\xff" * 10, struct.pack(">i", 0)]:
        s = connect(broker)
        s.sendall(payload)
        assert closed_by_peer(s), f"connection not closed after {payload!r}"
        s.close()
    still_serving(broker)


def test_unknown_api_key_closes_with_a_reason(broker):
    since = broker.log_size()
    s = connect(broker)
    body = struct.pack(">hhih", 999, 0, 42, 4) + b"evil"
    s.sendall(struct.pack(">i", len(body)) + body)
    assert closed_by_peer(s)
    log_mentions(broker, since, "unsupported API key 999")
    still_serving(broker)


def test_truncated_frame_then_disconnect(broker):
    s = connect(broker)
    s.sendall(struct.pack(">i", 100) + b"\x00\x03")
    s.close()
    still_serving(broker)


def test_random_bytes_never_crash_the_broker(broker):
    import random
    rng = random.Random(7)
    for _ in range(200):
        s = connect(broker)
        n = rng.randint(1, 300)
        s.sendall(struct.pack(">i", n) + bytes(rng.getrandbits(8) for _ in range(n)))
        s.close()
    still_serving(broker)
    assert broker.running
