#!/usr/bin/python3
# Compares wsgate with HAProxy and nginx as WebSocket reverse proxies in one
# run: the same asyncio echo backend behind each, the same client code, and
# the direct-to-backend baseline. Measures handshakes/s, echo round-trip
# latency and 64 KiB relay throughput, and the CPU each process used.
# Normally started through relay-bench.sh; see contrib/bench/README.md.

import argparse
import asyncio
import os
import random
import re
import shutil
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsbench import (built, OP_BINARY, OP_TEXT, TOP, ZERO_KEY, BenchError, Procs,  # noqa: E402
                     cpu_seconds, encode_frame, free_port, loadavg, machine_busy_seconds,
                     mint_hs256, mint_jwtmint, percentile, port_open, raise_nofile, run_async,
                     self_cpu_seconds, start_backend, wait_for, ws_connect)

PROG = "relay-bench"
ISS = "https://auth.bench/"
AUD = "chat"
MSG_SMALL = 32
MSG_BIG = 64 * 1024


def parse_args():
    ap = argparse.ArgumentParser(
        prog="relay-bench.sh",
        description="Compare wsgate, HAProxy and nginx as WebSocket reverse proxies in front of "
                    "the same echo backend on loopback: handshakes/s, echo latency, and "
                    "throughput of 64 KiB messages, with the direct-to-backend baseline.")
    ap.add_argument("--gateway", default=built(os.path.join("src", "wsgate")),
                    help="wsgate binary (default ./src/wsgate, else build/src/wsgate)")
    ap.add_argument("--mint", default=built(os.path.join("tools", "jwtmint")),
                    help="jwtmint binary for the RS256 tokens (default ./tools/jwtmint, else build/tools/jwtmint)")
    ap.add_argument("--haproxy", default=shutil.which("haproxy") or "/usr/sbin/haproxy",
                    help="haproxy binary (default: from PATH)")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx",
                    help="nginx binary (default: from PATH)")
    ap.add_argument("--only", default="",
                    help="comma-separated subset of: direct,wsgate-hs256,wsgate-rs256,haproxy,"
                         "haproxy-jwt,nginx (default: all)")
    ap.add_argument("--workers", type=int, default=2,
                    help="wsgate workers, HAProxy nbthread, nginx worker_processes (default 2)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds over all targets; each figure is the best round's (2)")
    ap.add_argument("--hs-seconds", type=float, default=6.0, help="handshake test length (6)")
    ap.add_argument("--hs-concurrency", type=int, default=32,
                    help="clients doing handshakes at once (32)")
    ap.add_argument("--echo-seconds", type=float, default=4.0, help="echo latency test length (4)")
    ap.add_argument("--echo-sessions", type=int, default=100,
                    help="sessions in the echo test (100)")
    ap.add_argument("--echo-interval-ms", type=float, default=20.0,
                    help="each echo session sends one %d-byte message per interval (20)"
                    % MSG_SMALL)
    ap.add_argument("--tp-seconds", type=float, default=4.0, help="each throughput test length (4)")
    ap.add_argument("--tls", action="store_true",
                    help="clients connect over TLS (1.3, a P-256 certificate made for the run) and "
                         "every proxy terminates it; the backend stays plain; no direct row")
    ap.add_argument("--tp-sessions", type=int, default=50,
                    help="sessions in the multi-session throughput test (50)")
    a = ap.parse_args()
    for name in ("hs_seconds", "echo_seconds", "tp_seconds"):
        if not 0.5 <= getattr(a, name) <= 60:
            ap.error("--%s must be between 0.5 and 60" % name.replace("_", "-"))
    for name, hi in (("rounds", 5), ("hs_concurrency", 1000), ("echo_sessions", 2000),
                     ("tp_sessions", 2000), ("workers", 64)):
        if not 1 <= getattr(a, name) <= hi:
            ap.error("--%s must be between 1 and %d" % (name.replace("_", "-"), hi))
    if not 1 <= a.echo_interval_ms <= 10000:
        ap.error("--echo-interval-ms must be between 1 and 10000")
    return a

# ---------------------------------------------------------------- proxies


