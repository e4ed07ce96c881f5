# Harness for the black-box tests: TAP output, a private temp dir, free
# loopback ports, the gateway process under test, token minting through
# tools/jwtmint, and deadline-based waiting. Stdlib only.

import atexit
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsbackend import Backend  # noqa: E402,F401
from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Frame,  # noqa: E402,F401
                      Timeout, WSClient, accept_key, encode_frame, upgrade_head)

SRCDIR = os.path.abspath(os.environ.get("WSGATE_SRCDIR") or ".")
BIN = os.path.abspath(os.environ.get("WSGATE_BIN") or os.path.join(".", "src", "wsgate"))
MINT = os.path.abspath(os.environ.get("WSGATE_MINT") or os.path.join(".", "tools", "jwtmint"))
KEYS = os.path.join(SRCDIR, "t", "keys")

ISSUER = "https://auth.test/"
AUDIENCE = "chat"

# ---------------------------------------------------------------- cleanup

TMP = tempfile.mkdtemp(prefix="wsgate-t-")
_procs = []          # every process we spawned
_backends = []       # every in-process backend
_gateways = []       # for log dumps on failure


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
    for b in _backends:
        try:
            b.stop()
        except Exception:
            pass
    if os.environ.get("WSGATE_KEEP_TMP"):
        sys.stderr.write("# kept %s\n" % TMP)
    else:
        shutil.rmtree(TMP, ignore_errors=True)


atexit.register(_cleanup)


def _on_signal(signum, frame):
    sys.stdout.write("# interrupted by signal %d\n" % signum)
    sys.stdout.flush()
    sys.exit(1)      # runs atexit


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)

# ---------------------------------------------------------------- TAP

_n = 0
_failed = []


def diag(msg):
    for ln in str(msg).splitlines() or [""]:
        sys.stdout.write("# %s\n" % ln)
    sys.stdout.flush()


def _dump_logs():
    for g in _gateways:
        text = g.log()
        new = text[g._dumped:]
        g._dumped = len(text)
        lines = new.splitlines()
        if not lines:
            continue
        if len(lines) > 80:
            diag("--- %s log (last 80 of %d new lines) ---" % (g.name, len(lines)))
            lines = lines[-80:]
        else:
            diag("--- %s log (new lines) ---" % g.name)
        for ln in lines:
            diag("  " + ln)


def ok(cond, name, diagnostic=None):
    global _n
    _n += 1
    name = name.replace("#", "\\#")
    if cond:
        sys.stdout.write("ok %d - %s\n" % (_n, name))
    else:
        sys.stdout.write("not ok %d - %s\n" % (_n, name))
        _failed.append("%d - %s" % (_n, name))
        if diagnostic:
            diag(diagnostic)
        _dump_logs()
    sys.stdout.flush()
    return bool(cond)


def is_(got, want, name):
    return ok(got == want, name, "     got: %r\nexpected: %r" % (got, want))


def check(name, problems):
    """One test point from a list of problem strings (empty = pass)."""
    return ok(not problems, name, "\n".join(problems) if problems else None)


def skip(name, why):
    global _n
    _n += 1
    sys.stdout.write("ok %d - %s # SKIP %s\n" % (_n, name, why))
    sys.stdout.flush()


def bail(why):
    sys.stdout.write("Bail out! %s\n" % why)
    sys.stdout.flush()
    _dump_logs()
    sys.exit(1)


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def _sanitizer_checks():
    """In a sanitizer build (t/check.sh --asan sets ASAN_OPTIONS), every
    gateway is stopped cleanly so leak reports are written, and its log must
    hold no sanitizer report."""
    if not os.environ.get("ASAN_OPTIONS"):
        return
    for g in _gateways:
        if g.proc is None:
            continue
        rc = g.stop() if g.alive() else g.proc.returncode
        log = g.log()
        hits = [m for m in SANITIZER_MARKS if m in log]
        i = min([log.find(m) for m in hits]) if hits else -1
        ok(not hits, "gateway %s: no sanitizer report" % g.name,
           log[i:i + 3000] if hits else None)
        if rc not in (0, -9, None):
            diag("gateway %s exited with %r" % (g.name, rc))


