#!/usr/bin/python3
# graphql-ws first-message tokens (token_sources ... graphql_ws, SPEC §12) at
# the wire level: wsgate's own 101 with the graphql subprotocol, the token
# read from connection_init, the close codes of a refusal (and no upstream
# connection for a refused client), and what the backend gets: the upgrade
# with identity headers and no extension offered, its 101 swallowed, and
# connection_init replayed masked without the token.

import json
import os
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from redistest import Redis  # noqa: E402
from wsgatetest import (BASE_JWT, OP_CLOSE, OP_TEXT, Gateway, Timeout, check, claims, done,  # noqa: E402
                        free_port, is_, main_conf, mint, no_new_conn, ok, start_backend,
                        tamper_signature, upgrade)

be = start_backend(subprotocol="graphql-transport-ws")
legacy = start_backend(subprotocol="graphql-ws")
wrongproto = start_backend(subprotocol="chat")
declines = start_backend(response=b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
redis = Redis()
ROUTES = """\
route /graphql {
    upstream %s;
    require_claim scope graphql;
    identity_header sub X-Auth-Sub;
}
route /keep {
    upstream %s;
    strip_credentials off;
}
route /legacy {
    upstream %s;
}
route /wrongproto {
    upstream %s;
}
route /declines {
    upstream %s;
}
route /down {
    upstream 127.0.0.1:%d;
}
""" % (be.addr, be.addr, legacy.addr, wrongproto.addr, declines.addr, free_port())
JWT = BASE_JWT.replace("subprotocol;", "subprotocol graphql_ws;")
gw = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"') + JWT + ROUTES, name="gqlws")


def tok(**kw):
    kw.setdefault("scope", "graphql")
    return mint("RS256", claims_=claims(**kw))


def init(payload):
    return json.dumps({"type": "connection_init", "payload": payload}).encode()


def open_ws(path="/graphql", protos="graphql-transport-ws", headers=()):
    h = [("Sec-WebSocket-Protocol", protos)] + list(headers)
    return upgrade(gw, path=path, headers=h)


def close_of(c, timeout=5.0):
    dl = time.monotonic() + timeout
    while time.monotonic() < dl:
        try:
            f = c.recv_frame(max(0.01, dl - time.monotonic()))
        except (Timeout, OSError):
            return None
        if f is not None and f.opcode == OP_CLOSE:
            return f
    return None


# ---- admitted
before = be.nconn
c, r = open_ws(headers=[("Sec-WebSocket-Extensions", "permessage-deflate"), ("X-Auth-Sub", "mallory")])
ok(r is not None and r.status == 101 and r.header("Sec-WebSocket-Protocol") == "graphql-transport-ws"
   and r.header("Sec-WebSocket-Extensions") is None,
   "wsgate answers the 101 itself, with the subprotocol, no extension", r)
ok(be.nconn == before, "no upstream connection before connection_init")
T = tok(sub="gql-alice")
c.send_text(init({"Authorization": "Bearer " + T, "room": "lobby"}))
ok(be.wait_conns(before + 1, 3), "connection_init with a valid token: upstream connected")
bc = be.conns[before] if be.nconn > before else None
if bc:
    bc.got_head.wait(3)
    is_(bc.header("X-Auth-Sub"), "gql-alice", "the replayed upgrade carries the identity header (the client's spoof removed)")
    is_(bc.header("Sec-WebSocket-Extensions"), None, "the backend is offered no extension")
    is_(bc.header("Sec-WebSocket-Protocol"), "graphql-transport-ws", "the backend is offered the chosen subprotocol")
    try:
        op, m = c.recv_message(3)
    except Timeout:
        op, m = None, None
    # The echo backend echoes the replayed connection_init: it is what it got.
    got = json.loads(m) if m else None
    is_(got, {"type": "connection_init", "payload": {"room": "lobby"}},
        "connection_init replayed without the token (strip_credentials on)")
    ok(bc.frames and bc.frames[0].masked, "the replayed message is masked")
    c.send_text(b'{"type":"ping"}')
    try:
        r2 = c.recv_message(3)
    except Timeout:
        r2 = None
    # A relayed second 101 would have reached the client before these
    # frames and broken their framing.
    is_(r2, (OP_TEXT, b'{"type":"ping"}'), "then frames relay both ways (the backend's 101 was swallowed)")
c.close()

# key variants, and strip_credentials off
for key, val in (("authorization", None), ("authToken", None), ("token", None)):
    before = be.nconn
    c, r = open_ws()
    t = tok(sub="gql-" + key)
    c.send_text(init({key: t}))
    try:
        op, m = c.recv_message(3)
    except Timeout:
        m = None
    is_(json.loads(m) if m else None, {"type": "connection_init", "payload": {}},
        "payload.%s: admitted, replayed without it" % key)
    c.close()
before = be.nconn
c, r = open_ws(path="/keep")
t = tok()
c.send_text(init({"authToken": t}))
try:
    op, m = c.recv_message(3)
except Timeout:
    m = None
is_(json.loads(m)["payload"] if m else None, {"authToken": t}, "strip_credentials off: the token stays in the payload")
c.close()

# legacy graphql-ws protocol
c, r = open_ws(path="/legacy", protos="graphql-ws")
ok(r.status == 101 and r.header("Sec-WebSocket-Protocol") == "graphql-ws", "legacy graphql-ws offered: chosen")
c.send_text(init({"token": tok()}))
try:
    op, m = c.recv_message(3)
except Timeout:
    m = None
ok(m is not None, "legacy graphql-ws: relayed")
c.close()

# ---- refusals: the close code, and no upstream connection
redis.cmd("SET", "wsgate:revoked:jti:gql-revoked", "1", "EX", "600")
cases = [
    ("no token in the payload", init({"room": "x"}), 4401, "Unauthorized"),
    ("a tampered token", init({"Authorization": "Bearer " + tamper_signature(tok())}), 4401, "Unauthorized"),
    ("an expired token", init({"token": tok(exp=int(time.time()) - 3600)}), 4401, "Unauthorized"),
    ("a revoked token", init({"token": tok(jti="gql-revoked")}), 4401, "Unauthorized"),
    ("require_claim fails", init({"token": tok(scope="other")}), 4403, "Forbidden"),
    ("not a connection_init", b'{"type":"subscribe","id":"1","payload":{}}', 4401, "Unauthorized"),
    ("not JSON", b"hello", 4401, "Unauthorized"),
]
for what, msg, code, reason in cases:
    before = be.nconn
    c, r = open_ws()
    c.send_text(msg)
    f = close_of(c)
    ok(f is not None and f.close_code == code and f.close_reason == reason,
       "%s: closed %d \"%s\"" % (what, code, reason), f)
    check("%s: no upstream connection" % what, no_new_conn(be, before))
    c.close()

before = be.nconn
c, r = open_ws()
t0 = time.monotonic()
f = close_of(c, 5)
ok(f is not None and f.close_code == 4408 and f.close_reason == "Connection initialisation timeout",
   "no connection_init within handshake_timeout: 4408", f)
ok(time.monotonic() - t0 >= 1.8, "not before handshake_timeout (2s)")
check("no connection_init: no upstream connection", no_new_conn(be, before))
c.close()

for path, what in (("/down", "upstream unreachable"), ("/declines", "upstream declines (403)"),
                   ("/wrongproto", "upstream picks another subprotocol")):
    c, r = open_ws(path=path)
    c.send_text(init({"token": tok()}))
    f = close_of(c)
    ok(f is not None and f.close_code == 1014 and f.close_reason == "bad gateway", "%s: 1014 \"bad gateway\"" % what, f)
    c.close()

# An HTTP-level token wins: the ordinary path, the backend's 101 relayed.
before = be.nconn
c, r = upgrade(gw, path="/graphql", token=tok(sub="gql-header"), headers=[("Sec-WebSocket-Protocol", "graphql-transport-ws")])
ok(r.status == 101 and be.wait_conns(before + 1, 3), "an HTTP-level token: connected at once, as any upgrade")
c.close()

# Without graphql-ws offered, a tokenless upgrade is still a 401.
c, r = upgrade(gw, path="/graphql", headers=[("Sec-WebSocket-Protocol", "chat")])
is_(r.status if r else None, 401, "no graphql subprotocol, no token: 401")
c.close()

done()
