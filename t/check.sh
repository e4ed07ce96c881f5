#!/usr/bin/env bash
# Builds wsgate and runs the whole test suite twice: a plain build and one
# with -fsanitize=address,undefined. Installs everything the suite needs
# first (contrib/install-deps.sh --test: Debian packages, with root or
# sudo, and the npm packages of the interop tests), so that nothing is
# skipped. The last line is the summary: "N passed, N failed"; a skipped
# test is reported and fails the run, since it is a test that did not run.
#   t/check.sh            both builds
#   t/check.sh --plain    the plain build only
#   t/check.sh --asan     the sanitizer build only
set -u
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

builds="plain asan"
case "${1:-}" in
    --plain) builds="plain" ;;
    --asan) builds="asan" ;;
    "") ;;
    *) echo "usage: t/check.sh [--plain|--asan]" >&2; exit 2 ;;
esac

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
    mkdir -p "$dir"
    echo "== $b build in $dir"
    if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ]; then
        (cd "$dir" && "$top/configure" -q $werror CFLAGS="$cflags" LDFLAGS="$ldflags") ||
            { echo "configure failed ($b)"; broken=$((broken + 1)); continue; }
    fi
    if ! make -s -C "$dir" -j"$jobs" >"$dir/build.out" 2>&1; then
        cat "$dir/build.out"
        echo "build failed ($b)"
        broken=$((broken + 1))
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
