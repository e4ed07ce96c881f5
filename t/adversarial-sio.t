#!/usr/bin/python3
# Adversarial socket.io cases (SPEC §10, "Socket.IO rules that make the
# CONNECT check hold"), one or more per class of issue 8, against a REAL
# socket.io 4 server (t/lib/siobackend.js, permissive on purpose: protocol 3
# allowed, compression on, dynamic namespaces). Every case asserts what the
# client got and what the backend logged: no namespace connection for a
# refused CONNECT, no Engine.IO connection at all for a 400.

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BASE_JWT, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, SRCDIR, TMP,  # noqa: E402
                        Backend, Gateway, Timeout, _backends, _procs, claims, diag, done, encode_frame, free_port,
                        is_, main_conf, mint, ok, port_open, upgrade, wait_for)

import siotest  # noqa: E402
from siotest import MODS, SioBackend  # noqa: E402

NODE = os.environ.get("NODE") or shutil.which("node")
if not NODE or not os.path.isdir(os.path.join(MODS, "socket.io")):
    sys.stdout.write("1..0 # SKIP node or contrib/examples/nestjs-chat/node_modules missing\n")
    sys.exit(0)

from redistest import Redis  # noqa: E402

sio = SioBackend(NODE)
redis = Redis()
fakeext = Backend(headers=[("Sec-WebSocket-Extensions", "permessage-deflate")]).start()
_backends.append(fakeext)

ROUTES = """\
route /socket.io/ {
    upstream 127.0.0.1:%d;
    socketio on;
    socketio_require_claim /admin roles admin;
    identity_header sub X-Auth-Sub;
}
route /ext/ {
    upstream %s;
    socketio on;
}
""" % (sio.port, fakeext.addr)
STATUS_PORT = free_port()
if os.environ.get("ASAN_OPTIONS"):
    # AddressSanitizer keeps freed memory in a 256 MiB quarantine by
    # default, which would make the RSS bound below measure the sanitizer's
    # retention, not the gateway's: keep the quarantine small.
    os.environ["ASAN_OPTIONS"] += ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
gw = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"', max_sessions_per_subject=1,
                       error_log="stderr info", status_listen="127.0.0.1:%d" % STATUS_PORT)
             + BASE_JWT + ROUTES, name="adv-sio")

WS = "/socket.io/?EIO=4&transport=websocket"
POLL = "/socket.io/?EIO=4&transport=polling"
_n = [0]


def token(roles=("user",), **kw):
    """A fresh subject per token: max_sessions_per_subject is 1 here."""
    _n[0] += 1
    kw.setdefault("sub", "user%d" % _n[0])
    c = claims(roles=list(roles), **kw)
    return mint("RS256", claims_=c), c


SETTLE = 0.3   # a late packet would reach the backend's log within this


def nsp_events(sid=None, nsp=None):
    return [e for e in sio.events("nsp") if (sid is None or e["sid"] == sid) and (nsp is None or e["nsp"] == nsp)]


def ws_open(path=WS, headers=(), tok=None):
    """An Engine.IO websocket through the gateway: (client, sid) after the
    backend's open packet, or (None, response)."""
    try:
        c, r = upgrade(gw, path=path, headers=headers, token=tok)
    except (Timeout, OSError):
        return None, None
    if r is None or r.status != 101:
        return None, r
    m = recv(c)
    if not m or not m.startswith(b"0{"):
        return None, m
    return c, json.loads(m[1:])["sid"]


def recv(c, timeout=3.0):
    """Next text message (pongs skipped), OP_CLOSE frame tuple, or None."""
    try:
        m = c.recv_message(timeout)
    except (Timeout, OSError):
        return None
    if m is None:
        return None
    if m[0] == OP_TEXT:
        return m[1]
    if m[0] == OP_CLOSE:
        return ("close", m[1].close_code)
    return recv(c, timeout)