def wsgate_conf(port, be_port, workers, alg, keys, tmp, tls=None):
    key = ("hmac_secret_file %s/hmac.secret;" % keys if alg == "HS256"
           else "key_file %s/rsa.pub;" % keys)
    listen = "listen 127.0.0.1:%d;" % port
    if tls:
        listen = ("listen 127.0.0.1:%d tls;\ntls_certificate %s;\ntls_certificate_key %s;"
                  % (port, tls["cert"], tls["key"]))
    return """\
{listen}
workers {workers};
max_connections 8000;
handshake_timeout 10s;
upstream_connect_timeout 5s;
max_message_size 1m;
shutdown_timeout 2s;
access_log off;
error_log stderr warn;
jwt {{
    {key}
    algorithms {alg};
    issuer "{iss}";
    audience {aud};
    leeway 5s;
    require_claims sub exp;
}}
route / {{
    upstream 127.0.0.1:{be};
    origins any;
    identity_header sub X-Auth-Sub;
}}
""".format(listen=listen, workers=workers, key=key, alg=alg, iss=ISS, aud=AUD, be=be_port)


def haproxy_conf(port, be_port, workers, jwt_key=None, tls=None):
    # jwt_verify checks the signature only: the other rules check what
    # wsgate also checks (alg allow-list, exp, iss, aud) so the work is alike.
    jwt = ""
    if jwt_key:
        jwt = """\
    http-request set-var(txn.bearer) req.hdr(authorization),word(2,' ')
    http-request deny unless {{ var(txn.bearer),jwt_header_query('$.alg') -m str RS256 }}
    http-request deny unless {{ var(txn.bearer),jwt_verify("RS256","{key}") -m int 1 }}
    http-request deny unless {{ var(txn.bearer),jwt_payload_query('$.iss') -m str {iss} }}
    http-request deny unless {{ var(txn.bearer),jwt_payload_query('$.aud') -m str {aud} }}
    http-request set-var(txn.now) date
    http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
    http-request deny if {{ var(txn.exp),sub(txn.now) -m int lt 0 }}
""".format(key=jwt_key, iss=ISS, aud=AUD)
    return """\
global
    nbthread {workers}
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-request 10s
frontend fe
    bind 127.0.0.1:{port}{ssl}
{jwt}    default_backend be
backend be
    server s1 127.0.0.1:{be}
""".format(workers=workers, port=port, jwt=jwt, be=be_port,
           ssl=" ssl crt %s" % tls["pem"] if tls else "")


def nginx_conf(port, be_port, workers, tmp, tls=None):
    return """\
worker_processes {workers};
worker_rlimit_nofile 20000;
error_log {tmp}/nginx-error.log warn;
pid {tmp}/nginx.pid;
events {{
    worker_connections 8000;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fastcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096{ssl};
{certs}        location / {{
            proxy_pass http://127.0.0.1:{be};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
    }}
}}
""".format(workers=workers, tmp=tmp, port=port, be=be_port, ssl=" ssl" if tls else "",
           certs="        ssl_certificate %s;\n        ssl_certificate_key %s;\n"
           "        ssl_protocols TLSv1.2 TLSv1.3;\n" % (tls["cert"], tls["key"]) if tls else "")


def version_of(argv, pattern):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    m = re.search(pattern, p.stdout + p.stderr)
    return m.group(1) if m else "?"


class Target:
    def __init__(self, name, auth, kind, token_alg):
        self.name, self.auth, self.kind, self.token_alg = name, auth, kind, token_alg
        self.proc = None
        self.port = None
        self.rounds = []        # (results, cpu) per round
        self.hs_errors = []
        self.echo_errors = []
        self.bad = 0
        self.note = None


