#!/usr/bin/python3
# Revocation-to-close latency across a Redis Sentinel failover: a real
# redis-server master and replica and a redis-sentinel, one wsgate
# ("redis sentinel://...") holding SESSIONS live sessions. It times SET ->
# 4403 close for SAMPLES sessions on the master first, then kills the
# master and, the moment the sentinel names the new master, revokes
# SAMPLES more on it (spread over --spread-ms), timing each the same way.
# Run from the top of the source tree after make; see contrib/bench/README.md.

import argparse
import asyncio
import os
import random
import shutil
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsbench import (built, OP_TEXT, TOP, BenchError, Procs, RedisConn, free_port,  # noqa: E402
                     loadavg, mint_hs256, percentile, port_open, raise_nofile, redis_cmd_sync,
                     run_async, start_backend, wait_for, ws_connect)

PROG = "failover"
PREFIX = "wsgate:"


def parse_args():
    ap = argparse.ArgumentParser(
        prog="failover.py",
        description="Measure wsgate's revocation-to-close latency before and across a Redis "
                    "Sentinel failover.")
    ap.add_argument("--sessions", type=int, default=2000, help="live sessions (default 2000)")
    ap.add_argument("--samples", type=int, default=200,
                    help="sessions revoked and timed in each phase (default 200)")
    ap.add_argument("--spread-ms", type=float, default=1000.0,
                    help="the failover phase's revocations are spread over this long from the "
                         "switch (default 1000)")
    ap.add_argument("--gateway", default=built(os.path.join("src", "wsgate")),
                    help="wsgate binary (default ./src/wsgate, else build/src/wsgate)")
    ap.add_argument("--workers", default="2", help="gateway workers (default 2)")
    ap.add_argument("--down-after-ms", type=int, default=400,
                    help="sentinel down-after-milliseconds (default 400)")
    ap.add_argument("--secret", default=os.path.join(TOP, "t", "keys", "hmac.secret"))
    a = ap.parse_args()
    if a.samples < 1 or 2 * a.samples >= a.sessions:
        ap.error("need 1 <= 2 * --samples < --sessions")
    return a


def exe(name):
    p = shutil.which(name) or "/usr/bin/" + name
    if not os.access(p, os.X_OK):
        raise BenchError("%s not found (apt-get install redis-server redis-sentinel)" % name)
    return p