def connect_error(m):
    """The CONNECT_ERROR packet's (namespace, message) or None."""
    if not isinstance(m, bytes) or not m.startswith(b"44"):
        return None
    rest = m[2:]
    nsp = "/"
    if rest.startswith(b"/"):
        nsp, rest = rest.split(b",", 1)
        nsp = nsp.decode()
    return nsp, json.loads(rest)["message"]


def close_code(c, timeout=3.0):
    try:
        f = c.recv_close(timeout)
    except (Timeout, OSError):
        return None
    return f.close_code if f else None


def frames(c, parts):
    """Sends [(opcode, payload, fin, rsv)] in one write, as a client would
    when it streams a message."""
    c.send(b"".join(encode_frame(op, p, fin=fin, rsv=rsv) for op, p, fin, rsv in parts))


# ---------------------------------------------------------------- control: the backend sees what passes
c, sid = ws_open()
ok(c is not None, "control: a tokenless Engine.IO 4 websocket reaches the real socket.io server", sid)
tok, _ = token()
c.send_text(b'40{"token":"%s","room":"lobby"}' % tok.encode())
m = recv(c)
ok(isinstance(m, bytes) and m.startswith(b"40{"), "control: a CONNECT with a token is admitted by socket.io", m)
ev = wait_for(lambda: nsp_events(sid, "/"), 3)
ok(ev and ev[0]["auth"].get("room") == "lobby" and "token" not in ev[0]["auth"] and
   ev[0]["auth"].get("x-auth-sub") == "user%d" % _n[0] and ev[0]["protocol"] == 4,
   "control: the backend logged the namespace connection with the rewritten auth", ev)
c.close()

# ---------------------------------------------------------------- class 1: fragmented CONNECTs
CASES = [
    ("an empty first fragment", [(OP_TEXT, b"", False, 0), (OP_CONT, b'40{"room":"x"}', True, 0)]),
    ("a 1-byte first fragment", [(OP_TEXT, b"4", False, 0), (OP_CONT, b'0{"room":"x"}', True, 0)]),
    ("3 fragments", [(OP_TEXT, b"4", False, 0), (OP_CONT, b"0{\"ro", False, 0), (OP_CONT, b'om":"x"}', True, 0)]),
    ("empty fragments around every byte",
     [(OP_TEXT, b"", False, 0), (OP_CONT, b"", False, 0), (OP_CONT, b"4", False, 0), (OP_CONT, b"", False, 0),
      (OP_CONT, b"0", False, 0), (OP_CONT, b"", True, 0)]),
    ("a ping between fragments", [(OP_TEXT, b"4", False, 0), (OP_PING, b"hi", True, 0), (OP_CONT, b"0", True, 0)]),
    ("a namespace split over fragments",
     [(OP_TEXT, b"40/ad", False, 0), (OP_CONT, b"min,{", False, 0), (OP_CONT, b"}", True, 0)]),
]
for name, parts in CASES:
    c, sid = ws_open()
    frames(c, parts)
    m = recv(c)
    ce = connect_error(m)
    want_nsp = "/admin" if any(b"/ad" in p for _, p, _, _ in parts) else "/"
    ok(ce == (want_nsp, "missing_token"), "fragmented tokenless CONNECT (%s): CONNECT_ERROR missing_token" % name, m)
    time.sleep(SETTLE)
    is_(nsp_events(sid), [], "fragmented tokenless CONNECT (%s): no namespace connection on the backend" % name)
    c.close()

c, sid = ws_open()
tok, _ = token(roles=("user", "admin"))
body = b'40/admin,{"token":"%s"}' % tok.encode()
frames(c, [(OP_TEXT, body[:1], False, 0), (OP_CONT, b"", False, 0), (OP_PING, b"", True, 0),
           (OP_CONT, body[1:20], False, 0), (OP_CONT, body[20:], True, 0)])