def start_target(t, a, procs, be_port):
    """Starts the proxy of target t on a free port (retrying when the port
    was taken meanwhile)."""
    if t.kind == "direct":
        t.port = be_port
        return
    for _ in range(3):
        port = free_port()
        d = os.path.join(procs.tmp, t.name)
        os.makedirs(d, exist_ok=True)
        if t.kind == "wsgate":
            cfg = os.path.join(d, "wsgate.conf")
            with open(cfg, "w") as f:
                f.write(wsgate_conf(port, be_port, a.workers, t.token_alg,
                                    os.path.join(TOP, "t", "keys"), d, a.tls_files))
            argv = [os.path.abspath(a.gateway), "-c", cfg]
        elif t.kind == "haproxy":
            cfg = os.path.join(d, "haproxy.cfg")
            key = os.path.join(TOP, "t", "keys", "rsa.pub") if t.token_alg else None
            with open(cfg, "w") as f:
                f.write(haproxy_conf(port, be_port, a.workers, key, a.tls_files))
            chk = subprocess.run([a.haproxy, "-c", "-q", "-f", cfg], capture_output=True,
                                 text=True, timeout=20)
            if chk.returncode != 0:
                raise BenchError("haproxy refuses the %s configuration: %s" %
                                 (t.name, (chk.stdout + chk.stderr).strip()[:500]))
            argv = [a.haproxy, "-f", cfg, "-db"]
        else:
            cfg = os.path.join(d, "nginx.conf")
            with open(cfg, "w") as f:
                f.write(nginx_conf(port, be_port, a.workers, d, a.tls_files))
            argv = [a.nginx, "-c", cfg, "-p", d, "-g", "daemon off;"]
        p = procs.start(t.name, argv, cwd=d)
        up = wait_for(lambda: p.poll() is not None or port_open(port), 10)
        if up and p.poll() is None:
            t.proc, t.port = p, port
            time.sleep(0.2)     # let every worker/thread get going
            return
        log = procs.log(t.name)
        if t.kind == "nginx":
            try:
                log += "\n" + open(os.path.join(d, "nginx-error.log")).read()[-2000:]
            except OSError:
                pass
        procs.stop(p)
        if "in use" not in log.lower():
            raise BenchError("%s did not start:\n%s" % (t.name, log))
    raise BenchError("%s did not start (ports in use)" % t.name)

# ---------------------------------------------------------------- measurements


def make_tls(tmp):
    """A self-signed P-256 certificate for 127.0.0.1 and the client context
    (TLS 1.3 only, so every proxy negotiates the same)."""
    global CLIENT_TLS
    files = {"cert": os.path.join(tmp, "tls.crt"), "key": os.path.join(tmp, "tls.key"),
             "pem": os.path.join(tmp, "tls.pem")}
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", files["key"],
                        "-out", files["cert"]], capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise BenchError("openssl req failed: %s" % p.stderr.strip()[:300])
    with open(files["pem"], "w") as out:
        out.write(open(files["cert"]).read() + open(files["key"]).read())
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    CLIENT_TLS = ctx
    return files


# The client's TLS context with --tls (no verification: a private
# self-signed certificate on loopback), else None.
CLIENT_TLS = None


async def connect(port, headers, **kw):
    return await ws_connect("127.0.0.1", port, "/chat", headers, ssl=CLIENT_TLS, **kw)


class TokenPool:
    def __init__(self, tokens):
        self.tokens = tokens
        self.i = 0

    def headers(self):
        self.i += 1
        return [("Authorization", "Bearer " + self.tokens[self.i % len(self.tokens)])]


async def sanity(t, port, pool):
    """One echo through the target; for authenticating targets, a request
    without a token must be refused."""
    c = await connect(port, pool.headers(), timeout=5)
    c.send(OP_TEXT, b"sanity")
    _, payload, _ = await c.recv(5)
    c.abort()
    if payload != b"sanity":
        raise BenchError("%s: echo returned %r" % (t.name, payload[:40]))
    if t.auth != "none":
        try:
            c = await connect(port, [], timeout=5)
            c.abort()
            raise BenchError("%s admitted a request without a token" % t.name)
        except BenchError as e:
            m = re.search(r"HTTP/1\.1 (\d{3}[^']*)", str(e))
            if not m:
                raise
            t.note = "no token -> %s" % m.group(1)


async def open_many(port, n, pool, conc=100, on_message=None):
    sem = asyncio.Semaphore(conc)

    async def one(i):
        async with sem:
            return await connect(port, pool.headers(), timeout=10,
                                    on_message=on_message(i) if on_message else None)
    res = await asyncio.gather(*[one(i) for i in range(n)], return_exceptions=True)
    bad = [r for r in res if isinstance(r, BaseException)]
    if bad:
        for r in res:
            if not isinstance(r, BaseException):
                r.abort()
        raise BenchError("could not open %d sessions: %s" % (n, bad[0]))
    return res


