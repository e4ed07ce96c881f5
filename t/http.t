#!/usr/bin/python3
# Plain HTTP/1.1 proxying (SPEC §10) on a plain_http route: admission of
# every request, the forwarded head, Content-Length and chunked bodies both
# ways, HEAD/204/304, 100-continue, keep-alive on both sides, pipelining,
# Connection: close from either side, smuggling shapes, strict responses.

import json
import os
import socket
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from httpbackend import HTTPBackend  # noqa: E402
from wsgatetest import (BASE_JWT, OP_TEXT, Gateway, Timeout, _backends, accept_key, check,  # noqa: E402
                        claims, done, expect_101, is_, main_conf, mint, no_new_conn,
                        no_new_request, ok, start_backend, std_conf, upgrade_head)

hb = HTTPBackend().start()
_backends.append(hb)
wsb = start_backend()

ROUTES = """\
route / {
    upstream @HTTP@;
    plain_http on;
    origins "http://localhost:8080";
    identity_header sub X-Auth-Sub;
    identity_header roles X-Auth-Roles;
}
route /ws {
    upstream @WS@;
    plain_http on;
    identity_header sub X-Auth-Sub;
}
route /admin {
    upstream @HTTP@;
    plain_http on;
    require_claim roles admin;
    identity_header sub X-Auth-Sub;
}
route /noplain {
    upstream @HTTP@;
}
"""
conf = (main_conf(handshake_timeout="1s", keepalive_timeout="1500ms", upstream_read_timeout="2s")
        + BASE_JWT + ROUTES.replace("@HTTP@", hb.addr).replace("@WS@", wsb.addr))
gw = Gateway(conf, name="http")

ALICE = mint("RS256", claims_=claims(sub="alice", roles=["user"]))
BOB = mint("RS256", claims_=claims(sub="bob", roles=["user", "admin"]))
CAROL = mint("HS256", claims_=claims(sub="carol"))


class Resp:
    def __init__(self, status, headers, body, raw_head):
        self.status = status
        self.headers = headers
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body.decode("latin-1"))
        except ValueError:
            return None

    def __repr__(self):
        return "<Resp %r %r body=%r>" % (self.status, self.headers, self.body[:200])


