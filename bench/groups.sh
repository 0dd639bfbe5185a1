#!/usr/bin/env bash
# Consumer groups (issue 4) on a release broker on loopback, in one run:
#   rebalance  3 librdkafka members (separate processes) on a 6-partition topic; the time from a
#              member's close() (LeaveGroup) and from a member's SIGKILL until the 2 survivors hold
#              all 6 partitions (the later of their on_assign callbacks)
#              references: heartbeat.interval.ms for the close (survivors hear of a rebalance in
#              their next heartbeat's answer), session.timeout.ms for the kill (a dead member is
#              only noticed when its session expires)
#   commits    one confluent-kafka member holding 6 partitions: synchronous OffsetCommits per
#              second (1 partition, and 6 partitions per call), asynchronous commits per second
#              (1 partition, up to 1,000 in flight)
#              peer: the same library's synchronous produce round trip (one 100 B record,
#              acks=1, linger.ms=0, wait for its delivery report) on the same broker
# Each figure is the median of RUNS runs (all runs are printed). The driver is bench/groups/run.py.
#
# Usage: bench/groups.sh
# Environment:
#   RUNS                runs per figure, median reported (default 5)
#   SESSION_TIMEOUT_MS  the members' session.timeout.ms (default 6000, the broker's minimum)
#   HEARTBEAT_MS        the members' heartbeat.interval.ms (default 500; librdkafka's own default is 3000)
#   COMMIT_SECONDS      seconds per commit/produce figure and run (default 3)
#   QUIET_TIMEOUT       before each part, wait up to this many seconds for other work to leave the
#                       CPUs (default 60 here; 0 disables); QUIET_BUSY: the busy share counted as quiet (0.25)
#   SCRATCH_PATH        build directory (default .build)
#   LOGFLUME_BIN        use this logflume binary instead of building one (e.g. a release build)
#   KEEP=1              keep the work directory (broker log, members' event files)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
scratch="${SCRATCH_PATH:-.build}"
runs="${RUNS:-5}"
session_ms="${SESSION_TIMEOUT_MS:-6000}"
heartbeat_ms="${HEARTBEAT_MS:-500}"
commit_seconds="${COMMIT_SECONDS:-3}"
export QUIET_TIMEOUT="${QUIET_TIMEOUT:-60}"

if [[ -z "${LOGFLUME_BIN:-}" ]]; then
    scripts/build-release --product logflume --scratch-path "$scratch"
    LOGFLUME_BIN="$root/$scratch/release/logflume"
