#!/usr/bin/env bash
# The edge agent against its peers (issue 5), in one run on loopback: the same realistic
# 1,000,000-line nginx `combined` access log is shipped to one `logflume broker`, one shipper after
# another, each to a topic of its own, with the same compression and acks:
#   rsyslog    imfile (inotify) + omkafka          Debian rsyslog, rsyslog-kafka (librdkafka)
#   syslog-ng  wildcard-file + kafka-c              Debian syslog-ng-core, syslog-ng-mod-rdkafka (librdkafka)
#   logflume   logflume agent --config <generated>  parses nginx_combined: record time = $time_local
# For each: wall time from the shipper's start until the topic's end offsets reach the line count,
# CPU seconds (user + sys) of the shipper's process tree at that moment, peak RSS (VmHWM), and the
# lines delivered (end offsets after the shipper stopped: must equal the lines written; more means
# duplicates). Goals for the agent: lines per CPU-second >= 2 x the better peer; peak RSS <= 50 MB.
# Each figure is the median of RUNS runs; the shippers' order rotates from run to run.
#
# Usage: bench/agent.sh
# Environment:
#   RUNS            runs per shipper, median reported (default 3; 1 for a quick look)
#   LINES           lines in the generated access log (default 1,000,000)
#   INPUT           ship this file instead of generating one (LINES is then its line count)
#   SHIPPERS        which shippers, in the first run's order (default "rsyslog syslog-ng logflume")
#   PARTITIONS      partitions of each topic (default 1)
#   COMPRESSION     codec for all shippers (default: zstd if Debian's librdkafka has it, else gzip)
#   ACKS            all | 1 | 0 for all shippers (default all)
#   IDEMPOTENCE     1 | 0: the producers' idempotence, for all shippers (default 1, the agent's default)
#   AGENT_FORMAT    the agent's input format (default nginx_combined; plain ships lines as the peers do)
#   VERIFY          1: after the first run of each shipper, read its topic back and compare an
#                   order-independent digest of the values with the file's (default 1; 0 skips)
#   SHIP_TIMEOUT    seconds before a shipper run counts as FAILED (default 600)
#   QUIET_TIMEOUT   before each run, wait up to this many seconds for other work to leave the CPUs
#                   (default 180; 0 disables); QUIET_BUSY: the busy share counted as quiet (default 0.25)
#   BENCH_DIR       where data goes (default .bench-data in the repository); deleted at the end
#   SCRATCH_PATH    build directory (default .build)
#   LOGFLUME_BIN    use this logflume binary instead of building one
#   KEEP=1          keep the run directory (configs, shipper logs) for a look afterwards
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
scratch="${SCRATCH_PATH:-.build}"
runs="${RUNS:-3}"
lines="${LINES:-1000000}"
partitions="${PARTITIONS:-1}"
acks="${ACKS:-all}"
idempotence="${IDEMPOTENCE:-1}"
agent_format="${AGENT_FORMAT:-nginx_combined}"
verify="${VERIFY:-1}"
ship_timeout="${SHIP_TIMEOUT:-600}"
read -r -a shippers <<< "${SHIPPERS:-rsyslog syslog-ng logflume}"
data="${BENCH_DIR:-$root/.bench-data}"

case "$acks" in all|-1) acks=all; rd_acks=-1 ;; 1|0) rd_acks=$acks ;; *) echo "agent.sh: ACKS must be all, 1 or 0" >&2; exit 2 ;; esac
if [[ $idempotence == 1 ]]; then rd_idem=true; toml_idem=true; else rd_idem=false; toml_idem=false; fi
if [[ $idempotence == 1 && $acks != all ]]; then echo "agent.sh: idempotence needs ACKS=all (IDEMPOTENCE=0 otherwise)" >&2; exit 2; fi

LOGFLUME_SETUP_BENCH=1 scripts/setup
if [[ -n "${LOGFLUME_BIN:-}" ]]; then
    logflume="$LOGFLUME_BIN"