def redis_server(procs, name, *extra):
    port = free_port()
    d = os.path.join(procs.tmp, name)
    os.makedirs(d, exist_ok=True)
    p = procs.start(name, [exe("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--dir", d,
                           "--protected-mode", "no", "--maxclients", "1000",
                           "--notify-keyspace-events", "K$"] + list(extra))
    if not wait_for(lambda: p.poll() is not None or port_open(port), 10) or p.poll() is not None:
        raise BenchError("%s did not start: %s" % (name, procs.log(name)))
    return p, port


def summary(lat):
    s = sorted(lat)
    return "p50_ms %.1f p90_ms %.1f p99_ms %.1f max_ms %.1f" % (
        percentile(s, 50), percentile(s, 90), percentile(s, 99), s[-1])


async def open_sessions(port, tokens, concurrency=200):
    sem = asyncio.Semaphore(concurrency)
    clients = [None] * len(tokens)

    async def one(i):
        async with sem:
            c = await ws_connect("127.0.0.1", port, "/",
                                 [("Authorization", "Bearer " + tokens[i])], timeout=30)
            c.send(OP_TEXT, b"hi")
            _, payload, _ = await c.recv(30)
            if payload != b"hi":
                raise BenchError("session %d: echo got %r" % (i, payload[:40]))
            clients[i] = c

    await asyncio.gather(*[one(i) for i in range(len(tokens))])
    return clients


async def time_one(redis, c, jti, timeout, delay=0.0):
    if delay:
        await asyncio.sleep(delay)
    t0 = time.perf_counter()
    fut = redis.send("SET", PREFIX + "revoked:jti:" + jti, "1", "EX", "600")
    try:
        await asyncio.wait_for(asyncio.shield(c.got_close), timeout)
    except asyncio.TimeoutError:
        pass
    if await asyncio.wait_for(fut, 5) != "OK":
        raise BenchError("SET failed")
    if c.close_time is None or c.close_code != 4403:
        return None
    return (c.close_time - t0) * 1000.0


async def bench(a, procs, gw_port, master_port, replica_port, sentinel_port, master_proc):
    secret = open(a.secret, "rb").read()
    now = int(time.time())
    jtis = ["fo-%d-%d-%d" % (os.getpid(), now, i) for i in range(a.sessions)]
    tokens = [mint_hs256(secret, {"iss": "https://auth.bench/", "aud": "chat", "sub": "u%d" % i,
                                  "iat": now, "exp": now + 3600, "jti": jtis[i]})
              for i in range(a.sessions)]
    t0 = time.monotonic()
    clients = await open_sessions(gw_port, tokens)
    print("# opened %d sessions in %.1f s" % (a.sessions, time.monotonic() - t0))
    pick = random.Random(7).sample(range(a.sessions), 2 * a.samples)
    before, after = pick[:a.samples], pick[a.samples:]
    problems = []

    redis = await RedisConn().connect("127.0.0.1", master_port)
    lat = []
    for i in before:
        ms = await time_one(redis, clients[i], jtis[i], 3.0)
        if ms is None:
            problems.append("before: session %d not closed with 4403 within 3 s" % i)
        else:
            lat.append(ms)
        await asyncio.sleep(0.005)
    redis.close()
    if lat:
        print("before failover  sessions %d samples %d %s" % (a.sessions, len(lat), summary(lat)))

    t_kill = time.monotonic()
    master_proc.kill()

    loop_dl = time.monotonic() + 30
    while True:
        try:
            addr = await asyncio.get_running_loop().run_in_executor(None, _master_port,
                                                                     sentinel_port)
        except OSError:
            addr = None
        if addr == replica_port:
            break
        if time.monotonic() > loop_dl:
            raise BenchError("no failover within 30 s")
        await asyncio.sleep(0.01)
    t_switch = time.monotonic()
    print("# sentinel switched to the replica %.2f s after the kill" % (t_switch - t_kill))
    redis = await RedisConn().connect("127.0.0.1", replica_port)
    spread = a.spread_ms / 1000.0
    tasks = [asyncio.ensure_future(time_one(redis, clients[i], jtis[i], 5.0,
                                            delay=spread * k / a.samples))
             for k, i in enumerate(after)]
    res = await asyncio.gather(*tasks)
    redis.close()
    lat = [x for x in res if x is not None]
    missed = len(res) - len(lat)
    if missed:
        problems.append("after: %d of %d sessions not closed with 4403 within 5 s" %
                        (missed, len(res)))
    if lat:
        print("across failover  sessions %d samples %d spread_ms %.0f %s" %
              (a.sessions, len(lat), a.spread_ms, summary(lat)))
    first = sorted(lat[:max(1, len(lat) // 10)])
    if first:
        print("# first tenth of the failover phase (revoked while wsgate moved): %s" %
              summary(first))
    rest = [i for i in range(a.sessions) if i not in set(pick)]
    early = sum(1 for i in rest if clients[i].close_code is not None)
    print("# un-revoked sessions closed: %d of %d" % (early, len(rest)))
    if early:
        problems.append("%d un-revoked sessions closed" % early)
    for c in clients:
        c.abort()
    return problems


def _master_port(sentinel_port):
    import socket
    s = socket.create_connection(("127.0.0.1", sentinel_port), timeout=2)
    try:
        s.sendall(b"*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$8\r\nmymaster\r\n")
        f = s.makefile("rb")
        if not f.readline().startswith(b"*2"):
            return None
        f.readline()
        f.readline()
        f.readline()
        return int(f.readline().strip())
    finally:
        s.close()


def main():
    a = parse_args()
    if not os.access(a.gateway, os.X_OK):
        raise BenchError("gateway binary %s not found (run make first)" % a.gateway)
    raise_nofile(2 * a.sessions + 200)
    procs = Procs("wsgate-failover-")
    mproc, mport = redis_server(procs, "master")
    _, rport = redis_server(procs, "replica", "--replicaof", "127.0.0.1", str(mport))
    if not wait_for(lambda: "master_link_status:up" in _info(rport), 10):
        raise BenchError("replica did not sync")
    sport = free_port()
    scfg = os.path.join(procs.tmp, "sentinel.conf")
    with open(scfg, "w") as f:
        f.write("port %d\nbind 127.0.0.1\nprotected-mode no\ndir %s\n"
                "sentinel monitor mymaster 127.0.0.1 %d 1\n"
                "sentinel down-after-milliseconds mymaster %d\n"
                "sentinel failover-timeout mymaster 3000\n" % (sport, procs.tmp, mport,
                                                                a.down_after_ms))
    procs.start("sentinel", [exe("redis-sentinel"), scfg])
    if not wait_for(lambda: port_open(sport), 10):
        raise BenchError("sentinel did not start")
    _, be_port = start_backend(procs)
    gw_port = free_port()
    conf = os.path.join(procs.tmp, "wsgate.conf")
    with open(conf, "w") as f:
        f.write("""listen 127.0.0.1:%d;
workers %s;
max_connections %d;
access_log off;
error_log stderr notice;
redis sentinel://127.0.0.1:%d/mymaster;
redis_failure reject;
revocation_sweep 1s;
jwt { hmac_secret_file %s; algorithms HS256; issuer "https://auth.bench/"; audience chat; }
route / { upstream 127.0.0.1:%d; origins any; }
""" % (gw_port, a.workers, a.sessions + 1000, sport, os.path.abspath(a.secret), be_port))
    gw = procs.start("gateway", [os.path.abspath(a.gateway), "-c", conf])
    if not wait_for(lambda: gw.poll() is not None or port_open(gw_port), 10) or gw.poll() is not None:
        raise BenchError("wsgate did not start: %s" % procs.log("gateway"))
    # Until the gateway knows the master, handshakes are 503 (reject).
    if not wait_for(lambda: "master is" in procs.log("gateway", 100), 10):
        raise BenchError("wsgate did not find the master: %s" % procs.log("gateway"))
    time.sleep(0.3)
    print("# wsgate %s workers %s, sentinel down-after %d ms, %d cores, load %s" %
          (a.gateway, a.workers, a.down_after_ms, os.cpu_count(), loadavg()))
    sys.stdout.flush()
    problems = run_async(bench(a, procs, gw_port, mport, rport, sport, mproc))
    if problems:
        for p in problems[:20]:
            sys.stderr.write("%s: FAIL: %s\n" % (PROG, p))
        return 1
    return 0


def _info(port):
    import socket
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
    except OSError:
        return ""
    try:
        s.sendall(b"*2\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n")
        f = s.makefile("rb")
        n = int(f.readline()[1:])
        return f.read(n + 2).decode()
    finally:
        s.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        sys.stderr.write("%s: %s\n" % (PROG, e))
        sys.exit(1)
