"""A librdkafka group member in its own process, so a test can SIGKILL it. Prints one JSON line
per assignment change: {"member": NAME, "partitions": [...], "t": seconds}."""
import json
import sys
import time

from confluent_kafka import Consumer

bootstrap, group, topic, name = sys.argv[1:5]
consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})


def report(partitions):
    print(json.dumps({"member": name, "partitions": sorted(p.partition for p in partitions), "t": time.time()}), flush=True)


consumer.subscribe([topic], on_assign=lambda c, ps: report(ps), on_revoke=lambda c, ps: report([]))
stop_at = time.time() + float(sys.argv[5]) if len(sys.argv) > 5 else None
try:
    while stop_at is None or time.time() < stop_at:
        consumer.poll(0.2)
finally:
    consumer.close()  # LeaveGroup
    print(json.dumps({"member": name, "closed": True, "t": time.time()}), flush=True)
