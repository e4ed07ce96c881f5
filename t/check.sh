#!/usr/bin/env bash
# Builds wsgate and runs the whole test suite twice: a plain build and one
# with -fsanitize=address,undefined; then the fuzz smoke (clang, libFuzzer,
# in build-fuzz: every target for FUZZ_SECONDS, default 60, two at a time),
# each target counting as one test. Installs everything the suite needs
# first (contrib/install-deps.sh --test: Debian packages, with root or
# sudo, and the npm packages of the interop tests), so that nothing is
# skipped. The last line is the summary: "N passed, N failed"; a skipped
# test is reported and fails the run, since it is a test that did not run.
#   t/check.sh            both builds and the fuzz smoke
#   t/check.sh --plain    the plain build only (options combine:
#   t/check.sh --asan     the sanitizer build only  --plain --asan is both
#   t/check.sh --fuzz     the fuzz smoke only       suites without fuzzing)
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

builds="plain asan fuzz"
if [ $# -gt 0 ]; then
    builds=""
    for a in "$@"; do
        case "$a" in
            --plain) builds="$builds plain" ;;
            --asan) builds="$builds asan" ;;
            --fuzz) builds="$builds fuzz" ;;
            *) echo "usage: t/check.sh [--plain] [--asan] [--fuzz]" >&2; exit 2 ;;
        esac
    done
fi

bash contrib/install-deps.sh --test || { echo "0 passed, 1 failed"; exit 1; }
if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt configure ]; then
    ./autogen.sh >/dev/null 2>&1 || { echo "autogen failed"; echo "0 passed, 1 failed"; exit 1; }
fi

werror=""
[ -n "${CI:-}" ] && werror="--enable-werror"

pass=0 fail=0 skip=0 broken=0
for b in $builds; do
    dir="$top/build"
    cflags="-O2 -g"
    ldflags=""
    if [ "$b" = asan ]; then
        dir="$top/build-asan"
        cflags="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
        ldflags="-fsanitize=address,undefined"
        export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86"
        export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    fi
    fuzz=""
    if [ "$b" = fuzz ]; then
        dir="$top/build-fuzz"
        cflags="-O1 -g"
        fuzz="--enable-fuzzers"
    fi
    mkdir -p "$dir"
    echo "== $b build in $dir"
    if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ]; then
        if ! (cd "$dir" && "$top/configure" -q $werror $fuzz CFLAGS="$cflags" LDFLAGS="$ldflags"); then
            echo "configure failed ($b)"
            broken=$((broken + 1))
            continue
        fi
    fi
    if ! make -s -C "$dir" -j"$jobs" >"$dir/build.out" 2>&1; then
        cat "$dir/build.out"
        echo "build failed ($b)"
        broken=$((broken + 1))
        continue
    fi
    if [ "$b" = fuzz ]; then
        # One test per target: a crash, leak or timeout fails it.
        make -s -C "$dir" fuzz-smoke 2>&1 | tee "$dir/fuzz.out"
        fp=$(grep -c '^PASS: fuzz ' "$dir/fuzz.out")
        ff=$(grep -c '^FAIL: fuzz ' "$dir/fuzz.out")
        pass=$((pass + fp))
        fail=$((fail + ff))
        grep -q '^fuzz-smoke: .* 0 failed$' "$dir/fuzz.out" || [ "$ff" -gt 0 ] || broken=$((broken + 1))
        continue
    fi
    rm -f "$dir"/t/*.trs "$dir"/t/unit/*.trs
    make -s -C "$dir" -j"$jobs" check
    rc=$?
    for f in "$dir"/t/*.trs "$dir"/t/unit/*.trs; do
        [ -f "$f" ] || continue
        pass=$((pass + $(grep -c '^:test-result: \(PASS\|XFAIL\)' "$f")))
        fail=$((fail + $(grep -c '^:test-result: \(FAIL\|XPASS\|ERROR\)' "$f")))
        skip=$((skip + $(grep -c '^:test-result: SKIP' "$f")))
    done
    if [ $rc -ne 0 ]; then
        for l in "$dir"/t/*.log "$dir"/t/unit/*.log; do
            [ -f "$l" ] && grep -q '^not ok\|^ERROR\|Bail out' "$l" && { echo "---- $l"; cat "$l"; }
        done
        # A failing make check with no failed test point is still a failure.
        [ "$fail" -eq 0 ] && broken=$((broken + 1))
    fi
done
fail=$((fail + broken))
if [ "$skip" -gt 0 ]; then
    echo "$skip tests were skipped: each is a failure here (see the SKIP lines above)"
    for l in "$top"/build*/t/*.log "$top"/build*/t/unit/*.log; do
        [ -f "$l" ] && grep -H '# SKIP' "$l"
    done
fi
echo "$pass passed, $((fail + skip)) failed"
[ "$fail" -eq 0 ] && [ "$skip" -eq 0 ]
