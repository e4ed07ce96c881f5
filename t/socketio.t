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
from wsgatetest import (BASE_JWT, OP_CLOSE, OP_CONT, OP_PONG, OP_TEXT, Gateway, Timeout,  # noqa: E402
                        _backends, check, claims, done, is_, main_conf, mint, no_new_conn,
                        no_new_request, ok, reject_problems, start_backend, tamper_signature,
                        upgrade, wait_for)

wsb = start_backend()
hb = HTTPBackend(engineio=True).start()
_backends.append(hb)
plainb = HTTPBackend().start()      # no Engine.IO behind: no open packets
_backends.append(plainb)
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
route /sio-plain/ {
    upstream %s;
    socketio on;
}
""" % (wsb.addr, hb.addr, plainb.addr)
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


def backend_has_all(c, bc, timeout=5.0):
    """Barrier: sends a ping and waits for its pong. The backend answers
    pings itself, after every frame sent before it, so when the pong is back
    (and the backend recorded the ping) its message list is final for
    everything this client sent earlier."""
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


def nothing_upstream(c, bc, n):
    """Problems list unless the backend got no message after the first n."""
    if not backend_has_all(c, bc):
        return ["no pong from the backend: the barrier failed"]
    if len(bc.messages) != n:
        return ["the backend got %r" % (bc.messages[n:],)]
    return []


def nothing_before_close(bc, code):
    """Problems list unless the backend got no data frame (not even a first
    fragment), then the gateway's masked close with code. Frames are parsed
    in order: once the close is there, nothing sent before it can still
    arrive."""
    if not bc.got_close.wait(5):
        return ["the backend got no close frame within 5s"]
    p = [] if bc.close_code == code else ["the backend's close code is %r, expected %d" % (bc.close_code, code)]
    data = [f for f in bc.frames if f.opcode in (OP_TEXT, OP_CONT, 0x2)]
    if data:
        p.append("the backend got %r" % (data,))
    return p


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
check("the refused CONNECT never reached the backend", nothing_upstream(c, bc, n))
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
    check("CONNECT with %s: nothing reached the backend" % name, nothing_upstream(c, bc, 0))
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
check("the split tokenless CONNECT never reached the backend", nothing_upstream(c, bc, 0))
c.close()

c, bc = session()
c.send_text(b'40{"token":"' + ALICE.encode() + b'","pad":"' + b"x" * 20000 + b'"}')
try:
    f = c.recv_close(3)
    code = f.close_code if f else None
except Timeout:
    code = None
is_(code, 1009, "a CONNECT over 16k closes with 1009")
check("the oversized CONNECT never reached the backend (then a close 1009)",
      nothing_before_close(bc, 1009))
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
p = reject_problems(c, r, 401, "invalid_token", "bad signature")
c.close()
check("an invalid HTTP-level token is still a 401 on a socketio route, nothing upstream",
      p + no_new_conn(wsb, before))

# ---------------------------------------------------------------- polling transport


def get_close(target, headers=b""):
    """GET target with Connection: close: everything the gateway sent."""
    s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n" % (target.encode(), headers))
    r = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        r += d
    s.close()
    return r


def handshake(token=None):
    """An Engine.IO handshake through the gateway: the backend's sid."""
    r = get_close("/sio-http/?EIO=4&transport=polling",
                  b"Authorization: Bearer %s\r\n" % token.encode() if token else b"")
    body = r.split(b"\r\n\r\n", 1)[1] if r.startswith(b"HTTP/1.1 200") else b""
    return json.loads(body[1:])["sid"] if body.startswith(b"0{") else None


def post(body, token=None, chunked=False, sid=None, path=None):
    if path is None:
        path = "/sio-http/?EIO=4&transport=polling&sid=%s" % (sid or handshake())
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
    sid = handshake()
    before, n0 = hb.nconn, len(hb.requests)
    st, body = post(pb, sid=sid)
    ok(st == status, "polling: %s -> %d" % (name, status), (st, body))
    check("polling: %s: nothing reached the backend" % name, no_new_request(hb, before, n0))

st, body = post(b'40/admin,{"token":"%s"}' % BOB.encode())
ok(st == 200 and data_of(json.loads(body)["body"].encode()) == {"x-auth-sub": "bob"},
   "polling: /admin with the role is admitted")
st, body = post(b"40", token=ALICE)
ok(st == 200 and data_of(json.loads(body)["body"].encode()) == {"x-auth-sub": "alice"},
   "polling: an HTTP token identifies a tokenless CONNECT")
