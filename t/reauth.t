#!/usr/bin/python3
# In-band re-authentication ("reauth on", SPEC §11) at the wire level: the
# plain WebSocket message {"type":"wsgate.reauth","token":...} and the
# socket.io event 42<ack>["wsgate:reauth",jwt] are consumed (the echo
# backend never sees them: what it echoes is what wsgate forwarded) and
# answered; the new token's exp and jti take over expiry and revocation; a
# refused re-auth leaves the session as it was.

import json
import os
import re
import socket
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from httpbackend import HTTPBackend  # noqa: E402
from redistest import Redis  # noqa: E402
from siotest import Http  # noqa: E402
from wsgatetest import (_backends, BASE_JWT, OP_CLOSE, OP_CONT, OP_PONG, OP_TEXT, Gateway, Timeout,  # noqa: E402
                        claims, done, free_port, is_, main_conf, mint, ok, start_backend,
                        tamper_signature, upgrade, wait_for)

wsb = start_backend()
hb = HTTPBackend(engineio=True, hold_s=0.3).start()
_backends.append(hb)
redis = Redis()
SPORT = free_port()
JWT = BASE_JWT.replace("leeway 5s;", "leeway 0;")
ROUTES = """\
route /plain {
    upstream %s;
    reauth on;
    require_claim scope chat;
}
route /noreauth {
    upstream %s;
}
route /socket.io/ {
    upstream %s;
    socketio on;
    reauth on;
    socketio_require_claim /admin roles admin;
}
route /sio-http/ {
    upstream %s;
    socketio on;
    reauth on;
}
""" % (wsb.addr, wsb.addr, wsb.addr, hb.addr)
gw = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"', revocation_sweep="200ms",
                       status_listen="127.0.0.1:%d" % SPORT) + JWT + ROUTES, name="reauth")
WS_PATH = "/socket.io/?EIO=4&transport=websocket"


def tok(sub="alice", ttl=300, **kw):
    kw.setdefault("scope", "chat")
    return mint("RS256", claims_=claims(sub=sub, exp=int(time.time()) + ttl, **kw))


def session(token, path="/plain", headers=()):
    before = wsb.nconn
    try:
        c, r = upgrade(gw, path=path, token=token, headers=headers)
    except (Timeout, OSError):
        return None, None, None
    if r is None or r.status != 101 or not wsb.wait_conns(before + 1, 3):
        return None, None, r
    return c, wsb.conns[before], r


def barrier(c, bc, timeout=5.0):
    """A ping's pong is back and the backend recorded the ping: everything
    the client sent before it has reached the backend (or never will)."""
    tag = os.urandom(8).hex().encode()
    c.ping(tag)
    dl = time.monotonic() + timeout
    try:
        while True:
            f = c.recv_frame(max(0.01, dl - time.monotonic()))
            if f is None:
                return False
            if f.opcode == OP_PONG and f.payload == tag:
                return tag in bc.pings
    except (Timeout, OSError):
        return False


def message(c, timeout=3.0):
    try:
        r = c.recv_message(timeout)
    except (Timeout, OSError):
        return None
    if r is None:
        return None
    op, data = r
    return data if op == OP_TEXT else None


def reauth_msg(t):
    return json.dumps({"type": "wsgate.reauth", "token": t}, separators=(",", ":")).encode()


def answer(c):
    m = message(c)
    try:
        return json.loads(m) if m else None
    except ValueError:
        return m


def after_rate_window(t0):
    # The limit is one re-auth per second: wait for the clock, not a sleep.
    wait_for(lambda: time.monotonic() > t0 + 1.05, 3)


def backend_texts(bc):
    return [m for op, m in bc.messages if op == OP_TEXT]


def metrics():
    s = socket.create_connection(("127.0.0.1", SPORT), timeout=2)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    return buf.decode("latin-1", "replace")


def reauth_count(result):
    m = re.search(r'wsgate_reauth_total\{result="%s"\} (\d+)' % result, metrics())
    return int(m.group(1)) if m else None


def wait_close(c, timeout):
    dl = time.monotonic() + timeout
    while time.monotonic() < dl:
        try:
            f = c.recv_frame(max(0.01, dl - time.monotonic()))
        except (Timeout, OSError):
            return None
        if f is not None and f.opcode == OP_CLOSE:
            return f
    return None


# ---------------------------------------------------------------- plain WebSocket routes
ok0 = reauth_count("ok")
is_(ok0, 0, "wsgate_reauth_total{result=\"ok\"} is exported")