async def measure_handshakes(port, pool, seconds, conc):
    """New connection + upgrade + one echo + close handshake + TCP close by
    the server, back to back from conc clients."""
    done, errors, lat, server_close_late = 0, [], [], 0
    start = time.monotonic()
    deadline = start + seconds

    async def worker():
        nonlocal done, server_close_late
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            c = None
            try:
                c = await connect(port, pool.headers(), timeout=5)
                c.send(OP_TEXT, b"hello")
                _, payload, _ = await c.recv(5)
                if payload != b"hello":
                    raise BenchError("echo returned %r" % payload[:40])
                c.send_close(1000)
                await asyncio.wait_for(asyncio.shield(c.got_close), 5)
                try:
                    await asyncio.wait_for(asyncio.shield(c.lost), 1)
                except asyncio.TimeoutError:
                    server_close_late += 1
                    c.abort()
                lat.append((time.perf_counter() - t0) * 1000)
                done += 1
            except (BenchError, asyncio.TimeoutError, OSError) as e:
                errors.append(str(e) or type(e).__name__)
                if c is not None:
                    c.abort()
    await asyncio.gather(*[worker() for _ in range(conc)])
    el = time.monotonic() - start
    lat.sort()
    return {"hs_per_s": done / el, "hs_p50_ms": percentile(lat, 50), "hs_n": done,
            "hs_errors": errors, "hs_server_close_late": server_close_late}


async def measure_echo(port, pool, n, seconds, interval):
    sessions = await open_many(port, n, pool)
    rtts = []
    errors = []
    payload = b"x" * MSG_SMALL
    deadline = time.monotonic() + seconds
    rng = random.Random(7)

    async def run(c):
        await asyncio.sleep(rng.uniform(0, interval))       # spread the sends
        nxt = time.monotonic()
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            c.send(OP_TEXT, payload)
            try:
                _, got, t1 = await c.recv(5)
            except BenchError as e:
                errors.append(str(e))
                return
            if got != payload:
                errors.append("echo mismatch")
                return
            rtts.append((t1 - t0) * 1000)
            nxt += interval
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
    t0 = time.monotonic()
    await asyncio.gather(*[run(c) for c in sessions])
    el = time.monotonic() - t0
    for c in sessions:
        c.abort()
    rtts.sort()
    return {"echo_p50_ms": percentile(rtts, 50), "echo_p99_ms": percentile(rtts, 99),
            "echo_msgs_per_s": len(rtts) / el, "echo_errors": errors}


async def measure_throughput(port, pool, n, seconds, window):
    """n sessions, each keeping window 64 KiB binary messages in flight;
    MB/s of payload echoed back (10^6 bytes/s)."""
    loop = asyncio.get_running_loop()
    big = bytes(random.Random(3).getrandbits(8) for _ in range(MSG_BIG))
    # A zero masking key lets the Python backend skip the XOR (see wsbench).
    frame = encode_frame(OP_BINARY, big, key=ZERO_KEY)
    state = {"bytes": 0, "inflight": 0, "bad": 0, "stop": False}
    finished = loop.create_future()
    conns = {}

    def handler(i):
        def on_message(op, payload, now):
            if op != OP_BINARY or len(payload) != MSG_BIG:
                state["bad"] += 1
            elif state["bytes"] == 0 and payload != big:
                state["bad"] += 1
            if not state["stop"]:
                state["bytes"] += len(payload)
                conns[i].send_raw(frame)
            else:
                state["inflight"] -= 1
                if state["inflight"] == 0 and not finished.done():
                    finished.set_result(None)
        return on_message

    sessions = await open_many(port, n, pool, on_message=handler)
    for i, c in enumerate(sessions):
        conns[i] = c
    t0 = time.monotonic()
    for c in sessions:
        for _ in range(window):
            c.send_raw(frame)
            state["inflight"] += 1
    await asyncio.sleep(seconds)
    state["stop"] = True
    el = time.monotonic() - t0
    mb = state["bytes"] / 1e6 / el
    try:
        await asyncio.wait_for(finished, 10)
    except asyncio.TimeoutError:
        state["bad"] += 1
    for c in sessions:
        c.abort()
    # Everything relayed, the messages drained after the deadline included.
    total = state["bytes"] + n * window * MSG_BIG
    return mb, total, state["bad"]


