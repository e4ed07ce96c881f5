#!/usr/bin/python3
# Upstream selection and failures (SPEC §3 step 9, §4): round-robin, next on
# connect failure, 502 when every upstream refuses, a backend that never
# answers, a backend that declines the upgrade.

import json
import os
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (Gateway, Timeout, check, claims, diag, done, expect_101,  # noqa: E402
                        expect_reject, free_port, is_, main_conf, mint, ok, reject_problems,
                        start_backend, std_conf, upgrade)

TOK = mint("RS256", claims_=claims(exp=int(time.time()) + 3600))

good = start_backend()
rr_a = start_backend()
rr_b = start_backend()
hang = start_backend(mode="hang")
body403 = b'{"error":"forbidden","detail":"backend says no"}'
deny = start_backend(response=b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\nX-Backend: deny\r\n\r\n%s" % (len(body403), body403))
# Answers that are no usable head: none at all, too large, not HTTP.
closer = start_backend(response=b"")
huge = start_backend(response=b"HTTP/1.1 101 Switching Protocols\r\nX-Big: " + b"a" * 20000 +
                              b"\r\n\r\n")
garbage = start_backend(response=b"NOT HTTP AT ALL\r\n\r\n")
# A listener that never accepts, its queue filled: further SYNs are dropped,
# so a connect to it hangs (upstream_connect_timeout).
import socket  # noqa: E402
stuck = socket.socket()
stuck.bind(("127.0.0.1", 0))
stuck.listen(0)
stuck_fill = []
for _ in range(4):
    f = socket.socket()
    f.setblocking(False)
    try:
        f.connect(stuck.getsockname())
    except BlockingIOError:
        pass
    stuck_fill.append(f)
stuck_addr = "127.0.0.1:%d" % stuck.getsockname()[1]
refused1 = "127.0.0.1:%d" % free_port()     # nothing listens there
refused2 = "127.0.0.1:%d" % free_port()

routes = """\
route / { upstream %s %s; origins any; }
route /dead { upstream %s %s; origins any; }
route /rr { upstream %s %s; origins any; }
route /hang { upstream %s; origins any; }
route /deny { upstream %s; origins any; }
route /closer { upstream %s; origins any; }
route /huge { upstream %s; origins any; }
route /garbage { upstream %s; origins any; }
route /stuck { upstream %s; origins any; }
route /stuckthen { upstream %s %s; origins any; }
""" % (refused1, good.addr, refused1, refused2, rr_a.addr, rr_b.addr, hang.addr, deny.addr,
       closer.addr, huge.addr, garbage.addr, stuck_addr, stuck_addr, good.addr)
HANDSHAKE, CONNECT = 2.0, 1.0
gw = Gateway(std_conf(good.addr, routes=routes,
                      main=main_conf(handshake_timeout="2s", upstream_connect_timeout="1s")),
             name="up")

# Next on failure: every session succeeds whichever upstream the cursor is on.
for i in range(4):
    expect_101(gw, good, "session %d via [refused, good] gets 101" % (i + 1), token=TOK)
ok(good.nconn == 4, "the healthy upstream served all 4", "it served %d" % good.nconn)

# Every upstream refuses.
for i in range(2):
    expect_reject(gw, None, "every upstream refusing -> 502 (%d)" % (i + 1), 502, "bad_gateway",
                  path="/dead", token=TOK)

# Round-robin over two healthy upstreams: one worker, one cursor, so the
# sessions alternate strictly. expect_101 completes an echo round trip, so
# the backend that served a session has counted it when it returns.
order = []
for i in range(10):
    na, nb = rr_a.nconn, rr_b.nconn
    c, bc, resp = expect_101(gw, None, "round-robin session %d" % (i + 1), path="/rr", token=TOK)
    order.append({(1, 0): "a", (0, 1): "b"}.get((rr_a.nconn - na, rr_b.nconn - nb), "?"))
diag("round-robin order: %s" % "".join(order))
is_((rr_a.nconn, rr_b.nconn), (5, 5), "round-robin: 10 sessions split exactly 5 / 5")
ok(order in (list("ababababab"), list("bababababa")),
   "round-robin: each session goes to the other upstream than the one before", "".join(order))

# A backend that accepts and reads the request but never answers: SPEC
# says 504 gateway_timeout once handshake_timeout (2s) has run out.
t0 = time.monotonic()
try:
    c, resp = upgrade(gw, path="/hang", token=TOK, timeout=HANDSHAKE + CONNECT + 8)
except (Timeout, OSError) as e:
    c, resp = None, None
    diag("silent backend: %r" % e)
el = time.monotonic() - t0
diag("silent backend: the client got %r after %.2fs" % (resp, el))
p = reject_problems(c, resp, 504, "gateway_timeout", "upstream did not answer in time") if c else ["no client"]
el = time.monotonic() - t0
if not HANDSHAKE - 0.2 <= el <= HANDSHAKE + 2:
    p.append("answered and closed after %.2fs, handshake_timeout is %.0fs" % (el, HANDSHAKE))
check("a backend that never answers: 504 gateway_timeout at handshake_timeout, then close", p)
hc = hang.last()
ok(hang.nconn == 1 and hc.got_head.is_set() and hc.ended.wait(5),
   "the silent backend got the request and its connection is closed")
if c:
    c.close()

# A backend that declines the upgrade: its answer is relayed, then closed.
try:
    c, resp = upgrade(gw, path="/deny", token=TOK)
except (Timeout, OSError) as e:
    c, resp = None, None
    diag("deny: %r" % e)
p = []
if resp is None:
    p.append("no response")
else:
    if resp.status != 403:
        p.append("status %r" % resp.status)
    if resp.body != body403:
        p.append("body %r" % resp.body)
    if resp.header("X-Backend") != "deny" or resp.header("Content-Type") != "application/json":
        p.append("headers %r" % resp.headers)
    try:
        json.loads(resp.body)
    except ValueError:
        p.append("body not JSON")
    if not c.wait_eof(5):
        p.append("connection not closed")
check("a backend's 403 is relayed to the client with its body, then closed", p)
if c:
    c.close()
ok(deny.nconn == 1 and deny.last().ended.wait(5), "the declining backend's connection is closed")

# The backend's answer head read on its own: its end before a head, a head
# over max_header_size and a head that is not HTTP are each a 502, the
# client gets none of the backend's bytes and both connections close.
for path, be_x, desc in (("/closer", closer, "upstream closed the connection"),
                         ("/huge", huge, "upstream response head too large"),
                         ("/garbage", garbage, "invalid response from upstream")):
    before = be_x.nconn
    try:
        c, resp = upgrade(gw, path=path, token=TOK)
    except (Timeout, OSError) as e:
        c, resp = None, None
        diag("%s: %r" % (path, e))
    p = reject_problems(c, resp, 502, "bad_gateway", desc) if c else ["no client"]
    if resp is not None and (b"X-Big" in resp.raw_head or b"NOT HTTP" in resp.raw_head):
        p.append("the backend's bytes reached the client")
    if not (be_x.wait_conns(before + 1, 3) and be_x.conns[before].ended.wait(5)):
        p.append("the backend's connection was not closed")
    if c:
        c.close()
    check("a backend's answer on %s -> 502 %s" % (path, desc), p)

# A connect that hangs: 504 at upstream_connect_timeout (1s), or the next
# upstream.
t0 = time.monotonic()
expect_reject(gw, None, "an upstream connect that hangs -> 504 at upstream_connect_timeout", 504,
              "gateway_timeout", path="/stuck", token=TOK)
took = time.monotonic() - t0
ok(CONNECT - 0.2 < took < HANDSHAKE, "... after about 1s (%.2fs)" % took)
before = good.nconn
for i in range(2):
    expect_101(gw, good, "[hanging, good]: session %d gets 101 from the next upstream" % (i + 1),
               path="/stuckthen", token=TOK)
ok(good.nconn == before + 2, "the healthy upstream served both", good.nconn - before)

ok(gw.alive(), "the gateway is still running")
done()