def _log_texts():
    """(name, text) of every gateway log and of every other log file the
    test's gateways wrote under TMP (access logs), percent-decoded as well,
    so that a token in a logged query cannot hide behind %2E or %2D."""
    import urllib.parse
    seen, out = set(), []
    paths = [g.log_path for g in _gateways]
    for root, _, files in os.walk(TMP):
        paths += [os.path.join(root, f) for f in files if ".log" in f]
    for path in paths:
        if path in seen or not os.path.isfile(path):
            continue
        seen.add(path)
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        out.append((os.path.relpath(path, TMP), text + "\n" + urllib.parse.unquote(text)))
    return out


def token_leaks():
    """Problems list: a token of this test (31 or more consecutive
    characters of its payload or signature) found in a gateway's error log
    or access log. SPEC §9: a token
    never appears in any log, whatever carried it (header, cookie, query,
    subprotocol, a socket.io CONNECT frame or polling body)."""
    # Every aligned 16-character block of the payload and signature
    # segments: any 31 consecutive characters of them hold a whole block,
    # so a token cut short by a line limit is found too. The header segment
    # is left out (it is the same for every token of an algorithm).
    parts = set()
    for t in _tokens:
        seg = t.split(".")
        if len(seg) != 3:
            continue
        for x in seg[1:]:
            parts.update(x[i:i + 16] for i in range(0, len(x) - 15, 16))
    p = []
    for name, text in _log_texts():
        hits = sorted(x for x in parts if x in text)
        if hits:
            i = text.find(hits[0])
            p.append("%s holds %d block(s) of tokens, e.g. ...%s..." %
                     (name, len(hits), text[max(0, i - 80):i + 40].replace("\n", " | ")))
    return p


def _token_checks():
    if _tokens and _gateways:
        check("no token made by this test appears in any gateway log (%d token(s))" % len(_tokens),
              token_leaks())


def done():
    _sanitizer_checks()
    _token_checks()
    sys.stdout.write("1..%d\n" % _n)
    if _failed:
        diag("failed %d of %d: %s" % (len(_failed), _n, ", ".join(_failed)))
    sys.stdout.flush()
    sys.exit(1 if _failed else 0)

# ---------------------------------------------------------------- waiting


def wait_for(cond, timeout=5.0, interval=0.01):
    """Polls cond() until it is true or timeout passes; returns its last value."""
    dl = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= dl:
            return v
        time.sleep(interval)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listening(pid, port):
    """True when process pid holds a listening TCP socket on port (Linux
    /proc); a plain connect could reach somebody else's listener."""
    inodes = set()
    for tab in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(tab) as f:
                next(f)
                for ln in f:
                    fld = ln.split()
                    if fld[3] == "0A" and int(fld[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fld[9])
        except OSError:
            pass
    if not inodes:
        return False
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    except OSError:
        return False
    return False


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False

# ---------------------------------------------------------------- processes


def run(argv, cwd=None, timeout=20, input=None):
    """Runs a command to completion: (rc, stdout, stderr) as text."""
    dl = time.monotonic() + 10
    while True:
        try:
            p = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=timeout, input=input)
            break
        except OSError:
            # The program may be being relinked by a concurrent build.
            if time.monotonic() > dl:
                raise
            time.sleep(0.2)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def write_file(name, text):
    path = name if os.path.isabs(name) else os.path.join(TMP, name)
    with open(path, "w" if isinstance(text, str) else "wb") as f:
        f.write(text)
    return path


def start_backend(**kw):
    b = Backend(**kw).start()
    _backends.append(b)
    return b


def subst(text, **vals):
    """Replaces @NAME@ markers: KEYS, TMP and the given ones."""
    vals.setdefault("KEYS", KEYS)
    vals.setdefault("TMP", TMP)
    for k, v in vals.items():
        text = text.replace("@%s@" % k, str(v))
    return text