def cpu_snapshot(t, be_proc):
    return (cpu_seconds(t.proc.pid) if t.proc else 0.0, self_cpu_seconds(),
            cpu_seconds(be_proc.pid), machine_busy_seconds(), time.monotonic())


def cpu_delta(before, after):
    """% of one core for proxy, client, backend and everything else on the
    machine, and the proxy's CPU seconds."""
    el = after[4] - before[4]
    pct = [100.0 * (after[k] - before[k]) / el for k in range(4)]
    pct[3] = max(0.0, pct[3] - pct[0] - pct[1] - pct[2])
    return tuple(pct) + (after[0] - before[0],)


async def run_target(t, a, be_proc, pools):
    """One round of every test on target t: (results, cpu per test)."""
    pool = pools[t.token_alg or "HS256"]
    res, cpu = {}, {}
    await sanity(t, t.port, pool)
    s0 = cpu_snapshot(t, be_proc)
    res.update(await measure_handshakes(t.port, pool, a.hs_seconds, a.hs_concurrency))
    cpu["hs"] = cpu_delta(s0, cpu_snapshot(t, be_proc))
    await asyncio.sleep(0.3)
    s0 = cpu_snapshot(t, be_proc)
    res.update(await measure_echo(t.port, pool, a.echo_sessions, a.echo_seconds,
                                  a.echo_interval_ms / 1000.0))
    cpu["echo"] = cpu_delta(s0, cpu_snapshot(t, be_proc))
    for key, n, window in (("tp1", 1, 8), ("tp50", a.tp_sessions, 2)):
        s0 = cpu_snapshot(t, be_proc)
        mb, total, bad = await measure_throughput(t.port, pool, n, a.tp_seconds, window)
        cpu[key] = cpu_delta(s0, cpu_snapshot(t, be_proc))
        res[key + "_mb_s"] = mb
        res[key + "_bytes"] = total
        res[key + "_bad"] = bad
    return res, cpu


# Which round each test's figures come from: the best one, since other work
# on a shared machine can only make a round worse.
GROUPS = (
    ("hs", "hs_per_s", max, ("hs_per_s", "hs_p50_ms", "hs_n")),
    ("echo", "echo_p99_ms", min, ("echo_p50_ms", "echo_p99_ms", "echo_msgs_per_s")),
    ("tp1", "tp1_mb_s", max, ("tp1_mb_s", "tp1_bytes")),
    ("tp50", "tp50_mb_s", max, ("tp50_mb_s", "tp50_bytes")),
)


def merge_rounds(t):
    res, cpu = {}, {}
    for group, metric, pick, fields in GROUPS:
        r, c = pick(t.rounds, key=lambda rc: rc[0][metric])
        for f in fields:
            res[f] = r[f]
        cpu[group] = c[group]
    return res, cpu

# ---------------------------------------------------------------- report


def fnum(v, digits=1):
    if v != v:      # nan
        return "-"
    return ("%." + str(digits) + "f") % v


