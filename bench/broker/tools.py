#!/usr/bin/env python3
"""Helpers for bench/broker.sh, driven through confluent-kafka (librdkafka) only.

Subcommands (BOOTSTRAP is HOST:PORT):
  wait BOOTSTRAP [--timeout S]                    until the broker answers Metadata
  create BOOTSTRAP TOPIC PARTITIONS               CreateTopics, replication factor 1
  delete BOOTSTRAP TOPIC...                       DeleteTopics
  end-offsets BOOTSTRAP TOPIC                     "total=N" and "partitions=n0,n1,..." (ListOffsets latest)
  produce BOOTSTRAP TOPIC --records N --size B    confluent-kafka Producer.produce() in a tight loop
  latency BOOTSTRAP TOPIC --rate R --seconds S    fixed-rate produce, produce()->delivery latency
  raw-fetch BOOTSTRAP TOPIC                       a whole topic through bare Fetch requests, bytes discarded
  raw-latency BOOTSTRAP TOPIC --rate R --seconds S  fixed-rate bare Produce requests of one prebuilt batch, request latency
  idle-conns HOST PORT N --ready FILE             opens N TCP connections and holds them until killed
  timed [--pid P] [--stdin F] [--stdout F] [--stderr F] -- CMD  runs CMD; wall clock, its CPU, and process P's CPU meanwhile

Every figure is printed as key=value on its own line, for the shell to pick up.
"""
import argparse
import collections
import json
import os
import signal
import socket
import statistics
import sys
import time

from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec

# The compat tests' raw wire encoders (standard library only), for raw-latency's prebuilt batch.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "compat"))
from rawkafka import build_record_batch  # noqa: E402


def admin(bootstrap):
    # log_level 3: librdkafka's notices on closing the handle are not news here.
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000, "log_level": 3})


def cmd_wait(args):
    deadline = time.monotonic() + args.timeout
    last = None
    while time.monotonic() < deadline:
        try:
            admin(args.bootstrap).list_topics(timeout=2)
            return 0
        except KafkaException as error:
            last = error
            time.sleep(0.1)
    print(f"broker at {args.bootstrap} did not answer within {args.timeout} s: {last}", file=sys.stderr)
    return 1


def create_topic(bootstrap, name, partitions, timeout=60.0) -> bool:
    """Creates the topic and waits until metadata shows every partition with a leader."""
    client = admin(bootstrap)
    futures = client.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)],
                                   operation_timeout=60, request_timeout=120)
    for future in futures.values():
        future.result()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topic = client.list_topics(name, timeout=10).topics.get(name)
        if topic and topic.error is None and len(topic.partitions) == partitions \
                and all(p.leader >= 0 for p in topic.partitions.values()):
            return True
        time.sleep(0.05)
    return False


def delete_topics(bootstrap, names):
    client = admin(bootstrap)  # kept alive until the futures are done
    futures = client.delete_topics(names, operation_timeout=60, request_timeout=120)
    for future in futures.values():
        future.result()


def cmd_create(args):
    if create_topic(args.bootstrap, args.topic, args.partitions):
        return 0
    print(f"topic {args.topic} did not show {args.partitions} partitions", file=sys.stderr)
    return 1


def cmd_delete(args):
    delete_topics(args.bootstrap, args.topics)
    return 0


def end_offsets(bootstrap, topic):
    client = admin(bootstrap)
    partitions = client.list_topics(topic, timeout=10).topics[topic].partitions
    wanted = {TopicPartition(topic, p): OffsetSpec.latest() for p in sorted(partitions)}
    futures = client.list_offsets(wanted, request_timeout=30)
    return [futures[tp].result().offset for tp in wanted]


def cmd_end_offsets(args):
    offsets = end_offsets(args.bootstrap, args.topic)
    print(f"total={sum(offsets)}")
    print("partitions=" + ",".join(str(o) for o in offsets))
    return 0


def make_value(size):
    # Printable, incompressible-looking bytes (no compression is used anyway).
    return (os.urandom(size).hex().encode())[:size]