else
    scripts/build-release --product logflume --scratch-path "$scratch"
    logflume="$scratch/release/logflume"
fi
scripts/compat-venv
python="$root/.build/compat-venv/bin/python"
measure="$root/bench/agent/measure.py"
tools="$root/bench/broker/tools.py"
peers="$root/.build/bench-peers/root"
rsyslogd="$peers/usr/sbin/rsyslogd"
rsyslog_modules=$(dirname "$(ls "$peers"/usr/lib/*/rsyslog/omkafka.so | head -n 1)")
syslog_ng="$peers/usr/sbin/syslog-ng"
syslog_ng_modules=$(ls -d "$peers"/usr/lib/syslog-ng/[0-9]* | tail -n 1)
syslog_ng_libs="$peers/usr/lib/syslog-ng"

# Compression: the peers' librdkafka (Debian's, the one kcat uses) decides.
features=$(kcat -X dump 2>/dev/null | sed -n 's/^builtin.features = //p')
if [[ -n "${COMPRESSION:-}" ]]; then
    codec="$COMPRESSION"
elif [[ ",$features," == *,zstd,* ]]; then
    codec=zstd
else
    codec=gzip
fi

# (ArgumentParser answers `--help` of an unknown subcommand with the top-level help and exit 0.)
has_subcommand() { local help; help=$("$logflume" "$1" --help 2>/dev/null || true); [[ $help == *"USAGE: logflume $1"* ]]; }
agent_available=0
if has_subcommand agent; then agent_available=1; fi