class Gateway:
    """The gateway under test, running in the foreground with its stderr
    (error log and access log) captured to a file."""

    _count = 0

    def __init__(self, conf, name=None, port=None, start=True, timeout=10.0, **vals):
        Gateway._count += 1
        self.name = name or "gw%d" % Gateway._count
        self._fixed_port = port is not None
        self.port = port or free_port()
        self.vals = dict(vals, PORT=self.port)
        self.conf_path = os.path.join(TMP, self.name + ".conf")
        self.log_path = os.path.join(TMP, self.name + ".log")
        self.proc = None
        self._dumped = 0
        self.conf = conf
        self.write_conf(conf)
        _gateways.append(self)
        if start:
            self.start(timeout)

    def write_conf(self, conf):
        """Writes the configuration (@PORT@, @KEYS@, @TMP@ and the Gateway's
        keyword values substituted); call reload() to apply it."""
        self.conf = conf
        # Write then rename, so a reload never reads a half-written file.
        tmp = self.conf_path + ".new"
        with open(tmp, "w") as f:
            f.write(subst(conf, **self.vals))
        os.rename(tmp, self.conf_path)

    def start(self, timeout=10.0):
        for attempt in range(3):
            if self._start_once(timeout):
                return
            # free_port() races with other tests on the machine: on
            # "address in use" take another port and try again.
            if self._fixed_port or "in use" not in self.log()[self._dumped:].lower():
                break
            diag("%s: port %d taken, retrying" % (self.name, self.port))
            self._dumped = len(self.log())
            self.port = free_port()
            self.vals["PORT"] = self.port
            self.write_conf(self.conf)
        diag("%s did not come up (exit %r); config:" % (self.name, self.proc.poll()))
        for ln in open(self.conf_path).read().splitlines():
            diag("  " + ln)
        bail("gateway %s failed to start" % self.name)

    def _start_once(self, timeout):
        self.logf = open(self.log_path, "ab")
        dl = time.monotonic() + timeout
        while True:
            try:
                self.proc = subprocess.Popen([BIN, "-c", self.conf_path], stdin=subprocess.DEVNULL,
                                             stdout=self.logf, stderr=self.logf, cwd=TMP)
                break
            except OSError as e:
                # The binary may be being relinked by a concurrent build.
                if time.monotonic() > dl:
                    bail("cannot run %s: %s" % (BIN, e))
                time.sleep(0.2)
        _procs.append(self.proc)
        if os.path.exists("/proc/net/tcp"):
            ready = lambda: listening(self.proc.pid, self.port)   # noqa: E731
        else:
            ready = lambda: port_open(self.port)   # noqa: E731
        up = wait_for(lambda: self.proc.poll() is not None or ready(), timeout, 0.02)
        if up and self.proc.poll() is None:
            return True
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        return False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signals the gateway and waits; returns the exit code, or None when
        it had to be killed after timeout."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return None

    def client(self, timeout=5.0):
        return WSClient(self.port, timeout=timeout)

# ---------------------------------------------------------------- config

MAIN_DEFAULTS = [
    ("listen", "127.0.0.1:@PORT@"),
    ("workers", "1"),
    ("handshake_timeout", "2s"),
    ("upstream_connect_timeout", "1s"),
    ("max_message_size", "1m"),
    ("shutdown_timeout", "5s"),
    ("access_log", "stderr json"),
    ("error_log", "stderr debug"),
]


def main_conf(**kw):
    """Main-context directives: the test defaults, overridden or extended by
    keyword (idle_timeout="1s"); a value of None drops the directive."""
    d = dict(MAIN_DEFAULTS)
    d.update(kw)
    return "".join("%s %s;\n" % (k, v) for k, v in d.items() if v is not None)


BASE_MAIN = main_conf()

BASE_JWT = """\
jwt {
    key_file @KEYS@/rsa.pub;
    key_file @KEYS@/ec256.pub;
    hmac_secret_file @KEYS@/hmac.secret;
    algorithms RS256 ES256 HS256;
    issuer "https://auth.test/";
    audience chat;
    leeway 5s;
    require_claims sub exp;
    token_sources header:Authorization cookie:access_token query:access_token subprotocol;
}
"""


def std_conf(backend, routes=None, jwt=BASE_JWT, main=BASE_MAIN, extra_routes=""):
    """The standard test configuration; backend is "host:port" (or a list);
    @BACKEND@ in routes is replaced by it."""
    if not isinstance(backend, str):
        backend = " ".join(backend)
    if routes is None:
        routes = """\
route / {
    upstream @BACKEND@;
    origins "http://localhost:8080" "https://*.example.com";
    identity_header sub X-Auth-Sub;
    identity_header roles X-Auth-Roles;
    claims_header X-Auth-Claims;
}
route /admin {
    upstream @BACKEND@;
    origins any;
    require_claim roles admin;
    identity_header sub X-Auth-Sub;
}
route /public {
    upstream @BACKEND@;
    auth off;
    origins "http://localhost:8080";
}
"""
    return (main + jwt + routes + extra_routes).replace("@BACKEND@", backend)

# ---------------------------------------------------------------- tokens


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(s):
    s = s + "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s.encode())


def claims(**kw):
    """Default valid claims, overridable; a value of None removes the claim."""
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
         "jti": "jti-%d-%d" % (os.getpid(), time.monotonic_ns())}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


