#!/usr/bin/env bash
# The partition log against the disk it sits on, in one run on one filesystem:
#   append   fio sequential write (1 MiB blocks, fsync at the end)   vs  validate + PartitionLog.append
#            of ~1 MiB batches of 1 KiB records (indexes kept, fsync at the end)      goal >= 0.9 x fio
#            The log starts writeback every 8 MiB appended (LogConfig.writebackBytes), so its
#            final fsync finds little left; fio is also run doing the same (--sync_file_range=
#            write:8, a stricter peer), and both ratios are printed.
#   read     dd of the segment files to /dev/null (page cache warm)  vs  log.read ranges + sendfile(2)
#   reopen   PartitionLog.open of a >= 5 GiB log right after its appender was SIGKILLed    goal < 1 s
# Each figure is the median of RUNS runs; fio/append and dd/read runs alternate so that noise from
# other work on the machine hits both sides alike. MB/s means 10^6 bytes per second everywhere.
#
# Usage: bench/log.sh
# Environment:
#   TOTAL_BYTES   bytes per append/fio run and size of the log read (default 2 GiB)
#   RUNS          runs per figure, median reported (default 5: this VM's disk is noisy)
#   REOPEN_CYCLES kill+reopen cycles, median reported (default 3)
#   SKIP_REOPEN=1 skip the reopen test (it needs >= 15 GiB free and writes ~6-8 GiB)
#   REOPEN_BYTES  log size before the first kill (default 5 GiB)
#   BENCH_DIR     where data goes (default .bench-data in the repository: the repository's filesystem)
#   SCRATCH_PATH  build directory (default .build; e.g. .build-bench while another build holds .build's lock)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
scratch="${SCRATCH_PATH:-.build}"
total="${TOTAL_BYTES:-$((2 << 30))}"
runs="${RUNS:-5}"
reopen_cycles="${REOPEN_CYCLES:-3}"
reopen_bytes="${REOPEN_BYTES:-$((5 << 30))}"
data="${BENCH_DIR:-$root/.bench-data}"

LOGFLUME_SETUP_BENCH=1 scripts/setup
scripts/build-release --product logflume-bench --scratch-path "$scratch"
scripts/build-release --product logflume --scratch-path "$scratch"
bench="$scratch/release/logflume-bench"
logflume="$scratch/release/logflume"

mkdir -p "$data"
run_dir="$data/run-$$"
cleanup() {
    rm -rf "$run_dir"
    rmdir "$data" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$run_dir"

gib() { python3 -c 'import sys; print(f"{int(sys.argv[1]) / 2**30:.1f} GiB")' "$1"; }
median() { python3 -c 'import sys, statistics; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.1f}")' "$@"; }
ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}")' "$1" "$2"; }
verdict() { python3 -c 'import sys; print("met" if eval(sys.argv[1]) else "NOT met")' "$1"; }
# The value of `key=value` on the benchmark's output (its last lines).
field() { sed -n "s/^$1=//p" | tail -n 1; }

avail=$(df -B1 --output=avail "$data" | tail -n 1 | tr -d ' ')
need=$((total + (2 << 30)))
if [[ "${SKIP_REOPEN:-0}" != 1 ]]; then need=$(( need > (15 << 30) ? need : (15 << 30) )); fi
if (( avail < need )); then
    echo "log.sh: refusing to run: $(gib "$avail") free on the filesystem of $data, need $(gib "$need")" >&2
    echo "log.sh: (SKIP_REOPEN=1 drops the 15 GiB the reopen test needs; TOTAL_BYTES makes runs smaller)" >&2
    exit 2
fi

echo "== logflume partition log vs the disk: $(gib "$total") per run, $runs runs, data in $run_dir"
echo "   filesystem: $(df -h --output=source,fstype,size,avail "$data" | tail -n 1 | tr -s ' ')"
echo "   $(nproc) cores, $(fio --version), logflume-bench from $scratch/release"

# --- append vs fio -----------------------------------------------------------------------------
fio_rates=()
fio_early_rates=()
append_rates=()
for run in $(seq 1 "$runs"); do
    sync
    fio --name=seqwrite --rw=write --bs=1M --size="$total" --end_fsync=1 --unlink=1 \
        --directory="$run_dir" --output-format=json > "$run_dir/fio.json"
    fio_rate=$(python3 -c 'import json, sys; bw = json.load(open(sys.argv[1]))["jobs"][0]["write"]["bw_bytes"]; print(f"{bw / 1e6:.1f}")' "$run_dir/fio.json")
    rm -f "$run_dir/fio.json"
    fio_rates+=("$fio_rate")
    echo "fio run $run: $fio_rate MB/s"
    sync
    fio --name=seqwrite --rw=write --bs=1M --size="$total" --end_fsync=1 --sync_file_range=write:8 --unlink=1 \
        --directory="$run_dir" --output-format=json > "$run_dir/fio.json"
    fio_rate=$(python3 -c 'import json, sys; bw = json.load(open(sys.argv[1]))["jobs"][0]["write"]["bw_bytes"]; print(f"{bw / 1e6:.1f}")' "$run_dir/fio.json")
    rm -f "$run_dir/fio.json"
    fio_early_rates+=("$fio_rate")
    echo "fio with writeback every 8 MiB, run $run: $fio_rate MB/s"
    out=$("$bench" append --dir "$run_dir" --total-bytes "$total" --runs 1)
    if (( run == 1 )); then printf '%s\n' "$out" | sed -n '1,2p'; fi
    printf '%s\n' "$out" | sed -n 's/^run 1:/append run '"$run"':/p'
    append_rates+=("$(printf '%s\n' "$out" | field append_mb_s)")
