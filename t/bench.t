#!/usr/bin/python3
# tools/wsgate-bench against wsgate in front of wsgate-bench --serve (its C
# echo backend): handshake and echo mode with --json, each run's counts
# cross-checked against each other and against the gateway's /metrics;
# tokens from every source the gateway reads; an invalid token file turns
# every handshake into a 401 that the backend never sees; what a backend
# reached directly receives (tokens in order, source addresses), a wrong
# accept key; the exit status of a run that reaches nothing and of a bad
# command line; the memory of idle relayed sessions and what /sessions
# still shows of them.

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import wsgatetest  # noqa: E402
from wsgatetest import (MINT, TMP, Gateway, check, diag, done, free_port, is_, main_conf,  # noqa: E402
                        ok, port_open, run, start_backend, std_conf, wait_for, write_file)

BENCH = os.path.abspath(os.environ.get("WSGATE_BENCH") or
                        os.path.join(os.path.dirname(MINT), "wsgate-bench"))
CLAIMS = '{"iss":"https://auth.test/","aud":"chat","sub":"bench"}'
ROUTES = """\
route / {
    upstream @BACKEND@;
    origins any;
    identity_header sub X-Auth-Sub;
}
"""


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for ln in text.splitlines():
        if ln and not ln.startswith("#"):
            k, v = ln.rsplit(" ", 1)
            out[k] = float(v)
    return out


def accepted(m):
    return m.get('wsgate_handshakes_total{result="accepted",reason=""}', 0)


def rejected(m, reason):
    return m.get('wsgate_handshakes_total{result="rejected",reason="%s"}' % reason, 0)


def tokens(name, n, alg, key, exp=600):
    rc, out, err = run([MINT, "-a", alg, "-k", os.path.join(wsgatetest.KEYS, key), "-e", str(exp),
                        "-n", str(n), "-c", CLAIMS])
    lines = out.split()
    if rc != 0 or len(lines) != n or len(set(lines)) != n:
        raise RuntimeError("jwtmint -n %d: rc %d, %d distinct tokens: %s" %
                           (n, rc, len(set(lines)), err.strip()))
    return lines


def bench(args, timeout=20):
    """Runs wsgate-bench --json; returns (exit status, parsed object or None, stderr)."""
    rc, out, err = run([BENCH, "--json"] + args, timeout=timeout)
    try:
        res = json.loads(out)
    except ValueError:
        diag("not JSON: %r; stderr %r" % (out[:300], err[-300:]))
        res = None
    return rc, res, err


def consistent(res, name):
    """The counts that must add up in every run."""
    p = []
    if res is None:
        return check(name, ["no JSON"])
    if res["handshakes"] != res["handshakes_ok"] + res["handshake_errors"]:
        p.append("handshakes %d != ok %d + errors %d" % (res["handshakes"], res["handshakes_ok"],
                                                          res["handshake_errors"]))
    if res["errors_total"] != sum(res["errors"].values()):
        p.append("errors_total %d != sum of %r" % (res["errors_total"], res["errors"]))
    if res["errors_total"] != res["handshake_errors"] + res["session_errors"]:
        p.append("errors_total %d != handshake %d + session %d" %
                 (res["errors_total"], res["handshake_errors"], res["session_errors"]))
    if res["closes_ok"] + res["session_errors"] + res["unfinished"] < res["handshakes_ok"]:
        p.append("%d upgraded sessions but %d clean closes, %d session errors, %d unfinished" %
                 (res["handshakes_ok"], res["closes_ok"], res["session_errors"], res["unfinished"]))
    for h in ("handshake_latency_us", "rtt_us"):
        v = res[h]
        if v["count"] and not (0 < v["p50"] <= v["p99"] <= v["p999"] <= v["max"]):
            p.append("%s percentiles out of order: %r" % (h, v))
    return check(name, p)


ok(os.access(BENCH, os.X_OK), "wsgate-bench is built (%s)" % BENCH)

# The C echo backend, a process of its own like in the benchmarks.
be_port = free_port()
echo_log = open(os.path.join(TMP, "echo.log"), "wb")
echo = subprocess.Popen([BENCH, "--serve", "127.0.0.1:%d" % be_port], stdin=subprocess.DEVNULL,
                        stdout=echo_log, stderr=echo_log)
wsgatetest._procs.append(echo)
ok(wait_for(lambda: echo.poll() is not None or port_open(be_port), 5) and echo.poll() is None,
   "wsgate-bench --serve listens")

def bench_main(status_port):
    return main_conf(access_log="off", error_log="stderr warn", workers=1,
                     status_listen="127.0.0.1:%d" % status_port, max_connections=2000)


