#!/usr/bin/python3
# socketio_connect_timeout (SPEC §10, "no unauthenticated squatters"): an
# Engine.IO session on the websocket transport that has no admitted CONNECT
# within the route's timeout is closed with 4401 "authentication timeout",
# both toward the client and toward the backend (a masked close), whatever
# carried the token; an admitted CONNECT in time keeps it.

import json
import os
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BASE_JWT, OP_CLOSE, OP_TEXT, Gateway, Timeout, claims, done, is_,  # noqa: E402
                        check, main_conf, mint, no_new_conn, ok, start_backend, upgrade, wait_for)

wsb = start_backend()
ROUTES = """\
route /socket.io/ {
    upstream %s;
    socketio on;
    socketio_connect_timeout 1s;
}
route /default/ {
    upstream %s;
    socketio on;
}
""" % (wsb.addr, wsb.addr)
gw = Gateway(main_conf() + BASE_JWT + ROUTES, name="siotimeout")
ALICE = mint("RS256", claims_=claims(sub="alice"))


def session(token=None, path="/socket.io/?EIO=4&transport=websocket"):
    before = wsb.nconn
    c, r = upgrade(gw, path=path, token=token)
    if r is None or r.status != 101 or not wsb.wait_conns(before + 1, 3):
        return None, None
    return c, wsb.conns[before]


def close_of(c, timeout):
    dl = time.monotonic() + timeout
    while time.monotonic() < dl:
        try:
            f = c.recv_frame(max(0.01, dl - time.monotonic()))
        except (Timeout, OSError):
            return None, None
        if f is not None and f.opcode == OP_CLOSE:
            return f, time.monotonic()
    return None, None


def backend_close(bc):
    if not bc.got_close.wait(3):
        return None
    return [(f.close_code, f.masked) for f in bc.frames if f.opcode == OP_CLOSE][:1]


for what, tokn in (("no token at all", None), ("an HTTP-level token", ALICE)):
    c, bc = session(tokn)
    ok(c is not None, "%s: websocket admitted" % what)
    t0 = time.monotonic()
    f, t1 = close_of(c, 4)
    ok(f is not None and f.close_code == 4401 and f.close_reason == "authentication timeout",
       "%s, no CONNECT: closed 4401 \"authentication timeout\"" % what, f)
    ok(t1 is not None and 0.9 <= t1 - t0 < 2.5, "%s: after socketio_connect_timeout (1s), not before" % what,
       t1 and t1 - t0)
    is_(backend_close(bc), [(4401, True)], "%s: the backend got a masked close 4401" % what)
    c.close()

# A refused CONNECT is no admitted CONNECT.
c, bc = session()
t0 = time.monotonic()
c.send_text(b"40")
try:
    op, m = c.recv_message(3)
except Timeout:
    m = None
ok(m is not None and m.startswith(b"44"), "a tokenless CONNECT is refused", m)
f, t1 = close_of(c, 4)
ok(f is not None and f.close_code == 4401 and t1 - t0 >= 0.9, "after a refused CONNECT the timeout still ends it", f)
c.close()

# An admitted CONNECT in time keeps the session.
c, bc = session()
c.send_text(b"40" + json.dumps({"token": ALICE}).encode())
op, m = c.recv_message(3)
ok(m is not None and m.startswith(b"40"), "CONNECT with a token admitted", m)
t0 = time.monotonic()
wait_for(lambda: time.monotonic() > t0 + 1.5, 3)
c.send_text(b'42["still"]')
try:
    r = c.recv_message(3)
except Timeout:
    r = None
is_(r, (OP_TEXT, b'42["still"]'), "past the timeout the authenticated session still relays")
c.close()

# A sid the gateway never saw opened (the upgrade of a polling session
# opened elsewhere) cannot be enforced: 400, nothing upstream. The timing
# of real upgrades is in t/sio-polling.t.
before = wsb.nconn
c, r = upgrade(gw, path="/socket.io/?EIO=4&transport=websocket&sid=abc")
ok(r is not None and r.status == 400, "a websocket upgrade with an unknown sid gets 400",
   r.status if r else None)
check("a websocket upgrade with an unknown sid: nothing upstream", no_new_conn(wsb, before))
if c:
    c.close()

# Default 10s: not closed after 1.5s.
c, bc = session(path="/default/?EIO=4&transport=websocket")
t0 = time.monotonic()
wait_for(lambda: time.monotonic() > t0 + 1.5, 3)
c.send_text(b"2")
try:
    r = c.recv_message(3)
except Timeout:
    r = None
is_(r, (OP_TEXT, b"2"), "the default timeout (10s) has not ended a session after 1.5s")
c.close()

done()