def report(targets, a):
    print()
    print("Results (each figure: the best of %d round%s)" % (a.rounds, "s" if a.rounds > 1 else ""))
    hdr = ("%-13s %-22s %9s %10s %12s %12s %11s %11s %12s" %
           ("target", "auth", "hs/s", "hs_p50_ms", "echo_p50_ms", "echo_p99_ms", "echo_msg/s",
            "1sess_MB/s", "%dsess_MB/s" % a.tp_sessions))
    print(hdr)
    print("-" * len(hdr))
    merged = {}
    for t in targets:
        r, c = merged[t.name] = merge_rounds(t)
        print("%-13s %-22s %9s %10s %12s %12s %11s %11s %12s" % (
            t.name, t.auth, fnum(r["hs_per_s"], 0), fnum(r["hs_p50_ms"], 2),
            fnum(r["echo_p50_ms"], 2), fnum(r["echo_p99_ms"], 2), fnum(r["echo_msgs_per_s"], 0),
            fnum(r["tp1_mb_s"], 0), fnum(r["tp50_mb_s"], 0)))
    print()
    print("CPU during the tests above, %% of one core (%d cores = %d%%): proxy/client/backend/"
          "other, where other = the rest of the machine's busy time plus time stolen by the "
          "hypervisor (a large value means the test was disturbed); and the proxy's CPU time "
          "per handshake and per GB relayed in the %d-session test"
          % (os.cpu_count(), 100 * os.cpu_count(), a.tp_sessions))
    hdr = "%-13s %-15s %-15s %-15s %-15s %13s %14s" % (
        "target", "handshakes", "echo", "tp 1 session", "tp %d sessions" % a.tp_sessions,
        "proxy_us/hs", "proxy_ms/GB")
    print(hdr)
    print("-" * len(hdr))
    for t in targets:
        r, c = merged[t.name]
        proxy = t.kind != "direct"

        def c4(k):
            p, cl, b, o, _ = c[k]
            return "%s/%.0f/%.0f/%.0f" % ("%.0f" % p if proxy else "-", cl, b, o)
        us_hs = c["hs"][4] * 1e6 / r["hs_n"] if proxy and r["hs_n"] else float("nan")
        gb = r["tp50_bytes"] / 1e9
        ms_gb = c["tp50"][4] * 1000 / gb if proxy and gb else float("nan")
        print("%-13s %-15s %-15s %-15s %-15s %13s %14s" % (
            t.name, c4("hs"), c4("echo"), c4("tp1"), c4("tp50"), fnum(us_hs, 0), fnum(ms_gb, 0)))


async def main_async(a, targets, be_proc, pools, procs, be_port):
    for rnd in range(1, a.rounds + 1):
        for t in targets:
            t0 = time.monotonic()
            try:
                start_target(t, a, procs, be_port)
                r, c = await run_target(t, a, be_proc, pools)
            finally:
                if t.proc is not None:
                    procs.stop(t.proc)
                    t.proc = None
            t.rounds.append((r, c))
            t.hs_errors += r["hs_errors"]
            t.echo_errors += r["echo_errors"]
            t.bad += r["tp1_bad"] + r["tp50_bad"]
            print("# round %d %-12s %4.1f s: %s handshakes (%d errors), %d echo errors, "
                  "%d bad echoed 64 KiB messages%s%s" % (
                      rnd, t.name, time.monotonic() - t0, r["hs_n"], len(r["hs_errors"]),
                      len(r["echo_errors"]), r["tp1_bad"] + r["tp50_bad"],
                      "" if not r["hs_server_close_late"] else
                      ", %d closes where the proxy did not end TCP within 1 s"
                      % r["hs_server_close_late"],
                      "" if not t.note else "; " + t.note))
            sys.stdout.flush()
            await asyncio.sleep(0.5)