# A token that would expire during the test stays connected after re-auth.
short_exp = int(time.time()) + 2
c, bc, r = session(tok(ttl=2, jti="plain-old"))
ok(c is not None, "plain route with reauth on: session admitted")
ok(r is not None and r.header("Sec-WebSocket-Extensions") is None, "no extension negotiated")
new = tok(ttl=300, jti="plain-new")
new_exp = json.loads(__import__("base64").urlsafe_b64decode(new.split(".")[1] + "==="))["exp"]
t0 = time.monotonic()
c.send_text(reauth_msg(new))
a = message(c)
is_(a, b'{"type":"wsgate.reauth","ok":true,"exp":%d}' % new_exp, "re-auth answered ok with the new exp, byte for byte")
ok(barrier(c, bc) and backend_texts(bc) == [], "the backend never saw the re-auth message",
   backend_texts(bc))
wait_for(lambda: time.time() > short_exp + 1.0, 5)
c.send_text(b"still here")
is_(message(c), b"still here", "past the old exp the session is still relaying")

# Fragmented, with an empty first fragment and a ping in between.
after_rate_window(t0)
m = reauth_msg(tok(ttl=300, jti="plain-frag"))
c.send_frame(OP_TEXT, b"", fin=False)
c.send_frame(OP_CONT, m[:10], fin=False)
c.ping(b"between")
c.send_frame(OP_CONT, m[10:40], fin=False)
c.send_frame(OP_CONT, m[40:], fin=True)
t0 = time.monotonic()
got = None
for _ in range(3):
    x = answer(c)
    if isinstance(x, dict):
        got = x
        break
ok(got is not None and got.get("ok") is True, "a fragmented re-auth is recognised and answered", got)
ok(barrier(c, bc) and backend_texts(bc) == [b"still here"], "no fragment of it reached the backend",
   backend_texts(bc))

# Rate limit: a second one within the second.
c.send_text(reauth_msg(tok(ttl=300, jti="plain-fast")))
is_(answer(c), {"type": "wsgate.reauth", "ok": False, "error": "rate_limited"},
    "a second re-auth within a second is rate_limited")

# Look-alikes are relayed untouched.
for lk in (b'{"type":"wsgate.reauth","token":"a b"}', b'{"type":"wsgate.reauth","token":"x","extra":1}',
           b'{"type":"wsgate.reauthx"}', b'{"type":"wsgate.re', b'{"type":"chat","text":"hi"}'):
    c.send_text(lk)
    is_(message(c), lk, "not exactly a re-auth: relayed as it came (%r)" % lk[:30])

# Revocation follows the new token: the old jti no longer matters.
redis.cmd("SET", "wsgate:revoked:jti:plain-old", "1", "EX", "600")
after_rate_window(t0)
c.send_text(b"after old revoked")
is_(message(c), b"after old revoked", "revoking the replaced token does not close the session")
redis.cmd("SET", "wsgate:revoked:jti:plain-frag", "1", "EX", "600")
f = wait_close(c, 3)
ok(f is not None and f.close_code == 4403, "revoking the current (re-authed) token closes with 4403", f)
c.close()

# Refusals leave the session as it was; another sub's token: closed at the old exp.
short_exp = int(time.time()) + 6
c, bc, r = session(tok(ttl=6, jti="plain-keep"))
c.send_text(reauth_msg(tok(sub="mallory", ttl=300)))
is_(answer(c), {"type": "wsgate.reauth", "ok": False, "error": "sub_mismatch"},
    "another sub's token is refused: sub_mismatch")
t0 = time.monotonic()
cases = [
    (tamper_signature(tok(ttl=300)), "invalid_token", "a bad signature"),
    (tok(ttl=-10), "invalid_token", "an expired token"),
    (tok(ttl=300, scope="other"), "insufficient_scope", "a token failing require_claim"),
]
redis.cmd("SET", "wsgate:revoked:jti:plain-revoked", "1", "EX", "600")
cases.append((tok(ttl=300, jti="plain-revoked"), "invalid_token", "a revoked token"))
for t, code, what in cases:
    after_rate_window(t0)
    t0 = time.monotonic()
    c.send_text(reauth_msg(t))
    is_(answer(c), {"type": "wsgate.reauth", "ok": False, "error": code}, "%s is refused: %s" % (what, code))
ok(barrier(c, bc) and backend_texts(bc) == [], "the backend saw none of the refused re-auths",
   backend_texts(bc))
f = wait_close(c, 8)
ok(f is not None and f.close_code == 4401 and f.close_reason == "token expired",
   "the session closes at the old exp with 4401", f)
