#!/usr/bin/python3
# socket.io awareness ("socketio on", SPEC §10) at the wire level: CONNECT
# packets on the websocket transport (frames) and in polling POST bodies
# are checked, rewritten (token and client x-auth-* keys out, identity in)
# or refused with a CONNECT_ERROR / an HTTP rejection, per-namespace claims,
# and live enforcement of a token that came only in a CONNECT. The
# backends are the echo backends of the other tests: what they echo is
# exactly what wsgate forwarded.

import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from httpbackend import HTTPBackend  # noqa: E402
from redistest import Redis  # noqa: E402
from wsgatetest import (BASE_JWT, OP_CLOSE, OP_CONT, OP_TEXT, Gateway, Timeout, _backends,  # noqa: E402
                        claims, done, is_, main_conf, mint, ok, start_backend, tamper_signature,
                        upgrade, wait_for)

wsb = start_backend()
hb = HTTPBackend().start()
_backends.append(hb)
redis = Redis()

ROUTES = """\
route /socket.io/ {
    upstream %s;
    socketio on;
    socketio_require_claim /admin roles admin;
    identity_header sub X-Auth-Sub;
    identity_header roles X-Auth-Roles;
}
route /sio-http/ {
    upstream %s;
    socketio on;
    socketio_require_claim /admin roles admin;
    identity_header sub X-Auth-Sub;
}
""" % (wsb.addr, hb.addr)
gw = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"') + BASE_JWT + ROUTES, name="sio")

ALICE = mint("RS256", claims_=claims(sub="alice", roles=["user"]))
BOB = mint("RS256", claims_=claims(sub="bob", roles=["user", "admin"]))
WS_PATH = "/socket.io/?EIO=4&transport=websocket"


def session(token=None, headers=()):
    """A tokenless (or HTTP-token) Engine.IO websocket through the gateway:
    (client, backend conn) or (None, None)."""
    before = wsb.nconn
    try:
        c, r = upgrade(gw, path=WS_PATH, token=token, headers=headers)
    except (Timeout, OSError):
        return None, None
    if r is None or r.status != 101 or not wsb.wait_conns(before + 1, 3):
        return None, None
    return c, wsb.conns[before]


def connect_packet(auth=None, nsp=None):
    p = "40" + ("%s," % nsp if nsp else "")
    if auth is not None:
        p += json.dumps(auth)
    return p.encode()


def echoed(c, timeout=3.0):
    try:
        op, data = c.recv_message(timeout)
    except Timeout:
        return None
    return data if op == OP_TEXT else None


def data_of(pkt, prefix=b"40"):
    rest = pkt[len(prefix):]
    if rest.startswith(b"/"):
        rest = rest.split(b",", 1)[1]
    return json.loads(rest) if rest else {}


# ---------------------------------------------------------------- websocket transport
c, bc = session()
ok(c is not None, "socketio route: a websocket without an HTTP token is admitted (the CONNECT decides)")
c.send_text(connect_packet({"token": ALICE, "room": "lobby", "x-auth-sub": "mallory", "X-Auth-Roles": "admin"}))
got = echoed(c)
is_(data_of(got) if got else None, {"room": "lobby", "x-auth-sub": "alice", "x-auth-roles": "user"},
    "CONNECT token: forwarded without the token and the spoofed keys, with the identity")
c.send_text(b'42["chat","hi"]')
is_(echoed(c), b'42["chat","hi"]', "other packets pass untouched")
c.send_text(connect_packet(nsp="/room"))
got = echoed(c)
is_(data_of(got) if got else None, {"x-auth-sub": "alice", "x-auth-roles": "user"},
    "a later CONNECT without token uses the identity the session took from the first")
n = len(bc.messages)
c.send_text(connect_packet({"token": ALICE}, nsp="/admin"))
got = echoed(c)
ok(got and got.startswith(b"44/admin,") and data_of(got, b"44")["message"] == "insufficient_scope",
   "socketio_require_claim: CONNECT to /admin without the role gets CONNECT_ERROR insufficient_scope", got)