mkdir -p "$data"
run_dir="$data/agent-$$"
broker_pid=""
stop_broker() {
    if [[ -n "$broker_pid" ]] && kill -0 "$broker_pid" 2>/dev/null; then
        kill -TERM "$broker_pid"
        wait "$broker_pid" 2>/dev/null || true
    fi
    broker_pid=""
}
cleanup() {
    stop_broker
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "agent.sh: kept $run_dir"
    else
        rm -rf "$run_dir"
        rmdir "$data" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$run_dir"
cp "$logflume" "$run_dir/logflume"
logflume="$run_dir/logflume"

# median, calc, fmt, field, free_port, rss_kb, hwm_kb, quiet_wait
source "$root/bench/lib.sh"

# --- the input -----------------------------------------------------------------------------------
input="$run_dir/access.log"
if [[ -n "${INPUT:-}" ]]; then
    ln "$INPUT" "$input" 2>/dev/null || cp "$INPUT" "$input"
    lines=$(wc -l < "$input")
else
    need=$((lines * 250 * 3 + (1 << 30)))
    avail=$(df -B1 --output=avail "$data" | tail -n 1 | tr -d ' ')
    if (( avail < need )); then
        echo "agent.sh: refusing to run: $((avail >> 20)) MiB free on the filesystem of $data, need $((need >> 20)) MiB" >&2
        exit 2
    fi
    python3 "$root/bench/agent/gen_nginx_log.py" "$input" --lines "$lines" > "$run_dir/gen.txt"
fi
input_bytes=$(stat -c %s "$input")
file_digest=""
if [[ $verify == 1 ]]; then file_digest=$(field digest "$("$python" "$measure" digest "$input")"); fi

# --- broker --------------------------------------------------------------------------------------
port=$(free_port)
bootstrap="127.0.0.1:$port"
"$logflume" broker --listen "$bootstrap" --data-dir "$run_dir/broker-data" > "$run_dir/broker.log" 2>&1 &
broker_pid=$!
# The port first (librdkafka would log each refused connection), then a Metadata answer.
for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    kill -0 "$broker_pid" 2>/dev/null || { echo "agent.sh: the broker exited:" >&2; tail -n 20 "$run_dir/broker.log" >&2; exit 1; }
    sleep 0.1
done
"$python" "$tools" wait "$bootstrap" --timeout 30

echo "== log shippers -> logflume broker on loopback: $runs runs of $(fmt "$lines" ',.0f') lines ($(fmt "$(calc "$input_bytes / $lines")" '.0f') B/line, $(fmt "$(calc "$input_bytes / 1e6")" '.1f') MB)"
echo "   $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); data in $run_dir"
echo "   rsyslog $("$rsyslogd" -v | head -n 1 | awk '{print $2}'); syslog-ng $(LD_LIBRARY_PATH="$syslog_ng_libs" "$syslog_ng" --version | sed -n 's/^Installer-Version: //p');" \
    "both on Debian's librdkafka $(kcat -V 2>&1 | sed -n 's/.*librdkafka \([^ ]*\).*/\1/p')"
echo "   logflume: ${LOGFLUME_BIN:-$scratch/release/logflume}; agent: $([[ $agent_available == 1 ]] && echo yes || echo 'not available yet')"
echo "   every shipper: compression $codec, acks $acks, idempotence $rd_idem, $partitions partition(s) per topic; agent format $agent_format"

# --- shipper configurations ----------------------------------------------------------------------
# Each peer runs as a private foreground instance with its own work directory, state and pid file;
# settings left at their defaults unless named here. Both are set up not to drop lines when the
# broker (or librdkafka's 100,000-message queue) falls behind, as a production setup would be:
# rsyslog retries a suspended action forever (action.resumeRetryCount="-1"; its default, 0, drops
# the batch), and syslog-ng's log path has flags(flow-control) (without it, a file source keeps
# reading while kafka-c waits out time_reopen after "Local: Queue full", and its destination queue
# drops what does not fit: 576,064 of 1,000,000 lines in one run on a busy machine).
write_rsyslog() {  # DIR TOPIC
    cat > "$1/rsyslog.conf" <<EOF
global(workDirectory="$1/work" maxMessageSize="64k")
module(load="imfile" mode="inotify")
module(load="omkafka")
template(name="line" type="string" string="%rawmsg%")
input(type="imfile" file="$1/in/access.log*" tag="nginx" freshStartTail="off" ruleset="kafka")
ruleset(name="kafka") {
    action(type="omkafka" broker=["$bootstrap"] topic="$2" template="line"
           confParam=["compression.codec=$codec", "request.required.acks=$rd_acks", "enable.idempotence=$rd_idem"]
           errorFile="$1/omkafka-errors.json" action.resumeRetryCount="-1")
}
EOF
    mkdir -p "$1/work"
}
write_syslog_ng() {  # DIR TOPIC
    cat > "$1/syslog-ng.conf" <<EOF
@version: 3.38
options { stats-freq(0); };
source s_nginx {
    wildcard-file(base-dir("$1/in") filename-pattern("access.log*") flags(no-parse)
                  max-files(100) log-iw-size(100000) log-fetch-limit(1000) log-msg-size(65536));
};
destination d_kafka {
    kafka-c(bootstrap-servers("$bootstrap") topic("$2") message("\$MSG")
            config("compression.codec" => "$codec" "request.required.acks" => "$rd_acks" "enable.idempotence" => "$rd_idem"));
};
log { source(s_nginx); destination(d_kafka); flags(flow-control); };
EOF
}
write_agent() {  # DIR TOPIC
    cat > "$1/agent.toml" <<EOF
brokers = ["$bootstrap"]
topic = "$2"
state_dir = "$1/state"
host = "bench"
output.compression = "$codec"
output.acks = "$acks"
output.idempotence = $toml_idem

[[input]]
paths = ["$1/in/access.log*"]
format = "$agent_format"
EOF
}
shipper_cmd() {  # SHIPPER DIR -> the command, one word per line
    case $1 in
        rsyslog) printf '%s\n' "$rsyslogd" -n -M "$rsyslog_modules" -f "$2/rsyslog.conf" -i "$2/rsyslog.pid" ;;
        syslog-ng) printf '%s\n' env "LD_LIBRARY_PATH=$syslog_ng_libs" "$syslog_ng" -F --no-caps --stderr \
            "--module-path=$syslog_ng_modules" -f "$2/syslog-ng.conf" -R "$2/syslog-ng.persist" -p "$2/syslog-ng.pid" -c "$2/syslog-ng.ctl" ;;
        logflume) printf '%s\n' "$logflume" agent --config "$2/agent.toml" ;;
    esac
}
printf '@version: 3.38\n' > "$run_dir/syslog-ng-check.conf"
LD_LIBRARY_PATH="$syslog_ng_libs" "$syslog_ng" --module-path="$syslog_ng_modules" --syntax-only -f "$run_dir/syslog-ng-check.conf" \
    || { echo "agent.sh: the unpacked syslog-ng does not run" >&2; exit 1; }

