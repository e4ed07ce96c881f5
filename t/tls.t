#!/usr/bin/python3
# TLS (SPEC §8): "listen ... tls" with tls_certificate/tls_certificate_key
# (TLS 1.2+, ALPN, X-Forwarded-Proto https, failed handshakes never reach
# admission, the certificate reloaded on SIGHUP while live sessions go on),
# tls:// upstreams verified against upstream_ca_file or the system trust
# store, with SNI and hostname checks (a refused certificate is a failed
# connect: next upstream, then 502), and wsgate -t on broken TLS files.
# Every certificate is generated at test time with the openssl CLI.

import os
import re
import select
import shutil
import signal
import socket
import ssl
import sys
import threading
import time
import urllib.request

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BIN, OP_BINARY, OP_TEXT, TMP, Frame, Gateway, Timeout, WSClient,  # noqa: E402
                        bail, check, claims, done, expect_101, expect_reject, free_port,
                        main_conf, mint, no_new_conn, ok, reject_problems, run, start_backend, std_conf, subst,
                        upgrade, wait_for, write_file, _backends)
from wsclient import encode_frame, parse_frame, upgrade_head  # noqa: E402
from tlstest import PKI, TLSBackend, TLSWSClient, client_context  # noqa: E402

# ---------------------------------------------------------------- fixtures
pki = PKI(os.path.join(TMP, "pki"))
try:
    pki.ca("ca", "wsgate test CA")
    pki.ca("ca2", "another CA")
    SERIAL1 = pki.leaf("server", "ca")
    SERIAL2 = pki.leaf("server2", "ca", cn="localhost (renewed)")
    pki.leaf("wrong", "ca", cn="wrong.example", dns=("wrong.example",), ips=())
    pki.leaf("other", "ca2")
except (OSError, RuntimeError) as e:
    bail("cannot generate the test certificates: %s" % e)
CA = pki.path("ca.pem")
W_MISSING = 'Bearer realm="wsgate"'

# The gateway's certificate files are copies, replaced for the reload test.
GW_CRT = os.path.join(TMP, "gw.crt")
GW_KEY = os.path.join(TMP, "gw.key")
shutil.copy(pki.path("server.pem"), GW_CRT)
shutil.copy(pki.path("server.key"), GW_KEY)

TOK = mint("RS256", claims_=claims(exp=int(time.time()) + 3600))


def tls_backend(name, **kw):
    b = TLSBackend(pki.path(name + ".pem"), pki.path(name + ".key"), **kw).start()
    _backends.append(b)
    return b


be = start_backend()                  # plain backend behind the tls listener
tb = tls_backend("server")            # localhost + 127.0.0.1, signed by ca
tb_other = tls_backend("other")       # localhost, signed by ca2
tb_wrong = tls_backend("wrong")       # wrong.example, signed by ca

PLAIN = free_port()
STATUS = free_port()
ROUTES = """\
route / {
    upstream @BACKEND@;
    origins "http://localhost:8080";
    identity_header sub X-Auth-Sub;
}
route /tlsup {
    upstream tls://localhost:%(tb)d;
    upstream_ca_file %(ca)s;
    origins any;
    auth off;
}
route /tlsip {
    upstream tls://127.0.0.1:%(tb)d;
    upstream_ca_file %(ca)s;
    origins any;
    auth off;
}
route /defaultca {
    upstream tls://localhost:%(tb)d;
    origins any;
    auth off;
}
route /othersigned {
    upstream tls://localhost:%(other)d;
    upstream_ca_file %(ca)s;
    origins any;
    auth off;
}
route /wrongname {
    upstream tls://localhost:%(wrong)d;
    upstream_ca_file %(ca)s;
    origins any;
    auth off;
}
route /refused {
    upstream tls://localhost:%(closed)d;
    origins any;
    auth off;
}
route /failover {
    upstream tls://localhost:%(wrong)d tls://localhost:%(tb)d;
    upstream_ca_file %(ca)s;
    origins any;
    auth off;
}
""" % {"tb": tb.port, "other": tb_other.port, "wrong": tb_wrong.port, "ca": CA,
       "closed": free_port()}
