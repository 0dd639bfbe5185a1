#!/usr/bin/env bash
# CRC-32C throughput (SSE4.2 and portable) against memcpy over the same buffer.
# Usage: bench/crc32c.sh [--size BYTES] [--seconds S] [--runs N]
# Set SCRATCH_PATH to build somewhere other than .build (e.g. while another build holds its lock).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
scratch="${SCRATCH_PATH:-.build}"

scripts/build-release --product logflume-bench --scratch-path "$scratch"
exec "$scratch/release/logflume-bench" crc32c "$@"
