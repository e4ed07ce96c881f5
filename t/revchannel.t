#!/usr/bin/python3
# revocation_channel (SPEC §13): PUBLISH "jti:<jti>" and
# "sub:<sub>:<unix-cutoff>" close matching live sessions with 4403, with
# keyspace notifications off and a sweep too slow to be the one closing;
# malformed messages are ignored and logged at most once a second; the
# keys stay the truth for handshakes.

import os
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (OP_CLOSE, OP_TEXT, Frame, Gateway, Timeout, check, claims, diag,  # noqa: E402
                        done, expect_101, main_conf, mint, ok, start_backend, std_conf, upgrade,
                        wait_for)
from redistest import Redis  # noqa: E402

CHAN = "wsgate:revocations"
rd = Redis(notify=False)      # no keyspace events: only the channel is fast
be = start_backend()
gw = Gateway(std_conf(be.addr, main=main_conf(redis=rd.addr, redis_failure="reject",
                                              revocation_sweep="1h",
                                              revocation_channel='"%s"' % CHAN)),
             name="chan")
ok(wait_for(lambda: rd.cmd("PUBSUB", "NUMSUB", CHAN)[1] == 1, 5),
   "the gateway subscribes to revocation_channel", rd.cmd("PUBSUB", "NUMSUB", CHAN))


def session(**cl):
    tok = mint("RS256", claims_=claims(**cl))
    before = be.nconn
    try:
        c, r = upgrade(gw, token=tok)
    except (Timeout, OSError):
        return None, None
    if r is None or r.status != 101 or not be.wait_conns(before + 1, 3):
        diag("not admitted: %r" % (r,))
        return None, None
    c.send_text(b"hi")
    try:
        if c.recv_message(5.0) != (OP_TEXT, b"hi"):
            return None, None
    except Timeout:
        return None, None
    return c, be.conns[before]


def close_within(c, timeout):
    """The close frame the client gets within timeout, or None."""
    dl = time.monotonic() + timeout
    while time.monotonic() < dl:
        try:
            f = c.recv_frame(max(0.01, dl - time.monotonic()))
        except (Timeout, OSError):
            return None
        if isinstance(f, Frame) and f.opcode == OP_CLOSE:
            return f
    return None


def still_open(c):
    try:
        c.send_text(b"ping?")
        return c.recv_message(3.0) == (OP_TEXT, b"ping?")
    except (Timeout, OSError):
        return False


now = int(time.time())
# ---- jti ---------------------------------------------------------------------------
c1, b1 = session(jti="chan-jti-1", sub="ann")
c2, b2 = session(jti="chan-jti-2", sub="ann2")
t0 = time.monotonic()
n = rd.cmd("PUBLISH", CHAN, "jti:chan-jti-1")
f = close_within(c1, 2.0) if c1 else None
dt = time.monotonic() - t0
ok(f is not None and f.close_code == 4403 and f.close_reason == "token revoked",
   "PUBLISH jti:<jti> closes the live session with 4403", f)
ok(f is not None and dt < 0.5, "within 500 ms, with keyspace events off and a 1h sweep",
   "%.3fs" % dt)
ok(b1 is not None and b1.got_close.wait(3) and
   any(x.opcode == OP_CLOSE and x.close_code == 4403 for x in b1.frames),
   "the backend got the 4403 close too")
ok(c2 is not None and still_open(c2), "a session with another jti stays open")

# ---- sub cutoff --------------------------------------------------------------------
c3, _ = session(jti="chan-3", sub="bob", iat=now - 100)
c4, _ = session(jti="chan-4", sub="urn:user:7", iat=now - 100)
rd.cmd("PUBLISH", CHAN, "sub:bob:%d" % (now - 200))
rd.cmd("PUBLISH", CHAN, "jti:chan-jti-2")       # a fence: handled after the one before
f = close_within(c2, 2.0) if c2 else None
ok(f is not None and f.close_code == 4403, "the fence message closed its session")
ok(c3 is not None and still_open(c3), "a cutoff before the token's iat leaves it open")
rd.cmd("PUBLISH", CHAN, "sub:bob:%d" % now)
f = close_within(c3, 2.0) if c3 else None
ok(f is not None and f.close_code == 4403, "PUBLISH sub:<sub>:<cutoff >= iat> closes it", f)
rd.cmd("PUBLISH", CHAN, "sub:urn:user:7:%d" % now)
f = close_within(c4, 2.0) if c4 else None
ok(f is not None and f.close_code == 4403,
   "a sub holding ':' is read up to the last ':'", f)

# ---- malformed messages ----------------------------------------------------------------
c5, _ = session(jti="chan-5", sub="carol")
junk = ["", "jti:", "sub:carol", "sub:carol:", "sub:carol:12x", "sub::123", "SUB:carol:1",
        "jti", "hello", "sub:carol:-5", "sub:carol:99999999999999999999", "jti:chan-5\0x"]
before = gw.log().count("malformed message")
t0 = time.monotonic()
for _ in range(20):
    for j in junk:
        rd.cmd("PUBLISH", CHAN, j)
elapsed = time.monotonic() - t0
rd.cmd("PUBLISH", CHAN, "jti:chan-jti-none")
ok(c5 is not None and still_open(c5), "malformed messages close nothing (%d sent)" % (20 * len(junk)))
logged = gw.log().count("malformed message") - before
ok(1 <= logged <= int(elapsed) + 2, "malformed messages are logged at most once a second",
   "%d lines in %.1fs" % (logged, elapsed))
ok(gw.alive(), "the gateway is still running")

# ---- the keys stay the truth for handshakes -----------------------------------------
c6, _ = session(jti="chan-jti-1", sub="ann")
ok(c6 is not None, "a message alone does not refuse a new handshake (the keys decide)")
rd.cmd("SET", "wsgate:revoked:jti:chan-jti-6", "1", "EX", "60")
tok = mint("RS256", claims_=claims(jti="chan-jti-6"))
c, r = upgrade(gw, token=tok)
ok(r is not None and r.status == 401, "a jti key still refuses the handshake", r and r.status)
for x in (c, c5, c6):
    if x:
        x.close()
done()