def cmd_produce(args):
    """confluent-kafka Producer.produce() per record, as a Python application would call it.
    No delivery callback (it would add a Python call per record); the caller checks end offsets."""
    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": str(args.acks),
        "linger.ms": args.linger_ms,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 1000000,
        "queue.buffering.max.kbytes": 1048576,
    })
    # Connect and learn the topic's partitions before the clock starts.
    producer.list_topics(args.topic, timeout=10)
    value = make_value(args.size)
    produce = producer.produce
    poll = producer.poll
    topic = args.topic
    start = time.perf_counter()
    for i in range(args.records):
        while True:
            try:
                produce(topic, value)
                break
            except BufferError:
                poll(0.001)
        if i & 0xFFFF == 0:
            poll(0)
    remaining = producer.flush(120)
    seconds = time.perf_counter() - start
    if remaining:
        print(f"{remaining} records still undelivered after flush", file=sys.stderr)
        return 1
    print(f"records={args.records}")
    print(f"seconds={seconds:.6f}")
    return 0


def weighted_percentile(pairs, q):
    """pairs: sorted (value, weight); the smallest value with at least q of the weight at or below it."""
    total = sum(w for _, w in pairs)
    target = q * total
    seen = 0
    for value, weight in pairs:
        seen += weight
        if seen >= target:
            return value
    return pairs[-1][0] if pairs else float("nan")


def cmd_latency(args):
    """Produces `rate` records/s of `size` B to one partition for `seconds` s (after `warmup` s),
    linger.ms=0, acks=1, on a fixed schedule: every tick (1 ms) the records due by then are
    enqueued at once with produce_batch(). Only the last record of each burst carries a delivery
    callback: delivery reports of one partition arrive in produce order, so that report means the
    whole burst is acknowledged, and the burst's latency counts for each of its records. This keeps
    Python's per-record work to the enqueue (no Python callback per record).

    Two latencies per burst: `p*_ms` is librdkafka's own produce()->acknowledgement time of the
    burst's last record (Message.latency(), taken in its broker thread when the response is
    read), independent of when this thread gets to serve the report; `app_p*_ms` is enqueue ->
    delivery callback as this Python thread sees it (adds its poll cadence, up to ~1 ms).
    `max_behind_ms` is how late past its due time a record was enqueued (this process did not
    keep the schedule). If librdkafka's queue fills (the pair cannot sustain the rate), sending
    stops and `sustained=0` is printed with the figures so far. Records that failed surface as
    errors and as a partition end offset short of what was queued."""
    now = time.perf_counter
    bursts = collections.deque()  # (send_time, records) in produce order
    measured = []  # (librdkafka latency, records)
    measured_app = []  # (callback time - enqueue time, records)
    errors = [0]
    warm_until = [0.0]

    def delivered(err, msg):
        t = now()
        if not bursts:
            return
        sent_at, records = bursts.popleft()
        if err is not None:
            errors[0] += 1
        elif sent_at >= warm_until[0]:
            measured.append((msg.latency(), records))
            measured_app.append((t - sent_at, records))

    # librdkafka's statistics, for telling broker time from client time: the round trip of
    # produce requests on the broker connection (rtt: request written -> response read) and the
    # time records waited in librdkafka's queue before being sent (int_latency), as histograms
    # over each 1 s window.
    windows = []

    def stats(text):
        if now() < warm_until[0]:
            return
        data = json.loads(text)
        busiest = max(data.get("brokers", {}).values(), key=lambda b: b.get("rtt", {}).get("cnt", 0), default=None)
        if busiest and busiest["rtt"].get("cnt", 0) > 0:
            windows.append((busiest["rtt"], busiest["int_latency"]))

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "1",
        "linger.ms": 0,
        "queue.buffering.max.messages": 2000000,
        "queue.buffering.max.kbytes": 2097151,
        "statistics.interval.ms": 1000,
        "stats_cb": stats,
    })
    producer.list_topics(args.topic, timeout=10)
    value = make_value(args.size)
    topic = args.topic
    partition = args.partition
    plain = [{"value": value}] * max(1, int(args.rate * args.tick * 20) + 1)
    last = {"value": value, "callback": delivered}
    total = int(args.rate * (args.seconds + args.warmup))
    start = now()
    warm_until[0] = start + args.warmup
    sent = 0
    behind_max = 0.0
    sustained = True
    next_tick = start
    while sent < total and sustained:
        # Serve delivery reports until the tick (poll() takes whole milliseconds), then enqueue
        # every record due by now.
        while True:
            remaining = next_tick - now()
            if remaining <= 0:
                break
            producer.poll(max(0.001, remaining))
        t = now()
        next_tick += args.tick
        due = min(total, int((t - start) * args.rate))
        if due <= sent:
            continue
        behind_max = max(behind_max, t - (start + (sent + 1) / args.rate))
        count = due - sent
        while count > 0:
            n = min(count, len(plain) + 1)
            burst = plain[:n - 1]
            burst.append(last)
            bursts.append((now(), n))
            queued = producer.produce_batch(topic, burst, partition=partition)
            if queued != n:
                bursts.pop()
                sent += queued
                sustained = False
                break
            sent += n
            count -= n
    end_send = now()
    producer.flush(120)
    offsets = end_offsets(args.bootstrap, topic)
    measured.sort()
    measured_app.sort()
    achieved = sent / (end_send - start)
    ms = 1000.0
    print(f"sustained={int(sustained)}")
    print(f"rate_target={args.rate:.0f}")
    print(f"rate_achieved={achieved:.0f}")
    print(f"seconds_sent={end_send - start:.3f}")
    print(f"records_sent={sent}")
    print(f"records_in_log={offsets[partition]}")
    print(f"records_measured={sum(n for _, n in measured)}")
    print(f"bursts_measured={len(measured)}")
    print(f"errors={errors[0]}")
    print(f"max_behind_ms={behind_max * ms:.3f}")
    if measured:
        for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
            print(f"{name}_ms={weighted_percentile(measured, q) * ms:.3f}")
            print(f"app_{name}_ms={weighted_percentile(measured_app, q) * ms:.3f}")
        print(f"max_ms={measured[-1][0] * ms:.3f}")
    if windows:
        us = 1000.0
        print(f"rtt_p50_ms={statistics.median(w[0]['p50'] for w in windows) / us:.3f}")
        print(f"rtt_p99_ms={max(w[0]['p99'] for w in windows) / us:.3f}")
        print(f"queue_p99_ms={max(w[1]['p99'] for w in windows) / us:.3f}")
        print(f"requests={sum(w[0]['cnt'] for w in windows)}")
    ok = errors[0] == 0 and offsets[partition] >= sent and bool(measured)
    if not ok:
        print(f"latency: {errors[0]} failed bursts, {offsets[partition]} records in the log, {sent} queued", file=sys.stderr)
    return 0 if ok else 1


