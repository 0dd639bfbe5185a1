"""A librdkafka group member in its own process, so a test can SIGKILL it.

    group_member.py BOOTSTRAP GROUP TOPIC NAME [SECONDS] [--events FILE] [--process [--work-ms MS]]

Prints one JSON line per assignment change: {"member": NAME, "partitions": [...], "t": seconds},
and {"member": NAME, "closed": true, "t": ...} after closing. SIGTERM and SIGINT close the
consumer (librdkafka sends LeaveGroup); SIGKILL leaves the group to its session timeout (6 s).
SECONDS closes it after that long.

--events FILE appends JSON lines to FILE, each with one write(2) on an O_APPEND descriptor, so a
SIGKILL never leaves half a line and nothing written is lost with the process:
  {"ev": "assign"|"revoke", "ps": [...], "t": ...}   the rebalance callbacks
  {"ev": "closing", "t": ...}, {"ev": "closed", "t": ...}   around close()
With --process, every record is processed (recorded) and then committed synchronously, one commit
(offset + 1) per record, --work-ms after recording it (the record's "work", a window for a kill):
  {"ev": "proc", "p": partition, "o": offset, "k": key, "t": ...}      the record, processed
  {"ev": "committing", "p": ..., "o": offset + 1, "t": ...}             just before the commit is sent
  {"ev": "commit", "p": ..., "o": offset + 1, "ok": true|false, "err": ..., "t": ...}   its outcome
"""
import argparse
import json
import os
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaException

parser = argparse.ArgumentParser()
parser.add_argument("bootstrap")
parser.add_argument("group")
parser.add_argument("topic")
parser.add_argument("name")
parser.add_argument("seconds", nargs="?", type=float)
parser.add_argument("--events")
parser.add_argument("--process", action="store_true")
parser.add_argument("--work-ms", type=float, default=0.0, help="with --process: sleep this long between recording a record and committing it")
args = parser.parse_args()

events_fd = os.open(args.events, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if args.events else None


def event(ev, **fields):
    if events_fd is not None:
        os.write(events_fd, (json.dumps({"ev": ev, **fields, "t": time.time()}) + "\n").encode())


stopping = False


def stop(_signum, _frame):
    global stopping
    stopping = True


# Without these Python dies on SIGTERM at once, and nothing sends LeaveGroup.
signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)

consumer = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})


def report(partitions, ev):
    ps = sorted(p.partition for p in partitions)
    event(ev, ps=ps)
    print(json.dumps({"member": args.name, "partitions": ps if ev == "assign" else [], "t": time.time()}), flush=True)


consumer.subscribe([args.topic], on_assign=lambda c, ps: report(ps, "assign"), on_revoke=lambda c, ps: report(ps, "revoke"))
stop_at = time.time() + args.seconds if args.seconds is not None else None
try:
    while not stopping and (stop_at is None or time.time() < stop_at):
        msg = consumer.poll(0.1 if args.process else 0.2)
        if msg is None or not args.process:
            continue
        if msg.error() is not None:
            event("error", err=msg.error().name())
            continue
        p, o = msg.partition(), msg.offset()
        event("proc", p=p, o=o, k=msg.key().decode() if msg.key() is not None else None)
        if args.work_ms:
            time.sleep(args.work_ms / 1000)
        event("committing", p=p, o=o + 1)
        try:
            done = consumer.commit(message=msg, asynchronous=False)
            failed = [tp for tp in done or [] if tp.error is not None or tp.offset != o + 1]
            if failed:
                event("commit", p=p, o=o + 1, ok=False, err=f"{failed[0].error} (offset {failed[0].offset})")
            else:
                event("commit", p=p, o=o + 1, ok=True)
        except KafkaException as e:
            event("commit", p=p, o=o + 1, ok=False, err=e.args[0].name())
finally:
    event("closing")
    consumer.close()  # LeaveGroup
    event("closed")
    print(json.dumps({"member": args.name, "closed": True, "t": time.time()}), flush=True)
