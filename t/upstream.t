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
                        expect_reject, free_port, main_conf, mint, ok, start_backend, std_conf,
                        upgrade)

TOK = mint("RS256", claims_=claims(exp=int(time.time()) + 3600))

good = start_backend()
rr_a = start_backend()
rr_b = start_backend()
hang = start_backend(mode="hang")
body403 = b'{"error":"forbidden","detail":"backend says no"}'
deny = start_backend(response=b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\nX-Backend: deny\r\n\r\n%s" % (len(body403), body403))
refused1 = "127.0.0.1:%d" % free_port()     # nothing listens there
refused2 = "127.0.0.1:%d" % free_port()

routes = """\
route / { upstream %s %s; origins any; }
route /dead { upstream %s %s; origins any; }
route /rr { upstream %s %s; origins any; }
route /hang { upstream %s; origins any; }
route /deny { upstream %s; origins any; }
""" % (refused1, good.addr, refused1, refused2, rr_a.addr, rr_b.addr, hang.addr, deny.addr)
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

# Round-robin over two healthy upstreams.
for i in range(10):
    c, bc, resp = expect_101(gw, None, "round-robin session %d" % (i + 1), path="/rr", token=TOK)
na, nb = rr_a.nconn, rr_b.nconn
diag("round-robin split: %d / %d" % (na, nb))
ok(na > 0 and nb > 0 and na + nb == 10, "round-robin spreads 10 sessions over both upstreams",
   "split %d / %d" % (na, nb))
ok(abs(na - nb) <= 2, "round-robin is roughly even", "split %d / %d" % (na, nb))

# A backend that accepts and reads the request but never answers: the
# gateway must not hold the client forever.
t0 = time.monotonic()
try:
    c, resp = upgrade(gw, path="/hang", token=TOK, timeout=HANDSHAKE + CONNECT + 8)
except (Timeout, OSError) as e:
    c, resp = None, repr(e)
el = time.monotonic() - t0
diag("silent backend: the client got %r after %.2fs" % (resp, el))
ended = True
if c is not None and not isinstance(resp, str):
    if resp is not None:
        try:
            ended = c.wait_eof(max(0.1, HANDSHAKE + CONNECT + 2 - el))
        except OSError:
            ended = True
    el = time.monotonic() - t0
ok(ended and el <= HANDSHAKE + CONNECT + 2 and not isinstance(resp, str),
   "a backend that never answers: the client is closed within %.0fs" % (HANDSHAKE + CONNECT + 2),
   "after %.2fs: %r" % (el, resp))
if resp is not None and not isinstance(resp, str) and resp.status != 504:
    diag("note: the silent backend produced status %r, nginx would answer 504" % resp.status)
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

ok(gw.alive(), "the gateway is still running")
done()