time.sleep(0.1)
is_(len(bc.messages), n, "the refused CONNECT never reached the backend")
c.send_text(connect_packet({"token": BOB}, nsp="/admin"))
got = echoed(c)
ok(got and data_of(got, b"44").get("message") == "insufficient_scope" and
   data_of(got, b"44")["data"]["error_description"] == "token for another subject",
   "a CONNECT token for another subject is refused", got)
c.close()

c, bc = session()
c.send_text(connect_packet({"token": BOB}, nsp="/admin"))
got = echoed(c)
is_(data_of(got) if got else None, {"x-auth-sub": "bob", "x-auth-roles": "user,admin"},
    "CONNECT to /admin with the role is forwarded with the identity")
c.close()

for name, auth, code in (("no token", {}, "missing_token"),
                         ("a tampered token", {"token": tamper_signature(ALICE)}, "invalid_token"),
                         ("an expired token", {"token": mint("RS256", claims_=claims(exp=int(time.time()) - 600))},
                          "invalid_token"),
                         ("a token that is not a string", {"token": 42}, "missing_token")):
    c, bc = session()
    c.send_text(connect_packet(auth))
    got = echoed(c)
    d = data_of(got, b"44") if got and got.startswith(b"44") else {}
    ok(d.get("message") == code, "CONNECT with %s: CONNECT_ERROR %s" % (name, code), got)
    time.sleep(0.1)
    is_(len(bc.messages), 0, "CONNECT with %s: nothing reached the backend" % name)
    c.close()

c, bc = session()
c.send_text(b'401{"token":"%s"}' % ALICE.encode())
got = echoed(c)
ok(got and data_of(got, b"44").get("message") == "bad_request", "a CONNECT with an ack id is refused", got)
c.send_text(b'40["x"]')
got = echoed(c)
ok(got and data_of(got, b"44").get("message") == "bad_request", "a CONNECT with array data is refused", got)
c.close()

c, bc = session()
c.send_frame(OP_TEXT, b'40{"token":"', fin=False)
c.send_frame(OP_CONT, ALICE.encode() + b'"}', fin=True)
got = echoed(c)
is_(data_of(got) if got else None, {"x-auth-sub": "alice", "x-auth-roles": "user"},
    "a CONNECT split over fragments is checked whole and forwarded rewritten")
is_(len(bc.messages), 1, "the backend got the fragmented CONNECT as one message")
c.close()

c, bc = session()
c.send_frame(OP_TEXT, b'4', fin=False)
c.send_frame(OP_CONT, b'0{"room":"x"}', fin=True)
got = echoed(c)
ok(got and got.startswith(b"44") and data_of(got, b"44").get("message") == "missing_token",
   "a tokenless CONNECT split after one byte gets CONNECT_ERROR missing_token", got)
time.sleep(0.1)
is_(len(bc.messages), 0, "the split tokenless CONNECT never reached the backend")
c.close()

c, bc = session()
c.send_text(b'40{"token":"' + ALICE.encode() + b'","pad":"' + b"x" * 20000 + b'"}')
try:
    f = c.recv_close(3)
    code = f.close_code if f else None
except Timeout:
    code = None
is_(code, 1009, "a CONNECT over 16k closes with 1009")
c.close()

# revocation of a CONNECT token, at CONNECT time and live
rc = claims(sub="carol")
CAROL = mint("RS256", claims_=rc)
c, bc = session()
c.send_text(connect_packet({"token": CAROL}))
ok(echoed(c) is not None, "CONNECT token admitted")
redis.cmd("SET", "wsgate:revoked:jti:%s" % rc["jti"], "1", "EX", "600")
try:
    f = c.recv_close(5)
    code = f.close_code if f else None
except Timeout:
    code = None
