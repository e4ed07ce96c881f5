# Operations: the status listener (/healthz, /metrics, /sessions), the
# access log (JSON fields, redaction, SIGUSR1 reopen), and the connection
# limits (max_connections_per_ip, max_sessions_per_subject, the accept cap).

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (OP_TEXT, TMP, Gateway, Timeout, check, claims, diag, done,  # noqa: E402
                        expect_101, expect_reject, free_port, main_conf, mint, ok, start_backend,
                        std_conf, upgrade, wait_for)
from redistest import Proxy, Redis  # noqa: E402


def get(port, path):
    """(status, body text, content type) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.status, r.read().decode(), r.headers.get("Content-Type")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get("Content-Type")


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels)): value}, checking the
    syntax of every sample line."""
    out = {}
    for ln in text.splitlines():
        if not ln or ln.startswith("#"):
            continue
        name_labels, value = ln.rsplit(" ", 1)
        labels = frozenset()
        if "{" in name_labels:
            name, rest = name_labels.split("{", 1)
            assert rest.endswith("}"), ln
            pairs = [p for p in rest[:-1].split(",") if p]
            labels = frozenset(tuple(p.split("=", 1)) for p in pairs)
            labels = frozenset((k, v.strip('"')) for k, v in labels)
        else:
            name = name_labels
        out[(name, labels)] = float(value)
    return out


def metric(m, name, **labels):
    return m.get((name, frozenset(labels.items())))


def session(gw, tok, timeout=5.0):
    c, r = upgrade(gw, token=tok, timeout=timeout)
    if r is None or r.status != 101:
        return None
    c.send_text(b"x")
    try:
        c.recv_message(5.0)
    except Timeout:
        return None
    return c


be = start_backend()
sport = free_port()
alog = os.path.join(TMP, "access.log")
gw = Gateway(std_conf(be.addr, main=main_conf(status_listen="127.0.0.1:%d" % sport, workers=2,
                                                access_log="%s json" % alog)), name="ops")

# ---- /healthz, unknown paths ---------------------------------------------
st, body, ct = get(sport, "/healthz")
ok(st == 200 and body == "ok", "/healthz answers 200 ok", "got %r %r" % (st, body))
st, _, _ = get(sport, "/nope")
ok(st == 404, "unknown status path -> 404")

# ---- traffic to count -----------------------------------------------------------
m0 = parse_metrics(get(sport, "/metrics")[1])
tok_a = mint(claims_=claims(sub="ann", jti="jti-ann-1"))
tok_b = mint(claims_=claims(sub="ben", jti="jti-ben-1"))
ca = session(gw, tok_a)
cb = session(gw, tok_b)
ok(ca is not None and cb is not None, "two live sessions")
expect_reject(gw, be, "a request without token", 401, "missing_token")
expect_reject(gw, be, "a request from a foreign origin", 403, "origin_not_allowed",
              headers=[("Origin", "https://evil.test")], token=tok_a)
q = "/?access_token=" + mint(claims_=claims(sub="cid", jti="jti-q"))
cq, rq = upgrade(gw, path=q)
ok(rq is not None and rq.status == 101, "query-token session")
cq.close()

st, text, ct = get(sport, "/metrics")
ok(st == 200 and ct.startswith("text/plain"), "/metrics answers 200 text/plain")
try:
    m = parse_metrics(text)
    parsed = True
except Exception as e:      # noqa: BLE001
    m, parsed = {}, False
    diag("unparsable metrics: %r" % e)
