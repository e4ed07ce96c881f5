#!/usr/bin/python3
# What the backend receives (SPEC §4): spoofed identity headers removed,
# identity and claims headers injected, credential carriers stripped (or
# kept with strip_credentials off), X-Forwarded-*, the subprotocol answer,
# and the backend's 101 relayed as is.

import json
import os
import sys

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (OP_TEXT, Gateway, Timeout, b64url_decode, check, claims, done,  # noqa: E402
                        expect_101, main_conf, mint, ok, start_backend, std_conf, upgrade)

be = start_backend(subprotocol="chat.v1")
routes_extra = """\
route /raw {
    upstream @BACKEND@;
    origins any;
    strip_credentials off;
    identity_header sub X-Auth-Sub;
}
"""
gw = Gateway(std_conf(be.addr, main=main_conf(), extra_routes=routes_extra), name="fwd")

CL = claims(sub="alice", roles=["chat", "ops"], tenant="acme", n=42)
TOK = mint("RS256", claims_=CL)


def session(name, **kw):
    """Admits one session; returns (client, backend conn, response) or
    (None, None, None) after failing the test point."""
    c, bc, resp = expect_101(gw, be, name, close=False, **kw)
    if bc is None or resp is None or resp.status != 101:
        if c:
            c.close()
        return None, None, None
    return c, bc, resp


def x_auth(bc):
    return [(n, v) for n, v in bc.headers if n.lower().startswith("x-auth-")]


def cookie_pairs(v):
    return [p.strip() for p in (v or "").split(";") if p.strip()]


# ---------------------------------------------------------------- identity headers
c, bc, resp = session("admitted with spoofed X-Auth-* headers", token=TOK, path="/room?x=1",
                      headers=[("X-Auth-Sub", "mallory"), ("X-Auth-Anything", "x"),
                               ("x-auth-sub", "mallory2"), ("X-AUTH-ROLES", "admin"),
                               ("X-Auth-Claims", "eyJzdWIiOiJyb290In0"),
                               ("X-Custom", "keep me"), ("User-Agent", "wsgate-test/1")])
if bc:
    xa = x_auth(bc)
    names = sorted(n.lower() for n, _ in xa)
    check("spoofed X-Auth-* headers are removed, the injected ones remain once",
          [] if names == ["x-auth-claims", "x-auth-roles", "x-auth-sub"]
          else ["X-Auth-* headers at the backend: %r" % xa])
    ok(bc.header_all("X-Auth-Sub") == ["alice"], "X-Auth-Sub carries the token's sub",
       "got %r" % bc.header_all("X-Auth-Sub"))
    ok(bc.header_all("X-Auth-Roles") == ["chat,ops"], "X-Auth-Roles joins the array with ','",
       "got %r" % bc.header_all("X-Auth-Roles"))
    raw = bc.header("X-Auth-Claims") or ""
    try:
        got = json.loads(b64url_decode(raw))
    except ValueError:
        got = None
    ok(got == CL, "X-Auth-Claims is base64url of the verified payload",
       "decoded %r\nexpected %r" % (got, CL))
    ok("=" not in raw and "+" not in raw and "/" not in raw, "X-Auth-Claims is unpadded base64url",
       "got %r" % raw)
    ok(raw == TOK.split(".")[1], "X-Auth-Claims is the payload exactly as signed",
       "got %r\ntoken payload %r" % (raw, TOK.split(".")[1]))
    ok(bc.header("Authorization") is None, "Authorization is stripped",
       "got %r" % bc.header("Authorization"))
    ok(TOK not in bc.head.decode("latin-1"), "the token appears nowhere in the forwarded head")
    ok(bc.request_line == "GET /room?x=1 HTTP/1.1", "the request line is forwarded as sent",
       "got %r" % bc.request_line)
    ok(bc.header("X-Custom") == "keep me" and bc.header("User-Agent") == "wsgate-test/1",
       "other client headers are kept", "headers %r" % bc.headers)
    ok(bc.header("Host") == "127.0.0.1:%d" % gw.port, "Host is forwarded as sent",
       "got %r" % bc.header("Host"))
    ok(bc.header("Sec-WebSocket-Key") == c.key, "the client's Sec-WebSocket-Key is forwarded",
       "got %r want %r" % (bc.header("Sec-WebSocket-Key"), c.key))
    ok(bc.header_all("X-Forwarded-For") == ["127.0.0.1"], "X-Forwarded-For is the client address",
       "got %r" % bc.header_all("X-Forwarded-For"))
    ok(bc.header_all("X-Forwarded-Proto") == ["http"], "X-Forwarded-Proto: http",
       "got %r" % bc.header_all("X-Forwarded-Proto"))
    c.close()

