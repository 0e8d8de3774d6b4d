#!/usr/bin/env bash
# Runs each named libFuzzer harness (csrc/fuzz/fuzz_NAME, built by `make
# fuzz`) for SECONDS from its committed seeds, growing a scratch corpus in
# build/fuzz/NAME/. Prints each run's executions; a crash, leak or timeout
# fails the run after printing the harness's report and the reproducer
# (hex dump and base64 of the input), so a CI log alone is enough to
# replay it: base64 -d > crash && csrc/fuzz/fuzz_NAME crash
# Usage: csrc/fuzz/run.sh SECONDS NAME...
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=$1
shift
failed=0
for name in "$@"; do
    work=build/fuzz/$name
    mkdir -p "$work/corpus"
    rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
    # -timeout: an input taking 10 s is a hang; the seeds directory comes
    # second so that new inputs go to the scratch corpus only
    "csrc/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work/corpus" "csrc/fuzz/seeds/$name" >"$work/log" 2>&1
    status=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
    echo "fuzz_$name: ${executions:-?} executions in ${seconds} s, exit status $status"
    if [ "$status" -ne 0 ]; then
        failed=1
        tail -n 60 "$work/log"
        for artifact in "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*; do
            [ -e "$artifact" ] || continue
            echo "reproducer $artifact ($(wc -c <"$artifact") bytes):"
            od -A x -t x1z -v "$artifact" | head -n 64
            echo "base64:"
            base64 -w 76 "$artifact"
        done
    fi
done
exit "$failed"
