#!/usr/bin/env bash
# Installs what building and testing wsgate needs on Debian 12 (or a close
# relative). Does nothing when everything is already there.
set -eu

pkgs="autoconf automake pkg-config make gcc libc6-dev libevent-dev libssl-dev
      libjwt-dev libjansson-dev libhiredis-dev redis-server python3 python3-websockets
      openssl ca-certificates logrotate python3-yaml"

missing=""
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "wsgate: installing:$missing" >&2
sudo=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "wsgate: run as root or install sudo to get:$missing" >&2; exit 1; }
    sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
