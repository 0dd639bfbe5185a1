"""The README's run command: `logflume up --exit-when-done` on a clean directory produces closed
hours with markers, and the hour files hold every sample line exactly once, each in its own hour."""

from __future__ import annotations

import datetime
import gzip
import json
import re
import subprocess

import pytest
from conftest import free_port, logflume_binary


@pytest.mark.timeout(180)
def test_up_closes_every_sample_hour(tmp_path):
    port = free_port()
    proc = subprocess.run(
        [str(logflume_binary()), "up", "--exit-when-done", "--listen", f"127.0.0.1:{port}", "--metrics", "",
         "--data", str(tmp_path / "data"), "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=170,
    )
    assert proc.returncode == 0, f"logflume up exited {proc.returncode}\n{proc.stderr.decode()[-3000:]}"
    markers = sorted((tmp_path / "out" / "nginx-access").glob("dt=*/hr=*/_SUCCESS"))
    assert len(markers) == 6, proc.stdout.decode()
    lines = []
    for data in (tmp_path / "out" / "nginx-access").glob("dt=*/hr=*/*.jsonl.gz"):
        day, hour = re.search(r"dt=([\d-]+)/hr=(\d+)", str(data)).groups()
        start = datetime.datetime.strptime(f"{day} {hour}", "%Y-%m-%d %H").replace(tzinfo=datetime.timezone.utc).timestamp() * 1000
        for text in gzip.open(data, "rt"):
            record = json.loads(text)
            assert start <= record["timestamp"] < start + 3_600_000, f"{record} is outside {data.parent.name}"
            lines.append(record["value"])
    late = list((tmp_path / "out" / "nginx-access").glob("dt=*/hr=*/late/*.jsonl.gz"))
    for data in late:
        lines += [json.loads(t)["value"] for t in gzip.open(data, "rt")]
    samples = []
    for log in sorted((tmp_path / "data" / "logs").glob("access.log*")):
        samples += log.read_text().splitlines()
    assert len(lines) == len(samples) == 18000
    assert sorted(lines) == sorted(samples)
