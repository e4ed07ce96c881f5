#!/usr/bin/python3
# socket.io polling sessions bound to their sid (SPEC §10, "Polling
# sessions are enforced too" and "No unauthenticated squatters"), against
# the REAL socket.io 4 server of t/lib/siobackend.js. A CONNECT token sent
# by POST binds the Engine.IO sid to its identity; at revocation, expiry or
# the connect timeout the sid ends: the pending or next GET poll gets
# "41[/ns,]" then "1", POSTs get 401, and the backend gets the close packet
# POSTed for the sid, so its disconnect handler runs (its log shows it).

import json
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BASE_JWT, OP_TEXT, Gateway, Timeout, claims, done, is_, main_conf,  # noqa: E402
                        mint, ok, upgrade, wait_for)
from siotest import MODS, Http, SioBackend  # noqa: E402

NODE = os.environ.get("NODE") or shutil.which("node")
if not NODE or not os.path.isdir(os.path.join(MODS, "socket.io")):
    sys.stdout.write("1..0 # SKIP node or contrib/examples/nestjs-chat/node_modules missing\n")
    sys.exit(0)

from redistest import Redis  # noqa: E402

sio = SioBackend(NODE, name="sio-polling-backend")
redis = Redis()
CONNECT_TIMEOUT = 2.0
ROUTES = """\
route /socket.io/ {
    upstream 127.0.0.1:%d;
    socketio on;
    socketio_connect_timeout %dms;
    identity_header sub X-Auth-Sub;
}
""" % (sio.port, int(CONNECT_TIMEOUT * 1000))
JWT = BASE_JWT.replace("leeway 5s;", "leeway 1s;")
gw = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"', max_sessions_per_subject=1,
                       error_log="stderr debug") + JWT + ROUTES, name="sio-polling")

POLL = "/socket.io/?EIO=4&transport=polling"
_n = [0]


def token(ttl=300, **kw):
    """A fresh subject per token (max_sessions_per_subject is 1)."""
    _n[0] += 1
    kw.setdefault("sub", "p%d" % _n[0])
    now = int(time.time())
    c = claims(iat=now - 2, exp=now + ttl, **kw)
    return mint("RS256", claims_=c), c


def revoke(c):
    redis.cmd("SET", "wsgate:revoked:jti:%s" % c["jti"], "1", "EX", "600")


def http():
    return Http(gw.port, POLL)


def ev(kind, sid, nsp=None):
    return [e for e in sio.events(kind) if e.get("sid") == sid and (nsp is None or e.get("nsp") == nsp)]


def connected(h, tok, nsp="/"):
    """A polling session through the gateway whose CONNECT (by POST) the
    backend acknowledged: its sid, or None."""
    sid = h.handshake()
    if not sid:
        return None
    pre = "" if nsp == "/" else nsp + ","
    st, _, b = h.request("POST", POLL + "&sid=" + sid, b'40%s{"token":"%s"}' % (pre.encode(), tok.encode()))
    if st != 200:
        return None
    st, _, b = h.request("GET", POLL + "&sid=" + sid)
    return sid if st == 200 and (b"40" + pre.encode() + b"{") in b else None


GOODBYE = b"41\x1e1"

# ---------------------------------------------------------------- the handshake and unknown sids
h = http()
sid = h.handshake()
ok(sid is not None, "the handshake poll reaches the backend and its open packet comes back", sid)
h.close()

n_err = sio.count("engine_error")
h = http()
st, _, b = h.request("GET", POLL + "&sid=notopenedhere")
ok(st == 400 and b"unknown socket.io session" in b, "a GET poll of a sid not opened through the gateway: 400",
   (st, b))
h.close()
c, r = upgrade(gw, path="/socket.io/?EIO=4&transport=websocket&sid=notopenedhere")
ok(r is not None and r.status == 400, "a websocket upgrade of an unknown sid: 400", r.status if r else None)
if c:
    c.close()
is_(sio.count("engine_error"), n_err, "unknown sids: nothing reached the backend")
# A POST of an unknown sid goes to the backend, CONNECTs checked: engine.io
# refuses a sid it did not issue, and then nothing is entered.
tok, c = token()
h = http()
st, _, b = h.request("POST", POLL + "&sid=notopenedhere", b'40{"token":"%s"}' % tok.encode())
ok(st == 400, "a POST of a sid the backend never issued: its 400 (engine.io)", (st, b))
h.close()
h = http()
st, _, b = h.request("GET", POLL + "&sid=notopenedhere")
ok(st == 400 and b"unknown socket.io session" in b, "... and the sid was not entered: its GET is refused", (st, b))
h.close()

# ---------------------------------------------------------------- revocation with a GET poll pending
tok, c = token()
h = http()
sid = connected(h, tok)
ok(sid is not None and ev("nsp", sid, "/"), "a CONNECT token by POST: the backend connected the namespace", sid)
ok(ev("nsp", sid, "/") and ev("nsp", sid, "/")[0]["auth"].get("x-auth-sub") == c["sub"],
   "the backend got the identity in the CONNECT's auth", ev("nsp", sid, "/"))