class Conn:
    """A raw HTTP/1.1 client connection to the gateway."""

    def __init__(self, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", gw.port), timeout=timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            self.eof = True
            raise EOFError()
        self.buf += d

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _n(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head_request=False, chunks=None):
        """Reads one response (interim ones are returned too, as such)."""
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = []
        for ln in lines[1:]:
            if ln:
                n, v = ln.split(":", 1)
                headers.append((n, v.strip()))
        r = Resp(status, headers, b"", head)
        if status < 200 or status in (204, 304) or head_request:
            return r
        te = r.header("Transfer-Encoding")
        cl = r.header("Content-Length")
        if te:
            body = b""
            while True:
                line = self._until(b"\r\n")
                if chunks is not None:
                    chunks.append(line)
                size = int(line[:-2], 16)
                if size == 0:
                    while self._until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self._n(size + 2)[:-2]
            r.body = body
        elif cl is not None:
            r.body = self._n(int(cl))
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            r.body, self.buf = self.buf, b""
        return r

    def closed(self, timeout=3.0):
        """True when the gateway closes the connection (nothing else comes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def req(method, path, token=None, headers=(), body=None, chunked=False, version="HTTP/1.1",
        host=True):
    h = []
    if host:
        h.append(("Host", "127.0.0.1:%d" % gw.port))
    if token:
        h.append(("Authorization", "Bearer " + token))
    h += list(headers)
    data = b""
    if body is not None:
        if chunked:
            h.append(("Transfer-Encoding", "chunked"))
            pieces = [body[i:i + 7] for i in range(0, len(body), 7)]
            data = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
        else:
            h.append(("Content-Length", str(len(body))))
            data = body
    head = "%s %s %s\r\n" % (method, path, version)
    head += "".join("%s: %s\r\n" % kv for kv in h) + "\r\n"
    return head.encode("latin-1") + data


def upstream_over(idx, n0, want):
    """Problems list unless the backend got exactly want requests since n0,
    all on its connection idx, and no connection after it. Call it once the
    gateway has closed the client: it closes its upstream side then, so
    when connection idx has ended every request it carried is counted."""
    p = []
    if not hb.wait_ended(idx):
        p.append("upstream connection %d still open 5s after the client was closed" % idx)
    p += no_new_conn(hb, idx + 1)
    got = [(r.conn, r.request_line) for r in hb.requests[n0:]]
    if len(got) != want or any(i != idx for i, _ in got):
        p.append("the backend got %r, expected %d request(s) on connection %d" % (got, want, idx))
    return p


def hdr(echo, name):
    for n, v in echo["headers"]:
        if n.lower() == name.lower():
            return v
    return None


def hdr_all(echo, name):
    return [v for n, v in echo["headers"] if n.lower() == name.lower()]


def exchange(data, head_request=False, timeout=5.0):
    c = Conn(timeout)
    c.send(data)
    try:
        r = c.response(head_request)
    except (EOFError, OSError) as e:
        r = None
        ok(False, "exchange: no response (%r)" % (e,))
    return c, r


# ---------------------------------------------------------------- GET and identity
before = hb.nconn
c, r = exchange(req("GET", "/echo?a=1&access_token=" + CAROL, token=ALICE,
                    headers=[("X-Auth-Sub", "mallory"), ("X-Auth-Roles", "admin"),
                             ("X-Forwarded-For", "10.9.8.7"), ("Cookie", "a=1; access_token=x")]))
e = r.json() if r else None
check("GET with a bearer token: 200 with the backend's body",
      [] if r and r.status == 200 and e and e["method"] == "GET" else ["got %r" % (r,)])
if e:
    is_(hdr_all(e, "X-Auth-Sub"), ["alice"], "identity header from the token, the spoofed one removed")
    is_(hdr_all(e, "X-Auth-Roles"), ["user"], "spoofed X-Auth-Roles replaced by the claim")
    is_(hdr(e, "Authorization"), None, "Authorization stripped before the backend")
    is_(e["target"], "/echo?a=1", "token query parameter stripped from the target")
    is_(hdr(e, "Cookie"), "a=1", "token cookie stripped, other cookies kept")
    is_(hdr(e, "X-Forwarded-For"), "10.9.8.7, 127.0.0.1", "X-Forwarded-For appended to")
    is_(hdr(e, "X-Forwarded-Proto"), "http", "X-Forwarded-Proto set")
    is_(hdr(e, "Host"), "127.0.0.1:%d" % gw.port, "Host passed through")
    is_(hdr(e, "Connection"), None, "no Connection header forwarded on keep-alive")
ok(r is not None and r.header("Keep-Alive") is None and r.header("Connection") is None,
   "backend's Keep-Alive header not relayed, no Connection: close", repr(r))
c.close()
is_(hb.nconn - before, 1, "one upstream connection for one request")

# ---------------------------------------------------------------- bodies
body = b"hello, " * 1000 + b"end"
c, r = exchange(req("POST", "/echo", token=ALICE, body=body))
e = r.json() if r else None
check("POST with Content-Length: the body reaches the backend intact",
      [] if e and e["body"].encode("latin-1") == body and e["framing"] == "length"
      else ["got %r" % (r,)])
c.close()

c, r = exchange(req("POST", "/echo", token=ALICE, body=body, chunked=True))
e = r.json() if r else None
check("POST chunked: the body reaches the backend chunked and intact",
      [] if e and e["body"].encode("latin-1") == body and e["framing"] == "chunked"
      else ["got %r" % (r,)])
c.close()

raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n"
       b"5;name=\"v\"\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Auth-Sub: mallory\r\nX-T: 1\r\n\r\n" % ALICE.encode())
n0 = len(hb.requests)
c, r = exchange(raw)
e = r.json() if r else None
check("chunk extensions accepted and dropped, trailers dropped",
      [] if e and e["body"] == "hello world" else ["got %r" % (r,)])
if hb.wait_requests(n0 + 1):
    rb = hb.requests[n0].raw_body
    is_(rb, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "the backend got bare chunk-size lines and no trailer")
c.close()

c = Conn()
chunks = []
c.send(req("POST", "/chunked", token=ALICE, body=b"xyz"))
r = c.response(chunks=chunks)
e = r.json()
check("chunked response relayed and decodable",
      [] if r.status == 200 and e and e["body"] == "xyz" and r.header("Transfer-Encoding") == "chunked"
      else ["got %r" % (r,)])
ok(all(b";" not in ch for ch in chunks), "response chunk-size lines re-emitted bare", repr(chunks))
c.send(req("GET", "/echo", token=ALICE))
r2 = c.response()
ok(r2.status == 200, "keep-alive after a chunked response with a trailer")
c.close()

c, r = exchange(req("GET", "/big/3000000", token=ALICE), timeout=20)
ok(r is not None and r.status == 200 and len(r.body) == 3000000 and
   r.body[:512] == bytes(range(256)) * 2, "3 MB response body relayed intact (backpressure)",
   "got %d bytes" % (len(r.body) if r else -1))
c.close()

big = os.urandom(2500000)
c, r = exchange(req("PUT", "/echo", token=ALICE, body=big), timeout=20)
e = r.json() if r else None
ok(e is not None and e["body"].encode("latin-1") == big, "2.5 MB request body streamed intact")
c.close()

# ---------------------------------------------------------------- HEAD, 204, 304
c = Conn()
c.send(req("HEAD", "/echo", token=ALICE))
r = c.response(head_request=True)
ok(r.status == 200 and int(r.header("Content-Length")) > 0, "HEAD: 200 with the GET's Content-Length")
c.send(req("GET", "/status/204", token=ALICE))
r = c.response()
ok(r.status == 204 and r.header("X-Status") == "204", "204 relayed without a body")
c.send(req("GET", "/status/304", token=ALICE))
r = c.response()
ok(r.status == 304, "304 relayed without a body (Content-Length ignored)")
c.send(req("GET", "/echo", token=ALICE))
r = c.response()
ok(r.status == 200 and r.json() is not None and c.buf == b"",
   "after HEAD, 204 and 304 the connection is still in step", repr(r))
c.close()

# ---------------------------------------------------------------- 100-continue
c = Conn()
c.send(req("POST", "/continue", token=ALICE, headers=[("Expect", "100-continue"),
                                                       ("Content-Length", "4")]))
try:
    r = c.response()
    ok(r.status == 100, "Expect: 100-continue: the backend's 100 Continue reaches the client", repr(r))
    c.send(b"ping")
    r = c.response()
    e = r.json()
    ok(r.status == 200 and e and e["body"] == "ping" and hdr(e, "Expect") == "100-continue",
       "Expect: 100-continue: body sent after the 100, final response relayed", repr(r))
except (EOFError, OSError) as ex:
    ok(False, "100-continue exchange failed: %r" % (ex,))
    ok(False, "100-continue final response")
c.close()

# ---------------------------------------------------------------- keep-alive
before = hb.nconn
n0 = len(hb.requests)
c = Conn()
subs = []
for tok in (ALICE, BOB, CAROL):
    c.send(req("GET", "/echo", token=tok))
    r = c.response()
    e = r.json()
    subs.append(hdr(e, "X-Auth-Sub") if e else None)
is_(subs, ["alice", "bob", "carol"], "keep-alive: three requests, each admitted with its own token")
is_(hb.nconn - before, 1, "keep-alive: the three requests share one upstream connection")
c.send(req("GET", "/echo"))
r = c.response()
ok(r.status == 401 and r.header("Connection") == "close" and
   r.header("WWW-Authenticate") == 'Bearer realm="wsgate"',
   "keep-alive: a request without a token in the middle gets 401, Connection: close", repr(r))
ok(c.closed(), "keep-alive: the gateway closes after the 401")
check("keep-alive: the unauthenticated request never reached the backend",
      upstream_over(before, n0, 3))
c.close()

before, n0 = hb.nconn, len(hb.requests)
c = Conn()
c.send(req("GET", "/admin/x", token=BOB))
r1 = c.response()
c.send(req("GET", "/admin/x", token=ALICE))
r2 = c.response()
p = [] if r1.status == 200 else ["first response %r" % (r1,)]
e2 = r2.json() or {}
if r2.status != 403 or e2.get("error") != "insufficient_scope" or r2.header("Connection") != "close":
    p.append("second response %r" % (r2,))
if not c.closed():
    p.append("the gateway did not close after the 403")
check("keep-alive: route claims checked per request (admin then non-admin -> 403 "
      "insufficient_scope, close), the refused request never upstream", p + upstream_over(before, n0, 1))
c.close()

# pipelining: three requests in one write, answered in order
c = Conn()
c.send(req("GET", "/echo?n=1", token=ALICE) + req("POST", "/echo?n=2", token=BOB, body=b"two")
       + req("GET", "/sleep/100?n=3", token=CAROL))
got = []
for _ in range(3):
    e = c.response().json()
    got.append((e["target"], hdr(e, "X-Auth-Sub"), e["body"]))
is_(got, [("/echo?n=1", "alice", ""), ("/echo?n=2", "bob", "two"), ("/sleep/100?n=3", "carol", "")],
    "pipelined requests answered in order, each with its own identity")
c.close()

# keep-alive timeout
c = Conn()
c.send(req("GET", "/echo", token=ALICE))
c.response()
t0 = time.monotonic()
closed = c.closed(5)
el = time.monotonic() - t0
ok(closed and 1.0 < el < 3.5, "idle keep-alive connection closed after keepalive_timeout", "%.2fs" % el)
c.close()

# ---------------------------------------------------------------- Connection: close
n0 = len(hb.requests)
c = Conn()
c.send(req("GET", "/echo", token=ALICE, headers=[("Connection", "close")]))
r = c.response()
ok(r.status == 200 and r.header("Connection") == "close", "client Connection: close answered with close")
ok(c.closed(), "client Connection: close: the gateway closes after the response")
e = r.json()
is_(hdr(e, "Connection") if e else None, "close", "client Connection: close forwarded to the backend")
c.close()

before = hb.nconn
c = Conn()
c.send(req("GET", "/connclose", token=ALICE))
r = c.response()
ok(r.status == 200 and r.header("Connection") is None,
   "backend Connection: close is not relayed: the client connection stays open")
c.send(req("GET", "/echo", token=ALICE))
r = c.response()
ok(r.status == 200 and hb.nconn - before == 2, "after a backend close the next request uses a new upstream",
   "connections: %d" % (hb.nconn - before))
c.close()

before = hb.nconn
c = Conn()
c.send(req("GET", "/closeafter", token=ALICE))
c.response()
# The backend has closed its side once its connection is over.
ok(hb.wait_ended(before), "the backend closes the kept-alive connection after /closeafter")
c.send(req("GET", "/echo", token=ALICE))
r = c.response()
ok(r.status == 200 and hb.nconn - before == 2,
   "a kept-alive upstream that closed silently is replaced transparently",
   "status %r, upstream connections %d" % (r.status, hb.nconn - before))
c.close()

c = Conn()
c.send(req("GET", "/closebody", token=ALICE))
r = c.response()
ok(r.status == 200 and r.body == b"until-close body" and r.header("Connection") == "close",
   "close-delimited response relayed with Connection: close", repr(r))
c.close()

c = Conn()
c.send(req("GET", "/echo", token=ALICE, version="HTTP/1.0"))
r = c.response()
e = r.json()
ok(r.status == 200 and e and e["target"] == "/echo" and c.closed(),
   "HTTP/1.0 request proxied, then the connection closes")
c.close()

c, r = exchange(req("GET", "/echo", token=ALICE, headers=[("Upgrade", "h2c"),
                                                         ("Connection", "Upgrade, HTTP2-Settings"),
                                                         ("HTTP2-Settings", "AAMAAABkAARAAAAA")]))
e = r.json() if r else None
ok(e and hdr(e, "Upgrade") is None and hdr(e, "HTTP2-Settings") is None and hdr(e, "Connection") is None,
   "Upgrade: h2c request proxied plain, hop-by-hop headers removed", repr(e))
c.close()

c, r = exchange(req("GET", "/echo", token=ALICE, headers=[("Connection", "Content-Length, X-Drop"),
                                                         ("X-Drop", "1")], body=b"abc"))
e = r.json() if r else None
ok(e and e["body"] == "abc" and hdr(e, "Content-Length") == "3" and hdr(e, "X-Drop") is None,
   "Connection cannot drop Content-Length; other named fields are dropped", repr(e))
c.close()

# ---------------------------------------------------------------- rejections
def rejected(name, data, status, error, keep=None):
    before = hb.nconn
    n0 = len(hb.requests)
    c = Conn()
    c.send(data)
    try:
        r = c.response()
    except (EOFError, OSError):
        r = None
    p = []
    if r is None or r.status != status:
        p.append("expected %d, got %r" % (status, r))
    else:
        e = r.json()
        if not e or e.get("error") != error:
            p.append("error %r, expected %r" % (e, error))
        if r.header("Connection") != "close":
            p.append("no Connection: close")
        if not c.closed():
            p.append("connection not closed")
    p += no_new_request(hb, before, n0)
    c.close()
    return check(name, p)


T = ALICE.encode()
rejected("no token -> 401", req("GET", "/echo"), 401, "missing_token")
rejected("bad Origin -> 403", req("GET", "/echo", token=ALICE, headers=[("Origin", "http://evil.test")]),
         403, "origin_not_allowed")
rejected("plain GET on a route without plain_http -> 400", req("GET", "/noplain", token=ALICE),
         400, "bad_request")
rejected("CL and TE -> 400", b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
         b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % T, 400, "bad_request")
rejected("TE: chunked, identity -> 400", b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
         b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" % T, 400, "bad_request")
rejected("two TE headers -> 400", b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
         b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % T, 400, "bad_request")
rejected("two Content-Length -> 400", b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
         b"Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd" % T, 400, "bad_request")
rejected("Content-Length: +3 -> 400", b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
         b"Content-Length: +3\r\n\r\nabc" % T, 400, "bad_request")
rejected("Transfer-Encoding : chunked -> 400", b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
         b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" % T, 400, "bad_request")
rejected("obs-fold TE -> 400", b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
         b"X: y\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % T, 400, "bad_request")
rejected("TE in HTTP/1.0 -> 400", b"POST /echo HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % T, 400, "bad_request")
rejected("bare LF -> 400", b"GET /echo HTTP/1.1\r\nHost: x\nAuthorization: Bearer %s\r\n\r\n" % T,
         400, "bad_request")

# a smuggling shape as the second request of a kept-alive connection
before = hb.nconn
n0 = len(hb.requests)
c = Conn()
c.send(req("GET", "/echo", token=ALICE))
r1 = c.response()
c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: 4\r\n"
       b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo HTTP/1.1\r\nHost: x\r\n\r\n" % T)
r2 = c.response()
ok(r1.status == 200 and r2.status == 400 and c.closed(), "a smuggling shape on a kept-alive connection: 400, close",
   "%r %r" % (r1, r2))
check("a smuggling shape on a kept-alive connection: nothing more upstream", upstream_over(before, n0, 1))
c.close()

c = Conn()
c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n"
       b"3\r\nabc\r\nzz\r\n" % T)
r = c.response()
ok(r.status == 400 and r.json() and r.json()["error"] == "bad_request" and c.closed(),
   "malformed chunk size in the request body -> 400 and close", repr(r))
c.close()
c = Conn()
c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n"
       b"3\r\nabcX\r\n0\r\n\r\n" % T)
r = c.response()
ok(r.status == 400 and c.closed(), "chunk data not followed by CRLF -> 400 and close", repr(r))
c.close()
c = Conn()
c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTransfer-Encoding: chunked\r\n\r\n"
       b"-3\r\nabc\r\n0\r\n\r\n" % T)
r = c.response()
ok(r.status == 400 and c.closed(), "negative chunk size -> 400", repr(r))
c.close()

c, r = exchange(req("GET", "/bothclte", token=ALICE))
ok(r is not None and r.status == 502 and r.json()["error"] == "bad_gateway" and c.closed(),
   "a response with both Content-Length and Transfer-Encoding -> 502", repr(r))
c.close()
c = Conn()
c.send(req("GET", "/badchunk", token=ALICE))
closed = c.closed()
ok(closed and c.buf.startswith(b"HTTP/1.1 200") and c.buf.endswith(b"5\r\nhello\r\n"),
   "a malformed chunk in the response body: relayed up to the bad chunk, then closed", repr(c.buf))
c.close()

c, r = exchange(req("GET", "/sleep/3000", token=ALICE), timeout=10)
ok(r is not None and r.status == 504, "backend silent past upstream_read_timeout -> 504", repr(r))
c.close()

before, n0 = hb.nconn, len(hb.requests)
c = Conn()
c.send(b"GET /echo HTTP/1.1\r\nHost: x\r\n")
r = c.response()
p = [] if r.status == 408 and c.closed() else ["got %r" % (r,)]
check("request head not complete in handshake_timeout -> 408 and close, nothing upstream",
      p + no_new_request(hb, before, n0))
c.close()

# ---------------------------------------------------------------- upgrades still work
expect_101(gw, wsb, "a WebSocket upgrade on a plain_http route still works", path="/ws", token=ALICE)

# One client connection: a plain request, answered, then an upgrade on the
# same connection (to /ws, whose backend is the WebSocket one).
before, n0, nws = hb.nconn, len(hb.requests), wsb.nconn
c = gw.client()
p = []
try:
    c.send(req("GET", "/echo?first", token=ALICE))
    r = c.read_response(5.0)
    e = json.loads(r.body) if r is not None and r.status == 200 else None
    if not e or e["target"] != "/echo?first":
        p.append("the plain request got %r" % (r,))
    head, c.key = upgrade_head("/ws", host="127.0.0.1:%d" % gw.port,
                               headers=[("Authorization", "Bearer " + ALICE)])
    c.send(head)
    r = c.read_response(5.0)
    if r is None or r.status != 101 or r.header("Sec-WebSocket-Accept") != accept_key(c.key):
        p.append("the upgrade after it got %r" % (r,))
    else:
        c.send_text(b"after plain")
        m = c.recv_message(5.0)
        if m != (OP_TEXT, b"after plain"):
            p.append("echo after the upgrade: %r" % (m,))
except (Timeout, OSError, ValueError) as ex:
    p.append("exchange failed: %r" % (ex,))
c.close()
if wsb.nconn != nws + 1 or wsb.conns[nws].header("X-Auth-Sub") != "alice":
    p.append("the WebSocket backend saw %r" % (wsb.conns[nws:],))
if len(hb.requests) - n0 != 1 or hb.nconn - before != 1:
    p.append("the HTTP backend saw %d request(s) on %d connection(s)"
             % (len(hb.requests) - n0, hb.nconn - before))
check("plain request before an upgrade on the same connection: 200, then 101 and an echo", p)

# the access log has one line per request
log = gw.log()
ok(log.count('"path":"/echo?a=1&access_token=REDACTED"') == 1 and CAROL not in log,
   "access log: one line per request, token query value redacted")

done()
