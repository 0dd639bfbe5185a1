#!/usr/bin/env bash
# The aggregator's S3 sink (issue 6) against a real S3 API server, moto on loopback, over http and
# over https (a throwaway CA from the openssl tool), next to boto3 making the same requests in the
# same run: sequential PUT + GET pairs of small objects, as the sink publishes an hour. Under
# moto_server, which closes every connection, each request costs a connect (and a TLS handshake);
# under cheroot, which keeps them, the sink reuses one. Then a multipart upload of one large file
# (16 MiB parts, 4 at a time and one at a time) next to boto3's upload_file (4 at a time).
# Results in bench/README.md.
# Environment: RUNS (default 5), PAIRS (default 200), SIZE (object bytes, default 1024),
# UPLOAD_MIB (default 64; 0 skips the upload rows), SCRATCH_PATH (default .build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
scratch="${SCRATCH_PATH:-.build}"
scripts/setup >/dev/null
scripts/compat-venv >/dev/null
scripts/build-release --product logflume-bench --scratch-path "$scratch"
"$root/.build/compat-venv/bin/python" bench/s3/run.py --bench "$root/$scratch/release/logflume-bench" \
    --runs "${RUNS:-5}" --pairs "${PAIRS:-200}" --size "${SIZE:-1024}" --upload-mib "${UPLOAD_MIB:-64}"