ok(parsed, "/metrics parses as Prometheus text exposition")
names = {k[0] for k in m}
ok(all(n.startswith("wsgate_") for n in names), "every metric has the wsgate_ prefix", sorted(names))
ctr = [ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE") and ln.endswith("counter")]
ok(ctr and all(n.endswith("_total") for n in ctr), "every counter ends in _total", ctr)


def delta(name, **labels):
    return (metric(m, name, **labels) or 0) - (metric(m0, name, **labels) or 0)


ok(delta("wsgate_handshakes_total", result="accepted", reason="") == 3,
   "3 accepted handshakes counted", delta("wsgate_handshakes_total", result="accepted", reason=""))
ok(delta("wsgate_handshakes_total", result="rejected", reason="missing_token") == 1,
   "the missing token rejection counted")
ok(delta("wsgate_handshakes_total", result="rejected", reason="origin_not_allowed") == 1,
   "the origin rejection counted")
ok(wait_for(lambda: metric(parse_metrics(get(sport, "/metrics")[1]), "wsgate_sessions_active") == 2, 3),
   "wsgate_sessions_active is 2")
ok(delta("wsgate_bytes_total", direction="client_to_upstream") > 0 and
   delta("wsgate_bytes_total", direction="upstream_to_client") > 0, "bytes counted both ways")
ok(delta("wsgate_handshake_duration_seconds_count") == 3 and
   metric(m, "wsgate_handshake_duration_seconds_bucket", le="+Inf") ==
   metric(m, "wsgate_handshake_duration_seconds_count"),
   "handshake latency histogram counts the accepted handshakes")

# ---- /sessions ---------------------------------------------------------------------
st, body, ct = get(sport, "/sessions")
try:
    sess = json.loads(body)
except ValueError:
    sess = None
ok(st == 200 and ct == "application/json" and isinstance(sess, list), "/sessions is a JSON list")
subs = sorted(x.get("sub") for x in sess or [])
ok(subs == ["ann", "ben"], "/sessions lists the live sessions with their sub", subs)
ok(all({"id", "route", "remote", "sub", "jti", "exp", "started", "bytes", "bytes_in", "bytes_out"} <= set(x)
       for x in sess or []), "each session has id, route, remote, sub, jti, exp, started, bytes")
ok(sess and all(x["bytes"] == x["bytes_in"] + x["bytes_out"] and x["bytes_in"] > 0 and x["bytes_out"] > 0
                for x in sess), "bytes is the sum of bytes_in (client to backend) and bytes_out", sess)
ann = [x for x in sess or [] if x.get("sub") == "ann"]
ok(ann and ann[0]["jti"] == "jti-ann-1" and ann[0]["route"] == "/", "jti and route of a session")

def closes(mm):
    """{cause: count} of wsgate_closes_total."""
    return {dict(k[1]).get("cause"): v for k, v in mm.items() if k[0] == "wsgate_closes_total"}


# The query-token session closed above may still be ending: wait until only
# ann and ben are live, then read the counters this close must move.
ok(wait_for(lambda: metric(parse_metrics(get(sport, "/metrics")[1]), "wsgate_sessions_active") == 2, 3),
   "only the two sessions are live before the close")
m1 = parse_metrics(get(sport, "/metrics")[1])
ca.send_close(1000)
ca.recv_frame(3.0)
ca.close()
ok(wait_for(lambda: [x["sub"] for x in json.loads(get(sport, "/sessions")[1])] == ["ben"], 3),
   "a closed session leaves /sessions")


def ann_logged():
    try:
        with open(alog) as f:
            return any('"sub":"ann"' in ln for ln in f)
    except OSError:
        return False


# The session leaves /sessions when it stops relaying; it is counted when it
# ends, just before its access log line is written (same thread, same
# function): that line is the barrier for reading the counters again.
ok(wait_for(ann_logged, 5), "the closed session's access log line is written")
m2 = parse_metrics(get(sport, "/metrics")[1])
c1, c2 = closes(m1), closes(m2)
moved = {k: c2.get(k, 0) - c1.get(k, 0) for k in set(c1) | set(c2) if c2.get(k, 0) != c1.get(k, 0)}
# Which side's end of file the gateway sees first after the close
# handshake is a race, so either normal cause may count it, but exactly
# one close must be counted, under exactly one of them.
ok(len(moved) == 1 and list(moved.values()) == [1] and set(moved) <= {"client_closed", "upstream_closed"},
   "the close is counted once, by cause (client_closed or upstream_closed)", "moved: %r" % moved)

# ---- access log -------------------------------------------------------------------------
ok(wait_for(lambda: os.path.exists(alog) and "ann" in open(alog).read(), 3), "access log file written")
lines = [ln for ln in open(alog).read().splitlines() if ln.strip()]
try:
    recs = [json.loads(ln) for ln in lines]
    okjson = True
except ValueError:
    recs, okjson = [], False
ok(okjson and recs, "every access log line is a JSON object", lines[:3])
want = {"time", "remote", "method", "path", "route", "status", "reason", "sub", "jti",
        "duration_ms", "bytes_in", "bytes_out", "close_code"}
ok(all(want <= set(r) for r in recs), "each record has time, remote, method, path, route, status, "
   "reason, sub, jti, duration, bytes each way, close code")
rej = [r for r in recs if r["status"] == 401]
ok(rej and rej[0]["reason"] == "missing_token", "the rejected request has its own line with a reason")
annrec = [r for r in recs if r.get("sub") == "ann"]
ok(annrec and annrec[0]["status"] == 101 and annrec[0]["bytes_in"] > 0 and annrec[0]["close_code"] == 1000,
   "the ended session has status 101, bytes and its close code", annrec)
qrec = [r for r in recs if r.get("sub") == "cid"]
ok(qrec and qrec[0]["path"] == "/?access_token=REDACTED", "token query value redacted in the path",
   qrec[0]["path"] if qrec else None)
whole = open(alog).read() + gw.log()
ok(all(t.split(".")[2] not in whole for t in (tok_a, tok_b)), "no token signature in any log")

# SIGUSR1: logrotate moves the file, the gateway reopens by name.
os.rename(alog, alog + ".1")
gw.proc.send_signal(signal.SIGUSR1)
ok(wait_for(lambda: os.path.exists(alog), 3), "SIGUSR1 reopens the access log file")
expect_reject(gw, be, "a request after the reopen", 401, "missing_token")
ok(wait_for(lambda: "missing_token" in open(alog).read(), 3), "new records go to the new file")
cb.close()

# The plain format: one line per record, whatever a claim holds.
plog = os.path.join(TMP, "access-plain.log")
gwp = Gateway(std_conf(be.addr, main=main_conf(access_log=plog)), name="plainlog")
evil = claims(sub='eve 101 "x"\n2030-01-01T00:00:00.000Z 1.2.3.4 "GET /forged"', jti="j\rk")
cp = session(gwp, mint(claims_=evil))
ok(cp is not None, "a session whose sub holds spaces, quotes and a newline")
if cp:
    cp.close()
ok(wait_for(lambda: os.path.exists(plog) and "101" in open(plog).read(), 5), "plain access log written")
plines = open(plog).read().splitlines()
ok(len(plines) == 1 and "/forged" in plines[0] and plines[0].count('"') == 2,
   "the claim stays inside its own line and field", plines)
ok(plines and ' sub=eve\\x20101\\x20\\x22x\\x22\\x0a2030' in plines[0] and " jti=j\\x0dk " in plines[0],
   "spaces, quotes and control bytes in sub and jti are written as \\xNN", plines)

# ---- limits -----------------------------------------------------------------------------------
be2 = start_backend()
gw2 = Gateway(std_conf(be2.addr, main=main_conf(max_connections_per_ip=2, max_sessions_per_subject=2)),
              name="limits")
tok = mint(claims_=claims(sub="dora"))
s1 = session(gw2, tok)
s2 = session(gw2, mint(claims_=claims(sub="eve")))
ok(s1 and s2, "two sessions from one address")
expect_reject(gw2, be2, "a third connection from the address -> 429", 429, "too_many_requests",
              token=mint(claims_=claims(sub="fay")))
s2.close()
ok(wait_for(lambda: session(gw2, mint(claims_=claims(sub="gil"))) is not None, 5),
   "a freed slot is usable again")

gw3 = Gateway(std_conf(be2.addr, main=main_conf(max_sessions_per_subject=2)), name="persub")
t1 = session(gw3, mint(claims_=claims(sub="hal")))
t2 = session(gw3, mint(claims_=claims(sub="hal")))
ok(t1 and t2, "two sessions of one subject")
expect_reject(gw3, be2, "a third session of the subject -> 429", 429, "too_many_requests",
              token=mint(claims_=claims(sub="hal")))
expect_101(gw3, be2, "another subject is not limited", token=mint(claims_=claims(sub="ida")))
t1.close()
ok(wait_for(lambda: session(gw3, mint(claims_=claims(sub="hal"))) is not None, 5),
   "the subject may connect again after one session ends")

# max_connections: a small overload gets 503; connections beyond the cap
# are not accepted until others end, then served.
gw4 = Gateway(std_conf(be2.addr, main=main_conf(max_connections=2)), name="cap")
u1 = session(gw4, tok)
u2 = session(gw4, mint(claims_=claims(sub="jon")))
ok(u1 and u2, "two sessions at max_connections 2")
expect_reject(gw4, be2, "one more -> 503", 503, "service_unavailable", token=tok)
u1.close()
ok(wait_for(lambda: session(gw4, mint(claims_=claims(sub="kim"))) is not None, 5),
   "served again below max_connections")

# ---- health follows draining and Redis ----------------------------------------------------
rd = Redis()
px = Proxy(rd.port)
sp5 = free_port()
gw5 = Gateway(std_conf(be2.addr, main=main_conf(status_listen="127.0.0.1:%d" % sp5, redis=px.addr,
                                                redis_failure="reject", shutdown_timeout="5s")),
              name="health")
ok(wait_for(lambda: get(sp5, "/healthz")[0] == 200, 5), "/healthz 200 with Redis up")
mt = parse_metrics(get(sp5, "/metrics")[1])
ok(metric(mt, "wsgate_redis_up") == 1, "wsgate_redis_up 1")
px.down()
ok(wait_for(lambda: get(sp5, "/healthz")[:2] == (503, "redis unavailable"), 5),
   "/healthz 503 redis unavailable while Redis is down under reject")
ok(metric(parse_metrics(get(sp5, "/metrics")[1]), "wsgate_redis_up") == 0, "wsgate_redis_up 0")
px.up()
ok(wait_for(lambda: get(sp5, "/healthz")[0] == 200, 5), "/healthz 200 again when Redis returns")
live = session(gw5, mint(claims_=claims(sub="lee")))
ok(live is not None, "a live session before SIGTERM")
gw5.proc.send_signal(signal.SIGTERM)
# The client holds the session open (it does not answer the close) so the
# gateway stays draining for a moment.
st5 = None
if wait_for(lambda: gw5.alive() and get(sp5, "/healthz")[:2] == (503, "draining"), 3):
    st5 = 503
ok(st5 == 503, "/healthz 503 draining while draining")
f = live.recv_frame(5.0) if live else None
ok(f is not None and f.close_code == 1001, "the live session gets 1001 going away")
ok(gw5.stop() == 0, "exit 0 after draining")

for g in (gw, gw2, gw3, gw4):
    ok(g.stop() == 0, "gateway %s exits 0" % g.name)
done()
