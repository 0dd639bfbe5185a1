# Helpers shared by bench/broker.sh and bench/agent.sh (sourced, not run).

median() { python3 -c 'import sys, statistics; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }
calc() { python3 -c 'import sys; print(eval(sys.argv[1]))' "$1"; }
fmt() { python3 -c 'import sys; print(format(float(sys.argv[1]), sys.argv[2]))' "$1" "$2"; }
# The value of `key=value` in a text (last occurrence).
field() { printf '%s\n' "$2" | sed -n "s/^$1=//p" | tail -n 1; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
hwm_kb() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }

# Other work on this shared machine skews every figure: before each run, wait (up to
# QUIET_TIMEOUT s, default 180; 0 disables) until the CPUs are mostly idle (busy share over 2 s
# below QUIET_BUSY, default 0.25), and print what was seen.
quiet_wait() {
    local timeout="${QUIET_TIMEOUT:-180}" busy waited=0
    (( timeout > 0 )) || return 0
    while :; do
        busy=$(python3 -c '
import time
def sample():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = sample(); time.sleep(2); t1, i1 = sample()
print(f"{1 - (i1 - i0) / max(1, t1 - t0):.2f}")')
        if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < float(sys.argv[2]) else 1)' "$busy" "${QUIET_BUSY:-0.25}"; then
            (( waited == 0 )) || echo "  (waited ${waited} s for the machine to quieten; CPUs now ${busy} busy)"
            return 0
        fi
        if (( waited >= timeout )); then
            echo "  (machine still busy after ${waited} s: CPUs ${busy} busy with other work; measuring anyway)"
            return 0
        fi
        sleep 8
        waited=$((waited + 10))
    done
}