h.send("GET", POLL + "&sid=%s" % sid)
wait_for(lambda: False, 0.3)        # the poll is held by the backend now
t0 = time.monotonic()
revoke(c)
st, hd, b = h.response(5)
took = time.monotonic() - t0
ok(st == 200 and b == GOODBYE, "revoked while a GET poll is pending: it gets 41 then 1", (st, b))
ok(took < 2.0, "... at once (%.2fs)" % took)
ok(wait_for(lambda: ev("engine_close", sid), 3),
   "the backend's Engine.IO session closed (the gateway POSTed the close packet)", ev("engine_close", sid))
ok(wait_for(lambda: ev("nsp_close", sid, "/"), 3), "and its namespace disconnect handler ran", ev("nsp_close", sid))
h.close()
def reached(sid):
    """What a request of sid could make the backend log: namespace
    connections and events. (Its Engine.IO errors have no sid: the close
    the gateway POSTs may race the backend's own end of the sid when the
    pending poll is cut, and then gets engine.io's "Session ID unknown".)"""
    return ev("nsp", sid) + ev("event", sid)


n_events = reached(sid)
h = http()
st, hd, b = h.request("POST", POLL + "&sid=%s" % sid, b'42["after"]')
ok(st == 401 and b"token revoked" in b and "invalid_token" in hd.get("www-authenticate", ""),
   "a POST of the revoked sid: 401 token revoked", (st, hd, b))
h.close()
h = http()
st, hd, b = h.request("GET", POLL + "&sid=%s" % sid)
is_((st, b), (200, GOODBYE), "the next GET poll of the revoked sid gets the goodbye again")
h.close()
wait_for(lambda: False, 0.3)
ok(reached(sid) == n_events, "nothing of the ended sid reached the backend afterwards",
   [e for e in reached(sid) if e not in n_events])

# ---------------------------------------------------------------- revocation between polls, namespaces
tok, c = token()
h = http()
sid = connected(h, tok)
st, _, b = h.request("POST", POLL + "&sid=%s" % sid, b'40/chat,{"token":"%s"}' % tok.encode())
st2, _, b2 = h.request("GET", POLL + "&sid=%s" % sid)
ok(st == 200 and b"40/chat," in b2, "a second namespace joined on the same sid", (st, b2))
revoke(c)
st, _, b = h.request("GET", POLL + "&sid=%s" % sid)
is_((st, b), (200, b"41\x1e41/chat,\x1e1"),
    "revoked between polls: the next GET (looked up anew) gets a DISCONNECT per namespace, then 1")
ok(wait_for(lambda: ev("engine_close", sid), 3), "... and the backend closed the sid", sid)
h.close()

# ---------------------------------------------------------------- one sid, one subject
tok, c = token()
other, oc = token()
h = http()
sid = connected(h, tok)
st, _, b = h.request("POST", POLL + "&sid=%s" % sid, b'40/chat,{"token":"%s"}' % other.encode())
ok(st == 403, "a CONNECT with another subject's token on a bound sid: 403", (st, b))
st, _, b = h.request("GET", POLL + "&sid=%s" % sid, headers=[("Authorization", "Bearer " + other)])
ok(st == 403, "a poll with another subject's HTTP token on a bound sid: 403", (st, b))
h.close()
wait_for(lambda: False, 0.3)
is_(ev("nsp", sid, "/chat"), [], "the other subject's CONNECT never reached a namespace")
h = http()
st, _, b = h.request("POST", POLL + "&sid=%s" % sid, b"1")
h.close()

# ---------------------------------------------------------------- expiry
tok, c = token(ttl=2)
h = http()
sid = connected(h, tok)
ok(sid is not None, "a token expiring in 2s binds a sid")
h.send("GET", POLL + "&sid=%s" % sid)
st, _, b = h.response(8)
is_((st, b), (200, GOODBYE), "at exp + leeway the pending GET poll gets the goodbye")
ok(wait_for(lambda: ev("engine_close", sid), 3), "and the backend closed the sid", sid)
h.close()

tok, c = token(ttl=2)
h = http()
sid = connected(h, tok)
h.close()
ok(wait_for(lambda: ev("engine_close", sid), 8),
   "an expired sid nobody polls is ended by the gateway all the same (the backend closed it)", sid)
h = http()
st, _, b = h.request("GET", POLL + "&sid=%s" % sid)
is_((st, b), (200, GOODBYE), "... and its next poll gets the goodbye")
h.close()

# ---------------------------------------------------------------- no unauthenticated squatters
h = http()
sid = h.handshake()
h.close()
t0 = time.monotonic()
ok(wait_for(lambda: ev("engine_close", sid), CONNECT_TIMEOUT + 3),
   "a sid without an admitted CONNECT is closed at socketio_connect_timeout", sid)