done
fio_mb=$(median "${fio_rates[@]}")
append_mb=$(median "${append_rates[@]}")
append_ratio=$(ratio "$append_mb" "$fio_mb")
fio_early_mb=$(median "${fio_early_rates[@]}")
early_ratio=$(ratio "$append_mb" "$fio_early_mb")
append_line="fio seq write: $fio_mb MB/s | logflume append: $append_mb MB/s | ratio Y/X = $append_ratio (goal >= 0.9: $(verdict "$append_ratio >= 0.9"))
  stricter peer, fio starting writeback every 8 MiB as the log does: $fio_early_mb MB/s | ratio = $early_ratio"
echo "$append_line"

# --- read vs dd --------------------------------------------------------------------------------
dd_rates=()
read_rates=()
for run in $(seq 1 "$runs"); do
    # Builds the log on the first run and reuses it afterwards; one untimed pass warms the cache.
    out=$("$bench" read --dir "$run_dir" --total-bytes "$total" --runs 1 --keep)
    if (( run == 1 )); then printf '%s\n' "$out" | grep -E '^read: (building|sendfile|/)|^untimed' || true; fi
    printf '%s\n' "$out" | sed -n 's/^run 1:/read run '"$run"':/p'
    read_rates+=("$(printf '%s\n' "$out" | field read_mb_s)")

    files=("$run_dir"/bench-read/*.log)
    cat "${files[@]}" > /dev/null  # the same bytes, warm for dd too
    bytes=0
    seconds=0
    for file in "${files[@]}"; do
        report=$(LC_ALL=C dd if="$file" of=/dev/null bs=1M 2>&1 | tail -n 1)
        read -r b s < <(python3 -c 'import re, sys; m = re.match(r"(\d+) bytes .* copied, ([0-9.e+-]+) s", sys.argv[1]); print(m.group(1), m.group(2))' "$report")
        bytes=$((bytes + b))
        seconds=$(python3 -c 'import sys; print(float(sys.argv[1]) + float(sys.argv[2]))' "$seconds" "$s")
    done
    dd_rate=$(python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]) / 1e6:.1f}")' "$bytes" "$seconds")
    dd_rates+=("$dd_rate")
    echo "dd run $run: $bytes bytes in ${#files[@]} segment files, $dd_rate MB/s"
done
socket_out=$("$bench" read --dir "$run_dir" --total-bytes "$total" --runs "$runs" --sink socket)
socket_mb=$(printf '%s\n' "$socket_out" | field read_mb_s)
dd_mb=$(median "${dd_rates[@]}")
read_mb=$(median "${read_rates[@]}")
read_ratio=$(ratio "$read_mb" "$dd_mb")
read_line="dd to /dev/null: $dd_mb MB/s | logflume read (sendfile to /dev/null): $read_mb MB/s | ratio = $read_ratio"
echo "$read_line"
echo "  (same log through a loopback TCP socket drained by a thread: $socket_mb MB/s)"
rm -rf "$run_dir/bench-read"

# --- reopen after SIGKILL ----------------------------------------------------------------------
reopen_line="reopen after SIGKILL: skipped (SKIP_REOPEN=1)"
if [[ "${SKIP_REOPEN:-0}" != 1 ]]; then
    out=$("$bench" reopen --logflume "$logflume" --dir "$run_dir" --size-bytes "$reopen_bytes" --cycles "$reopen_cycles")
    printf '%s\n' "$out" | grep -vE '^reopen_'
    reopen_ms=$(printf '%s\n' "$out" | field reopen_ms)
    scanned=$(printf '%s\n' "$out" | field reopen_scanned_bytes)
    reopen_line="reopen of a $(gib "$reopen_bytes")+ log after SIGKILL: $reopen_ms ms (scanned $scanned bytes = $(gib "$scanned") past the recovery point) | goal < 1000 ms: $(verdict "$reopen_ms < 1000")"
fi

echo
echo "== summary"
echo "$append_line"
echo "$read_line"
echo "$reopen_line"