def cmd_raw_fetch(args):
    """Reads a whole topic with bare Fetch v4 requests over one connection, one request in
    flight (as a Kafka consumer keeps one per broker), `partition_max_bytes` per partition, and
    discards the record bytes after finding where the last whole batch ends: no record parsing,
    no copies beyond the socket read. What the broker can serve, with the client's work taken
    out of the way; kcat's figure next to it shows how much a real client adds."""
    import struct
    offsets = end_offsets(args.bootstrap, args.topic)
    ends = dict(enumerate(offsets))
    position = {p: 0 for p in ends}
    host, port = args.bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    topic = args.topic.encode()
    client_id = b"bench-raw-fetch"
    buffer = bytearray(args.max_bytes + (1 << 20))
    view = memoryview(buffer)

    def read_exactly(n):
        got = 0
        while got < n:
            k = sock.recv_into(view[got:n], n - got)
            if k == 0:
                raise ConnectionError("broker closed the connection")
            got += k

    correlation = 0
    log_bytes = 0
    requests = 0
    start = time.perf_counter()
    while any(position[p] < ends[p] for p in ends):
        wanted = [p for p in ends if position[p] < ends[p]]
        correlation += 1
        body = struct.pack(">hhih", 1, 4, correlation, len(client_id)) + client_id
        body += struct.pack(">iiiibi", -1, args.max_wait_ms, 1, args.max_bytes, 0, 1)
        body += struct.pack(">h", len(topic)) + topic + struct.pack(">i", len(wanted))
        for p in wanted:
            body += struct.pack(">iqi", p, position[p], args.partition_max_bytes)
        sock.sendall(struct.pack(">i", len(body)) + body)
        read_exactly(4)
        (size,) = struct.unpack_from(">i", buffer, 0)
        if size > len(buffer):
            raise ValueError(f"response of {size} bytes is larger than the {len(buffer)} byte buffer")
        read_exactly(size)
        requests += 1
        pos = 0
        got_correlation, _throttle, topics = struct.unpack_from(">iii", buffer, pos)
        pos += 12
        assert got_correlation == correlation
        for _ in range(topics):
            (name_length,) = struct.unpack_from(">h", buffer, pos)
            pos += 2 + name_length
            (partitions,) = struct.unpack_from(">i", buffer, pos)
            pos += 4
            for _ in range(partitions):
                partition, error, _hw, _lso, aborted = struct.unpack_from(">ihqqi", buffer, pos)
                pos += 26 + max(0, aborted) * 16
                (length,) = struct.unpack_from(">i", buffer, pos)
                pos += 4
                if error != 0:
                    raise ValueError(f"fetch error {error} on partition {partition}")
                end = pos + max(0, length)
                at = pos
                while at + 61 <= end:
                    base, batch_length = struct.unpack_from(">qi", buffer, at)
                    if at + 12 + batch_length > end:
                        break  # a partial batch at the end of the response
                    (last_delta,) = struct.unpack_from(">i", buffer, at + 23)
                    position[partition] = base + last_delta + 1
                    log_bytes += 12 + batch_length
                    at += 12 + batch_length
                pos = end
    seconds = time.perf_counter() - start
    print(f"records={sum(ends.values())}")
    print(f"log_bytes={log_bytes}")
    print(f"requests={requests}")
    print(f"seconds={seconds:.6f}")
    return 0