ok(time.time() >= short_exp - 0.05, "not before the old exp")
c.close()

ok(reauth_count("ok") == 2 and reauth_count("sub_mismatch") == 1 and reauth_count("rate_limited") == 1 and
   reauth_count("invalid_token") == 3 and reauth_count("insufficient_scope") == 1,
   "wsgate_reauth_total counts re-auths by result",
   [(k, reauth_count(k)) for k in ("ok", "sub_mismatch", "rate_limited", "invalid_token", "insufficient_scope")])

# Compression is not negotiated, and an RSV1 frame is a protocol error.
before = wsb.nconn
c, bc, r = session(tok(), headers=[("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
ok(c is not None and bc.header("Sec-WebSocket-Extensions") is None,
   "the backend is offered no extension on a reauth route")
c.send_frame(OP_TEXT, b"compressed?", rsv=4)
f = wait_close(c, 3)
ok(f is not None and f.close_code == 1002, "an RSV1 frame is closed with 1002", f)
ok(barrier(c, bc) is False or backend_texts(bc) == [], "and nothing of it reached the backend")
c.close()

# Without reauth on, the message is the application's.
c, bc, r = session(tok(), path="/noreauth")
m = reauth_msg(tok())
c.send_text(m)
is_(message(c), m, "without reauth on the message is relayed like any other")
c.close()

# ---------------------------------------------------------------- socket.io routes


def sio_answer(c):
    m = message(c)
    if not m or not m.startswith(b"43"):
        return m
    rest = m[2:]
    nsp = "/"
    if rest.startswith(b"/"):
        n, rest = rest.split(b",", 1)
        nsp = n.decode()
    ack = re.match(rb"\d+", rest).group(0)
    return nsp, int(ack), json.loads(rest[len(ack):])


short_exp = int(time.time()) + 3
c, bc, r = session(tok(ttl=3, jti="sio-old"), path=WS_PATH)
ok(c is not None, "socket.io route with reauth on: session admitted")
c.send_text(b"40")
is_(message(c), b"40{}", "CONNECT forwarded")
new = tok(ttl=300, jti="sio-new")
new_exp = json.loads(__import__("base64").urlsafe_b64decode(new.split(".")[1] + "==="))["exp"]
c.send_text(b'4212["wsgate:reauth",%s]' % json.dumps(new).encode())
t0 = time.monotonic()
is_(message(c), b'4312[{"ok":true,"exp":%d}]' % new_exp, "42<ack>[\"wsgate:reauth\",jwt] answered 43<ack>[{\"ok\":true,\"exp\":<exp>}]")
c.send_text(b'42["chat","hi"]')
is_(message(c), b'42["chat","hi"]', "other events pass untouched")
ok(barrier(c, bc) and backend_texts(bc) == [b"40{}", b'42["chat","hi"]'], "the backend never saw the re-auth event",
   backend_texts(bc))
after_rate_window(t0)
m = b'42/chat,7["wsgate:reauth",%s]' % json.dumps(tok(sub="bob")).encode()
c.send_frame(OP_TEXT, m[:5], fin=False)
c.send_frame(OP_CONT, m[5:], fin=True)
t0 = time.monotonic()
a = sio_answer(c)
ok(isinstance(a, tuple) and a[0] == "/chat" and a[1] == 7 and a[2][0]["ok"] is False and
   a[2][0]["error"] == "sub_mismatch" and a[2][0]["error_description"],
   "a fragmented re-auth on a namespace, another sub: 43/chat,7[{ok:false,error:sub_mismatch,...}]", a)
after_rate_window(t0)
c.send_text(b'42/admin,8["wsgate:reauth",%s]' % json.dumps(tok()).encode())
a = sio_answer(c)
ok(isinstance(a, tuple) and a[2][0].get("error") == "insufficient_scope",
   "socketio_require_claim of the namespace applies to the re-auth token", a)
ok(barrier(c, bc) and len(backend_texts(bc)) == 2, "the backend saw no refused re-auth", backend_texts(bc))
wait_for(lambda: time.time() > short_exp + 0.5, 5)
c.send_text(b'42["chat","later"]')
is_(message(c), b'42["chat","later"]', "past the first token's exp the socket.io session lives on")
c.close()

# Before any CONNECT a socket.io connection has no identity to extend.
c, bc, r = session(None, path=WS_PATH)
c.send_text(b'423["wsgate:reauth",%s]' % json.dumps(tok()).encode())
a = sio_answer(c)
ok(isinstance(a, tuple) and a[1] == 3 and a[2][0]["ok"] is False and a[2][0]["error"] == "sub_mismatch",
   "a re-auth before any identity is refused (sub_mismatch), no CONNECT implied", a)
ok(barrier(c, bc) and backend_texts(bc) == [], "and the backend saw nothing", backend_texts(bc))
c.close()

# Polling: the event cannot be answered on a POST; it never reaches the backend.
T = tok()
body = b'42["chat"]\x1e425["wsgate:reauth",%s]\x1e42["more"]' % json.dumps(T).encode()
h = Http(gw.port, "/sio-http/?EIO=4&transport=polling")
sid = h.handshake(headers=[("Authorization", "Bearer " + tok())]) or "none"
h.close()
n0 = len(hb.requests)
s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
s.sendall(b"POST /sio-http/?EIO=4&transport=polling&sid=%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
          b"Content-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
          % (sid.encode(), tok().encode(), len(body), body))
buf = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    buf += d
s.close()
st = int(buf.split(b" ")[1]) if buf else None
e = json.loads(buf.split(b"\r\n\r\n", 1)[1]) if st == 200 else None
ok(e is not None and e["body"].encode("latin-1") == b'42["chat"]\x1e6\x1e42["more"]',
   "polling POST: the re-auth event becomes an Engine.IO noop, the rest is kept", buf[:300])
ok(e is not None and T.encode() not in json.dumps(e).encode(), "polling POST: the backend never saw the token")

# Polling, a sid bound by a CONNECT token: the re-auth is checked like on the
# websocket, becomes the sid's token, and its acknowledgement comes in the
# sid's next GET poll, ahead of the backend's packets.
POLL = "/sio-http/?EIO=4&transport=polling"
h = Http(gw.port, POLL)
sid = h.handshake()
t0 = int(time.time())
T1 = tok(sub="pollra", ttl=2)
st, _, b = h.request("POST", POLL + "&sid=%s" % sid, b'40{"token":"%s"}' % T1.encode())
ok(st == 200, "polling: a sid bound by a 2 s CONNECT token", (st, b))
fresh = claims(sub="pollra", scope="chat", exp=t0 + 300)
T2 = mint("RS256", claims_=fresh)
n0 = len(hb.requests)
st, _, b = h.request("POST", POLL + "&sid=%s" % sid, b'427["wsgate:reauth",%s]' % json.dumps(T2).encode())
ok(st == 200 and hb.wait_requests(n0 + 1) and hb.requests[n0].body == b"6",
   "polling: the re-auth event reaches the backend as a noop", (st, b))
st, _, b = h.request("GET", POLL + "&sid=%s" % sid)
ok(st == 200 and b.startswith(b"437") and b.endswith(b"\x1e6"),
   "polling: the acknowledgement comes first in the next GET poll's answer", (st, b))
ack = json.loads(b[3:].split(b"\x1e")[0]) if st == 200 and b.startswith(b"437") else None
ok(ack == [{"ok": True, "exp": fresh["exp"]}], "polling: 437[{ok: true, exp}]", ack)
wait_for(lambda: time.time() > t0 + 3.5, 5)
st, _, b = h.request("GET", POLL + "&sid=%s" % sid)
is_((st, b), (200, b"6"), "polling: past the first token's exp the sid lives on with the new one")
st, _, b = h.request("POST", POLL + "&sid=%s" % sid, b'428["wsgate:reauth",%s]' % json.dumps(tok(sub="mallory")).encode())
st2, _, b2 = h.request("POST", POLL + "&sid=%s" % sid, b'429["wsgate:reauth",%s]' % json.dumps(T2).encode())
st3, _, b3 = h.request("GET", POLL + "&sid=%s" % sid)
pk = b3.split(b"\x1e")
ok(st3 == 200 and len(pk) == 3 and pk[0].startswith(b"438") and
   json.loads(pk[0][3:])[0].get("error") == "sub_mismatch",
   "polling: another sub's token is refused (sub_mismatch)", b3)
ok(st3 == 200 and len(pk) == 3 and pk[1].startswith(b"439") and
   json.loads(pk[1][3:])[0].get("error") == "rate_limited",
   "polling: a second re-auth within a second is refused (rate_limited)", b3)
ok(T2.encode() not in b"".join(r.raw_body for r in hb.requests), "polling: the backend never saw a re-auth token")
redis.cmd("SET", "wsgate:revoked:jti:%s" % fresh["jti"], "1", "EX", "600")
st, _, b = h.request("GET", POLL + "&sid=%s" % sid)
is_((st, b), (200, b"41\x1e1"), "polling: revocation now follows the new token's jti")
h.close()

done()