MAIN = main_conf(listen="127.0.0.1:@PORT@ tls", max_message_size="2m") + """\
listen 127.0.0.1:%d;
tls_certificate %s;
tls_certificate_key %s;
upstream_ca_file %s;
status_listen 127.0.0.1:%d;
""" % (PLAIN, GW_CRT, GW_KEY, CA, STATUS)
CONF = std_conf(be.addr, routes=ROUTES, main=MAIN)


class View:
    """What wsgatetest's upgrade()/expect_* need of a gateway: a port and
    a client factory; one per listener."""

    def __init__(self, port, make):
        self.port = port
        self._make = make

    def client(self, timeout=5.0):
        return self._make(self.port, timeout)


class TLSGateway(Gateway):
    def client(self, timeout=5.0):
        return TLSWSClient(self.port, client_context(CA), timeout=timeout)


rc, out, err = run([BIN, "-t", "-c", write_file("check.conf", subst(CONF, PORT=1))])
ok(rc == 0 and "is ok" in out, "wsgate -t accepts the TLS configuration", "rc %d: %s%s" % (rc, out, err))

gw = TLSGateway(CONF, name="tls")
plain = View(PLAIN, lambda port, timeout: WSClient(port, timeout=timeout))
ok(wait_for(lambda: "listening on 127.0.0.1:%d (tls)" % gw.port in gw.log(), 5),
   "the tls listener is announced as such")


def tls_client(ctx=None, timeout=5.0):
    return TLSWSClient(gw.port, ctx or client_context(CA), timeout=timeout)


def recv(c, timeout=10.0):
    try:
        return c.recv_message(timeout)
    except Timeout:
        return "timeout"
    except OSError as e:
        return repr(e)


def desc(m):
    """A received message for a diagnostic, without megabytes of payload."""
    if isinstance(m, tuple) and isinstance(m[1], bytes):
        return "opcode %d, %d bytes" % (m[0], len(m[1]))
    return repr(m)


def log_since(mark, pattern, timeout=5.0):
    """The first new log line matching pattern (regex), or None."""
    def find():
        for ln in gw.log()[mark:].splitlines():
            if re.search(pattern, ln):
                return ln
        return None
    return wait_for(find, timeout)


# ---------------------------------------------------------------- tls listener
n = be.nconn
c, bc, resp = expect_101(gw, be, "TLS client through the tls listener: 101 and echo", close=False,
                         token=TOK)
if c is not None and resp is not None and resp.status == 101:
    data = os.urandom(1 << 20)
    c.send_binary(data)
    m = recv(c, 15.0)
    ok(m == (OP_BINARY, data), "a 1 MiB message over TLS is echoed intact",
       "got %s" % desc(m))
    ok(c.sock.version() in ("TLSv1.2", "TLSv1.3"), "TLS 1.2 or later was negotiated",
       "got %r" % c.sock.version())
    c.close()
else:
    ok(False, "a 1 MiB message over TLS is echoed intact")
    ok(False, "TLS 1.2 or later was negotiated")
ok(bc is not None and bc.header("X-Forwarded-Proto") == "https",
   "the backend sees X-Forwarded-Proto: https", "got %r" % (bc and bc.header("X-Forwarded-Proto")))
ok(bc is not None and bc.header("X-Forwarded-For") == "127.0.0.1",
   "the backend sees the client in X-Forwarded-For", "got %r" % (bc and bc.header("X-Forwarded-For")))

# The certificate the client saw is the configured one.
c = tls_client()
cert = c.peer_cert()
ok(int(cert.get("serialNumber", "0"), 16) == SERIAL1,
   "the client verified the configured certificate (serial, CA, name localhost)",
   "got %r" % cert)
c.close()

c = tls_client(client_context(CA, alpn=("h2", "http/1.1")))
ok(c.sock.selected_alpn_protocol() == "http/1.1", "ALPN: h2 and http/1.1 offered, http/1.1 chosen",
   "got %r" % c.sock.selected_alpn_protocol())
c.close()
try:
    c = tls_client(client_context(CA, alpn=("h2",)))
    ok(c.sock.selected_alpn_protocol() is None, "ALPN: only h2 offered, the handshake goes on without ALPN")
    c.close()
