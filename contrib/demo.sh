#!/usr/bin/env bash
# Builds wsgate, starts two demo echo backends on 127.0.0.1:9000 and :9001
# and runs the gateway in the foreground on the shipped conf/wsgate.conf.
# Prints a client command with a demo token first. Ctrl-C stops everything.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3

bash contrib/install-deps.sh
[ -x configure ] || ./autogen.sh >/dev/null
mkdir -p build
if [ ! -f build/Makefile ]; then
    (cd build && "$top/configure" -q)
fi
make -s -C build -j"$(nproc 2>/dev/null || echo 2)"

pids=""
cleanup() {
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
}
trap cleanup EXIT INT TERM
for port in 9000 9001; do
    "$py" t/lib/wsbackend.py --listen "127.0.0.1:$port" &
    pids="$pids $!"
done

token=$(build/tools/jwtmint -a RS256 -k conf/keys/demo-rs256.key -e 3600 -i \
    -c '{"sub":"demo-user","iss":"https://auth.example.com/","aud":"chat","roles":["chat"]}')
cat <<MSG

wsgate demo: echo backends on 127.0.0.1:9000 and 127.0.0.1:9001, gateway on 127.0.0.1:8080.
In another terminal, connect with the demo token (valid for an hour):

  $py contrib/wsclient.py ws://127.0.0.1:8080/ --send hello --token $token

Without a token, or with a tampered one, the gateway answers 401 and the
backend never sees the connection. Ctrl-C stops the demo.

MSG
build/src/wsgate -c conf/wsgate.conf &
gw=$!
pids="$pids $gw"
wait $gw
