"""The aggregator's S3 sink as real processes: a `logflume broker`, a `logflume aggregator` with
`output.sink = "s3"`, and a real S3 API server (moto in server mode, `moto_server` from the compat
venv). What the aggregator wrote is read back with boto3: every closed hour has its data objects,
its manifest and `_SUCCESS`, every record is in the object of its own hour exactly once, and the
done-hook ran once per hour with the bucket's s3:// location (sinks/README.md describes the sink).

Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the aggregator's environment
(moto, with request authentication on, checks every signature). Event times lie in the three hours that ended an hour or more ago, so the wall
clock closes them once the partitions are caught up and idle.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from pathlib import Path

from dataclasses import dataclass

import pytest
from confluent_kafka import Producer
from conftest import REPO, Broker, create_topic, free_port, now_ms, producer_conf
from helpers.aggregator import HOUR_MS, AggregatorProcess, wait_until
from helpers.s3 import start_moto
from helpers.s3 import stop as stop_moto

MOTO_SERVER = Path(os.environ.get("LOGFLUME_MOTO_SERVER") or REPO / ".build" / "compat-venv" / "bin" / "moto_server")

pytestmark = pytest.mark.skipif(not MOTO_SERVER.exists(), reason=f"{MOTO_SERVER} is not installed: run scripts/compat-venv")

boto3 = pytest.importorskip("boto3")

BUCKET = "logflume-hours"
PREFIX = "lake"
PARTITIONS = 3
PER_PARTITION = 300
JITTER_MS = 90_000


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = Broker(tmp_path_factory.mktemp("broker"), name="aggregator-s3",
               config={"group.initial.rebalance.delay.ms": 0, "group.min.session.timeout.ms": 1000})
    b.start()
    yield b
    b.close()


@dataclass
class Moto:
    endpoint: str
    access_key_id: str
    secret_access_key: str
    # Over https: the PEM of the test CA that issued the server's certificate.
    ca_file: str = ""

    def client(self, secret: str | None = None):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", verify=self.ca_file or None,
                            aws_access_key_id=self.access_key_id, aws_secret_access_key=secret or self.secret_access_key)

    def sink_settings(self) -> dict[str, str]:
        return {"s3.endpoint": self.endpoint, **({"s3.ca_file": self.ca_file} if self.ca_file else {})}


@pytest.fixture
def moto(tmp_path, request):
    """`moto_server` on a free loopback port with request authentication on, so every request
    the sink sends must carry a valid SigV4 signature: the first four requests (unauthenticated)
    create an IAM user, its access key, a policy allowing s3:*, and the bucket. Parametrized
    (indirectly) with "https", it serves TLS with a certificate for localhost from a test CA."""
    tls = getattr(request, "param", "http") == "https"
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4")
    proc, endpoint, ca_file = start_moto(MOTO_SERVER, tmp_path, free_port(), tls, env)
    try:
        anonymous = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup",
                         verify=ca_file or None)
        iam = boto3.client("iam", **anonymous)
        iam.create_user(UserName="aggregator")
        key = iam.create_access_key(UserName="aggregator")["AccessKey"]
        iam.put_user_policy(UserName="aggregator", PolicyName="s3", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        boto3.client("s3", **anonymous).create_bucket(Bucket=BUCKET)
        yield Moto(endpoint, key["AccessKeyId"], key["SecretAccessKey"], ca_file)
    finally:
        stop_moto(proc)


def produce(broker: Broker, topic: str, first_hour: int, hours: int) -> dict[tuple[int, int], tuple[int, bytes]]:
    """PER_PARTITION records per partition, steadily through the hours with ±90 s of disorder,
    so records cross hour boundaries out of order. Returns (partition, offset) → (timestamp, value)."""
    delivered: dict[tuple[int, int], tuple[int, bytes]] = {}
    errors: list[str] = []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered[(msg.partition(), msg.offset())] = (msg.timestamp()[1], msg.value())

    producer = Producer(producer_conf(broker))
    span = hours * HOUR_MS
    for i in range(PER_PARTITION):
        for partition in range(PARTITIONS):
            jitter = ((i * 7919 + partition * 104_729) % 181 - 90) * 1000
            ts = min(max(first_hour + i * span // PER_PARTITION + jitter, first_hour), first_hour + span - 1)
            producer.produce(topic, value=f"p{partition}-{i}".encode(), partition=partition, timestamp=ts, on_delivery=report)
            producer.poll(0)
    assert producer.flush(30) == 0
    assert not errors, errors
    assert len(delivered) == PARTITIONS * PER_PARTITION
    return delivered


def hour_prefix(topic: str, start_ms: int) -> str:
    t = time.gmtime(start_ms / 1000)
    return f"{PREFIX}/{topic}/dt={time.strftime('%Y-%m-%d', t)}/hr={t.tm_hour:02d}/"


@pytest.mark.timeout(150)
# "multipart": every data file goes up as a multipart upload (s3.multipart_threshold = 1 byte).
@pytest.mark.parametrize("moto,upload", [("http", "put"), ("https", "put"), ("http", "multipart")], indirect=["moto"])
def test_aggregator_writes_hours_into_s3(broker, moto, upload, tmp_path, monkeypatch):
    topic = create_topic(broker, partitions=PARTITIONS, prefix="s3")
    s3 = moto.client()

    current_hour = now_ms() // HOUR_MS * HOUR_MS
    first_hour, hours = current_hour - 4 * HOUR_MS, 3
    produced = produce(broker, topic, first_hour, hours)
    hour_starts = [first_hour + h * HOUR_MS for h in range(hours)]

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto.secret_access_key)
    hook_log = tmp_path / "hook.log"
    staging = tmp_path / "staging"
    local_root = tmp_path / "local-root"
    agg = AggregatorProcess(
        tmp_path / "agg", broker.bootstrap, [topic], group=f"g-{topic}", root=local_root,
        **{
            "output.sink": "s3",
            "output.max_file_bytes": "8KiB",
            **moto.sink_settings(),
            "s3.bucket": BUCKET,
            "s3.prefix": PREFIX,
            "s3.staging_dir": str(staging),
            "buckets.delay": "10m",
            "buckets.idle_timeout": "1s",
            "done_hook.command": f"printf '%s\\n' \"$LOGFLUME_BUCKET_PATH\" >> '{hook_log}'",
            "done_hook.backoff": "100ms",
            **({"s3.multipart_threshold": "1"} if upload == "multipart" else {}),
        },
    )
    agg.start()
    try:
        def markers_done():
            for start in hour_starts:
                try:
                    s3.head_object(Bucket=BUCKET, Key=hour_prefix(topic, start) + "_SUCCESS")
                except s3.exceptions.ClientError:
                    return False
            return True

        wait_until(markers_done, 60, "the three hours' _SUCCESS objects in S3", procs=[agg])
        wait_until(lambda: hook_log.exists() and len(hook_log.read_text().splitlines()) >= hours, 20,
                   "the done-hook of every hour", procs=[agg])
        assert agg.stop() == 0, agg.log_tail()
    finally:
        agg.close()

    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/{topic}/"):
        objects += page.get("Contents", [])
    by_key = {o["Key"]: o for o in objects}

    found: dict[tuple[int, int], tuple[int, bytes]] = {}
    for start in hour_starts:
        prefix = hour_prefix(topic, start)
        in_hour = {k[len(prefix):]: o for k, o in by_key.items() if k.startswith(prefix)}
        assert "_SUCCESS" in in_hour and "_manifest.json" in in_hour, sorted(in_hour)
        assert by_key[prefix + "_SUCCESS"]["Size"] == 0
        # The marker was written last: nothing in the hour is newer than it.
        marker_time = in_hour["_SUCCESS"]["LastModified"]
        assert all(o["LastModified"] <= marker_time for o in in_hour.values()), prefix

        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "_manifest.json")["Body"].read())
        data_names = sorted(n for n in in_hour if "/" not in n and not n.startswith("_"))
        assert data_names == sorted(f["name"] for f in manifest["files"])
        assert sorted(n for n in in_hour if n.startswith("_partitions/")) == [f"_partitions/{p}.json" for p in range(PARTITIONS)]

        records = 0
        for f in manifest["files"]:
            # A multipart object's ETag ends in -<parts> (one part here), a PUT's does not.
            assert by_key[prefix + f["name"]]["ETag"].strip('"').endswith("-1") == (upload == "multipart"), by_key[prefix + f["name"]]
            body = s3.get_object(Bucket=BUCKET, Key=prefix + f["name"])["Body"].read()
            assert len(body) == f["bytes"]
            for line in gzip.decompress(body).splitlines():
                r = json.loads(line)
                assert start <= r["timestamp"] < start + HOUR_MS, f"{r} is not in the hour of {prefix}"
                key = (r["partition"], r["offset"])
                assert key not in found, f"{key} twice"
                found[key] = (r["timestamp"], r["value"].encode())
                records += 1
        assert records == manifest["records"]

    assert found == produced, f"{len(found)} records read back, {len(produced)} produced"

    # Any other marker is an hour without records (the empty hour after them may have closed too).
    for key in by_key:
        if key.endswith("/_SUCCESS") and not any(key == hour_prefix(topic, s) + "_SUCCESS" for s in hour_starts):
            manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=key[: -len("_SUCCESS")] + "_manifest.json")["Body"].read())
            assert manifest["records"] == 0, key

    hook_lines = hook_log.read_text().splitlines()
    assert len(hook_lines) == len(set(hook_lines)), hook_lines
    for start in hour_starts:
        assert f"s3://{BUCKET}/{hour_prefix(topic, start).rstrip('/')}" in hook_lines

    # No multipart upload was left unfinished.
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads"), s3.list_multipart_uploads(Bucket=BUCKET)

    # Nothing was written locally: no output root, no staged file left behind.
    assert not local_root.exists()
    assert not [p for p in staging.rglob("*") if p.is_file()], list(staging.rglob("*"))


def test_bad_s3_settings_stop_the_aggregator_with_the_key(broker, tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    agg = AggregatorProcess(tmp_path / "agg", broker.bootstrap, ["t"], group="g-bad", root=tmp_path / "out",
                            **{"output.sink": "s3", "s3.endpoint": "http://127.0.0.1:9", "s3.bucket": "b"})
    agg.start()
    try:
        code = agg.proc.wait(timeout=20)
    finally:
        agg.close()
    assert code != 0
    assert "s3.access_key_id" in agg.log_text() and "AWS_ACCESS_KEY_ID" in agg.log_text(), agg.log_tail()


@pytest.mark.timeout(90)
def test_a_wrong_secret_fails_with_the_s3_error_code(broker, moto, tmp_path):
    """Every request is refused (SignatureDoesNotMatch): the aggregator logs the S3 error code
    and the object, keeps retrying sessions, and still stops cleanly on SIGTERM."""
    topic = create_topic(broker, partitions=1, prefix="s3-denied")
    producer = Producer(producer_conf(broker))
    old = now_ms() // HOUR_MS * HOUR_MS - 3 * HOUR_MS
    for i in range(10):
        producer.produce(topic, value=f"r{i}".encode(), partition=0, timestamp=old + i * 1000)
    assert producer.flush(30) == 0
    agg = AggregatorProcess(
        tmp_path / "agg", broker.bootstrap, [topic], group=f"g-{topic}", root=tmp_path / "out",
        **{
            "output.sink": "s3", "s3.endpoint": moto.endpoint, "s3.bucket": BUCKET,
            "s3.access_key_id": moto.access_key_id, "s3.secret_access_key": "not-the-secret",
            "s3.retries": 0, "s3.staging_dir": str(tmp_path / "staging"),
            "buckets.delay": "10m", "buckets.idle_timeout": "1s",
        },
    )
    agg.start()
    try:
        lines = wait_until(lambda: agg.log_lines("SignatureDoesNotMatch"), 30, "a SignatureDoesNotMatch error in the log", procs=[agg])
        assert f"s3://{BUCKET}/{topic}/" in lines[0], lines[0]
        assert agg.stop() == 0, agg.log_tail()
    finally:
        agg.close()
    keys = [o["Key"] for o in moto.client().list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert not [k for k in keys if k.startswith(topic + "/")], keys