# --- runs ----------------------------------------------------------------------------------------
declare -A r_wall r_cpu r_hwm r_delivered r_broker r_status
for run in $(seq 1 "$runs"); do
    n=${#shippers[@]}
    order=()
    for i in $(seq 0 $((n - 1))); do order+=("${shippers[$(( (i + run - 1) % n ))]}"); done
    for s in "${order[@]}"; do
        if [[ $s == logflume && $agent_available == 0 ]]; then continue; fi
        dir="$run_dir/$s-$run"
        mkdir -p "$dir/in"
        ln "$input" "$dir/in/access.log"
        topic="bench-agent-$s-$run"
        "$python" "$tools" create "$bootstrap" "$topic" "$partitions"
        case $s in rsyslog) write_rsyslog "$dir" "$topic" ;; syslog-ng) write_syslog_ng "$dir" "$topic" ;; logflume) write_agent "$dir" "$topic" ;; esac
        mapfile -t cmd < <(shipper_cmd "$s" "$dir")
        quiet_wait
        cat "$input" > /dev/null
        out=$("$python" "$measure" ship "$bootstrap" "$topic" --expect "$lines" --timeout "$ship_timeout" \
            --broker-pid "$broker_pid" --log "$dir/shipper.log" -- "${cmd[@]}")
        status=$(field status "$out")
        delivered=$(field delivered "$out")
        verdict=""
        if [[ $status != ok ]]; then
            verdict="FAILED ($status after $(field wall_s "$out") s with $(field delivered_at_done "$out") lines)"
        elif [[ $delivered != "$lines" ]]; then
            verdict="FAILED ($delivered lines delivered, $lines written)"
        fi
        if [[ $verify == 1 && $run == 1 && $status == ok ]]; then
            got=$("$python" "$measure" digest-topic "$bootstrap" "$topic" || true)
            if [[ $(field digest "$got") != "$file_digest" ]]; then
                verdict="${verdict:+$verdict; }FAILED (the values read back differ from the file's lines: $got)"
            else
                verdict="${verdict:+$verdict; }values verified"
            fi
        fi
        printf '  run %d %-9s wall %7.2f s  cpu %6.2f s (user %s, sys %s)  peak RSS %6.1f MB  delivered %s  broker cpu %s s  stop %s s  exit %s%s\n' \
            "$run" "$s" "$(field wall_s "$out")" "$(field cpu_s "$out")" "$(field cpu_user_s "$out")" "$(field cpu_sys_s "$out")" \
            "$(calc "$(field hwm_kb "$out") * 1024 / 1e6")" "$delivered" "$(field broker_cpu_s "$out")" "$(field stop_s "$out")" \
            "$(field exit_code "$out")" "${verdict:+  $verdict}"
        if [[ $verdict == FAILED* ]]; then
            echo "    last lines of $dir/shipper.log:"
            tail -n 15 "$dir/shipper.log" | sed 's/^/    | /'
            r_status[$s]=FAILED
        else
            r_wall[$s]+=" $(field wall_s "$out")"
            r_cpu[$s]+=" $(field cpu_s "$out")"
            r_hwm[$s]+=" $(field hwm_kb "$out")"
            r_broker[$s]+=" $(field broker_cpu_s "$out")"
            r_delivered[$s]+=" $delivered"
        fi
        "$python" "$tools" delete "$bootstrap" "$topic" > /dev/null
        if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$dir"; fi
    done