def cmd_raw_latency(args):
    """The broker's own produce latency, with the client's work taken out of the way (as
    raw-fetch does for fetch): one record batch of rate x tick records is built once, and every
    tick (1 ms) a bare Produce v7 request (acks=1) carrying it goes out on one connection, as a
    producer with linger.ms=0 sends what accumulated since its last request. Requests are not
    held back by unanswered ones; responses come in order. A request's latency runs from its
    scheduled send time (not when this process got to send it, so a late client counts against
    the figure) to reading its response, and counts once per record it carried."""
    import select
    import struct
    host, port = args.bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    per_request = max(1, round(args.rate * args.tick))
    value = make_value(args.size)
    batch = build_record_batch([(None, value, ())] * per_request, int(time.time() * 1000))
    topic = args.topic.encode()
    client_id = b"bench-raw-latency"
    body_after_header = (struct.pack(">hhi", -1, 1, 30000) + struct.pack(">ih", 1, len(topic)) + topic
                         + struct.pack(">iii", 1, args.partition, len(batch)) + batch)
    total = int((args.seconds + args.warmup) / args.tick)
    warm = int(args.warmup / args.tick)
    scheduled = {}  # correlation id -> scheduled send time
    latencies = []
    errors = 0
    inflight_max = 0
    behind_max = 0.0
    pending = bytearray()
    answered = 0
    sent = 0
    start = time.perf_counter() + 0.05

    def read_responses():
        nonlocal answered, errors
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        arrived = time.perf_counter()
        pending.extend(chunk)
        while len(pending) >= 4:
            (size,) = struct.unpack_from(">i", pending, 0)
            if len(pending) < 4 + size:
                break
            correlation, = struct.unpack_from(">i", pending, 4)
            pos = 8 + 4  # topics count
            (name_length,) = struct.unpack_from(">h", pending, pos)
            pos += 2 + name_length + 4  # partitions count
            _index, error = struct.unpack_from(">ih", pending, pos)
            if error != 0:
                errors += 1
            if correlation >= warm:
                latencies.append(arrived - scheduled[correlation])
            del scheduled[correlation]
            del pending[:4 + size]
            answered += 1

    while sent < total or answered < sent:
        due = start + sent * args.tick
        t = time.perf_counter()
        if sent < total and t >= due:
            behind_max = max(behind_max, t - due)
            header = struct.pack(">hhih", 0, 7, sent, len(client_id)) + client_id
            scheduled[sent] = due
            request = header + body_after_header
            sock.sendall(struct.pack(">i", len(request)) + request)
            sent += 1
            inflight_max = max(inflight_max, sent - answered)
            continue
        timeout = max(0.0, due - t) if sent < total else 10.0
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            read_responses()
        elif sent >= total:
            raise TimeoutError(f"no response in 10 s; {answered} of {sent} requests answered")
    sock.close()
    offsets = end_offsets(args.bootstrap, args.topic)
    latencies.sort()
    ms = 1000.0
    print(f"records_per_request={per_request}")
    print(f"requests={sent}")
    print(f"records_sent={sent * per_request}")
    print(f"records_in_log={offsets[args.partition]}")
    print(f"errors={errors}")
    print(f"inflight_max={inflight_max}")
    print(f"max_behind_ms={behind_max * ms:.3f}")
    for name, q in (("p50", 0.5), ("p99", 0.99), ("p999", 0.999)):
        print(f"{name}_ms={latencies[min(len(latencies) - 1, int(len(latencies) * q))] * ms:.3f}")
    print(f"max_ms={latencies[-1] * ms:.3f}")
    return 0 if errors == 0 and offsets[args.partition] >= sent * per_request else 1