sport = free_port()
main = bench_main(sport)
gw = Gateway(std_conf("127.0.0.1:%d" % be_port, routes=ROUTES, main=main))
url = "ws://127.0.0.1:%d/chat?room=1" % gw.port
good = write_file("good.tokens", "\n".join(tokens("rs", 400, "RS256", "rsa.key") +
                                           tokens("es", 400, "ES256", "ec256.key")) + "\n")

# --- handshake mode: connect, upgrade, one echo, close 1000, repeat.
m0 = metrics(sport)
rc, res, err = bench(["-m", "handshake", "-c", "20", "-d", "2", "--messages", "1", "-s", "64",
                      "--sources", "4", "-t", good, url])
m1 = metrics(sport)
is_(rc, 0, "handshake mode exits 0")
consistent(res, "handshake mode: counts add up")
if res:
    ok(res["handshakes_ok"] > 0 and res["handshakes_per_s"] > 0,
       "handshake mode: %d handshakes, %.0f/s" % (res["handshakes_ok"], res["handshakes_per_s"]))
    is_(res["errors"], {}, "handshake mode: no error with valid tokens")
    is_(res["closes_ok"], res["handshakes_ok"], "every upgraded session closed cleanly")
    is_(res["messages"], res["handshakes_ok"], "one verified echo per session")
    is_(res["handshake_latency_us"]["count"], res["handshakes_ok"], "a latency per handshake")
    is_(accepted(m1) - accepted(m0), res["handshakes_ok"],
        "the gateway counted the same number of accepted handshakes")
    ok(1.5 < res["duration_s"] < 3.5, "the run lasted about --duration (%.2f s)" % res["duration_s"])
ok("handshakes" in err and "/s" in err, "a progress line on stderr")

# --- tokens in the query, a cookie and the subprotocol reach the gateway too.
for where in ("query:access_token", "cookie:access_token", "subprotocol"):
    m0 = metrics(sport)
    rc, res, err = bench(["-q", "-c", "4", "-n", "40", "-d", "5", "--token-in", where, "-t", good,
                          url])
    m1 = metrics(sport)
    ok(rc == 0 and res and res["handshakes_ok"] == 40 and res["errors"] == {} and
       accepted(m1) - accepted(m0) == 40,
       "--token-in %s: 40 of 40 handshakes admitted (%r)" % (where, res and res["errors"]))

# --- echo mode: 10 sessions, 1000-byte messages back to back.
m0 = metrics(sport)
rc, res, err = bench(["-m", "echo", "-c", "10", "-d", "2", "-s", "1000", "-t", good, url])
m1 = metrics(sport)
is_(rc, 0, "echo mode exits 0")
consistent(res, "echo mode: counts add up")
if res:
    is_(res["handshakes_ok"], 10, "echo mode: 10 sessions opened")
    is_(res["errors"], {}, "echo mode: no error")
    is_(res["closes_ok"], 10, "echo mode: 10 clean closes")
    ok(res["messages"] > 0 and res["messages_per_s"] > 0 and res["mb_per_s"] > 0,
       "echo mode: %d round trips, %.1f MB/s" % (res["messages"], res["mb_per_s"]))
    is_(res["rtt_us"]["count"], res["messages"], "a round trip time per message")
    ok(abs(res["mb_per_s"] - res["messages_per_s"] * 1000 / 1e6) < 0.01 * res["mb_per_s"] + 0.001,
       "MB/s is messages/s times the size")
    up = m1.get('wsgate_bytes_total{direction="client_to_upstream"}', 0) - \
        m0.get('wsgate_bytes_total{direction="client_to_upstream"}', 0)
    ok(up >= res["messages"] * 1000, "the gateway relayed at least that many bytes upstream "
       "(%d >= %d)" % (up, res["messages"] * 1000))

# --- idle sessions: a relayed session keeps only what it still needs (the
# request head and its parse, the token and the claims' JSON are freed once
# the relay runs), and /sessions still shows its path and subject.
def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