done
stop_broker

# --- table ---------------------------------------------------------------------------------------
med() { if [[ -n "${1// /}" ]]; then median $1; fi; }
rows=("shipper|wall s|lines/s|CPU s|CPU s per 1M lines|lines per CPU-s|peak RSS MB|lines delivered|broker CPU s")
declare -A per_cpu rss_mb
for s in "${shippers[@]}"; do
    if [[ $s == logflume && $agent_available == 0 ]]; then
        rows+=("logflume agent: not available yet||||||||")
        continue
    fi
    name=$s
    [[ $s == rsyslog ]] && name="rsyslog (imfile + omkafka)"
    [[ $s == syslog-ng ]] && name="syslog-ng (wildcard-file + kafka-c)"
    [[ $s == logflume ]] && name="logflume agent ($agent_format)"
    if [[ -z "${r_cpu[$s]:-}" ]]; then rows+=("$name: FAILED||||||||"); continue; fi
    wall=$(med "${r_wall[$s]}"); cpu=$(med "${r_cpu[$s]}"); hwm=$(med "${r_hwm[$s]}"); broker=$(med "${r_broker[$s]}")
    per_cpu[$s]=$(calc "$lines / max($cpu, 0.01)")
    rss_mb[$s]=$(calc "$hwm * 1024 / 1e6")
    failed=""
    [[ -n "${r_status[$s]:-}" ]] && failed=" (some runs FAILED)"
    rows+=("$name$failed|$(fmt "$wall" '.2f')|$(fmt "$(calc "$lines / $wall")" ',.0f')|$(fmt "$cpu" '.2f')|$(fmt "$(calc "$cpu * 1e6 / $lines")" '.2f')|$(fmt "${per_cpu[$s]}" ',.0f')|$(fmt "${rss_mb[$s]}" '.1f')|$(echo ${r_delivered[$s]} | tr ' ' '/')|$(fmt "$broker" '.2f')")
done
echo
echo "== summary (medians of $runs runs; $(fmt "$lines" ',.0f') lines, $codec, acks $acks; MB = 10^6 bytes; CPU = user + sys of the shipper until the last line was in the topic)"
printf '%s\n' "${rows[@]}" | python3 -c '
import sys
rows = [line.rstrip("\n").split("|") for line in sys.stdin]
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for n, r in enumerate(rows):
    print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
    if n == 0:
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
'
if [[ -n "${per_cpu[logflume]:-}" ]]; then
    best="" best_rate=0
    for s in rsyslog syslog-ng; do
        if [[ -n "${per_cpu[$s]:-}" ]] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "${per_cpu[$s]}" "$best_rate"; then
            best=$s best_rate=${per_cpu[$s]}
        fi
    done
    echo
    if [[ -n "$best" ]]; then
        ratio=$(calc "${per_cpu[logflume]} / $best_rate")
        echo "logflume agent: $(fmt "${per_cpu[logflume]}" ',.0f') lines per CPU-second = $(fmt "$ratio" '.2f') x the better peer ($best, $(fmt "$best_rate" ',.0f')); goal >= 2: $(calc "'met' if $ratio >= 2 else 'NOT met'")"
    fi
    echo "logflume agent: peak RSS $(fmt "${rss_mb[logflume]}" '.1f') MB = $(fmt "$(calc "${rss_mb[logflume]} / 50")" '.2f') x 50 MB; goal <= 50 MB: $(calc "'met' if ${rss_mb[logflume]} <= 50 else 'NOT met'")"
fi