took = time.monotonic() - t0
ok(took > CONNECT_TIMEOUT - 0.5, "... not before it (%.2fs)" % took)
tok, c = token()
h = http()
st, hd, b = h.request("POST", POLL + "&sid=%s" % sid, b'40{"token":"%s"}' % tok.encode())
ok(st == 401 and b"authentication timeout" in b, "a CONNECT after the timeout: 401", (st, b))
h.close()
h = http()
st, _, b = h.request("GET", POLL + "&sid=%s" % sid)
is_((st, b), (200, GOODBYE), "a GET after the timeout: the goodbye")
h.close()
is_(ev("nsp", sid), [], "the late CONNECT never reached a namespace")

h = http()
sid = h.handshake()
h.send("GET", POLL + "&sid=%s" % sid)
st, _, b = h.response(CONNECT_TIMEOUT + 4)
ok(st == 200 and b.endswith(b"1"), "a GET poll pending at the connect timeout ends with the close packet", (st, b))
h.close()

# ---------------------------------------------------------------- the upgrade to websocket
tok, c = token()
h = http()
sid = connected(h, tok)
ws, r = upgrade(gw, path="/socket.io/?EIO=4&transport=websocket&sid=%s" % sid)
ok(r is not None and r.status == 101, "the upgrade of a bound sid is admitted without a token",
   r.status if r else None)
if ws:
    ws.send_text(b"2probe")
    m = ws.recv_message(3)
    ok(m == (OP_TEXT, b"3probe"), "the probe goes through", m)
    ws.send_text(b"5")
    wait_for(lambda: False, 0.2)
    revoke(c)
    try:
        f = ws.recv_close(5)
    except Timeout:
        f = None
    ok(f is not None and f.close_code == 4403, "the upgraded session carries the sid's identity: revocation closes it 4403",
       f.close_code if f else None)
    ws.close()
h.close()

# socket.io-client probes the websocket while it CONNECTs by POST: the
# websocket takes the sid's identity at the upgrade packet.
tok, c = token()
h = http()
sid = h.handshake()
ws, r = upgrade(gw, path="/socket.io/?EIO=4&transport=websocket&sid=%s" % sid)
if ws:
    ws.send_text(b"2probe")
    ws.recv_message(3)
    st, _, b = h.request("POST", POLL + "&sid=" + sid, b'40{"token":"%s"}' % tok.encode())
    ok(st == 200, "a CONNECT by POST while the websocket probe is open", (st, b))
    ws.send_text(b"5")
    m = ws.recv_message(3)
    ok(m and m[1].startswith(b"40{"), "after the upgrade packet the CONNECT's answer comes on the websocket", m)
    t0 = time.monotonic()
    wait_for(lambda: time.monotonic() > t0 + CONNECT_TIMEOUT, CONNECT_TIMEOUT + 1)
    ws.send_text(b'42["still"]')
    ok(wait_for(lambda: [e for e in ev("event", sid) if e.get("args") == []
                         or e.get("name") == "still"], 3),
       "past the sid's connect deadline the upgraded session still relays (its CONNECT came by POST)")
    revoke(c)
    try:
        f = ws.recv_close(5)
    except Timeout:
        f = None
    ok(f is not None and f.close_code == 4403,
       "the websocket took the sid's identity at the upgrade packet: revocation closes it 4403",
       f.close_code if f else None)
    ws.close()
else:
    ok(False, "the websocket probe of a pending sid is admitted", r.status if r else None)
h.close()

h = http()
sid = h.handshake()
h.close()
ws, r = upgrade(gw, path="/socket.io/?EIO=4&transport=websocket&sid=%s" % sid)
t0 = time.monotonic()
if ws:
    ws.send_text(b"2probe")
    ws.recv_message(3)
    ws.send_text(b"5")
    try:
        f = ws.recv_close(CONNECT_TIMEOUT + 3)
    except Timeout:
        f = None
    ok(f is not None and f.close_code == 4401, "the upgrade of a sid without a CONNECT keeps the sid's deadline: 4401",
       f.close_code if f else None)
    ok(time.monotonic() - t0 < CONNECT_TIMEOUT + 0.5, "... counted from the handshake, not the upgrade")
    ws.close()
else:
    ok(False, "the upgrade of a pending sid is admitted", r.status if r else None)

# ---------------------------------------------------------------- the subject's slot
tok, c = token()
h = http()
sid = connected(h, tok)
tok2 = mint("RS256", claims_=claims(sub=c["sub"], iat=int(time.time()) - 2))
h2 = http()
sid2 = h2.handshake()
st, _, b = h2.request("POST", POLL + "&sid=%s" % sid2, b'40{"token":"%s"}' % tok2.encode())
ok(st == 429, "max_sessions_per_subject 1: a second sid of the subject is refused (the first holds the slot)", (st, b))
revoke(c)
st, _, b = h.request("GET", POLL + "&sid=%s" % sid)
is_((st, b), (200, GOODBYE), "the first sid is revoked")
h.close()
h2 = http()
sid2 = h2.handshake()
st, _, b = h2.request("POST", POLL + "&sid=%s" % sid2, b'40{"token":"%s"}' % tok2.encode())
ok(st == 200, "its end released the slot: the subject connects again", (st, b))
h2.close()

done()
