#!/bin/sh
# Builds contrib/bench/jwt-verify-bench.c against src/libwsgate.a (run make
# first) and prints microseconds per token verification:
#   rs256 wsgate_jwt_verify_us_per_token  wsgate's jwt_verify, pre-parsed key
#   rs256 libjwt_jwt_decode_us_per_token  libjwt 1.10 jwt_decode with the PEM
#   es256/hs256 wsgate_jwt_verify_us_per_token
# Usage: contrib/bench/jwt-verify-bench.sh [N]      (default N=20000)
# The library is src/libwsgate.a of an in-tree build, else build/ (the
# t/check.sh build); BUILD=DIR names another build directory.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20000}
if [ -n "${BUILD:-}" ]; then
    lib="$BUILD/src/libwsgate.a"
elif [ -f "$top/src/libwsgate.a" ]; then
    lib="$top/src/libwsgate.a"
else
    lib="$top/build/src/libwsgate.a"
fi
[ -f "$lib" ] || { echo "jwt-verify-bench: $lib missing, run make first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
${CC:-cc} -O2 -D_GNU_SOURCE -I"$top/src" -o "$tmp/jwt-verify-bench" \
    "$top/contrib/bench/jwt-verify-bench.c" "$lib" \
    $(pkg-config --cflags --libs openssl jansson libjwt)
"$tmp/jwt-verify-bench" "$top/t/keys" "$n"
# The raw cost of one signature check on this machine right now, for scale
# (the numbers above include it; a loaded machine inflates both alike).
openssl speed -seconds 1 rsa2048 ecdsap256 2>/dev/null | awk '
    /^rsa 2048 bits/             { printf "# reference: openssl speed rsa2048 verify %.1f us\n", 1e6 / $NF }
    /^ *256 bits ecdsa \(nistp256\)/ { printf "# reference: openssl speed ecdsap256 verify %.1f us\n", 1e6 / $NF }'