m = recv(c)
ok(isinstance(m, bytes) and m.startswith(b"40/admin,"), "a fragmented CONNECT with a valid token is admitted", m)
ev = wait_for(lambda: nsp_events(sid, "/admin"), 3)
ok(ev and "token" not in ev[0]["auth"] and ev[0]["auth"].get("x-auth-sub"),
   "the backend got the fragmented CONNECT checked and rewritten", ev)
c.close()

c, sid = ws_open()
frames(c, [(OP_TEXT, b"", False, 0)] + [(OP_CONT, b"", False, 0)] * 100 + [(OP_CONT, b"40{}", True, 0)])
is_(close_code(c), 1008, "a message split into more than 64 fragments before its verdict closes with 1008")
time.sleep(SETTLE)
is_(nsp_events(sid), [], "... and nothing of it reached a namespace")
c.close()

c, sid = ws_open()
frames(c, [(OP_TEXT, b"4", False, 0), (OP_TEXT, b'0{}', True, 0)])
is_(close_code(c), 1002, "a text message begun inside an open fragmented one is a protocol error (1002)")
time.sleep(SETTLE)
is_(nsp_events(sid), [], "... and nothing reached a namespace")
c.close()

c, sid = ws_open()
frames(c, [(OP_CONT, b'40{}', True, 0)])
is_(close_code(c), 1002, "a continuation frame without a message is a protocol error (1002)")
c.close()

c, sid = ws_open()
frames(c, [(OP_TEXT, b"4", False, 0), (OP_PING, b"x", False, 0)])
is_(close_code(c), 1002, "a fragmented ping between fragments is a protocol error (1002)")
c.close()

c, sid = ws_open()
tok, _ = token()
c.send_text(b'40{"token":"%s"}' % tok.encode())
m = recv(c)
ok(isinstance(m, bytes) and m.startswith(b"40{"), "a CONNECT with a token is admitted", m)
frames(c, [(OP_TEXT, b'4', False, 0), (OP_CONT, b'', False, 0), (OP_CONT, b'2["chat",', False, 0),
           (OP_CONT, b'"hi"]', True, 0)])
ev = wait_for(lambda: [e for e in sio.events("event") if e["sid"] == sid], 3)
ok(ev and ev[0]["name"] == "chat" and ev[0]["args"] == ["hi"],
   "an EVENT split after one byte and an empty fragment reaches the backend intact", ev)
c.send_text(b'40/admin,{}')
m = recv(c)
while isinstance(m, bytes) and m.startswith(b"42"):
    m = recv(c)
ok(connect_error(m) == ("/admin", "insufficient_scope"),
   "... and a CONNECT after it is still checked", m)
time.sleep(SETTLE)
is_(nsp_events(sid, "/admin"), [], "... and reached no namespace")
c.close()

# Packets socket.io reads as a CONNECT although they do not start with "40":
# its decoder takes Number(first char) as the type, and Number(" ") is 0.
for name, pkt, nsp in (("'4' and a space", b'4 {"a":1}', "/"),
                       ("'4' and a no-break space, to /admin", b'4\xc2\xa0/admin,{}', "/"),
                       ("'4' and a tab", b'4\t', "/"),
                       ("'4' alone", b'4', "/")):
    c, sid = ws_open()
    c.send_text(pkt)
    m = recv(c)
    ok(connect_error(m) == (nsp, "bad_request"), "CONNECT look-alike (%s): CONNECT_ERROR bad_request" % name, m)
    time.sleep(SETTLE)
    is_(nsp_events(sid), [], "CONNECT look-alike (%s): no namespace connection" % name)
    c.close()