c, bc, resp = session("admitted with a token lacking some identity claims",
                      token=mint("RS256", claims_=claims(sub="bob")))
if bc:
    ok(bc.header("X-Auth-Roles") is None, "an absent claim produces no identity header",
       "headers %r" % x_auth(bc))
    ok(bc.header_all("X-Auth-Sub") == ["bob"], "X-Auth-Sub: bob", "headers %r" % x_auth(bc))
    c.close()

c, bc, resp = session("admitted with client X-Forwarded-For and X-Forwarded-Proto", token=TOK,
                      headers=[("X-Forwarded-For", "203.0.113.7"),
                               ("X-Forwarded-Proto", "https")])
if bc:
    xff = bc.header_all("X-Forwarded-For")
    ok([", ".join(x.strip() for x in ",".join(xff).split(","))] == ["203.0.113.7, 127.0.0.1"],
       "X-Forwarded-For is appended to", "got %r" % xff)
    ok(bc.header_all("X-Forwarded-Proto") == ["http"], "X-Forwarded-Proto is set, not appended",
       "got %r" % bc.header_all("X-Forwarded-Proto"))
    c.close()

# ---------------------------------------------------------------- carriers
c, bc, resp = session("admitted by cookie", headers=[("Cookie", "theme=dark; access_token=%s; lang=en" % TOK)])
if bc:
    ok(cookie_pairs(bc.header("Cookie")) == ["theme=dark", "lang=en"],
       "only the token cookie is removed, the others kept in order", "Cookie %r" % bc.header("Cookie"))
    ok(TOK not in bc.head.decode("latin-1"), "no token left in the head (cookie)")
    ok(bc.header_all("X-Auth-Sub") == ["alice"], "cookie token sets X-Auth-Sub")
    c.close()

c, bc, resp = session("admitted by the only cookie", headers=[("Cookie", "access_token=%s" % TOK)])
if bc:
    ok(cookie_pairs(bc.header("Cookie")) == [], "a Cookie holding only the token is emptied",
       "Cookie %r" % bc.header_all("Cookie"))
    c.close()

c, bc, resp = session("admitted by query", path="/room?x=1&access_token=%s&y=2&z" % TOK)
if bc:
    ok(bc.target == "/room?x=1&y=2&z", "only the token parameter is removed, order kept",
       "target %r" % bc.target)
    c.close()

c, bc, resp = session("admitted by the only query parameter", path="/room?access_token=%s" % TOK)
if bc:
    ok(bc.target in ("/room", "/room?"), "a query holding only the token is dropped",
       "target %r" % bc.target)
    c.close()

c, bc, resp = session("admitted by subprotocol",
                      headers=[("Sec-WebSocket-Protocol", "bearer, %s, chat.v1" % TOK)])
if bc:
    offered = [p.strip() for v in bc.header_all("Sec-WebSocket-Protocol") for p in v.split(",")]
    ok(offered == ["chat.v1"], "the bearer pair is removed, chat.v1 kept", "backend got %r" % offered)
    ok(resp.header_all("Sec-WebSocket-Protocol") == ["chat.v1"], "the client gets the backend's choice",
       "client got %r" % resp.headers)
    c.close()

