#!/usr/bin/python3
# What in-band re-auth and graphql-ws first-message tokens cost: one wsgate
# (1 worker) with Redis and the echo backend on loopback.
#   - re-auth: SESSIONS live plain-WebSocket sessions each re-authenticate
#     ROUNDS times (one per second per session is the limit): round trip
#     message -> answer, and gateway CPU per re-auth (verify, Redis lookup,
#     re-arming expiry and revocation);
#   - handshake: HANDSHAKES sessions opened one after another with the token
#     in the Authorization header (101 from the backend, then one echo) and
#     the same with the token in graphql-ws connection_init (wsgate's own
#     101, connection_init, verify + Redis, upstream connect and 101, the
#     replayed connection_init echoed back): time to the first echoed
#     message, and gateway CPU per session.
# Run from the top of the source tree after make; see contrib/bench/README.md.

import argparse
import asyncio
import json
import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsbench import (built, OP_TEXT, TOP, BenchError, Procs, cpu_seconds, loadavg,  # noqa: E402
                     mint_hs256, percentile, port_open, run_async, start_backend, start_redis,
                     wait_for, ws_connect)


def parse_args():
    ap = argparse.ArgumentParser(prog="session-costs.py",
                                 description="Measure the cost of in-band re-auth and of the "
                                             "graphql-ws first-message handshake.")
    ap.add_argument("--sessions", type=int, default=200, help="sessions re-authenticating (default 200)")
    ap.add_argument("--rounds", type=int, default=5, help="re-auths per session (default 5)")
    ap.add_argument("--handshakes", type=int, default=500, help="sessions per handshake kind (default 500)")
    ap.add_argument("--gateway", default=built(os.path.join("src", "wsgate")),
                    help="wsgate binary (default ./src/wsgate, else build/src/wsgate)")
    ap.add_argument("--secret", default=os.path.join(TOP, "t", "keys", "hmac.secret"),
                    help="HS256 secret file (default t/keys/hmac.secret)")
    return ap.parse_args()


def gateway_conf(port, be, redis, secret, tmp):
    return """\
listen 127.0.0.1:{port};
workers 1;
handshake_timeout 10s;
access_log {tmp}/access.log json;
error_log stderr warn;
redis 127.0.0.1:{redis};
redis_prefix "wsgate:";
jwt {{
    hmac_secret_file {secret};
    algorithms HS256;
    issuer "https://auth.bench/";
    audience chat;
    token_sources header:Authorization graphql_ws;
}}
route /plain {{
    upstream 127.0.0.1:{be};
    reauth on;
    identity_header sub X-Auth-Sub;
}}
route /graphql {{
    upstream 127.0.0.1:{be};
    identity_header sub X-Auth-Sub;
}}
""".format(port=port, be=be, redis=redis, secret=secret, tmp=tmp)


def start_gateway(procs, binary, conf_for_port):
    from wsbench import free_port
    port = free_port()
    path = os.path.join(procs.tmp, "wsgate.conf")
    with open(path, "w") as f:
        f.write(conf_for_port(port))
    p = procs.start("gateway", [binary, "-c", path])
    if not wait_for(lambda: p.poll() is not None or port_open(port), 10) or p.poll() is not None:
        raise BenchError("wsgate did not start:\n%s" % procs.log("gateway"))
    return p, port


SEQ = [0]


def token(secret, sub="bench"):
    # iat one second back: time(NULL) (coarse clock) may lag time.time() by a
    # few ms, and an iat "in the future" is refused without leeway.
    SEQ[0] += 1
    now = int(time.time())
    return mint_hs256(secret, {"iss": "https://auth.bench/", "aud": "chat", "sub": sub, "iat": now - 1,
                               "exp": now + 600, "jti": "bench-%d-%d" % (os.getpid(), SEQ[0])})


def summary(name, lat_ms):
    s = sorted(lat_ms)
    return "%s p50_ms %.3f p90_ms %.3f p99_ms %.3f" % (name, percentile(s, 50), percentile(s, 90),
                                                       percentile(s, 99))


async def reauth_phase(a, port, secret, gw_pid):
    subs = ["bench-%d" % i for i in range(a.sessions)]
    clients = []
    for sub in subs:
        clients.append(await ws_connect("127.0.0.1", port, "/plain",
                                        [("Authorization", "Bearer " + token(secret, sub))]))
    lat = []
    cpu = 0.0
    for r in range(a.rounds):
        msgs = [json.dumps({"type": "wsgate.reauth", "token": token(secret, sub)},
                           separators=(",", ":")).encode() for sub in subs]
        c0 = cpu_seconds(gw_pid)
        t_round = time.monotonic()

        async def one(c, m):
            t0 = time.perf_counter()
            c.send(OP_TEXT, m)
            op, payload, t = await c.recv(10)
            ans = json.loads(payload)
            if not ans.get("ok"):
                raise BenchError("re-auth refused: %r" % ans)
            lat.append((t - t0) * 1000)
        await asyncio.gather(*(one(c, m) for c, m in zip(clients, msgs)))
        cpu += cpu_seconds(gw_pid) - c0
        # One re-auth per second per session is the limit.
        await asyncio.sleep(max(0.0, 1.05 - (time.monotonic() - t_round)))
    for c in clients:
        c.abort()
    n = a.sessions * a.rounds
    print(summary("reauth round trip (%d re-auths, %d at a time)" % (n, a.sessions), lat))
    print("reauth gateway CPU per re-auth: %.1f us" % (cpu / n * 1e6))


async def handshake_phase(a, port, secret, gw_pid):
    results = {}
    for kind in ("header", "graphql_ws"):
        lat = []
        c0 = cpu_seconds(gw_pid)
        for i in range(a.handshakes):
            tok = token(secret, "hs-%d" % i)
            t0 = time.perf_counter()
            if kind == "header":
                c = await ws_connect("127.0.0.1", port, "/graphql", [("Authorization", "Bearer " + tok)])
                c.send(OP_TEXT, b'{"type":"ping"}')
            else:
                c = await ws_connect("127.0.0.1", port, "/graphql",
                                     [("Sec-WebSocket-Protocol", "graphql-transport-ws")])
                c.send(OP_TEXT, json.dumps({"type": "connection_init",
                                            "payload": {"Authorization": "Bearer " + tok}}).encode())
            op, payload, t = await c.recv(10)
            lat.append((t - t0) * 1000)
            c.abort()
        cpu = cpu_seconds(gw_pid) - c0
        results[kind] = (lat, cpu)
        print(summary("handshake to first echo, token in %s (%d sessions)" % (kind, a.handshakes), lat))
        print("handshake gateway CPU per session, token in %s: %.1f us" % (kind, cpu / a.handshakes * 1e6))
    d = percentile(sorted(results["graphql_ws"][0]), 50) - percentile(sorted(results["header"][0]), 50)
    print("graphql_ws handshake extra p50: %.3f ms" % d)


def main():
    a = parse_args()
    procs = Procs("wsgate-sessioncosts-")
    secret = open(a.secret, "rb").read().strip()
    try:
        _, redis = start_redis(procs, notify=True)
        _, be = start_backend(procs)
        gw, port = start_gateway(procs, os.path.abspath(a.gateway),
                                 lambda p: gateway_conf(p, be, redis, os.path.abspath(a.secret), procs.tmp))
        print("# wsgate 1 worker, HS256, redis-server and echo backend on loopback; load %s" % loadavg())
        run_async(reauth_phase(a, port, secret, gw.pid))
        run_async(handshake_phase(a, port, secret, gw.pid))
    except BenchError as e:
        sys.stderr.write("session-costs: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