except (ssl.SSLError, OSError) as e:
    ok(False, "ALPN: only h2 offered, the handshake goes on without ALPN", repr(e))

c = tls_client(client_context(CA, version=ssl.TLSVersion.TLSv1_2))
ok(c.sock.version() == "TLSv1.2", "a TLS 1.2-only client is served")
c.close()

n = be.nconn
mark = len(gw.log())
try:
    c = tls_client(client_context(CA, version=ssl.TLSVersion.TLSv1_1))
    got = "handshake succeeded with %s" % c.sock.version()
    c.close()
except ssl.SSLError as e:
    got = e
except OSError as e:
    got = e
line = log_since(mark, r"TLS handshake failed")
ok(isinstance(got, ssl.SSLError) and "NO_PROTOCOLS_AVAILABLE" not in str(got) and line is not None
   and re.search(r"unsupported protocol|version", line, re.I),
   "a TLS 1.1-only client is refused by the gateway", "client: %r; log: %r" % (got, line))
ok(line is not None and " info " in line and "session" in line,
   "the failed handshake is logged at info with OpenSSL's reason", "log: %r" % line)
check("a failed handshake opens no upstream connection", no_new_conn(be, n))

expect_reject(gw, be, "no token over TLS -> 401 missing_token, no upstream connection", 401,
              "missing_token", www_auth=W_MISSING)
expect_reject(gw, be, "Origin not allowed over TLS -> 403", 403, "origin_not_allowed", token=TOK,
              headers=[("Origin", "https://evil.example")])

# A plain HTTP client on the TLS port: a failed handshake, nothing more.
n = be.nconn
mark = len(gw.log())
s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
s.settimeout(5)
reply = b""
try:
    while True:
        d = s.recv(4096)
        if not d:
            break
        reply += d
except (ConnectionResetError, BrokenPipeError):
    pass    # closed with our request unread
except (socket.timeout, OSError):
    reply = None
s.close()
line = log_since(mark, r"TLS handshake failed")
check("plain HTTP on the tls port: closed without an HTTP answer or upstream connection",
      ([] if reply is not None and b"HTTP/1.1" not in reply and line is not None
       else ["reply %r, log %r" % (reply, line)]) + no_new_conn(be, n))
ok(line is not None and "Authorization" not in line and "GET" not in line,
   "the failed handshake log line carries no request data", "log: %r" % line)

# A client that never starts its handshake is dropped at handshake_timeout (2s).
mark = len(gw.log())
s = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
t0 = time.monotonic()
try:
    d = s.recv(100)
except (socket.timeout, OSError):
    d = "timeout"
el = time.monotonic() - t0
s.close()
ok(d == b"" and 1.5 <= el <= 7, "a silent client is closed at handshake_timeout, without a 408",
   "got %r after %.2fs" % (d, el))
ok(log_since(mark, r"TLS handshake not complete in time") is not None,
   "the handshake timeout is logged")