c, bc, resp = session("admitted by a subprotocol offer of only the bearer pair",
                      headers=[("Sec-WebSocket-Protocol", "bearer, %s" % TOK)])
if bc:
    offered = [p.strip() for v in bc.header_all("Sec-WebSocket-Protocol") for p in v.split(",")
               if p.strip()]
    ok(offered == [], "the backend is offered no subprotocol", "backend got %r" % offered)
    ok(resp.header_all("Sec-WebSocket-Protocol") == ["bearer"],
       "the client's 101 answers Sec-WebSocket-Protocol: bearer", "client got %r" % resp.headers)
    c.close()

# strip_credentials off: every carrier arrives intact.
c, bc, resp = session("strip_credentials off: admitted by Authorization", path="/raw", token=TOK)
if bc:
    ok(bc.header("Authorization") == "Bearer " + TOK, "strip_credentials off keeps Authorization",
       "got %r" % bc.header("Authorization"))
    ok(bc.header_all("X-Auth-Sub") == ["alice"], "strip_credentials off still injects identity")
    c.close()
ck = "theme=dark; access_token=%s; lang=en" % TOK
c, bc, resp = session("strip_credentials off: admitted by cookie", path="/raw", headers=[("Cookie", ck)])
if bc:
    ok(bc.header("Cookie") == ck, "strip_credentials off keeps the cookie", "got %r" % bc.header("Cookie"))
    c.close()
c, bc, resp = session("strip_credentials off: admitted by query", path="/raw?a=1&access_token=%s" % TOK)
if bc:
    ok(bc.target == "/raw?a=1&access_token=%s" % TOK, "strip_credentials off keeps the query",
       "target %r" % bc.target)
    c.close()
c, bc, resp = session("strip_credentials off: admitted by subprotocol", path="/raw",
                      headers=[("Sec-WebSocket-Protocol", "bearer, %s, chat.v1" % TOK)])
if bc:
    offered = [p.strip() for v in bc.header_all("Sec-WebSocket-Protocol") for p in v.split(",")]
    ok(offered == ["bearer", TOK, "chat.v1"], "strip_credentials off keeps the subprotocol list",
       "backend got %r" % offered)
    c.close()

# auth off: nothing injected, spoofed identity still removed.
c, bc, resp = session("auth off route admitted with spoofed X-Auth-Sub", path="/public",
                      headers=[("X-Auth-Sub", "mallory")])
if bc:
    ok(x_auth(bc) == [], "auth off: no X-Auth-* header reaches the backend", "got %r" % x_auth(bc))
    ok(bc.header_all("X-Forwarded-For") == ["127.0.0.1"], "auth off: X-Forwarded-For set")
    c.close()

# ---------------------------------------------------------------- the backend's 101
be.headers = [("X-Backend-Hello", "world"), ("Set-Cookie", "srv=1; Path=/")]
c, bc, resp = session("admitted through a backend adding headers to its 101", token=TOK)
if bc:
    ok(resp.header("X-Backend-Hello") == "world" and resp.header("Set-Cookie") == "srv=1; Path=/",
       "the backend's 101 head is relayed as is", "client got %r" % resp.headers)
    ok(resp.status == 101 and resp.reason == "Switching Protocols", "status line relayed",
       "got %r %r" % (resp.status, resp.reason))
    c.close()
be.headers = []

# A frame sent right behind the 101 arrives in the same read as the head:
# it must reach the client, not be lost or reordered.
be.on_open = lambda conn: conn.send_frame(OP_TEXT, b"hello from backend")
try:
    c, resp = upgrade(gw, token=TOK)
    m = c.recv_message(5.0) if resp and resp.status == 101 else None
    c.close()
except (Timeout, OSError) as e:
    resp, m = None, repr(e)
be.on_open = None
ok(m == (OP_TEXT, b"hello from backend"), "a frame sent right behind the backend's 101 reaches the client",
   "response %r message %r" % (resp, m))

ok(gw.alive(), "the gateway is still running")
done()
