#!/usr/bin/python3
# Browsers on another origin (SPEC §10, "cors on"): wsgate answers CORS
# preflights itself from the route's origins, with no token and no upstream
# connection, and puts its own CORS headers on the responses to admitted
# requests. Raw requests against the plain HTTP backend first (every
# preflight also asserts that the backend saw nothing), then headless
# Chromium: a page on one origin fetch()es the gateway on another with a
# bearer header and reads the JSON, and socket.io-client polls a real
# socket.io server (no CORS of its own) with the token in extraHeaders; a
# page on a foreign origin is refused and no backend hears of it.

import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import threading

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from httpbackend import HTTPBackend  # noqa: E402
from redistest import Proxy  # noqa: E402
from wsgatetest import (BASE_JWT, BIN, SRCDIR, TMP, Gateway, _backends, _procs, check, claims,  # noqa: E402
                        done, is_, main_conf, mint, no_new_conn, no_new_request, ok, reject_problems, run,
                        skip,
                        wait_for, write_file)

hb = HTTPBackend().start()
_backends.append(hb)

# The pages Chromium loads: one origin for the app (127.0.0.1:P), another
# for the foreign site (localhost:P is a different origin).


SIO_CLIENT = os.path.join(SRCDIR, "t", "interop", "node_modules", "socket.io-client", "dist",
                          "socket.io.min.js")


class Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ctype = "text/html"
        data = b"<!doctype html><title>cors</title><p>app</p>"
        if self.path == "/socket.io.min.js":
            ctype = "text/javascript"
            data = open(SIO_CLIENT, "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
threading.Thread(target=pages.serve_forever, daemon=True).start()
PAGE_PORT = pages.server_address[1]
APP = "http://app.test:8080"

ROUTES = """\
route /cors {
    upstream @HTTP@;
    plain_http on;
    cors on;
    origins "http://app.test:8080" "https://*.example.com" "http://127.0.0.1:@PAGE@";
    identity_header sub X-Auth-Sub;
}
route /echo {
    upstream @HTTP@;
    plain_http on;
    origins "http://app.test:8080";
}
route /public {
    upstream @HTTP@;
    plain_http on;
    cors on;
    auth off;
    origins "http://app.test:8080";
}
route /corsany {
    upstream @HTTP@;
    plain_http on;
    cors on;
    origins any;
}
route /socket.io/ {
    upstream @HTTP@;
    socketio on;
    cors on;
    origins "http://app.test:8080";
}
"""
conf = (main_conf(handshake_timeout="2s", keepalive_timeout="2s", upstream_read_timeout="2s")
        + BASE_JWT + ROUTES.replace("@HTTP@", hb.addr).replace("@PAGE@", str(PAGE_PORT)))
gw = Gateway(conf, name="cors")

ALICE = mint("RS256", claims_=claims(sub="alice", roles=["user"]))


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

    def all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

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

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError()
        self.buf += d

    def _until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def response(self, head_request=False):
        head = self._until(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = []
        for ln in lines[1:]:
            if ln:
                n, v = ln.split(":", 1)
                headers.append((n, v.strip()))
        r = Resp(int(lines[0].split(" ")[1]), headers, b"", head)
        cl = r.header("Content-Length")
        if r.status not in (204, 304) and cl is not None and not head_request:
            while len(self.buf) < int(cl):
                self._fill()
            r.body, self.buf = self.buf[:int(cl)], self.buf[int(cl):]
        return r

    def wait_eof(self, timeout=5.0):
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


def req(method, path, token=None, headers=(), body=None, version="HTTP/1.1"):
    h = [("Host", "127.0.0.1:%d" % gw.port)]
    if token:
        h.append(("Authorization", "Bearer " + token))
    h += list(headers)
    if body is not None:
        h.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, path, version)
    head += "".join("%s: %s\r\n" % kv for kv in h) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def preflight(path, origin=APP, method="PUT", req_headers="authorization, content-type",
              extra=(), version="HTTP/1.1"):
    h = []
    if origin is not None:
        h.append(("Origin", origin))
    if method is not None:
        h.append(("Access-Control-Request-Method", method))
    if req_headers is not None:
        h.append(("Access-Control-Request-Headers", req_headers))
    return req("OPTIONS", path, headers=h + list(extra), version=version)


def exchange(data, timeout=5.0, head_request=False):
    c = Conn(timeout)
    c.send(data)
    try:
        r = c.response(head_request)
    except (EOFError, OSError) as e:
        r = None
        ok(False, "exchange: no response (%r)" % (e,))
    return c, r


def snapshot():
    return hb.nconn, len(hb.requests)


def nothing_upstream(snap):
    return no_new_request(hb, snap[0], snap[1])


def preflight_problems(r, origin=APP, method="PUT", allow_headers="authorization, content-type"):
    """SPEC §10's 204: exactly these CORS headers, no body."""
    if r is None:
        return ["no response"]
    p = []
    if r.status != 204:
        p.append("status %r, expected 204 (%r)" % (r.status, r.raw_head[:300]))
    want = [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", method), ("Access-Control-Allow-Headers", allow_headers),
            ("Access-Control-Max-Age", "600"), ("Vary", "Origin")]
    for n, v in want:
        got = r.all(n)
        if got != ([] if v is None else [v]):
            p.append("%s %r, expected %r" % (n, got, v))
    if r.header("Content-Length") not in (None, "0") or r.header("Transfer-Encoding"):
        p.append("a 204 with a body: %r" % (r.raw_head,))
    return p


# ---------------------------------------------------------------- preflights answered
snap = snapshot()
c, r = exchange(preflight("/cors/items"))
p = preflight_problems(r)
ok(r is not None and r.header("Connection") is None, "preflight: the connection stays open (no close)",
   repr(r))
# The same connection carries a second preflight, then the real request.
c.send(preflight("/cors/items", method="DELETE", req_headers="authorization"))
r2 = c.response()
p += preflight_problems(r2, method="DELETE", allow_headers="authorization")
check("preflight from an allowed origin: 204 with the CORS headers, twice on one connection, "
      "the backend saw nothing", p + nothing_upstream(snap))
c.send(req("PUT", "/cors/items", token=ALICE, headers=[("Origin", APP)], body=b"{}"))
r3 = c.response()
e = r3.json() or {}
ok(r3.status == 200 and e.get("method") == "PUT" and
   [v for n, v in e.get("headers", []) if n.lower() == "x-auth-sub"] == ["alice"],
   "then the real request on the same connection: admitted with the token, reaches the backend",
   repr(r3))
c.close()
ok(len(hb.requests) == snap[1] + 1 and hb.requests[-1].method == "PUT",
   "the backend saw one request: the PUT, no OPTIONS", [q.request_line for q in hb.requests[snap[1]:]])

snap = snapshot()
c, r = exchange(preflight("/cors/x", origin="https://a.b.example.com", method="PATCH",
                          req_headers="x-requested-with"))
check("preflight from a wildcard origin: reflected, PATCH granted",
      preflight_problems(r, origin="https://a.b.example.com", method="PATCH",
                         allow_headers="x-requested-with") + nothing_upstream(snap))
c.close()

for m in ("GET", "HEAD", "POST"):
    snap = snapshot()
    c, r = exchange(preflight("/cors/x", method=m, req_headers=None))
    check("preflight for %s: granted, no Access-Control-Allow-Headers when none were asked" % m,
          preflight_problems(r, method=m, allow_headers=None) + nothing_upstream(snap))
    c.close()

for m in ("TRACE", "CONNECT", "OPTIONS", "put", "FOO", "PUT, DELETE", ""):
    snap = snapshot()
    c, r = exchange(preflight("/cors/x", method=m))
    check("preflight for %r: 204 without Access-Control-Allow-Methods (not a granted method)" % m,
          preflight_problems(r, method=None) + nothing_upstream(snap))
    c.close()

snap = snapshot()
c, r = exchange(preflight("/cors/x", extra=[("Access-Control-Request-Method", "GET")]))
check("preflight with two Access-Control-Request-Method fields: no method granted",
      preflight_problems(r, method=None) + nothing_upstream(snap))
c.close()

snap = snapshot()
c, r = exchange(preflight("/cors/x", req_headers="authorization",
                          extra=[("Access-Control-Request-Headers", "x-one,x-two")]))
check("Access-Control-Request-Headers over two fields: both lists granted",
      preflight_problems(r, allow_headers="authorization, x-one,x-two") + nothing_upstream(snap))
c.close()

# ---------------------------------------------------------------- what is never reflected
for bad in ("authorization, x-a b", 'x-"quoted"', "x-a;b=1", "x-a\tb", "x(y)",
            "authorization,\x80"):
    snap = snapshot()
    c, r = exchange(preflight("/cors/x", req_headers=bad))
    p = preflight_problems(r, allow_headers=None)
    if r is not None and any(bad.split(",")[-1].strip() in v for _, v in r.headers):
        p.append("the bad list is in the answer: %r" % (r.raw_head,))
    check("requested headers %r: not all tokens, so no Access-Control-Allow-Headers" % bad,
          p + nothing_upstream(snap))
    c.close()

snap = snapshot()
c, r = exchange(preflight("/cors/x", req_headers=" , authorization ,, "))
check("empty list elements are skipped, the list goes back as the client sent it",
      preflight_problems(r, allow_headers=", authorization ,,") + nothing_upstream(snap))
c.close()

# A CR/LF inside the list is another header line of the request: the answer
# still carries only its own fields.
snap = snapshot()
c, r = exchange(preflight("/cors/x", req_headers="x-a\r\nSet-Cookie: stolen=1"))
p = preflight_problems(r, allow_headers="x-a")
if r is not None and (r.header("Set-Cookie") or b"stolen" in r.raw_head):
    p.append("the injected line came back: %r" % (r.raw_head,))
check("CR LF in Access-Control-Request-Headers splits nothing into the answer",
      p + nothing_upstream(snap))
c.close()

for raw, what in ((b"x-a\rSet-Cookie: s=1", "a bare CR"), (b"x-a\nSet-Cookie: s=1", "a bare LF"),
                  (b"x-a\x00b", "a NUL"), (b"x-\x7f", "a DEL")):
    snap = snapshot()
    data = (b"OPTIONS /cors/x HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: " + APP.encode() +
            b"\r\nAccess-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: " + raw +
            b"\r\n\r\n")
    c, r = exchange(data)
    p = reject_problems(c, r, 400, "bad_request")
    if r is not None and b"Set-Cookie" in r.raw_head:
        p.append("reflected: %r" % (r.raw_head,))
    check("%s in Access-Control-Request-Headers: 400, nothing reflected" % what, p + nothing_upstream(snap))
    c.close()

# ---------------------------------------------------------------- preflights refused
for origin in ("http://evil.test", "https://example.com", "http://app.test:8081", "null",
               "http://app.test:8080/"):
    snap = snapshot()
    c, r = exchange(preflight("/cors/x", origin=origin))
    p = reject_problems(c, r, 403, "origin_not_allowed")
    if r is not None and r.header("Access-Control-Allow-Origin"):
        p.append("CORS headers on the refusal: %r" % (r.raw_head,))
    check("preflight from %r: 403 origin_not_allowed, no CORS headers, nothing upstream" % origin,
          p + nothing_upstream(snap))
    c.close()

snap = snapshot()
c, r = exchange(preflight("/cors/x", extra=[("Origin", "http://evil.test")]))
check("preflight with two Origin fields: 403", reject_problems(c, r, 403, "origin_not_allowed")
      + nothing_upstream(snap))
c.close()

# origins any takes every origin a browser can send, and nothing else.
snap = snapshot()
c, r = exchange(preflight("/corsany/x", origin="https://anything.test:444"))
check("origins any: a preflight from any origin is answered, that origin reflected",
      preflight_problems(r, origin="https://anything.test:444") + nothing_upstream(snap))
c.close()
for origin in ("app.test", "http://a b", "http://x.test/path", "*"):
    snap = snapshot()
    c, r = exchange(preflight("/corsany/x", origin=origin))
    check("origins any: Origin %r is no origin, 403 and not reflected" % origin,
          reject_problems(c, r, 403, "origin_not_allowed") + nothing_upstream(snap))
    c.close()

# ---------------------------------------------------------------- not preflights
snap = snapshot()
c, r = exchange(req("OPTIONS", "/cors/x", headers=[("Origin", APP)]))
check("OPTIONS without Access-Control-Request-Method is no preflight: it needs a token (401)",
      reject_problems(c, r, 401, "missing_token") + nothing_upstream(snap))
c.close()
snap = snapshot()
c, r = exchange(req("OPTIONS", "/cors/x", headers=[("Access-Control-Request-Method", "PUT")]))
check("OPTIONS without Origin is no preflight: 401", reject_problems(c, r, 401, "missing_token")
      + nothing_upstream(snap))
c.close()
snap = snapshot()
c, r = exchange(req("GET", "/cors/x", headers=[("Origin", APP)]))
check("an ordinary request from an allowed origin still needs its token: 401",
      reject_problems(c, r, 401, "missing_token") + nothing_upstream(snap))
c.close()

# cors off (the default): a preflight is a request like any other.
snap = snapshot()
c, r = exchange(preflight("/echo/x"))
check("cors off: a preflight without a token is a 401, nothing upstream",
      reject_problems(c, r, 401, "missing_token") + nothing_upstream(snap))
c.close()
c, r = exchange(preflight("/echo/x", extra=[("Authorization", "Bearer " + ALICE)]))
ok(r is not None and r.status == 200 and (r.json() or {}).get("method") == "OPTIONS" and
   r.header("Access-Control-Allow-Origin") is None,
   "cors off: a preflight with a token goes to the backend, which answers it", repr(r))
c.close()

# ---------------------------------------------------------------- the body, pipelining, HTTP/1.0
snap = snapshot()
c = Conn()
c.send(preflight("/cors/x") + preflight("/cors/y"))
r = c.response()
p = preflight_problems(r)
if r.header("Connection") != "close":
    p.append("pipelined preflights: the first answer should close, got %r" % (r.raw_head,))
if not c.wait_eof():
    p.append("the connection stayed open")
elif c.buf:
    p.append("more came after the closing answer: %r" % (c.buf[:200],))
check("pipelined preflights: the first is answered with Connection: close, then the gateway closes",
      p + nothing_upstream(snap))
c.close()

snap = snapshot()
c = Conn()
c.send(req("OPTIONS", "/cors/x", body=b"hello",
           headers=[("Origin", APP), ("Access-Control-Request-Method", "PUT")]))
r = c.response()
p = preflight_problems(r, allow_headers=None)
if r.header("Connection") != "close" or not c.wait_eof():
    p.append("a preflight with a body should be answered, then closed: %r" % (r.raw_head,))
check("a preflight with a body: 204, Connection: close, closed", p + nothing_upstream(snap))
c.close()

for version, extra in (("HTTP/1.0", ()), ("HTTP/1.1", [("Connection", "close")])):
    snap = snapshot()
    c = Conn()
    c.send(preflight("/cors/x", version=version, extra=extra))
    r = c.response()
    p = preflight_problems(r)
    if r.header("Connection") != "close" or not c.wait_eof():
        p.append("not closed: %r" % (r.raw_head,))
    check("preflight over %s %s: answered, then closed" % (version, extra and "with Connection: close"),
          p + nothing_upstream(snap))
    c.close()

# ---------------------------------------------------------------- socket.io polling, auth off
snap = snapshot()
c, r = exchange(preflight("/socket.io/?EIO=4&transport=polling&t=abc", req_headers="authorization"))
check("socketio route: the polling preflight is answered, no token, nothing upstream",
      preflight_problems(r, allow_headers="authorization") + nothing_upstream(snap))
c.close()
snap = snapshot()
c, r = exchange(preflight("/socket.io/?transport=polling", req_headers="authorization"))
check("socketio route: a preflight without EIO=4 is still a 400 (the query rules come first)",
      reject_problems(c, r, 400, "bad_request") + nothing_upstream(snap))
c.close()

snap = snapshot()
c, r = exchange(preflight("/public/x"))
check("auth off route: the preflight is answered too", preflight_problems(r) + nothing_upstream(snap))
c.close()

# ---------------------------------------------------------------- responses to admitted requests
c, r = exchange(req("GET", "/cors/data", token=ALICE, headers=[("Origin", APP)]))
p = []
if r is None or r.status != 200:
    p.append("got %r" % (r,))
else:
    for n, v in (("Access-Control-Allow-Origin", [APP]), ("Access-Control-Allow-Credentials", ["true"]),
                 ("Vary", ["Accept-Encoding, Origin"]),
                 ("Access-Control-Expose-Headers", ["X-Backend"]), ("X-Backend", ["yes"])):
        if r.all(n) != v:
            p.append("%s %r, expected %r" % (n, r.all(n), v))
check("admitted request from an allowed origin: our Allow-Origin and Allow-Credentials replace "
      "the backend's, Origin joins its Vary, its other headers stay", p)
c.close()

c, r = exchange(req("GET", "/cors/data", token=ALICE))
ok(r is not None and r.status == 200 and r.all("Access-Control-Allow-Origin") == ["*"] and
   r.all("Access-Control-Allow-Credentials") == ["false"] and r.all("Vary") == ["Accept-Encoding"],
   "admitted request without Origin: the backend's headers as sent", repr(r))
c.close()

c, r = exchange(req("GET", "/public/data", headers=[("Origin", "http://app.test:8080")]))
ok(r is not None and r.status == 200 and r.all("Access-Control-Allow-Origin") == [APP] and
   r.all("Vary") == ["Origin"],
   "auth off route: CORS headers on the response, Vary: Origin alone (the backend sent none)", repr(r))
c.close()

c, r = exchange(req("GET", "/echo/data", token=ALICE, headers=[("Origin", APP)]))
ok(r is not None and r.status == 200 and r.header("Access-Control-Allow-Origin") is None,
   "cors off: no CORS headers added", repr(r))
c.close()

c, r = exchange(req("HEAD", "/cors/data", token=ALICE, headers=[("Origin", "https://x.example.com")]),
                head_request=True)
ok(r is not None and r.status == 200 and r.all("Access-Control-Allow-Origin") == ["https://x.example.com"],
   "HEAD: the CORS headers too", repr(r))
c.close()

# ---------------------------------------------------------------- the access log
log = gw.log()
ok('"status":204' in log and '"reason":"cors_preflight"' in log,
   "access log: preflights are logged with status 204, reason cors_preflight")

# ---------------------------------------------------------------- configuration
TCONF = main_conf(listen="127.0.0.1:%d" % gw.port)
write_file("nop.conf", TCONF + BASE_JWT.replace("@KEYS@", os.path.join(SRCDIR, "t", "keys"))
           + "route / {\n    upstream 127.0.0.1:1;\n    cors on;\n}\n")
rc = run([BIN, "-t", "-c", os.path.join(TMP, "nop.conf")])
ok(rc[0] == 1 and 'route "/": "cors on" needs "plain_http on"' in rc[2],
   "-t refuses cors on without plain_http on, with the route", rc)
write_file("sio.conf", TCONF + BASE_JWT.replace("@KEYS@", os.path.join(SRCDIR, "t", "keys"))
           + "route / {\n    upstream 127.0.0.1:1;\n    socketio on;\n    cors on;\n}\n")
rc = run([BIN, "-t", "-c", os.path.join(TMP, "sio.conf")])
ok(rc[0] == 0, "-t takes cors on with socketio on (which implies plain_http)", rc)
write_file("bad.conf", TCONF + BASE_JWT.replace("@KEYS@", os.path.join(SRCDIR, "t", "keys"))
           + "route / {\n    upstream 127.0.0.1:1;\n    plain_http on;\n    cors yes;\n}\n")
rc = run([BIN, "-t", "-c", os.path.join(TMP, "bad.conf")])
BADLINE = (TCONF + BASE_JWT).count("\n") + 4
ok(rc[0] == 1 and ':%d: invalid value "yes" for "cors"' % BADLINE in rc[2], "-t refuses cors yes, with the line", rc)

# ---------------------------------------------------------------- headless Chromium
INTEROP = os.path.join(SRCDIR, "t", "interop")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which(os.environ.get("NODE", "node"))
missing = None
if not NODE:
    missing = "node not installed"
elif not os.path.isdir(os.path.join(INTEROP, "node_modules", "playwright-core")):
    missing = "t/interop/node_modules missing (bash contrib/install-deps.sh --test)"
elif not os.path.exists(CHROMIUM):
    missing = "%s not installed" % CHROMIUM
MODS = os.path.join(SRCDIR, "contrib", "examples", "nestjs-chat", "node_modules")
if not missing and not os.path.isdir(os.path.join(MODS, "socket.io")):
    missing = "contrib/examples/nestjs-chat/node_modules missing (bash contrib/install-deps.sh --test)"


def browser(cases):
    p = subprocess.run([NODE, "cors.mjs"], cwd=INTEROP, capture_output=True, timeout=120,
                       env=dict(os.environ, CORS_CASES=json.dumps(cases), CHROMIUM=CHROMIUM))
    out = [json.loads(ln) for ln in p.stdout.decode().splitlines() if ln.startswith("{")]
    if not ok(p.returncode == 0 and len(out) == len(cases), "chromium ran every case",
              (p.stdout + p.stderr).decode("utf-8", "replace")[-3000:]):
        out += [{}] * (len(cases) - len(out))
    return out


if missing:
    for n in ("chromium ran every case", "chromium, app origin: GET with a bearer header",
              "chromium, app origin: PUT with a JSON body", "chromium: no preflight reached the backend",
              "chromium, foreign origin: refused", "chromium, foreign origin: the backend saw nothing",
              "chromium, socket.io polling with extraHeaders: connected",
              "chromium, socket.io: the backend saw the identity",
              "chromium, socket.io from a foreign origin: refused, the backend saw nothing"):
        skip(n, missing)
else:
    GWURL = "http://127.0.0.1:%d" % gw.port
    APP_PAGE = "http://127.0.0.1:%d/app.html" % PAGE_PORT
    BROWSER = mint("RS256", claims_=claims(sub="browser-user"))
    snap = snapshot()
    res = browser([
        {"page": APP_PAGE, "url": GWURL + "/cors/me", "token": BROWSER, "method": "GET"},
        {"page": APP_PAGE, "url": GWURL + "/cors/items", "token": BROWSER, "method": "PUT",
         "body": {"name": "widget"}},
    ])
    g = res[0].get("json") or {}
    ok(res[0].get("status") == 200 and g.get("method") == "GET" and
       [v for n, v in g.get("headers", []) if n.lower() == "x-auth-sub"] == ["browser-user"] and
       res[0].get("exposed") == "yes",
       "chromium, app origin: GET with a bearer header and credentials: 'include', the page reads the "
       "backend's JSON (and the header it exposes)", res[0])
    u = res[1].get("json") or {}
    ok(res[1].get("status") == 200 and u.get("method") == "PUT" and u.get("body") == '{"name":"widget"}',
       "chromium, app origin: PUT with a JSON body, read back", res[1])
    got = [q.request_line.split(" ")[0] for q in hb.requests[snap[1]:]]
    is_(got, ["GET", "PUT"], "chromium: no preflight reached the backend, only the two requests")

    snap = snapshot()
    foreign = "http://localhost:%d/app.html" % PAGE_PORT
    res = browser([{"page": foreign, "url": GWURL + "/cors/me", "token": BROWSER, "method": "GET"}])
    ok("error" in res[0] and "json" not in res[0], "chromium, foreign origin: refused, the page reads nothing",
       res[0])
    check("chromium, foreign origin: the backend saw nothing", nothing_upstream(snap))

    # socket.io polling from the page, the token in extraHeaders, against
    # a real socket.io 4 server that knows nothing of CORS.
    sio_log = os.path.join(TMP, "siobackend.log")
    sio = subprocess.Popen([NODE, os.path.join(SRCDIR, "t", "lib", "siobackend.js"), MODS],
                           stdout=open(sio_log, "wb"), stderr=open(sio_log + ".err", "wb"),
                           stdin=subprocess.DEVNULL)
    _procs.append(sio)

    def sio_events(ev):
        out = []
        for ln in open(sio_log).read().splitlines():
            try:
                e = json.loads(ln)
            except ValueError:
                continue
            if e.get("ev") == ev:
                out.append(e)
        return out

    sio_port = wait_for(lambda: next((e["port"] for e in sio_events("listening")), None), 20, 0.05)
    # Through a counting forwarder, so that a refusal can be shown to have
    # opened no connection to it.
    sio_px = Proxy(sio_port or 1)
    gw2 = Gateway(main_conf() + BASE_JWT + """\
route /socket.io/ {
    upstream %s;
    plain_http on;
    cors on;
    origins "http://127.0.0.1:%d";
    identity_header sub X-Auth-Sub;
}
""" % (sio_px.addr, PAGE_PORT), name="cors-sio")
    sio_page = "http://127.0.0.1:%d/socket.io.min.js" % PAGE_PORT
    res = browser([{"page": APP_PAGE, "url": "http://127.0.0.1:%d" % gw2.port, "token": BROWSER,
                    "sio": sio_page}])
    ok(res[0].get("welcome") is not None and res[0].get("transport") == "polling",
       "chromium, socket.io polling with extraHeaders from another origin: connected, welcome read",
       res[0])
    ok([e.get("sub") for e in sio_events("nsp")] == ["browser-user"],
       "chromium, socket.io: the backend saw one connection, with the identity from the token",
       sio_events("nsp"))
    n_px = sio_px.nconn
    res = browser([{"page": "http://localhost:%d/app.html" % PAGE_PORT,
                    "url": "http://127.0.0.1:%d" % gw2.port, "token": BROWSER,
                    "sio": "http://localhost:%d/socket.io.min.js" % PAGE_PORT}])
    check("chromium, socket.io from a foreign origin: refused by the Origin check, the backend saw nothing",
          ([] if "error" in res[0] else ["not refused: %r" % (res[0],)])
          + ([] if '"reason":"origin_not_allowed"' in gw2.log() else ["no origin_not_allowed in the log"])
          + no_new_conn(sio_px, n_px))

pages.shutdown()
done()