fi
scripts/compat-venv >/dev/null
python="$root/.build/compat-venv/bin/python"
driver="$root/bench/groups/run.py"
# median, calc, fmt, field, free_port, quiet_wait
source "$root/bench/lib.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/logflume-groups-bench.XXXXXX")
broker_pid=""
cleanup() {
    if [[ -n "$broker_pid" ]] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -TERM "$broker_pid"
        wait "$broker_pid" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# A private copy: a rebuild of the tree during the run must not swap the binary.
cp "$LOGFLUME_BIN" "$work/logflume"

# The broker with its defaults (group.initial.rebalance.delay.ms = 3000 only delays the first
# generation of each run's new group, which is not measured).
port=$(free_port)
bootstrap="127.0.0.1:$port"
"$work/logflume" broker --listen "$bootstrap" --data-dir "$work/broker" > "$work/broker.log" 2>&1 &
broker_pid=$!
# The port first (librdkafka would log every refused connection), then a Metadata answer.
for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
if ! "$python" "$driver" wait "$bootstrap" --timeout 30; then
    tail -n 20 "$work/broker.log" >&2
    exit 1
fi

echo "== consumer groups on a logflume broker on loopback: $runs runs, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   $("$python" -c 'import confluent_kafka as c; print("confluent-kafka", c.__version__, "(librdkafka", c.libversion()[0] + ")")');" \
    "logflume: $LOGFLUME_BIN (copied), broker pid $broker_pid at $bootstrap"
echo "   members: session.timeout.ms=$session_ms, heartbeat.interval.ms=$heartbeat_ms, partition.assignment.strategy librdkafka's default (range,roundrobin: eager)"

echo "-- rebalance: 3 members, 6 partitions"
quiet_wait
out=$("$python" "$driver" rebalance "$bootstrap" --work "$work/rebalance" --runs "$runs" \
    --session-ms "$session_ms" --heartbeat-ms "$heartbeat_ms")
leave=$(field leave_s "$out"); kill_=$(field kill_s "$out")
leave_notice=$(field leave_notice_s "$out"); kill_notice=$(field kill_notice_s "$out")

echo "-- commits: one member holding 6 partitions, $commit_seconds s per figure"
quiet_wait
out=$("$python" "$driver" commits "$bootstrap" --runs "$runs" --seconds "$commit_seconds" --broker-pid "$broker_pid")
sync1=$(field sync1 "$out"); sync6=$(field sync6 "$out"); async1=$(field async1 "$out"); produce=$(field produce "$out")
declare -A cpu_us
for key in sync1 sync6 async1 produce; do cpu_us[$key]=$(fmt "$(median $(field "${key}_cpu_us" "$out"))" '.0f'); done

runs_of() { python3 -c 'import sys; f = sys.argv[1]; print(", ".join(format(float(v), f) for v in sys.argv[2:]))' "$@"; }
# shellcheck disable=SC2086 # the run lists are space-separated numbers
{
    m_leave=$(median $leave); m_kill=$(median $kill_)
    m_leave_n=$(median $leave_notice); m_kill_n=$(median $kill_notice)
    m_sync1=$(median $sync1); m_sync6=$(median $sync6); m_async1=$(median $async1); m_produce=$(median $produce)
    hb_s=$(calc "$heartbeat_ms / 1000"); session_s=$(calc "$session_ms / 1000")
    rows=(
        "figure|median (runs)|broker CPU per call|reference|ratio"
        "close (LeaveGroup) -> survivors hold all 6|$(fmt "$m_leave" '.3f') s ($(runs_of '.3f' $leave))||heartbeat.interval.ms $(fmt "$hb_s" '.3f') s|$(fmt "$(calc "$m_leave / $hb_s")" '.2f')"
        "  of which: until the first survivor's on_revoke|$(fmt "$m_leave_n" '.3f') s ($(runs_of '.3f' $leave_notice))|||"
        "SIGKILL -> survivors hold all 6|$(fmt "$m_kill" '.3f') s ($(runs_of '.3f' $kill_))||session.timeout.ms $(fmt "$session_s" '.3f') s|$(fmt "$(calc "$m_kill / $session_s")" '.2f')"
        "  of which: until the first survivor's on_revoke|$(fmt "$m_kill_n" '.3f') s ($(runs_of '.3f' $kill_notice))|||"
        "sync commit, 1 partition per call|$(fmt "$m_sync1" ',.0f')/s ($(runs_of ',.0f' $sync1))|${cpu_us[sync1]} us|produce round trip $(fmt "$m_produce" ',.0f')/s|$(fmt "$(calc "$m_sync1 / $m_produce")" '.2f')"
        "sync commit, 6 partitions per call|$(fmt "$m_sync6" ',.0f') calls/s = $(fmt "$(calc "$m_sync6 * 6")" ',.0f') offsets/s ($(runs_of ',.0f' $sync6))|${cpu_us[sync6]} us|produce round trip $(fmt "$m_produce" ',.0f')/s|$(fmt "$(calc "$m_sync6 / $m_produce")" '.2f')"
        "async commit, 1 partition, <= 1,000 in flight|$(fmt "$m_async1" ',.0f')/s ($(runs_of ',.0f' $async1))|${cpu_us[async1]} us|produce round trip $(fmt "$m_produce" ',.0f')/s|$(fmt "$(calc "$m_async1 / $m_produce")" '.2f')"
        "produce round trip, 100 B, acks=1, linger.ms=0 (peer)|$(fmt "$m_produce" ',.0f')/s ($(runs_of ',.0f' $produce))|${cpu_us[produce]} us|(peer)|"
    )
}
echo
echo "== summary (medians of $runs runs)"
printf '%s\n' "${rows[@]}" | python3 -c '
import sys
rows = [line.rstrip("\n").split("|") for line in sys.stdin]
widths = [max(len(r[i]) for r in rows) for i in range(5)]
for n, r in enumerate(rows):
    print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    if n == 0:
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
'