# Every token this test made (minted, tampered with or assembled by hand):
# done() checks that none of them appears in any gateway log.
_tokens = set()


def remember_token(tok):
    """Adds a token the test made some other way to the log scan of done()."""
    if isinstance(tok, bytes):
        tok = tok.decode("latin-1")
    _tokens.add(tok)
    return tok


def mint(alg="RS256", key=None, claims_=None, header=None, kid=None, extra_args=()):
    """Runs tools/jwtmint. key: file name in t/keys (or absolute path);
    defaults per alg family. claims_: dict (default claims())."""
    if key is None:
        key = {"HS": "hmac.secret", "RS": "rsa.key", "ES": "ec256.key",
               "PS": "rsa.key"}.get(alg[:2])
        if alg.startswith("ES"):
            key = {"ES256": "ec256.key", "ES384": "ec384.key", "ES512": "ec521.key"}[alg]
    argv = [MINT, "-a", alg]
    if key and alg != "none":
        argv += ["-k", key if os.path.isabs(key) else os.path.join(KEYS, key)]
    if kid is not None:
        argv += ["-K", kid]
    if header is not None:
        argv += ["-H", json.dumps(header)]
    argv += ["-c", json.dumps(claims() if claims_ is None else claims_)]
    argv += list(extra_args)
    rc, out, err = run(argv)
    if rc != 0:
        raise RuntimeError("jwtmint %s failed (%d): %s" % (" ".join(argv[1:3]), rc, err.strip()))
    return remember_token(out.strip())


def token_parts(tok):
    h, p, s = tok.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), s


def tamper_signature(tok):
    """Changes one character in the middle of the signature (never the last
    one, whose low bits may be padding)."""
    h, p, s = tok.split(".")
    i = len(s) // 2
    c = "A" if s[i] != "A" else "B"
    return remember_token("%s.%s.%s%s%s" % (h, p, s[:i], c, s[i + 1:]))


def unsigned_token(header, payload, sig=""):
    """A token assembled by hand (alg none and other forgeries)."""
    return remember_token("%s.%s.%s" % (b64url(json.dumps(header, separators=(",", ":"))),
                                        b64url(json.dumps(payload, separators=(",", ":"))), sig))

# ---------------------------------------------------------------- exchanges


def upgrade(gw, path="/", headers=(), omit=(), token=None, timeout=5.0, **kw):
    """Opens a client, sends an upgrade (token as Authorization: Bearer when
    given) and reads the response. Returns (client, response)."""
    h = list(headers)
    if token is not None:
        h.append(("Authorization", "Bearer " + token))
    c = gw.client(timeout)
    resp = c.upgrade(path, headers=h, omit=omit, host="127.0.0.1:%d" % gw.port,
                     timeout=timeout, **kw)
    return c, resp


def raw_exchange(gw, data, timeout=5.0):
    """Sends raw bytes and reads the response. Returns (client, response)."""
    c = gw.client(timeout)
    try:
        c.send(data)
    except OSError:
        pass
    try:
        resp = c.read_response(timeout)
    except Timeout:
        resp = None
    return c, resp


def _alts(x):
    return x if isinstance(x, tuple) else (x,)