# ---------------------------------------------------------------- class 1: compression
c, r = upgrade(gw, path=WS, headers=[("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
ok(r is not None and r.status == 101 and r.header("Sec-WebSocket-Extensions") is None,
   "a client offering permessage-deflate gets a 101 without any extension", r)
m = recv(c)
sid = json.loads(m[1:])["sid"] if isinstance(m, bytes) and m.startswith(b"0{") else None
ev = wait_for(lambda: [e for e in sio.events("engine") if e["sid"] == sid], 3)
ok(ev and ev[0]["extensions"] is None, "the compressing backend was offered no extension", ev)
frames(c, [(OP_TEXT, b'40{}', True, 4)])
is_(close_code(c), 1002, "an RSV1 (compressed) CONNECT frame is a protocol error (1002)")
time.sleep(SETTLE)
is_(nsp_events(sid), [], "the RSV1 CONNECT reached no namespace")
c.close()

for name, parts in (("an RSV1 continuation of a CONNECT", [(OP_TEXT, b"4", False, 0), (OP_CONT, b"0{}", True, 4)]),
                    ("an RSV1 event frame", [(OP_TEXT, b'42["x"]', True, 4)]),
                    ("RSV2 and RSV3", [(OP_TEXT, b'40{}', True, 3)])):
    c, sid = ws_open()
    frames(c, parts)
    is_(close_code(c), 1002, "%s: 1002" % name)
    time.sleep(SETTLE)
    is_(nsp_events(sid), [], "%s: no namespace connection" % name)
    c.close()

before = fakeext.nconn
c, r = upgrade(gw, path="/ext/?EIO=4&transport=websocket")
ok(r is not None and r.status == 502 and fakeext.wait_conns(before + 1, 2) and
   fakeext.conns[before].header("Sec-WebSocket-Extensions") is None,
   "a backend 101 choosing an extension that was not offered is a 502", r)
c.close()

# ---------------------------------------------------------------- class 2: Engine.IO 4 only, read as engine.io reads it
tok, _ = token()
n400 = 0
for name, q in (("EIO=4&%45IO=3 (protocol 3 to engine.io)", "EIO=4&%45IO=3"),
                ("EIO=3", "EIO=3"),
                ("no EIO", ""),
                ("EIO=4&EIO=4", "EIO=4&EIO=4"),
                ("E%49O=4", "E%49O=4"),
                ("EIO=%34", "EIO=%34"),
                ("EIO=4+ (\"4 \" to engine.io)", "EIO=4+"),
                ("%74ransport=", None),
                ("a sid twice", None),
                ("JSONP j=0", "EIO=4&j=0"),
                ("JSONP %6A=0", "EIO=4&%6A=0")):
    for kind in ("polling", "websocket"):
        if q is None:
            qq = ("EIO=4&%%74ransport=%s" % kind) if name.startswith("%74") else \
                 ("EIO=4&transport=%s&sid=a&sid=b" % kind)
        else:
            qq = q + ("&" if q else "") + "transport=" + kind
        for t in (None, tok):
            n0 = sio.count("engine") + sio.count("engine_error")
            cl = gw.client()
            if kind == "websocket":
                r = cl.upgrade("/socket.io/?" + qq, headers=[("Authorization", "Bearer " + t)] if t else [],
                               host="127.0.0.1:%d" % gw.port)
            else:
                cl.send(("GET /socket.io/?%s HTTP/1.1\r\nHost: x\r\n%s\r\n"
                         % (qq, "Authorization: Bearer %s\r\n" % t if t else "")).encode())
                r = cl.read_response(3)
            time.sleep(0.05)
            st = r.status if r is not None else None
            n400 += 1
            ok(st == 400 and sio.count("engine") + sio.count("engine_error") == n0,
               "%s, %s%s: 400 and no Engine.IO connection on the backend"
               % (name, kind, " with a token" if t else ""), (st, qq))
            cl.close()

n0 = sio.count("engine")
nn = len(nsp_events())
cl = gw.client()
cl.send(b"POST /socket.io/?EIO=4&transport=polling&j=0 HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\nd=40%7B%7D")
r = cl.read_response(3)
n400 += 1
time.sleep(SETTLE)
ok(r is not None and r.status == 400 and sio.count("engine") == n0 and len(nsp_events()) == nn,
   "a JSONP POST with a d= body is a 400 and reaches nothing", r)
cl.close()

cl = gw.client()
cl.send(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
r = cl.read_response(3)
ok(r is not None and r.status == 200 and r.body.startswith(b"0{"),
   "control: a plain Engine.IO 4 polling handshake is admitted", r)
cl.close()

# ---------------------------------------------------------------- ack ids, whitespace, URL-like namespaces
adm, _ = token(roles=("user", "admin"))
for name, pkt in (("an ack id", b'401{"token":"%s"}' % adm.encode()),
                  ("an ack id after the namespace", b'40/admin,1{"token":"%s"}' % adm.encode()),
                  ("whitespace after the namespace (ack id 0 to socket.io)", b'40/admin, {"token":"%s"}' % adm.encode()),
                  ("whitespace before the data", b'40 {"token":"%s"}' % adm.encode()),
                  ("a query in the namespace", b'40/admin?x=1,'),
                  ("a query in a dynamic namespace", b'40/dyn-a?x=1,{"token":"%s"}' % adm.encode()),
                  ("a fragment in the namespace", b'40/admin#x,')):
    c, sid = ws_open()
    c.send_text(pkt)
    m = recv(c)
    ce = connect_error(m)
    ok(ce is not None and ce[1] == "bad_request", "CONNECT with %s: CONNECT_ERROR bad_request" % name, m)
    time.sleep(SETTLE)
    is_(nsp_events(sid), [], "CONNECT with %s: no namespace connection" % name)
    c.close()


def Http():
    """A kept-alive HTTP/1.1 client connection to the gateway."""
    return siotest.Http(gw.port, POLL)


h = Http()
sid = h.handshake()
for i, (name, pkt) in enumerate((("'4' and a space", b'4 {"a":1}'), ("a query in the namespace", b'40/admin?x=1,'),
                                 ("an ack id", b'401{}'))):
    st, hd, b = h.request("POST", POLL + "&sid=%s" % sid, pkt)
    if i < 2:
        ok(st == 400 and hd.get("connection") is None, "polling CONNECT with %s: 400, connection kept" % name, (st, b))
    else:
        ok(st == 401 and hd.get("connection") == "close" and b"malformed CONNECT" in b and h.eof(),
           "polling CONNECT with %s, the third refusal: 401 with Connection: close" % name, (st, hd, b))
time.sleep(SETTLE)
is_(nsp_events(sid), [], "polling CONNECTs with an ack id, whitespace or a query in the namespace reached nothing")
h.close()

# ---------------------------------------------------------------- class 5: bounded refusals
c, sid = ws_open()
got = []
for i in range(3):
    c.send_text(b'40{"n":%d}' % i)
for i in range(4):
    m = recv(c)
    got.append(m)
    if not isinstance(m, bytes):
        break
ok([connect_error(m) for m in got[:3]] == [("/", "missing_token")] * 3 and got[3:] == [("close", 1008)],
   "three refused CONNECTs: each answered once, the third followed by close 1008", got)
time.sleep(SETTLE)
is_(nsp_events(sid), [], "... and none reached a namespace")
c.close()

h = Http()
sid = h.handshake()
res = []
for i in range(3):
    st, hd, b = h.request("POST", POLL + "&sid=%s" % sid, b'40{"n":%d}' % i)
    res.append((st, hd.get("connection")))
ok(res[:2] == [(401, None), (401, None)] and res[2] == (401, "close") and h.eof(),
   "polling: the first refused CONNECTs keep the connection, the third is a 401 with Connection: close", res)
time.sleep(SETTLE)
is_(nsp_events(sid), [], "polling: no refused CONNECT reached a namespace")
h.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


# A client streaming tiny refused CONNECTs and never reading. 12 clients push
# 3 MB each (36 MB, the volume of the report in issue 8): each connection
# closes at its third refusal, what it still sends is dropped, and what
# the gateway holds for it is bounded by the relay's high-water marks
# (256 KiB per direction) plus one held message (16 KiB): 12 x ~0.6 MiB,
# so RSS may not grow by more than 24 MiB whatever the clients send.
rss0 = rss_kb(gw.proc.pid)
log0 = len(gw.log().splitlines())
nsp0 = len(nsp_events())
chunk = b"".join(encode_frame(OP_TEXT, b"40") for _ in range(4096))
sent = []


def flood():
    c, sid = ws_open()
    if c is None:
        sent.append(-1)
        return
    n = 0
    c.sock.settimeout(3)
    try:
        while n < 3 << 20:
            c.sock.sendall(chunk)
            n += len(chunk)
    except OSError:
        pass
    sent.append(n)
    time.sleep(1)
    c.abort()


ths = [threading.Thread(target=flood) for _ in range(12)]
for t in ths:
    t.start()
peak = rss0
while any(t.is_alive() for t in ths):
    peak = max(peak, rss_kb(gw.proc.pid))
    time.sleep(0.05)
diag("flood: %d bytes sent by 12 clients, gateway RSS %d kB before, %d kB peak"
     % (sum(x for x in sent if x > 0), rss0, peak))
ok(all(x > 0 for x in sent) and peak - rss0 < 24 * 1024,
   "12 clients streaming refused CONNECTs without reading: gateway RSS grew %d kB (bound 24 MiB)"
   % (peak - rss0), sent)
lines = gw.log().splitlines()[log0:]
refusals = [ln for ln in lines if "CONNECT to" in ln and "refused" in ln]
ok(len(refusals) <= 12 * 3, "flood: at most 3 refusal log lines per connection (%d for 12)" % len(refusals))
ok(len(lines) < 12 * 12, "flood: the log grew by %d lines for 12 connections" % len(lines))
time.sleep(SETTLE)
is_(len(nsp_events()), nsp0, "flood: no namespace connection")
ok(gw.alive(), "the gateway survived the flood")

# ---------------------------------------------------------------- class 6: fresh decisions
tok, cl = token()
h = Http()
sid = h.handshake()
st, _, b = h.request("POST", POLL + "&sid=%s" % sid, b'40{"token":"%s"}' % tok.encode())
ok(st == 200 and wait_for(lambda: nsp_events(sid, "/"), 3),
   "polling: a CONNECT token is admitted and the namespace connected", (st, b))
redis.cmd("SET", "wsgate:revoked:jti:%s" % cl["jti"], "1", "EX", "600")
st, _, b = h.request("POST", POLL + "&sid=%s" % sid, b'40/chat,{"token":"%s"}' % tok.encode())
ok(st == 401 and b"token revoked" in b, "polling, same kept-alive connection: the revoked token's next CONNECT is a 401",
   (st, b))
time.sleep(SETTLE)
is_(nsp_events(sid, "/chat"), [], "polling: the revoked token's CONNECT reached no namespace")
h.close()

def healthy():
    try:
        s = socket.create_connection(("127.0.0.1", STATUS_PORT), timeout=2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r = s.recv(4096)
        s.close()
        return r.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


tok, cl = token()
c, sid = ws_open()
redis.kill()
ok(wait_for(lambda: not healthy(), 10, 0.05), "Redis down: the gateway reports unhealthy")
c.send_text(b'40{"token":"%s"}' % tok.encode())
m = recv(c, 5)
ok(connect_error(m) == ("/", "service_unavailable"), "Redis down: the CONNECT is refused (redis_failure reject)", m)
redis.start()
ok(wait_for(healthy, 15, 0.1), "Redis back: the gateway reports healthy again")
c.send_text(b'40{"token":"%s"}' % tok.encode())
m = recv(c, 5)
ok(isinstance(m, bytes) and m.startswith(b"40{"),
   "Redis back: the same token's CONNECT on the same connection is looked up afresh and admitted", m)
ok(wait_for(lambda: nsp_events(sid, "/"), 3), "... and the backend connected the namespace")
c.close()

tok, cl = token()
a, sid_a = ws_open()
a.send_text(b'40{"token":"%s"}' % tok.encode())
m = recv(a)
ok(isinstance(m, bytes) and m.startswith(b"40{"), "max_sessions_per_subject 1: the first CONNECT session is admitted", m)
b_, sid_b = ws_open()
b_.send_text(b'40{"token":"%s"}' % tok.encode())
m = recv(b_)
ok(connect_error(m) == ("/", "too_many_sessions"),
   "max_sessions_per_subject 1: a second CONNECT session of the subject gets CONNECT_ERROR too_many_sessions", m)
time.sleep(SETTLE)
is_(nsp_events(sid_b), [], "... and reached no namespace")
b_.close()
h = Http()
sid_p = h.handshake()
st, _, body = h.request("POST", POLL + "&sid=%s" % sid_p, b'40{"token":"%s"}' % tok.encode())
ok(st == 429 and b"too_many_sessions" in body,
   "max_sessions_per_subject 1: a polling CONNECT of the subject is a 429 too_many_sessions", (st, body))
time.sleep(SETTLE)
is_(nsp_events(sid_p), [], "... and reached no namespace")
h.close()
a.close()
c = None
dl = time.monotonic() + 5
while time.monotonic() < dl:
    c, sid = ws_open()
    c.send_text(b'40{"token":"%s"}' % tok.encode())
    m = recv(c)
    if isinstance(m, bytes) and m.startswith(b"40{"):
        break
    c.close()
    c = None
    time.sleep(0.2)
ok(c is not None, "max_sessions_per_subject 1: the slot is released when the first session ends")
if c:
    c.close()

tok, _ = token()
h = Http()
sid_p = h.handshake()
st, _, body = h.request("POST", POLL + "&sid=%s" % sid_p, b'40{"token":"%s"}' % tok.encode())
ok(st == 200 and wait_for(lambda: nsp_events(sid_p, "/"), 3), "polling: a CONNECT token session is admitted", (st, body))
c, sid = ws_open()
c.send_text(b'40{"token":"%s"}' % tok.encode())
m = recv(c)
ok(connect_error(m) == ("/", "too_many_sessions"),
   "polling: while its connection lives, the subject's slot is taken (a websocket CONNECT is refused)", m)
c.close()
h.close()
# The slot is the Engine.IO session's (its sid holds it), not the
# connection's: a new connection does not free it, the close packet does.
c, sid = ws_open()
c.send_text(b'40{"token":"%s"}' % tok.encode())
m = recv(c)
ok(connect_error(m) == ("/", "too_many_sessions"),
   "polling: the slot outlives the connection that took it (the sid holds it)", m)
c.close()
h = Http()
st, _, body = h.request("POST", POLL + "&sid=%s" % sid_p, b"1")
ok(st == 200, "polling: the client's close packet goes through", (st, body))
h.close()
c = None
dl = time.monotonic() + 5
while time.monotonic() < dl:
    c, sid = ws_open()
    c.send_text(b'40{"token":"%s"}' % tok.encode())
    m = recv(c)
    if isinstance(m, bytes) and m.startswith(b"40{"):
        break
    c.close()
    c = None
    time.sleep(0.2)
ok(c is not None, "polling: the slot is released when the Engine.IO session closes")
if c:
    c.close()



def metrics():
    s = socket.create_connection(("127.0.0.1", STATUS_PORT), timeout=2)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    s.close()
    return buf.decode("latin-1", "replace")


text = metrics()
m = re.search(r'^wsgate_handshakes_total\{result="rejected",reason="bad_engineio"\} (\d+)$', text, re.M)
ok(m and int(m.group(1)) == n400, "the %d Engine.IO 400s are counted as reason bad_engineio in /metrics" % n400,
   m.group(0) if m else None)
m = re.search(r'^wsgate_closes_total\{cause="connect_refused"\} (\d+)$', text, re.M)
ok(m and int(m.group(1)) >= 13, "sessions ended at their third refused CONNECT are counted as connect_refused",
   m.group(0) if m else None)

done()