is_(code, 4403, "a session identified by its CONNECT token closes with 4403 when it is revoked")
c.close()
c, bc = session()
c.send_text(connect_packet({"token": CAROL}))
got = echoed(c)
ok(got and data_of(got, b"44")["data"]["error_description"] == "token revoked",
   "a revoked CONNECT token gets CONNECT_ERROR token revoked", got)
c.close()

c, bc = session()
c.send_text(connect_packet({"token": mint("RS256", claims_=claims(sub="dave", exp=int(time.time()) + 1))}))
ok(echoed(c) is not None, "short-lived CONNECT token admitted")
try:
    f = c.recv_close(12)
    code = f.close_code if f else None
except Timeout:
    code = None
is_(code, 4401, "a session identified by its CONNECT token closes with 4401 at exp + leeway")
c.close()

# an HTTP-level token: it wins, and namespace claims apply to it too
c, bc = session(token=ALICE)
c.send_text(connect_packet({"token": BOB, "x-auth-sub": "mallory"}))
got = echoed(c)
is_(data_of(got) if got else None, {"x-auth-sub": "alice", "x-auth-roles": "user"},
    "HTTP token: the CONNECT is rewritten with its identity, the CONNECT token ignored and stripped")
c.send_text(connect_packet(nsp="/admin"))
got = echoed(c)
ok(got and data_of(got, b"44").get("message") == "insufficient_scope",
   "HTTP token without the role: CONNECT to /admin refused", got)
c.close()
ok(bc.header("X-Auth-Sub") == "alice", "HTTP token: the upgrade request carried the identity header")

before = wsb.nconn
c, r = upgrade(gw, path=WS_PATH, token=tamper_signature(ALICE))
ok(r is not None and r.status == 401 and wsb.nconn == before,
   "an invalid HTTP-level token is still a 401 on a socketio route")
c.close()

# ---------------------------------------------------------------- polling transport


def post(body, token=None, chunked=False, path="/sio-http/?EIO=4&transport=polling&sid=abc"):
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    h = "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n" % path
    if token:
        h += "Authorization: Bearer %s\r\n" % token
    if chunked:
        h += "Transfer-Encoding: chunked\r\n\r\n"
        data = h.encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    else:
        h += "Content-Length: %d\r\n\r\n" % len(body)
        data = h.encode() + body
    s.sendall(data)
    buf = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
            if b"\r\n\r\n" in buf:
                head, rest = buf.split(b"\r\n\r\n", 1)
                cl = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length:")]
                if cl and len(rest) >= int(cl[0].split(b":")[1]):
                    break
    except socket.timeout:
        pass
    s.close()
    if b"\r\n\r\n" not in buf:
        return None, None
    head, rest = buf.split(b"\r\n\r\n", 1)
    return int(head.split(b" ")[1]), rest


n0 = len(hb.requests)
st, body = post(b'40{"token":"%s","x-auth-sub":"mallory"}\x1e42["hi"]' % ALICE.encode())
e = json.loads(body) if st == 200 else None
if ok(e is not None, "polling: a POST with a CONNECT token is admitted", (st, body)):
    pk = e["body"].encode("latin-1").split(b"\x1e")
    is_(data_of(pk[0]), {"x-auth-sub": "alice"}, "polling: the CONNECT in the body is rewritten")
    is_(pk[1:], [b'42["hi"]'], "polling: the other packets are kept in order")
    cl = [v for n, v in e["headers"] if n.lower() == "content-length"]
    is_(cl, [str(len(e["body"].encode("latin-1")))], "polling: Content-Length matches the rewritten body")
    ok(not [v for n, v in e["headers"] if n.lower() == "x-auth-sub"],
       "polling: no identity header on a request that carried no HTTP token")

for name, pb, status in (("no token", b"40", 401),
                         ("a tampered token", b'40{"token":"%s"}' % tamper_signature(ALICE).encode(), 401),
                         ("/admin without the role", b'40/admin,{"token":"%s"}' % ALICE.encode(), 403),
                         ("a refused CONNECT among others", b'42["a"]\x1e40/admin,{"token":"%s"}' % ALICE.encode(),
                          403)):
    n0 = len(hb.requests)
    st, body = post(pb)
    ok(st == status, "polling: %s -> %d" % (name, status), (st, body))
    time.sleep(0.1)
    is_(len(hb.requests), n0, "polling: %s: nothing reached the backend" % name)