NIDLE = 1500
ready = os.path.join(TMP, "idle.ready")
base = rss_kb(gw.proc.pid)
idle = subprocess.Popen([BENCH, "--json", "-q", "-m", "idle", "-c", str(NIDLE), "-d", "1",
                         "--sources", "4", "--open-concurrency", "50", "--ready-file", ready,
                         "-t", good, url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                        text=True)
wsgatetest._procs.append(idle)
if ok(wait_for(lambda: os.path.exists(ready) or idle.poll() is not None, 60) and
         idle.poll() is None, "%d idle sessions open" % NIDLE):
    per = (rss_kb(gw.proc.pid) - base) / NIDLE
    with urllib.request.urlopen("http://127.0.0.1:%d/sessions" % sport, timeout=5) as r:
        live = json.loads(r.read().decode())
    live = live.get("sessions", live) if isinstance(live, dict) else live
    relayed = [x for x in live if x.get("state") == "relay"]
    is_(len(relayed), NIDLE, "/sessions lists every idle session as relaying")
    ok(relayed and all(x.get("path") == "/chat" and x.get("sub") == "bench" and
                       isinstance(x.get("exp"), int) for x in relayed),
       "/sessions still shows path, sub and exp once the head is freed", relayed[:1])
    # A sanitizer build's memory (shadow, quarantine) is not the gateway's.
    if not os.environ.get("ASAN_OPTIONS"):
        ok(0 < per < 7.0, "RSS per idle relayed session %.2f kB (< 7 kB)" % per)
try:
    out, _ = idle.communicate(timeout=30)
    res = json.loads(out)
    is_((res["handshakes_ok"], res["errors"]), (NIDLE, {}), "idle mode: every session opened, no error")
except (subprocess.TimeoutExpired, ValueError) as e:
    ok(False, "idle mode finished with JSON (%s)" % e)

# --- an invalid token file: every handshake is a 401, the backend sees nothing.
pybe = start_backend()
gw2 = Gateway(std_conf(pybe.addr, routes=ROUTES, main=bench_main(free_port())))
bad = write_file("bad.tokens", "\n".join(tokens("wrongkey", 100, "RS256", "rsa2.key") +
                                         tokens("expired", 100, "ES256", "ec256.key", exp=-3600))
                 + "\n")
before = pybe.nconn
rc, res, err = bench(["-q", "-c", "10", "-d", "1", "-t", bad,
                      "ws://127.0.0.1:%d/chat" % gw2.port])
is_(rc, 0, "invalid tokens: the run still exits 0 (it got answers)")
consistent(res, "invalid tokens: counts add up")
if res:
    ok(res["handshakes"] > 0, "invalid tokens: %d handshakes" % res["handshakes"])
    is_(res["handshakes_ok"], 0, "invalid tokens: none admitted")
    is_(res["errors"], {"http_401": res["handshakes"]}, "invalid tokens: every handshake is a 401")
time.sleep(0.05)
is_(pybe.nconn - before, 0, "invalid tokens: the backend saw no connection")

# --- what goes on the wire, seen by a backend reached directly: one token
# per handshake in file order, in the query or the Authorization header,
# source addresses in turn; and a 101 with a wrong accept key is caught.
toks = open(good).read().split()
wire = start_backend()
rc, res, err = bench(["-q", "-c", "1", "-n", "6", "--sources", "3", "--messages", "1",
                      "--token-in", "query:tok", "-t", good,
                      "ws://%s/chat?room=1" % wire.addr])
ok(rc == 0 and res and res["handshakes_ok"] == 6 and res["errors"] == {} and wire.nconn == 6,
   "direct to a backend: 6 handshakes, each with one echo, no error")
is_([c.target for c in wire.conns], ["/chat?room=1&tok=%s" % t for t in toks[:6]],
    "the query carries the next token of the file each time")
is_(sorted(set(c.peer.rsplit(":", 1)[0] for c in wire.conns)), ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
    "--sources 3: connections come from 127.0.0.1, .2 and .3")
n0 = wire.nconn
rc, res, err = bench(["-q", "-c", "1", "-n", "3", "-t", good, "ws://%s/x" % wire.addr])
is_([c.header("Authorization") for c in wire.conns[n0:]], ["Bearer %s" % t for t in toks[:3]],
    "bearer: Authorization carries the tokens in order")
liar = start_backend(response=b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                     b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
rc, res, err = bench(["-q", "-c", "2", "-n", "4", "ws://%s/" % liar.addr])
ok(res and res["handshakes_ok"] == 0 and res["errors"] == {"bad_accept": 4},
   "a 101 with another key's accept value counts as bad_accept (%r)" % (res and res["errors"]))

# --- exit status: nothing listening, and a bad command line.
dead = free_port()
rc, res, err = bench(["-q", "-c", "2", "-d", "0.3", "ws://127.0.0.1:%d/" % dead])
ok(rc == 1 and res and res["handshakes_ok"] == 0 and "connect_refused" in res["errors"],
   "nothing listening: exit 1, errors say connect_refused")
rc, _, err = run([BENCH, "--mode", "nope", url])
is_(rc, 2, "a bad option exits 2")
rc, _, err = run([BENCH, "-t", os.path.join(TMP, "missing.tokens"), url])
ok(rc == 2 and "missing.tokens" in err, "a missing token file exits 2 and names the file")

echo.send_signal(signal.SIGTERM)
try:
    is_(echo.wait(5), 0, "wsgate-bench --serve exits 0 on SIGTERM")
except subprocess.TimeoutExpired:
    ok(False, "wsgate-bench --serve exits 0 on SIGTERM")
ok(gw.alive() and gw2.alive(), "both gateways still running")
done()
