#!/usr/bin/env python3
"""bench/s3.sh's measurements (run with the compat venv's python): the aggregator's S3 sink
against moto_server over http and over https, next to boto3 doing the same requests in the same
run. One request stream, PUT of a small object then GET of it, `--pairs` times, as the sink
publishes an hour (one request after the other). moto_server closes every connection after its
answer, so there each request costs a connect (and over https a TLS handshake); the last two rows
serve moto's app through cheroot, which keeps connections open, as S3 does. Then one
`--upload-mib` file as a multipart upload (16 MiB parts) through the sink, 4 parts at a time and
one at a time, next to boto3's `upload_file` with the same part size, 4 at a time, under cheroot.
Medians of --runs, the clients alternating."""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "compat"))
from helpers.s3 import client, start_moto, stop  # noqa: E402

from boto3.s3.transfer import TransferConfig  # noqa: E402

BUCKET = "bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def swift_bench(bench: str, subcommand: str, endpoint: str, rate: str, *options: str) -> tuple[float, float]:
    """Runs a `logflume-bench` S3 subcommand; returns its `rate` field and its CPU seconds."""
    out = subprocess.run([bench, subcommand, "--endpoint", endpoint, "--bucket", BUCKET, *options],
                         check=True, capture_output=True, text=True).stdout
    fields = dict(line.split("=", 1) for line in out.split())
    return float(fields[rate]), float(fields["cpu_seconds"])


def swift_run(bench: str, endpoint: str, ca_file: str, pairs: int, size: int) -> tuple[float, float]:
    return swift_bench(bench, "s3-requests", endpoint, "requests_per_second", "--ca-file", ca_file, "--pairs", str(pairs), "--size", str(size))


def boto3_run(endpoint: str, ca_file: str, pairs: int, size: int) -> tuple[float, float]:
    s3 = client(endpoint, ca_file)
    body = b"a" * size
    cpu = time.process_time()
    started = time.monotonic()
    for index in range(pairs):
        key = f"bench/boto3-{index}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    return 2 * pairs / (time.monotonic() - started), time.process_time() - cpu


def swift_upload(bench: str, endpoint: str, file: Path, concurrency: int) -> tuple[float, float]:
    return swift_bench(bench, "s3-upload", endpoint, "megabytes_per_second", "--file", str(file), "--part-mib", "16", "--concurrency", str(concurrency))


def boto3_upload(endpoint: str, file: Path, concurrency: int) -> tuple[float, float]:
    s3 = client(endpoint)
    config = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=16 << 20, max_concurrency=concurrency, use_threads=True)
    cpu = time.process_time()
    started = time.monotonic()
    s3.upload_file(str(file), BUCKET, f"bench/boto3-upload-{time.time_ns()}", Config=config)
    return file.stat().st_size / 1e6 / (time.monotonic() - started), time.process_time() - cpu


def uploads(args, moto_server: Path) -> list[tuple[str, float, float, float, float]]:
    """Rows of (what, sink MB/s, its CPU, boto3 MB/s, its CPU)."""
    with tempfile.TemporaryDirectory(prefix="logflume-s3-bench-") as directory:
        file = Path(directory) / "part-file"
        file.write_bytes(os.urandom(args.upload_mib << 20))  # compressed data does not compress
        proc, endpoint, _ = start_moto(moto_server, Path(directory), free_port(), False, dict(os.environ), True)
        try:
            client(endpoint).create_bucket(Bucket=BUCKET)
            four, one, peer = [], [], []
            for run in range(args.runs):
                four.append(swift_upload(args.bench, endpoint, file, 4))
                peer.append(boto3_upload(endpoint, file, 4))
                one.append(swift_upload(args.bench, endpoint, file, 1))
                print(f"  upload run {run + 1}: sink 4 parts at a time {four[-1][0]:.0f} MB/s (CPU {four[-1][1]:.2f} s), "
                      f"one at a time {one[-1][0]:.0f} MB/s (CPU {one[-1][1]:.2f} s), "
                      f"boto3 4 at a time {peer[-1][0]:.0f} MB/s (CPU {peer[-1][1]:.2f} s)", flush=True)
        finally:
            stop(proc)
    peer_rate, peer_cpu = statistics.median(r for r, _ in peer), statistics.median(c for _, c in peer)
    return [(f"{label}, {args.upload_mib} MiB file in 16 MiB parts", statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs),
             peer_rate, peer_cpu) for label, runs in (("4 parts at a time", four), ("1 part at a time", one))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", required=True, help="the logflume-bench binary")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--upload-mib", type=int, default=64, help="multipart upload file size; 0 skips it")
    args = parser.parse_args()
    moto_server = REPO / ".build" / "compat-venv" / "bin" / "moto_server"
    rows = []
    for scheme in ("http", "https", "http, keep-alive", "https, keep-alive"):
        tls, keep_alive = scheme.startswith("https"), scheme.endswith("keep-alive")
        with tempfile.TemporaryDirectory(prefix="logflume-s3-bench-") as directory:
            proc, endpoint, ca_file = start_moto(moto_server, Path(directory), free_port(), tls, dict(os.environ), keep_alive)
            try:
                client(endpoint, ca_file).create_bucket(Bucket=BUCKET)
                swift, peer = [], []
                for run in range(args.runs):
                    swift.append(swift_run(args.bench, endpoint, ca_file, args.pairs, args.size))
                    peer.append(boto3_run(endpoint, ca_file, args.pairs, args.size))
                    print(f"  {scheme} run {run + 1}: sink {swift[-1][0]:.0f} requests/s (CPU {swift[-1][1]:.2f} s), "
                          f"boto3 {peer[-1][0]:.0f} requests/s (CPU {peer[-1][1]:.2f} s)", flush=True)
            finally:
                stop(proc)
        rate, peer_rate = statistics.median(r for r, _ in swift), statistics.median(r for r, _ in peer)
        rows.append((scheme, rate, statistics.median(c for _, c in swift), peer_rate,
                     statistics.median(c for _, c in peer)))
    print(f"\n== summary (medians of {args.runs} runs of {args.pairs} PUT + GET pairs of {args.size} B objects)")
    print("| scheme | S3 sink, requests/s | its CPU | boto3, requests/s | its CPU | ratio |")
    print("|---|---|---|---|---|---|")
    for scheme, rate, cpu, peer_rate, peer_cpu in rows:
        print(f"| {scheme} | {rate:,.0f} | {cpu:.2f} s | {peer_rate:,.0f} | {peer_cpu:.2f} s | {rate / peer_rate:.2f} |")
    if args.upload_mib > 0:
        print(f"\n== multipart uploads into moto under cheroot, http, keep-alive (medians of {args.runs} runs)")
        print("| upload through the sink | S3 sink, MB/s | its CPU | boto3 upload_file, 4 parts at a time, MB/s | its CPU | ratio |")
        print("|---|---|---|---|---|---|")
        for what, rate, cpu, peer_rate, peer_cpu in uploads(args, moto_server):
            print(f"| {what} | {rate:,.1f} | {cpu:.2f} s | {peer_rate:,.1f} | {peer_cpu:.2f} s | {rate / peer_rate:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