st, body = post(b'40/admin,{"token":"%s"}' % BOB.encode())
ok(st == 200 and data_of(json.loads(body)["body"].encode()) == {"x-auth-sub": "bob"},
   "polling: /admin with the role is admitted")
st, body = post(b"40", token=ALICE)
ok(st == 200 and data_of(json.loads(body)["body"].encode()) == {"x-auth-sub": "alice"},
   "polling: an HTTP token identifies a tokenless CONNECT")
st, _ = post(b'40{"token":"%s"}' % ALICE.encode(), chunked=True)
is_(st, 400, "polling: a chunked POST on a socketio route is refused")
st, _ = post(b"4" + b"x" * (1024 * 1024 + 10))
is_(st, 413, "polling: a POST over 1m is refused")

s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
s.sendall(b"GET /sio-http/echo?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
r = s.recv(65536)
s.close()
ok(r.startswith(b"HTTP/1.1 200"), "polling: a GET without a token reaches the backend (Engine.IO level)")

for name, q in (("EIO=3", "EIO=3&transport=polling"), ("no EIO", "transport=polling"),
                ("EIO=4 and EIO=3", "EIO=4&EIO=3&transport=polling")):
    for tok in (None, ALICE):
        n0 = len(hb.requests)
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(b"GET /sio-http/?%s HTTP/1.1\r\nHost: x\r\n%s\r\n"
                  % (q.encode(), b"Authorization: Bearer %s\r\n" % tok.encode() if tok else b""))
        r = s.recv(65536)
        s.close()
        ok(r.startswith(b"HTTP/1.1 400") and len(hb.requests) == n0,
           "a request with %s%s is a 400 (Engine.IO 4 only)" % (name, " and a token" if tok else ""), r[:60])
before = wsb.nconn
c, r = upgrade(gw, path="/socket.io/?EIO=3&transport=websocket")
ok(r is not None and r.status == 400 and wsb.nconn == before, "an EIO=3 websocket is a 400")
c.close()

# ---------------------------------------------------------------- configuration
from wsgatetest import BIN, run, write_file  # noqa: E402


def conf_check(route_body):
    path = write_file("sio-check.conf", "listen 127.0.0.1:1;\njwt { hmac_secret_file %s/hmac.secret; }\n"
                      "route / {\n    upstream 127.0.0.1:2;\n%s}\n"
                      % (os.path.join(os.environ.get("WSGATE_SRCDIR", "."), "t", "keys"), route_body))
    rc, out, err = run([BIN, "-t", "-c", path])
    return rc, (out + err).strip()


rc, msg = conf_check("    socketio on;\n    socketio_require_claim /admin roles admin;\n")
ok(rc == 0, "config: socketio with socketio_require_claim is valid", msg)
rc, msg = conf_check("    socketio_require_claim /admin roles admin;\n")
ok(rc == 1 and "needs \"socketio on\"" in msg and ":5:" not in msg and ":3:" in msg,
   "config: socketio_require_claim without socketio on is refused with file:line", msg)
rc, msg = conf_check("    socketio on;\n    auth off;\n    socketio_require_claim /admin roles admin;\n")
ok(rc == 1 and "auth on" in msg, "config: socketio_require_claim on an auth off route is refused", msg)
rc, msg = conf_check("    socketio on;\n    socketio_require_claim admin roles admin;\n")
ok(rc == 1 and "must start with" in msg and ":6:" in msg, "config: a namespace must start with /", msg)
rc, msg = conf_check("    socketio maybe;\n")
ok(rc == 1 and "on\" or \"off" in msg, "config: socketio takes on or off", msg)

done()
