#!/usr/bin/env bash
# Installs what building wsgate needs on Debian 12 (or a close relative);
# with --test, also everything the whole test suite needs: the Debian
# packages of the interop, peer and fuzz tests (Chromium, node, clang with
# libFuzzer, haproxy, nginx, redis-sentinel, systemd-analyze, and dpkg-dev
# and debhelper to build the Debian package) and the npm
# packages of t/interop and of the NestJS example, from their committed
# lockfiles. Does nothing when everything is already there. Needs root or
# sudo only when a Debian package is missing.
set -eu
cd "$(dirname "$0")/.."

pkgs="autoconf automake pkg-config make gcc libc6-dev libevent-dev libssl-dev
      libjwt-dev libjansson-dev libhiredis-dev redis-server python3 python3-websockets
      openssl ca-certificates"
test_pkgs="logrotate python3-yaml chromium nodejs npm clang libclang-rt-14-dev
           haproxy nginx redis-sentinel systemd dpkg-dev debhelper"

want="$pkgs"
[ "${1:-}" = "--test" ] && want="$pkgs $test_pkgs"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=""
for p in $want; do
    case "$p" in
        # Any of these serves; the machine may have node from elsewhere.
        nodejs|npm) command -v "${p%js}" >/dev/null && continue ;;
    esac
    installed "$p" || missing="$missing $p"
done

if [ -n "$missing" ]; then
    echo "wsgate: installing:$missing" >&2
    sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null ||
            { echo "wsgate: run as root, or install sudo, to get:$missing" >&2; exit 1; }
        sudo=sudo
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    # shellcheck disable=SC2086
    $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ "${1:-}" = "--test" ] || exit 0

# npm packages: reinstalled only when the lockfile is newer than the tree.
for d in t/interop contrib/examples/nestjs-chat; do
    if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules" ]; then
        echo "wsgate: npm ci in $d" >&2
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error) >&2
        touch "$d/node_modules"
    fi
done