def reject_problems(c, resp, status, error, desc=None, www_auth=None, extra=()):
    """Checks a rejection against SPEC §3: status, Content-Type, Connection:
    close, JSON body {error, error_description}, then the gateway closes.
    desc/www_auth: exact string, a tuple of acceptable strings, or None for
    "any". extra: (name, value)
    headers that must be present with exactly that value."""
    if resp is None:
        return ["no response head (connection ended or timed out)"]
    p = []
    if resp.status != status:
        p.append("status %r, expected %d (head: %r)" % (resp.status, status, resp.raw_head[:300]))
    ct = resp.header("Content-Type")
    if ct is None or ct.split(";")[0].strip().lower() != "application/json":
        p.append("Content-Type %r, expected application/json" % ct)
    conn = resp.header("Connection")
    if conn is None or conn.lower() != "close":
        p.append("Connection %r, expected close" % conn)
    try:
        body = json.loads(resp.body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        body = None
        p.append("body is not JSON: %r" % resp.body[:300])
    if body is not None:
        if not isinstance(body, dict) or set(body) != {"error", "error_description"}:
            p.append("body keys %r, expected error and error_description" %
                     (sorted(body) if isinstance(body, dict) else body))
        elif body.get("error") != error:
            p.append("error %r, expected %r" % (body.get("error"), error))
        elif desc is not None and body.get("error_description") not in _alts(desc):
            p.append("error_description %r, expected %r" % (body.get("error_description"), desc))
    if www_auth is not None:
        got = resp.header("WWW-Authenticate")
        if got not in _alts(www_auth):
            p.append("WWW-Authenticate %r, expected %r" % (got, www_auth))
    for n, v in extra:
        got = resp.header(n)
        if got != v:
            p.append("%s %r, expected %r" % (n, got, v))
    try:
        if not c.wait_eof(5.0):
            p.append("gateway did not close the connection within 5s")
    except OSError:
        pass
    return p


def no_new_conn(be, before):
    """Problems list if the backend accepted a connection since before.
    Call it once the gateway is done with the request (it answered and
    closed the client connection, or logged it): any upstream connection it
    opened for the request was opened by then. be.fence() then connects to
    the backend itself and waits until that connection is accepted; the
    accept queue is FIFO and one thread accepts, so every earlier
    connection is counted when it returns. No fixed wait is involved."""
    if not be.fence():
        return ["the backend did not accept a fence connection within 5s"]
    if be.nconn != before:
        seen = be.conns[before:] if hasattr(be, "conns") else ""
        return ["backend saw %d new connection(s) %r" % (be.nconn - before, seen)]
    return []


def no_new_request(hb, before, n0):
    """no_new_conn for the plain HTTP backend, and no request on any
    connection since n0 (requests on connections that ended are final)."""
    p = no_new_conn(hb, before)
    if len(hb.requests) != n0:
        p.append("backend saw %d request(s): %r" %
                 (len(hb.requests) - n0, [r.request_line for r in hb.requests[n0:]]))
    return p


def expect_reject(gw, be, name, status, error, desc=None, www_auth=None, extra=(),
                  raw=None, **upgrade_kw):
    """Sends raw bytes (or a standard upgrade built from upgrade_kw), checks
    the rejection and that the backend saw no connection; one test point."""
    before = be.nconn if be is not None else 0
    if raw is not None:
        c, resp = raw_exchange(gw, raw)
    else:
        try:
            c, resp = upgrade(gw, **upgrade_kw)
        except Timeout:
            c, resp = None, None
    p = reject_problems(c, resp, status, error, desc, www_auth, extra) if c else ["timeout"]
    if c:
        c.close()
    if be is not None:
        p += no_new_conn(be, before)
    return check(name, p)



def relaying_session(gw, be, token, timeout=5.0):
    """An admitted, relaying session, proven by one echo through it:
    (client, backend conn) or (None, None)."""
    before = be.nconn
    try:
        c, r = upgrade(gw, token=token, timeout=timeout)
    except (Timeout, OSError):
        return None, None
    if r is None or r.status != 101 or not be.wait_conns(before + 1, 3):
        diag("session not admitted: %r" % (r,))
        return None, None
    bc = be.conns[before]
    c.send_text(b"hi")
    try:
        if c.recv_message(5.0) != (OP_TEXT, b"hi"):
            return None, None
    except Timeout:
        return None, None
    return c, bc

def expect_101(gw, be, name, close=True, **upgrade_kw):
    """Upgrade must succeed end to end: 101 with the right accept key, the
    backend got the request, one echo round trip works; one test point.
    Returns (client, backend conn or None, response); the client is closed
    already when close is true."""
    before = be.nconn if be is not None else 0
    p = []
    c = resp = bc = None
    try:
        c, resp = upgrade(gw, **upgrade_kw)
    except (Timeout, OSError) as e:
        p.append("no response head: %r" % e)
    if not p and (resp is None or resp.status != 101):
        p.append("expected 101, got %r" % (resp,))
    elif not p:
        if resp.header("Sec-WebSocket-Accept") != accept_key(c.key):
            p.append("Sec-WebSocket-Accept %r, expected %r" %
                     (resp.header("Sec-WebSocket-Accept"), accept_key(c.key)))
        msg = ("echo-" + name[:40]).encode()
        try:
            c.send_text(msg)
            m = c.recv_message(5.0)
            if m != (OP_TEXT, msg):
                p.append("echo round trip got %r" % (m,))
        except (Timeout, OSError) as e:
            p.append("echo round trip failed: %r" % e)
    if be is not None:
        if not be.wait_conns(before + 1, 2):
            if not p:
                p.append("backend saw no connection")
        else:
            bc = be.conns[before]
            bc.got_head.wait(2)
    check(name, p)
    if close and c is not None:
        c.close()
    return c, bc, resp