def cmd_idle_conns(args):
    sockets = []
    for _ in range(args.count):
        s = socket.create_connection((args.host, args.port), timeout=10)
        sockets.append(s)
    with open(args.ready, "w") as f:
        f.write(f"{len(sockets)}\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


def process_cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cmd_timed(args):
    """Times one command: wall clock from just before spawning to its exit, the CPU it (and its
    children) used, and the CPU the broker (--pid) used meanwhile."""
    import resource
    import subprocess
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    stdin = open(args.stdin, "rb") if args.stdin else subprocess.DEVNULL
    stdout = open(args.stdout, "wb") if args.stdout else subprocess.DEVNULL
    stderr = open(args.stderr, "wb") if args.stderr else None
    broker_before = process_cpu_seconds(args.pid) if args.pid else 0.0
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Popen.wait(timeout) polls with sleeps of up to 50 ms, which added up to 50 ms to runs of
    # 0.6 s (fetch); a plain wait() blocks in waitpid, and a timer thread enforces the timeout.
    import threading
    timed_out = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdin=stdin, stdout=stdout, stderr=stderr)

    def expire():
        if proc.poll() is None:
            timed_out.set()
            proc.kill()
    watchdog = threading.Timer(args.timeout, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        rc = proc.wait()
        wall = time.perf_counter() - start
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    if timed_out.is_set():
        rc = 124
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    broker = process_cpu_seconds(args.pid) - broker_before if args.pid else 0.0
    print(f"rc={rc}")
    print(f"wall_s={wall:.6f}")
    print(f"client_cpu_s={usage.ru_utime - usage_before.ru_utime + usage.ru_stime - usage_before.ru_stime:.3f}")
    print(f"broker_cpu_s={broker:.3f}")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("wait")
    p.add_argument("bootstrap")
    p.add_argument("--timeout", type=float, default=30)
    p.set_defaults(run=cmd_wait)

    p = sub.add_parser("create")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("partitions", type=int)
    p.set_defaults(run=cmd_create)

    p = sub.add_parser("delete")
    p.add_argument("bootstrap")
    p.add_argument("topics", nargs="+")
    p.set_defaults(run=cmd_delete)

    p = sub.add_parser("end-offsets")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.set_defaults(run=cmd_end_offsets)

    p = sub.add_parser("produce")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("--records", type=int, required=True)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--acks", type=int, default=1)
    p.add_argument("--linger-ms", type=int, default=5)
    p.set_defaults(run=cmd_produce)

    def fixed_rate(name, run):
        p = sub.add_parser(name)
        p.add_argument("bootstrap")
        p.add_argument("topic")
        p.add_argument("--rate", type=float, required=True, help="records per second")
        p.add_argument("--seconds", type=float, default=10)
        p.add_argument("--warmup", type=float, default=1)
        p.add_argument("--size", type=int, default=100)
        p.add_argument("--partition", type=int, default=0)
        p.add_argument("--tick", type=float, default=0.001, help="seconds between bursts")
        p.set_defaults(run=run)

    fixed_rate("latency", cmd_latency)
    fixed_rate("raw-latency", cmd_raw_latency)

    p = sub.add_parser("raw-fetch")
    p.add_argument("bootstrap")
    p.add_argument("topic")
    p.add_argument("--partition-max-bytes", type=int, default=1 << 20)
    p.add_argument("--max-bytes", type=int, default=50 << 20)
    p.add_argument("--max-wait-ms", type=int, default=500)
    p.set_defaults(run=cmd_raw_fetch)


    p = sub.add_parser("idle-conns")
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("count", type=int)
    p.add_argument("--ready", required=True)
    p.set_defaults(run=cmd_idle_conns)

    p = sub.add_parser("timed")
    p.add_argument("--pid", type=int)
    p.add_argument("--stdin")
    p.add_argument("--stdout")
    p.add_argument("--stderr")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(run=cmd_timed)

    args = parser.parse_args()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