def tls_rejects():
    """wsgate_handshakes_total{result="rejected"} of the two TLS reasons."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % STATUS, timeout=5) as r:
        text = r.read().decode()
    got = {}
    for reason in ("tls_handshake_failed", "tls_handshake_timeout"):
        m = re.search(r'^wsgate_handshakes_total\{result="rejected",reason="%s"\} (\d+)$' % reason,
                      text, re.M)
        got[reason] = int(m.group(1)) if m else None
    return got


# The TLS 1.1 client and the plain HTTP client above, the silent one here.
got = tls_rejects()
ok(got["tls_handshake_failed"] is not None and got["tls_handshake_failed"] >= 2,
   "failed TLS handshakes are counted in /metrics", "got %r" % got)
ok(got["tls_handshake_timeout"] == 1, "the TLS handshake timeout is counted in /metrics", "got %r" % got)

# Frames sent right behind the head arrive in the same TLS records; OpenSSL
# holds what did not fit under the head's read limit, and the gateway must
# still relay it once the 101 is in, though the client sends nothing more.
c = tls_client()
try:
    head, c.key = upgrade_head("/", host="127.0.0.1:%d" % gw.port,
                               headers=[("Authorization", "Bearer " + TOK)])
    early = [os.urandom(40000), os.urandom(70000)]
    c.send(head + b"".join(encode_frame(OP_BINARY, m) for m in early))
    resp = c.read_response(5.0)
    got = [recv(c, 5.0) for _ in early] if resp is not None and resp.status == 101 else [resp]
except (Timeout, OSError) as e:
    got = [repr(e)]
ok(got == [(OP_BINARY, m) for m in early], "frames sent with the head over TLS are relayed after the 101",
   "got %s" % ", ".join(desc(m) for m in got))
c.close()

# ---------------------------------------------------------------- tls upstreams
n = tb.nconn
c, bc, resp = expect_101(plain, tb, "plain listener to a tls:// upstream: 101 and echo", close=False,
                         path="/tlsup")
ok(bc is not None and getattr(bc, "sni", None) == "localhost", "the TLS backend got SNI localhost",
   "got %r" % getattr(bc, "sni", None))
ok(bc is not None and getattr(bc, "alpn", None) == "http/1.1", "the gateway offers ALPN http/1.1 upstream",
   "got %r" % getattr(bc, "alpn", None))
ok(bc is not None and bc.header("X-Forwarded-Proto") == "http",
   "a plain client is X-Forwarded-Proto: http", "got %r" % (bc and bc.header("X-Forwarded-Proto")))
if c is not None:
    data = os.urandom(1 << 20)
    try:
        c.send_binary(data)
        m = recv(c, 15.0)
    except OSError as e:
        m = repr(e)
    ok(m == (OP_BINARY, data), "a 1 MiB message through the TLS upstream is echoed intact",
       "got %s" % desc(m))
    c.close()

c, bc, resp = expect_101(plain, tb, "tls://127.0.0.1 verifies the certificate's IP address",
                         path="/tlsip")
ok(bc is not None and getattr(bc, "sni", "x") is None, "no SNI is sent for an IP address",
   "got %r" % getattr(bc, "sni", "x"))
expect_101(plain, tb, "a route without upstream_ca_file uses the main context's", path="/defaultca")


def expect_bad_gateway(name, path, bad, pattern):
    """502 bad_gateway, the backend got a TCP connection but never a
    request, and the reason is logged at warn."""
    n = bad.nconn
    mark = len(gw.log())
    try:
        c, resp = upgrade(plain, path=path)
    except (Timeout, OSError) as e:
        check(name, ["no response: %r" % e])
        return
    p = reject_problems(c, resp, 502, "bad_gateway")
    c.close()
    wait_for(lambda: bad.nconn > n and all(x.ended.is_set() for x in bad.conns[n:]), 5)
    if bad.nconn == n:
        p.append("the backend saw no connection attempt")
    for x in bad.conns[n:]:
        if x.head is not None:
            p.append("the backend received a request: %r" % x.request_line)
    line = log_since(mark, pattern)
    if line is None:
        p.append("no log line matching %r" % pattern)
    elif not re.search(r"\bwarn", line):
        p.append("not logged at warn: %r" % line)
    check(name, p)


expect_bad_gateway("a backend certificate from another CA -> 502, no request reaches it",
                   "/othersigned", tb_other,
                   r"upstream tls://localhost:\d+ connect failed: certificate verify failed: "
                   r"unable to get local issuer certificate")
expect_bad_gateway("a backend certificate for another name -> 502, no request reaches it",
                   "/wrongname", tb_wrong,
                   r"upstream tls://localhost:\d+ connect failed: certificate verify failed: "
                   r"hostname mismatch")
mark = len(gw.log())
expect_reject(plain, None, "a refused tls:// upstream -> 502", 502, "bad_gateway", path="/refused")
ok(log_since(mark, r"upstream tls://localhost:\d+ connect failed: Connection refused") is not None,
   "the refused connect is logged as such")
p = []
for i in range(3):
    try:
        c, resp = upgrade(plain, path="/failover")
        if resp is None or resp.status != 101:
            p.append("attempt %d: %r" % (i, resp))
        c.close()
    except (Timeout, OSError) as e:
        p.append("attempt %d: %r" % (i, e))
check("a refused certificate fails over to the next upstream", p)


# ---------------------------------------------------------------- both sides TLS
def bulk(c, n, size):
    """Sends n messages of size bytes while reading the echoes, on one
    thread: an SSL connection must never be used from two threads at once.
    Problems list."""
    msgs = [os.urandom(size) for _ in range(n)]
    out = memoryview(b"".join(encode_frame(OP_BINARY, m) for m in msgs))
    want = sum((2 if len(m) < 126 else 4 if len(m) < 65536 else 10) + len(m) for m in msgs)
    sock = c.sock
    got = bytearray(c.buf)
    c.buf.clear()
    sock.setblocking(False)
    dl = time.monotonic() + 30
    eof = False
    while len(got) < want and not eof and time.monotonic() < dl:
        if not sock.pending():
            select.select([sock], [sock] if out else [], [], 0.1)
        if out:
            try:
                out = out[sock.send(out[:65536]):]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        try:
            d = sock.recv(262144)
            if d:
                got += d
            else:
                eof = True
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except (OSError, ssl.SSLError):
            eof = True
    sock.settimeout(c.timeout)
    p = []
    if out:
        p.append("%d bytes left unsent" % len(out))
    for i, m in enumerate(msgs):
        f, used = parse_frame(got)
        if f is None:
            p.append("message %d: %s after %d of %d bytes" %
                     (i, "connection ended" if eof else "timeout", len(got), want))
            break
        del got[:used]
        if f.opcode != OP_BINARY or not f.fin or f.payload != m:
            p.append("message %d: %r" % (i, f))
            break
    return p


try:
    c, resp = upgrade(gw, path="/tlsup")
    ok(resp is not None and resp.status == 101, "TLS client to a TLS upstream: 101")
    check("8 MiB both ways through TLS on both sides, under backpressure", bulk(c, 8, 1 << 20))
    check("many small messages through TLS on both sides", bulk(c, 500, 1000))
    c.close()
except (Timeout, OSError, ssl.SSLError) as e:
    ok(False, "TLS client to a TLS upstream: 101", repr(e))

# Concurrent TLS sessions on both sides.
results = []


def one(i):
    try:
        c, resp = upgrade(gw, path="/tlsup", timeout=10)
        if resp is None or resp.status != 101:
            results.append("session %d: %r" % (i, resp))
            return
        p = bulk(c, 3, 100000 + i)
        results.extend("session %d: %s" % (i, x) for x in p)
        c.close()
    except (Timeout, OSError, ssl.SSLError) as e:
        results.append("session %d: %r" % (i, e))


ths = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(20)]
for t in ths:
    t.start()
for t in ths:
    t.join(60)
check("20 concurrent TLS-to-TLS sessions echo intact", results)

# ---------------------------------------------------------------- reload
s1, resp = upgrade(gw, token=TOK)
ok(resp is not None and resp.status == 101, "a TLS session is live before the reload")


def echo(c, text):
    try:
        c.send_text(text)
        return c.recv_message(5.0) == (OP_TEXT, text.encode())
    except (Timeout, OSError):
        return False


def served_serial():
    try:
        c = tls_client()
    except (ssl.SSLError, OSError):
        return None
    sn = int(c.peer_cert().get("serialNumber", "0"), 16)
    c.close()
    return sn


ok(echo(s1, "before"), "the live TLS session echoes")
shutil.copy(pki.path("server2.pem"), GW_CRT + ".new")
shutil.copy(pki.path("server2.key"), GW_KEY + ".new")
os.rename(GW_CRT + ".new", GW_CRT)
os.rename(GW_KEY + ".new", GW_KEY)
ok(served_serial() == SERIAL1, "replacing the files alone changes nothing")
gw.reload()
ok(wait_for(lambda: served_serial() == SERIAL2, 10, 0.1),
   "after SIGHUP new TLS clients get the new certificate", "serial %r" % served_serial())
ok(echo(s1, "after"), "the TLS session opened before the reload still echoes")

# A mismatched pair on reload is refused; the last good certificate stays.
shutil.copy(pki.path("wrong.key"), GW_KEY)
mark = len(gw.log())
gw.reload()
key_line = next(i for i, ln in enumerate(open(gw.conf_path).read().splitlines(), 1)
                if ln.startswith("tls_certificate_key"))
line = log_since(mark, re.escape("%s:%d" % (gw.conf_path, key_line)), 10)
ok(line is not None and "does not match the certificate" in line,
   "a key that does not match on SIGHUP: refused with FILE:LINE", "log: %r" % line)
ok(gw.alive() and served_serial() == SERIAL2, "the last good certificate stays in use")
ok(echo(s1, "after bad reload"), "the live TLS session survived the refused reload")

# SIGTERM: the live TLS session is told 1001 over TLS.
gw.proc.send_signal(signal.SIGTERM)
try:
    f = s1.recv_close(5.0)
except (Timeout, OSError) as e:
    f = repr(e)
ok(isinstance(f, Frame) and f.close_code == 1001, "SIGTERM: the TLS session receives close 1001",
   "got %r" % (f,))
try:
    s1.send_close(1001)
except OSError:
    pass
try:
    rc = gw.proc.wait(8)
except Exception:
    rc = None
ok(rc == 0, "SIGTERM: the gateway exits 0", "exit %r" % rc)
s1.close()

# ---------------------------------------------------------------- system trust store
gw2 = Gateway(std_conf(be.addr, routes="""\
route / {
    upstream tls://localhost:%d;
    origins any;
    auth off;
}
""" % tb.port), name="systemca")
mark = len(gw2.log())
c, resp = upgrade(gw2)
p = reject_problems(c, resp, 502, "bad_gateway")
c.close()
ok(not p and wait_for(lambda: "unable to get local issuer certificate" in gw2.log()[mark:], 5),
   "without upstream_ca_file the system trust store decides: a private CA -> 502", "\n".join(p))

# ---------------------------------------------------------------- wsgate -t
def conf_with(main_extra, routes=None, listen="127.0.0.1:1 tls"):
    return std_conf(be.addr, routes=routes or ROUTES.split("route /tlsup")[0],
                    main=main_conf(listen=listen) + main_extra)


def expect_t_error(name, text, want_line_of, want_msg):
    text = subst(text, PORT=1)
    path = write_file("bad-%d.conf" % abs(hash(name)), text)
    lines = text.splitlines()
    ln = next((i for i, x in enumerate(lines, 1) if x.startswith(want_line_of)), 0)
    rc, out, err = run([BIN, "-t", "-c", path])
    want = "wsgate: %s:%d: " % (path, ln)
    ok(rc == 1 and err.startswith(want) and want_msg in err, name,
       "rc %d, stderr %r, wanted %r ... %r" % (rc, err, want, want_msg))


crt, key = pki.path("server.pem"), pki.path("server.key")
expect_t_error("wsgate -t: a missing key file is FILE:LINE",
               conf_with("tls_certificate %s;\ntls_certificate_key %s;\n" % (crt, TMP + "/nokey.pem")),
               "tls_certificate_key", "cannot open: No such file or directory")
expect_t_error("wsgate -t: a key that does not match the certificate is FILE:LINE",
               conf_with("tls_certificate %s;\ntls_certificate_key %s;\n" % (crt, pki.path("wrong.key"))),
               "tls_certificate_key", "does not match the certificate")
garbage = write_file("garbage.pem", "this is not a certificate\n")
expect_t_error("wsgate -t: a file without a PEM certificate is FILE:LINE",
               conf_with("tls_certificate %s;\ntls_certificate_key %s;\n" % (garbage, key)),
               "tls_certificate ", "no PEM certificate found")
expect_t_error("wsgate -t: a tls listener without a certificate is FILE:LINE",
               conf_with(""), "listen", "needs \"tls_certificate\" and \"tls_certificate_key\"")
expect_t_error("wsgate -t: a missing upstream_ca_file is FILE:LINE",
               conf_with("upstream_ca_file %s/none.pem;\n" % TMP, listen="127.0.0.1:1"),
               "upstream_ca_file", "cannot open: No such file or directory")
ok(all(k not in open(gw.log_path).read() for k in ("PRIVATE KEY", "BEGIN")),
   "no key material in the gateway's log")
done()
