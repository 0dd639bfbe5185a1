#!/usr/bin/env bash
# The aggregator (issue 6) next to the raw consume rate, in one run on loopback:
#   1. a topic filled by the agent from a generated 1,000,000-line nginx access log (3 hours,
#      ending two to three hours before now);
#   2. kcat -C of the whole topic to /dev/null, exiting on its last record (-c; -e alone adds the
#      500 ms the broker holds the empty fetch at the end): the raw consume rate (records/s). It
#      runs again before every aggregator run; each row's ratio is to the kcat runs alongside it;
#   3. the aggregator writing JSON lines and raw lines, each with gzip and with zstd at their
#      defaults (gzip through ISA-L at level 1, zstd 1), with gzip through libdeflate
#      (output.gzip_encoder = "libdeflate") at its default level 6 and at 1, and with zstd level 3
#      (zstd's own default),
#      from the same topic, each timed from its
#      start until its records_bucketed_total counter (/metrics) reaches the topic's record
#      count, every record formatted into its hour's part file (the rate; goal: >= 0.7 x the raw
#      rate), and until every hour holding records has its _SUCCESS marker (adds the 200 ms idle
#      timeout that lets the last hour close, and its publishing; reported next to it). The
#      broker forms groups at once. Next to each, what compressing that output alone costs one
#      core (libdeflate-gzip / igzip / zstd at the same level on the decompressed part files).
#   4. latency: minute buckets with a 5 s delay; a line per 50 ms; the time from a minute's last
#      line written to its marker, with the local sink and with the S3 sink (moto's S3 API under
#      cheroot on loopback). Goal: delay + at most 10 s.
# Environment: RUNS (default 3), LINES (default 1000000), LATENCY_SECONDS (default 150),
# LATENCY_SINKS (default "local s3"), ROWS
# (row numbers of step 3 to run, e.g. "1,5"; default all),
# SCRATCH_PATH (default .build), LOGFLUME_BIN (skip the build), KEEP=1 keeps the work directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
scratch="${SCRATCH_PATH:-.build}"
if [[ -z "${LOGFLUME_BIN:-}" ]]; then
    scripts/build-release --product logflume --scratch-path "$scratch"
    LOGFLUME_BIN="$root/$scratch/release/logflume"
fi
# zstd and libdeflate-gzip measure what compressing the output alone costs (the CPU floor).
LOGFLUME_SETUP_BENCH=1 scripts/setup >/dev/null
scripts/compat-venv >/dev/null
python="$root/.build/compat-venv/bin/python"
work=$(mktemp -d "${TMPDIR:-/tmp}/logflume-aggregator-bench.XXXXXX")
cleanup() {
    [[ -n "${broker_pid:-}" ]] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
    [[ "${KEEP:-0}" == 1 ]] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Groups form at once (Kafka's 3 s initial rebalance delay is a start-up wait, not throughput).
printf 'group.initial.rebalance.delay.ms = 0\n' > "$work/broker.toml"
"$LOGFLUME_BIN" broker --listen "127.0.0.1:$port" --data-dir "$work/broker" --config "$work/broker.toml" >"$work/broker.log" 2>&1 &
broker_pid=$!
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
# The log ends two to three hours before now: the hours after it up to now close empty, each
# with its marker, and with a fixed start date their number (work after the timed part, but
# work on the same cores as the next run's) grew by one every hour.
start=$(date -u -d "@$(( $(date +%s) / 3600 * 3600 - 5 * 3600 ))" +%Y-%m-%dT%H:%M:%S)
"$python" bench/agent/gen_nginx_log.py "$work/access.log" --lines "${LINES:-1000000}" --hours 3 --start "$start" >/dev/null
echo "== aggregator throughput vs kcat -C (runs: ${RUNS:-3})"
"$python" bench/aggregator/run.py throughput --bin "$LOGFLUME_BIN" --bootstrap "127.0.0.1:$port" --work "$work" \
    --input "$work/access.log" --runs "${RUNS:-3}" ${ROWS:+--rows "$ROWS"}
for sink in ${LATENCY_SINKS:-local s3}; do
    echo "== line written -> done-marker latency, $sink sink"
    "$python" bench/aggregator/run.py latency --bin "$LOGFLUME_BIN" --bootstrap "127.0.0.1:$port" --work "$work" \
        --seconds "${LATENCY_SECONDS:-150}" --sink "$sink"
done
