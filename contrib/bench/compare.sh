#!/bin/bash
# Side by side: wsgate, HAProxy with jwt_verify, nginx without auth and the
# echo backend reached directly, each proxy pinned to core 0 with one
# worker, tools/wsgate-bench and its echo backend on core 1; prints one
# markdown table of medians over the rounds (the work is done by
# compare.py). Installs haproxy and nginx with apt-get when they are
# missing (their system services are never started or used: each runs in
# the foreground on a private config in a temp dir).
# Run from the top of the source tree after make.
#   contrib/bench/compare.sh [--no-install] [--rounds N] [--quick] [--write BENCHMARKS.md]
#   contrib/bench/compare.sh --help
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3

install=yes
args=()
for arg in "$@"; do
    case $arg in
    --no-install) install=no ;;
    -h|--help)
        echo "usage: contrib/bench/compare.sh [--no-install] [options]"
        echo "  --no-install   do not apt-get install haproxy/nginx when they are missing"
        echo
        exec "$py" "$here/compare.py" --help ;;
    *) args+=("$arg") ;;
    esac
done

missing=()
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$install" = no ]; then
        echo "compare: missing: ${missing[*]} (install them, or drop --no-install)" >&2
        exit 1
    fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "compare: missing: ${missing[*]}; install them (apt-get install ${missing[*]})" \
             "and rerun" >&2
        exit 1
    fi
    echo "# installing ${missing[*]} with apt-get (their services are not started)"
    # Keep the packages' init scripts from starting system-wide daemons.
    made_policy=no
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=yes
    fi
    rc=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null || rc=$?
    [ "$made_policy" = no ] || rm -f /usr/sbin/policy-rc.d
    if [ "$rc" != 0 ]; then
        echo "compare: apt-get install ${missing[*]} failed (try apt-get update first)" >&2
        exit 1
    fi
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        for s in "${missing[@]}"; do systemctl disable --now "$s" >/dev/null 2>&1 || true; done
    fi
fi

# The proxies and the client hold two sockets per session.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# compare.py stops every process it started on TERM/INT/HUP and at exit;
# the trap passes our signals on and waits for that cleanup.
pid=
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; exit 130' \
    INT TERM HUP
"$py" "$here/compare.py" ${args[@]+"${args[@]}"} &
pid=$!
status=0
wait "$pid" || status=$?
exit "$status"