for name, args, status in (("a chunked POST on a socketio route", ((b'40{"token":"%s"}' % ALICE.encode(),),
                                                                    {"chunked": True}), 400),
                           ("a POST over 1m", ((b"4" + b"x" * (1024 * 1024 + 10),), {}), 413)):
    sid = handshake()
    before, n0 = hb.nconn, len(hb.requests)
    st, _ = post(*args[0], sid=sid, **args[1])
    check("polling: %s is refused with %d, nothing upstream" % (name, status),
          ([] if st == status else ["status %r" % st]) + no_new_request(hb, before, n0))

# A handshake answered without an open packet opens nothing and passes.
r = get_close("/sio-plain/echo?EIO=4&transport=polling")
ok(r.startswith(b"HTTP/1.1 200") and b'"target": "/sio-plain/echo?EIO=4&transport=polling"' in r,
   "polling: a handshake answer that is no open packet passes as it is", r[:120])

# A sid this gateway did not see opened (a restart, another instance): a
# GET poll of it is refused; a CONNECT in a POST the backend accepts enters
# it, bound to that CONNECT's token, and its revocation then ends it.
CAROL = mint("RS256", claims_=claims(sub="carol-sid"))
before, n0 = hb.nconn, len(hb.requests)
r = get_close("/sio-http/?EIO=4&transport=polling&sid=elsewhere1")
check("polling: a GET poll of a sid not seen opened gets 400, nothing upstream",
      ([] if r.startswith(b"HTTP/1.1 400") else ["got %r" % r[:60]]) + no_new_request(hb, before, n0))
st, body = post(b'40{"token":"%s"}' % CAROL.encode(), sid="elsewhere1")
ok(st == 200 and data_of(json.loads(body)["body"].encode()) == {"x-auth-sub": "carol-sid"},
   "polling: a CONNECT by POST on a sid not seen opened is checked and forwarded", (st, body))
n0 = len(hb.requests)
st, body = post(b"2", sid="elsewhere1")
ok(st == 200 and hb.wait_requests(n0 + 1) and
   [v for n, v in hb.requests[n0].headers if n.lower() == "x-auth-sub"] == ["carol-sid"],
   "polling: the backend accepted it, so the sid was entered: its next request carries carol's identity")
redis.cmd("SET", "wsgate:revoked:jti:%s" % json.loads(
    __import__("base64").urlsafe_b64decode(CAROL.split(".")[1] + "==")).get("jti"), "1", "EX", "600")
r = get_close("/sio-http/?EIO=4&transport=polling&sid=elsewhere1")
ok(r.startswith(b"HTTP/1.1 200") and r.endswith(b"\r\n\r\n41\x1e1"),
   "polling: its revocation ends it (the goodbye)", r[-80:])
ok(hb.wait_closed("elsewhere1"), "polling: and the backend was POSTed the close packet for it")

# A query token on a polling request: admitted, and (like every token of
# this test) never in a log; done() scans the logs for all of them.
DAVE = mint("RS256", claims_=claims(sub="dave-q"))
n0 = len(hb.requests)
r = get_close("/sio-http/echo?EIO=4&transport=polling&access_token=%s" % DAVE)
e = json.loads(r.split(b"\r\n\r\n", 1)[1][1:])["echo"] if r.startswith(b"HTTP/1.1 200") else None
ok(e is not None and e["target"] == "/sio-http/echo?EIO=4&transport=polling"
   and [v for n, v in e["headers"] if n.lower() == "x-auth-sub"] == ["dave-q"],
   "polling: a query token identifies the request and is stripped before the backend", r[:200])

s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
s.sendall(b"GET /sio-http/echo?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
r = s.recv(65536)
s.close()
ok(r.startswith(b"HTTP/1.1 200") and b"\r\n\r\n0{" in r,
   "polling: a GET without a token reaches the backend (Engine.IO level)")

for name, q in (("EIO=3", "EIO=3&transport=polling"), ("no EIO", "transport=polling"),
                ("EIO=4 and EIO=3", "EIO=4&EIO=3&transport=polling")):
    for tok in (None, ALICE):
        before, n0 = hb.nconn, len(hb.requests)
        s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
        s.sendall(b"GET /sio-http/?%s HTTP/1.1\r\nHost: x\r\n%s\r\n"
                  % (q.encode(), b"Authorization: Bearer %s\r\n" % tok.encode() if tok else b""))
        r = s.recv(65536)
        s.close()
        check("a request with %s%s is a 400 (Engine.IO 4 only)" % (name, " and a token" if tok else ""),
              ([] if r.startswith(b"HTTP/1.1 400") else ["got %r" % r[:60]]) + no_new_request(hb, before, n0))
before = wsb.nconn
c, r = upgrade(gw, path="/socket.io/?EIO=3&transport=websocket")
p = reject_problems(c, r, 400, "bad_request")
c.close()
check("a tokenless EIO=3 websocket is a 400, nothing upstream", p + no_new_conn(wsb, before))

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
