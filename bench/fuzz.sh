#!/usr/bin/env bash
# The long fuzz campaign for the request decoder (CI runs a short seeded one in swift test).
#   bench/fuzz.sh                 libFuzzer with AddressSanitizer, RUNS inputs (default 10,000,000)
#   MODE=generator bench/fuzz.sh  the seeded mutation campaign, no special toolchain support
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10000000}
MODE=${MODE:-libfuzzer}
scripts/setup

if [[ "$MODE" == libfuzzer ]]; then
    scratch=.build-fuzz
    swift build -c release --scratch-path "$scratch" --product logflume-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DLIBFUZZER
    corpus=$(mktemp -d)
    trap 'rm -rf "$corpus"' EXIT
    # Seed the corpus with valid requests of every API and version.
    swift build -c release --product logflume-fuzz >/dev/null
    .build/release/logflume-fuzz --write-seeds "$corpus"
    start=$(date +%s)
    "$scratch/release/logflume-fuzz" -runs="$RUNS" -max_len=4096 -print_final_stats=1 "$corpus" 2>&1 | tail -25
    echo "libFuzzer: $RUNS inputs in $(( $(date +%s) - start )) s, no crash"
else
    swift build -c release --product logflume-fuzz
    .build/release/logflume-fuzz "$RUNS" "${SEED:-$RANDOM}"
fi