def main():
    a = parse_args()
    names = ["direct", "wsgate-hs256", "wsgate-rs256", "haproxy", "haproxy-jwt", "nginx"]
    only = [x.strip() for x in a.only.split(",") if x.strip()]
    for x in only:
        if x not in names:
            raise BenchError("--only: unknown target %r (known: %s)" % (x, ",".join(names)))
    if a.tls:
        if "direct" in only:
            raise BenchError("--only: there is no direct row with --tls (the backend is plain)")
        names.remove("direct")
    want = [n for n in names if not only or n in only]
    for path, what in ((a.gateway, "wsgate"), (a.mint, "jwtmint")):
        if any(n.startswith("wsgate") for n in want) and not os.access(path, os.X_OK):
            raise BenchError("%s binary %s not found (run make first, or use --gateway/--mint)" %
                             (what, path))
    if any(n.startswith("haproxy") for n in want) and not os.access(a.haproxy, os.X_OK):
        raise BenchError("haproxy not found at %s (apt-get install haproxy)" % a.haproxy)
    if "nginx" in want and not os.access(a.nginx, os.X_OK):
        raise BenchError("nginx not found at %s (apt-get install nginx-light)" % a.nginx)

    raise_nofile(2 * max(a.tp_sessions, a.echo_sessions, a.hs_concurrency) + 200)
    procs = Procs("wsgate-relaybench-")
    be_proc, be_port = start_backend(procs)
    a.tls_files = make_tls(procs.tmp) if a.tls else None

    keys = os.path.join(TOP, "t", "keys")
    now = int(time.time())
    secret = open(os.path.join(keys, "hmac.secret"), "rb").read()

    def claims(i):
        return {"iss": ISS, "aud": AUD, "sub": "user-%d" % i, "iat": now, "exp": now + 3600,
                "jti": "relay-%d-%d" % (os.getpid(), i)}
    pools = {"HS256": TokenPool([mint_hs256(secret, claims(i)) for i in range(200)])}
    if any(n in ("wsgate-rs256", "haproxy-jwt") for n in want):
        pools["RS256"] = TokenPool([mint_jwtmint(os.path.abspath(a.mint), "RS256",
                                                 os.path.join(keys, "rsa.key"), claims(1000 + i))
                                    for i in range(20)])

    wv = version_of([a.gateway, "-V"], r"(\d[\w.\-]*)") if os.access(a.gateway, os.X_OK) else "?"
    hv = version_of([a.haproxy, "-v"], r"version (\S+)") if os.access(a.haproxy, os.X_OK) else "?"
    nv = version_of([a.nginx, "-v"], r"nginx/(\S+)") if os.access(a.nginx, os.X_OK) else "?"
    all_targets = {
        "direct": Target("direct", "none", "direct", None),
        "wsgate-hs256": Target("wsgate-hs256", "JWT HS256 verified", "wsgate", "HS256"),
        "wsgate-rs256": Target("wsgate-rs256", "JWT RS256 verified", "wsgate", "RS256"),
        "haproxy": Target("haproxy", "none", "haproxy", None),
        "haproxy-jwt": Target("haproxy-jwt", "JWT RS256 jwt_verify", "haproxy", "RS256"),
        "nginx": Target("nginx", "none", "nginx", None),
    }
    targets = [all_targets[n] for n in want]

    print("# WARNING: this machine has %d cores, shared by every process of this benchmark "
          "(client, echo backend, proxy) and anything else running (1-minute load average at "
          "start: %s): the numbers compare the proxies under the same conditions, they are not "
          "capacity figures." % (os.cpu_count(), loadavg()))
    print("# wsgate %s (workers %d, JWT verified on every handshake: signature, alg, exp, iss, "
          "aud); "
          "HAProxy %s (nbthread %d, mode http; haproxy-jwt adds jwt_verify RS256 + alg/exp/iss/aud "
          "rules); nginx %s (worker_processes %d, proxy_http_version 1.1 + Upgrade/Connection). "
          "haproxy and nginx do not check any token."
          % (wv, a.workers, hv, a.workers, nv, a.workers))
    print("# client: one asyncio process; backend: one asyncio echo process. handshake = TCP "
          "connect + upgrade + one %d-byte echo + close handshake, %d clients for %g s; echo: %d "
          "sessions, one %d-byte message per session every %g ms, %g s; throughput: 64 KiB binary "
          "messages echoed, 1 session with 8 in flight and %d sessions with 2 each, %g s each; "
          "MB = 10^6 bytes of payload received back.%s"
          % (5, a.hs_concurrency, a.hs_seconds, a.echo_sessions, MSG_SMALL, a.echo_interval_ms,
             a.echo_seconds, a.tp_sessions, a.tp_seconds,
             " Clients connect over TLS 1.3 (P-256 certificate), every proxy terminates TLS, "
             "the backend is plain." if a.tls else ""))
    sys.stdout.flush()
    t0 = time.monotonic()
    run_async(main_async(a, targets, be_proc, pools, procs, be_port))
    report(targets, a)
    print("# total %.0f s" % (time.monotonic() - t0))
    problems = []
    for t in targets:
        if t.hs_errors:
            problems.append("%s: %d handshake errors (first: %s)" %
                            (t.name, len(t.hs_errors), t.hs_errors[0]))
        if t.echo_errors:
            problems.append("%s: %d echo errors (first: %s)" %
                            (t.name, len(t.echo_errors), t.echo_errors[0]))
        if t.bad:
            problems.append("%s: %d bad or missing echoed 64 KiB messages" % (t.name, t.bad))
    for p in problems:
        sys.stderr.write("%s: FAIL: %s\n" % (PROG, p))
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        sys.stderr.write("%s: error: %s\n" % (PROG, e))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
