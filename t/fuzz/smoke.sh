#!/usr/bin/env bash
# make fuzz-smoke: runs each libFuzzer target for FUZZ_SECONDS (default 60)
# on a copy of its seed corpus, FUZZ_JOBS (default 2) at a time, from the
# build tree. A crash, a sanitizer report, a leak, a timeout (10 s on one
# input), running out of memory (2 GiB) or a target without seeds fails it.
# One line per target, then the summary:
#   PASS: fuzz http_fuzz (1234567 executions in 60 s, 20576/s)
#   FAIL: fuzz jwt_fuzz (crash; input saved in t/fuzz/smoke/jwt_fuzz/crash-...)
#   fuzz-smoke: 5 targets, 0 failed
#   smoke.sh CORPUS_ROOT TARGET...
set -u
root=$1
shift
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
work=t/fuzz/smoke
rm -rf "$work"
mkdir -p "$work"

# One target: its result line goes to $work/NAME/result.
run_one() {
    local bin=$1 name dir rc execs why
    name=$(basename "$bin")
    dir=$work/$name
    mkdir -p "$dir/corpus"
    if [ ! -x "$bin" ]; then
        echo "FAIL: fuzz $name (no binary $bin)" >"$dir/result"
        return
    fi
    if [ ! -d "$root/$name" ] || [ -z "$(ls -A "$root/$name")" ]; then
        echo "FAIL: fuzz $name (no seeds in $root/$name)" >"$dir/result"
        return
    fi
    # A copy: what the run discovers must not land in the source tree.
    cp -R "$root/$name/." "$dir/corpus/"
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
        timeout -k 10 $((seconds + 120)) "$bin" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$dir/" "$dir/corpus" >"$dir/log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    if [ $rc -eq 0 ] && [ -n "$execs" ]; then
        echo "PASS: fuzz $name ($execs executions in $seconds s, $((execs / (seconds > 0 ? seconds : 1)))/s)" \
            >"$dir/result"
        return
    fi
    why="exit status $rc"
    grep -q "ERROR: libFuzzer: timeout" "$dir/log" && why="timeout"
    grep -q "ERROR: LeakSanitizer" "$dir/log" && why="leak"
    grep -q "ERROR: libFuzzer: out-of-memory\|malloc(.*) exceeds limit" "$dir/log" && why="out of memory"
    grep -q "ERROR: AddressSanitizer\|runtime error:\|ERROR: libFuzzer: deadly signal" "$dir/log" && why="crash"
    [ $rc -eq 124 ] || [ $rc -eq 137 ] && why="did not stop"
    local art
    art=$(ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | head -1)
    echo "FAIL: fuzz $name ($why${art:+; input saved in $art}${execs:+; $execs executions})" >"$dir/result"
}

running=0
for bin in "$@"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$bin" &
    running=$((running + 1))
done
wait

total=0
failed=0
for bin in "$@"; do
    name=$(basename "$bin")
    line=$(cat "$work/$name/result" 2>/dev/null || echo "FAIL: fuzz $name (no result)")
    echo "$line"
    total=$((total + 1))
    case $line in
    PASS:*) ;;
    *)
        failed=$((failed + 1))
        # The report, without the corpus statistics around it.
        grep -v "^#[0-9]\|^INFO:\|^stat::" "$work/$name/log" 2>/dev/null | tail -40 | sed 's/^/    /'
        ;;
    esac
done
echo "fuzz-smoke: $total targets, $failed failed"
[ "$failed" -eq 0 ]
