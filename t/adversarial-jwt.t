# Numeric and extreme claims (SPEC §13, last line): a numeric sub or jti is
# one decimal text for Redis revocation keys, max_sessions_per_subject,
# identity headers, logs and /sessions, so the number 12345 and the string
# "12345" are one subject; exp, nbf and iat take any JSON number without
# overflow. Tokens are signed here with HS256 over hand-written JSON, which
# jwtmint (jansson) cannot write: integers beyond int64, 1e300, 12345.0.

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (relaying_session, AUDIENCE, ISSUER, KEYS, OP_CLOSE, OP_TEXT, Frame, Gateway,  # noqa: E402
                        Timeout, b64url, check, diag, done, expect_101, expect_reject, free_port,
                        main_conf, ok, start_backend, std_conf, upgrade, wait_for)
from redistest import Redis, redis_cli  # noqa: E402

REVOKED_AUTH = ('Bearer realm="wsgate", error="invalid_token", '
                'error_description="token revoked"')
with open(os.path.join(KEYS, "hmac.secret"), "rb") as f:
    SECRET = f.read()

now = lambda: int(time.time())  # noqa: E731
_seq = [0]


def hs256(payload_text):
    """A token whose payload is exactly payload_text, signed with the test
    secret (BASE_JWT allows HS256 with t/keys/hmac.secret)."""
    h = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")))
    p = b64url(payload_text)
    sig = hmac.new(SECRET, ("%s.%s" % (h, p)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (h, p, b64url(sig))


def tok(sub='"alice"', jti=None, exp=None, iat=None, extra=""):
    """Payload members as JSON text, so numbers are written exactly as given."""
    _seq[0] += 1
    if jti is None:
        jti = '"adv-%d-%d"' % (os.getpid(), _seq[0])
    if exp is None:
        exp = str(now() + 300)
    if iat is None:
        iat = str(now())
    text = '{"iss":%s,"aud":%s,"sub":%s,"jti":%s,"iat":%s,"exp":%s%s}' % (
        json.dumps(ISSUER), json.dumps(AUDIENCE), sub, jti, iat, exp, extra)
    return hs256(text)




def wait_close(c, timeout):
    """The first close frame the client receives within timeout, or None."""
    dl = time.monotonic() + timeout
    while time.monotonic() < dl:
        try:
            f = c.recv_frame(max(0.01, dl - time.monotonic()))
        except (Timeout, OSError):
            return None
        if isinstance(f, Frame) and f.opcode == OP_CLOSE:
            return f
    return None


def revoked_live(name, c, key):
    """redis-cli SETs key; the live session c must get 4403 "token revoked"."""
    if not c:
        ok(False, "%s: live session" % name)
        return
    r = redis_cli(rd.port, "SET", key, str(now()), "EX", "600")
    ok(r.returncode == 0, "%s: redis-cli SET %s" % (name, key), r.stderr)
    f = wait_close(c, 3.0)
    ok(f is not None and f.close_code == 4403 and f.close_reason == "token revoked",
       "%s: the live session is closed with 4403 \"token revoked\"" % name, "got %r" % (f,))
    c.close()


rd = Redis(notify=True)
be = start_backend()
sport = free_port()
m = main_conf(redis=rd.addr, redis_prefix='"wsgate:"', redis_failure="reject",
              revocation_sweep="1s", redis_timeout="500ms", status_listen="127.0.0.1:%d" % sport)
gw = Gateway(std_conf(be.addr, main=m), name="main")

# ---- numeric sub: revocation, identity header, /sessions, log -------------------
t0 = now()
c, bc = relaying_session(gw, be, tok(sub="12345", iat=str(t0 - 5)))
ok(bc is not None and bc.header("X-Auth-Sub") == "12345",
   "numeric sub 12345 reaches the backend as X-Auth-Sub: 12345",
   "got %r" % (bc.header_all("X-Auth-Sub") if bc else None))
if c:
    with urllib.request.urlopen("http://127.0.0.1:%d/sessions" % sport, timeout=5) as r:
        subs = [x["sub"] for x in json.loads(r.read().decode())]
    ok(subs == ["12345"], "/sessions shows the numeric sub as \"12345\"", subs)
revoked_live("numeric sub", c, "wsgate:revoked:sub:12345")
ok(wait_for(lambda: '"sub":"12345"' in gw.log(), 3), "the access log names sub \"12345\"")
expect_reject(gw, be, "numeric sub, revoked: a new handshake -> 401 token revoked, backend saw nothing",
              401, "invalid_token", "token revoked", REVOKED_AUTH, token=tok(sub="12345", iat=str(t0)))
expect_reject(gw, be, "the string sub \"12345\" is the same revoked subject -> 401",
              401, "invalid_token", "token revoked", REVOKED_AUTH, token=tok(sub='"12345"', iat=str(t0)))
expect_reject(gw, be, "sub written 12345.0 is the same revoked subject -> 401",
              401, "invalid_token", "token revoked", REVOKED_AUTH, token=tok(sub="12345.0", iat=str(t0)))
expect_101(gw, be, "numeric sub 12346 is another subject, admitted", token=tok(sub="12346"))

# ---- numeric jti ------------------------------------------------------------------
c, bc = relaying_session(gw, be, tok(sub='"jay"', jti="987654321"))
revoked_live("numeric jti", c, "wsgate:revoked:jti:987654321")
expect_reject(gw, be, "numeric jti, revoked: a new handshake -> 401 token revoked, backend saw nothing",
              401, "invalid_token", "token revoked", REVOKED_AUTH, token=tok(sub='"jay"', jti="987654321"))
expect_reject(gw, be, "the string jti \"987654321\" is the same revoked token -> 401",
              401, "invalid_token", "token revoked", REVOKED_AUTH, token=tok(sub='"jay"', jti='"987654321"'))
rd.cmd("SET", "wsgate:revoked:jti:-77", "1", "EX", "600")
expect_reject(gw, be, "negative numeric jti -77 revoked by its decimal key -> 401",
              401, "invalid_token", "token revoked", REVOKED_AUTH, token=tok(jti="-77"))

# ---- sub/jti that name no single integer are refused --------------------------
for sub, name in (("1.5", "a fraction"), ("1e20", "1e20"), ("99999999999999999999", "beyond int64"),
                  ("true", "a boolean"), ('["a"]', "an array"), ('{"id":1}', "an object")):
    expect_reject(gw, be, "sub %s -> 401 \"sub must be a string or an integer\", backend saw nothing" % name,
                  401, "invalid_token", "sub must be a string or an integer", token=tok(sub=sub))
expect_reject(gw, be, "jti 0.5 -> 401 \"jti must be a string or an integer\", backend saw nothing",
              401, "invalid_token", "jti must be a string or an integer", token=tok(jti="0.5"))

# ---- exp, nbf, iat: any JSON number ---------------------------------------------
for exp in ("1e300", "99999999999999999999", "9223372036854775807", "1e16"):
    c, bc = relaying_session(gw, be, tok(sub='"huge"', exp=exp))
    ok(c is not None, "exp %s: admitted" % exp)
    if c:
        # An overflowing expiry timer fires on the next loop turn: an echo
        # round trip after admission, then a quiet moment, would show it.
        c.send_text(b"again")
        try:
            got = c.recv_message(3.0)
        except Timeout:
            got = None
        ok(got == (OP_TEXT, b"again") and wait_close(c, 0.3) is None,
           "exp %s: the session is not expired" % exp, "got %r" % (got,))
        c.close()
c, bc = relaying_session(gw, be, tok(sub="4242", exp="99999999999999999999"))
ok(bc is not None and bc.header("X-Auth-Sub") == "4242",
   "exp beyond int64 next to numeric sub 4242: X-Auth-Sub: 4242",
   "got %r" % (bc.header_all("X-Auth-Sub") if bc else None))
if c:
    c.close()
for exp in ("-1e300", "-99999999999999999999", "-1", str(now() - 60) + ".5"):
    expect_reject(gw, be, "exp %s -> 401 token expired, backend saw nothing" % exp,
                  401, "invalid_token", "token expired", token=tok(exp=exp))
expect_reject(gw, be, "exp 1e400 (beyond a double) -> 401 malformed token, backend saw nothing",
              401, "invalid_token", "malformed token", token=tok(exp="1e400"))
expect_reject(gw, be, "nbf 1e300 -> 401 token not yet valid, backend saw nothing",
              401, "invalid_token", "token not yet valid", token=tok(extra=',"nbf":1e300'))
expect_reject(gw, be, "iat 99999999999999999999 -> 401 token issued in the future, backend saw nothing",
              401, "invalid_token", "token issued in the future", token=tok(iat="99999999999999999999"))
expect_101(gw, be, "iat and nbf -1e300 admitted", token=tok(iat="-1e300", extra=',"nbf":-1e300'))
ok(gw.alive(), "the gateway survived every number")

# ---- max_sessions_per_subject counts 12345 and "12345" as one subject -----------
be2 = start_backend()
gw2 = Gateway(std_conf(be2.addr, main=main_conf(max_sessions_per_subject=1)), name="persub")
c1, _ = relaying_session(gw2, be2, tok(sub="12345"))
ok(c1 is not None, "limit 1: a session of numeric sub 12345")
expect_reject(gw2, be2, "the string sub \"12345\" is the same subject -> 429, backend saw nothing",
              429, "too_many_requests", token=tok(sub='"12345"'))
expect_reject(gw2, be2, "numeric sub 12345 again -> 429, backend saw nothing",
              429, "too_many_requests", token=tok(sub="12345"))
expect_101(gw2, be2, "sub 12346 is not limited", token=tok(sub="12346"))
if c1:
    c1.close()
c2 = []
ok(wait_for(lambda: c2.append(relaying_session(gw2, be2, tok(sub='"12345"'))[0]) or c2[-1] is not None, 5),
   "after the numeric session ends, the string sub \"12345\" is admitted")
for x in c2:
    if x:
        x.close()

done()
