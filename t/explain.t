# Explain mode (SPEC §1 and §14): wsgate -x PATH [-o ORIGIN] < TOKEN prints
# one line per admission step and the status, exits 0 when the request
# would be admitted and 1 when not, opens no listener, contacts no
# backend, and never prints the token, the HMAC secret or key material.

import base64
import os
import socket
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BIN, KEYS, check, claims, done, free_port, main_conf, mint, ok,  # noqa: E402
                        run, start_backend, std_conf, subst, write_file)
from redistest import Redis, redis_cli  # noqa: E402

be = start_backend()
LISTEN = free_port()
holder = socket.socket()
holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
holder.bind(("127.0.0.1", LISTEN))
holder.listen(1)   # a gateway that tried to listen here would fail

JWT_HS = """\
jwt {
    key_file @KEYS@/rsa.pub;
    key_file @KEYS@/jwks-okp.json;
    hmac_secret_file @KEYS@/hmac.secret;
    algorithms RS256 HS256 EdDSA;
    issuer "https://auth.test/";
    audience chat;
    leeway 5s;
    require_claims sub exp;
}
"""


def conf_file(name, main=None, jwt=JWT_HS):
    return write_file(name, subst(std_conf(be.addr, jwt=jwt, main=main or main_conf()),
                                  PORT=LISTEN))


CONF = conf_file("explain.conf")
with open(os.path.join(KEYS, "hmac.secret"), "rb") as f:
    SECRET = f.read()
SECRET_FORMS = [SECRET.hex(), base64.b64encode(SECRET).decode(),
                base64.urlsafe_b64encode(SECRET).decode().rstrip("=")]
KEY_LINES = []
for k in ("rsa.pub", "rsa.key", "ed25519.pub", "jwks-okp.json"):
    with open(os.path.join(KEYS, k)) as f:
        text = f.read()
    KEY_LINES += [ln.strip() for ln in text.splitlines() if len(ln.strip()) >= 40 and "-----" not in ln]
    # JWK members: n and x values
    KEY_LINES += [w for w in text.replace('"', " ").split() if len(w) >= 40]
outputs = []
ok(len(KEY_LINES) > 5 and len(SECRET) >= 16, "the leak check knows %d lines of key material and the secret" % len(KEY_LINES))


def explain(tok, path="/", origin=None, conf=None):
    argv = [BIN, "-c", conf or CONF, "-x", path]
    if origin:
        argv += ["-o", origin]
    rc, out, err = run(argv, input=((tok or "") + "\n").encode())
    outputs.append((tok, out + err))
    return rc, out, err


def lines(out):
    """{step: result}: the step is the first 16 columns of a line."""
    return {ln[:16].strip(): ln[17:] for ln in out.splitlines()}


def case(name, tok, want_rc, want_status, want_step=None, **kw):
    """want_step: (step, prefix of its result); the status line starts with want_status."""
    before = be.nconn
    rc, out, err = explain(tok, **kw)
    st = lines(out)
    p = []
    if rc != want_rc:
        p.append("exit %d, expected %d" % (rc, want_rc))
    if not st.get("status", "").startswith(want_status):
        p.append("status line %r, expected %r" % (st.get("status"), want_status))
    if want_step and not st.get(want_step[0], "").startswith(want_step[1]):
        p.append("step %r: %r, expected %r" % (want_step[0], st.get(want_step[0]), want_step[1]))
    if be.nconn != before:
        p.append("the backend saw a connection")
    if p:
        p.append("output: %r stderr: %r" % (out, err))
    check(name, p)
    return out


now = int(time.time())
good = mint("RS256", claims_=claims(roles=["chat", "admin"]))
out = case("admitted: exit 0, status 101", good, 0, "101 admitted")
want = ["request", "route", "origin", "token", "format", "alg", "key", "signature",
        "required claims", "claim sub", "claim jti", "claim exp", "claim nbf", "claim iat",
        "claim iss", "claim aud", "route claims", "revocation", "status"]
got = [k for k in lines(out)]
ok(got == want, "admitted: one line per step, in admission order", "got %r" % got)
ok(lines(out)["key"].startswith("ok (" + os.path.join(KEYS, "rsa.pub")), "the key line names the key file",
   lines(out)["key"])
case("admitted with an allowed Origin", good, 0, "101", ("origin", "ok"), origin="http://localhost:8080")
case("admitted: EdDSA by kid (JWKS OKP)", mint("EdDSA", key="ed25519.key", kid="ed1"), 0, "101",
     ("key", "ok"))
case("admitted: HS256", mint("HS256"), 0, "101", ("alg", "ok (HS256)"))
case("admitted on /admin with roles admin", good, 0, "101", ("route claims", "ok (1 require_claim)"),
     path="/admin")
case("auth off route admits without a token", "", 0, "101", ("token", "ok (not required"),
     path="/public")

# ---- each failure step
case("no route: 404", good, 1, "404 not_found", ("route", "no route"),
     conf=write_file("noroot.conf", subst(std_conf(be.addr, jwt=JWT_HS, routes="""\
route /only {
    upstream @BACKEND@;
}
"""), PORT=LISTEN)))
case("origin not allowed: 403", good, 1, "403 origin_not_allowed", ("origin", "origin not allowed"),
     origin="https://evil.test")
case("no token: 401 missing_token", "", 1, "401 missing_token", ("token", "no token"))
case("malformed token: 401", "abc.def", 1, "401 invalid_token: malformed token",
     ("format", "malformed token"))
case("token with characters outside base64url: 401", "a b\tc", 1, "401 invalid_token: malformed token",
     ("token", "malformed token"))
case("alg not allowed: 401", mint("ES256"), 1, "401 invalid_token: algorithm not allowed",
     ("alg", "algorithm not allowed (ES256 is not listed"))
case("alg none: 401", mint("none"), 1, "401 invalid_token: algorithm not allowed",
     ("alg", "algorithm not allowed (none"))
case("no matching key: 401", mint("EdDSA", key="ed25519.key", kid="rsa-ps"), 1,
     "401 invalid_token: no matching key", ("key", "no matching key"))
case("bad signature: 401", mint("RS256", key="rsa2.key"), 1, "401 invalid_token: bad signature",
     ("signature", "bad signature"))
case("missing claim: 401", mint("RS256", claims_=claims(sub=None)), 1,
     "401 invalid_token: missing claim sub", ("required claims", "missing claim sub"))
case("expired: 401", mint("RS256", claims_=claims(exp=now - 100)), 1,
     "401 invalid_token: token expired", ("claim exp", "token expired"))
case("not yet valid: 401", mint("RS256", claims_=claims(nbf=now + 100)), 1,
     "401 invalid_token: token not yet valid", ("claim nbf", "token not yet valid"))
case("issued in the future: 401", mint("RS256", claims_=claims(iat=now + 100)), 1,
     "401 invalid_token: token issued in the future", ("claim iat", "token issued in the future"))
case("issuer mismatch: 401", mint("RS256", claims_=claims(iss="https://other.test/")), 1,
     "401 invalid_token: issuer mismatch", ("claim iss", "issuer mismatch"))
case("audience mismatch: 401", mint("RS256", claims_=claims(aud="other")), 1,
     "401 invalid_token: audience mismatch", ("claim aud", "audience mismatch"))
case("route claim fails: 403 insufficient_scope", mint("RS256", claims_=claims(roles=["chat"])), 1,
     "403 insufficient_scope", ("route claims", "claim roles does not match"), path="/admin")

# ---- revocation, through the gateway's own lookup
rd = Redis()
RCONF = conf_file("redis.conf", main=main_conf(redis=rd.addr, redis_prefix='"wsgate:"',
                                               redis_timeout="500ms"))
tok_r = mint("RS256", claims_=claims(jti="explain-jti-1"))
case("Redis reachable, not revoked: admitted", tok_r, 0, "101", ("revocation", "ok (not revoked)"),
     conf=RCONF)
redis_cli(rd.port, "SET", "wsgate:revoked:jti:explain-jti-1", "1", "EX", "600")
case("jti revoked in Redis: 401 token revoked", tok_r, 1, "401 invalid_token: token revoked",
     ("revocation", "token revoked"), conf=RCONF)
redis_cli(rd.port, "SET", "wsgate:revoked:sub:bob", str(now + 10))
case("sub cutoff in Redis: 401 token revoked", mint("RS256", claims_=claims(sub="bob", iat=now)), 1,
     "401 invalid_token: token revoked", ("revocation", "token revoked"), conf=RCONF)
dead = free_port()
DCONF = conf_file("redis-down.conf", main=main_conf(redis="127.0.0.1:%d" % dead,
                                                   redis_timeout="300ms"))
t0 = time.monotonic()
case("Redis unreachable, redis_failure reject: 503", tok_r, 1, "503 service_unavailable",
     ("revocation", "Redis unreachable"), conf=DCONF)
ok(time.monotonic() - t0 < 10, "an unreachable Redis costs bounded time (%.1fs)" % (time.monotonic() - t0))
ACONF = conf_file("redis-allow.conf", main=main_conf(redis="127.0.0.1:%d" % dead,
                                                    redis_failure="allow", redis_timeout="300ms"))
case("Redis unreachable, redis_failure allow: admitted", tok_r, 0, "101",
     ("revocation", "Redis unreachable: admitted anyway"), conf=ACONF)
rd.kill()

# ---- arguments
rc, out, err = run([BIN, "-c", CONF, "-x", "no-slash"], input=good.encode())
ok(rc == 2 and "-x needs a path" in err, "-x without a leading / is a usage error (exit 2)", err)
rc, out, err = run([BIN, "-c", os.path.join(KEYS, "missing.conf"), "-x", "/"], input=good.encode())
ok(rc == 2 and "missing.conf" in err, "-x with an unreadable configuration: exit 2, message", err)
rc, out, err = run([BIN, "-c", CONF, "-o", "http://a.test"], input=good.encode())
ok(rc == 2 and "-o goes with -x" in err, "-o without -x is a usage error", err)

# ---- nothing secret in any output
leaks = []
for tok, text in outputs:
    if tok:
        for part in tok.split(".")[1:]:
            if len(part) >= 16 and part[:16] in text:
                leaks.append("token segment in %r" % text[:200])
    for form in SECRET_FORMS:
        if form in text:
            leaks.append("the HMAC secret (%s...) in the output" % form[:8])
    if SECRET in text.encode("latin-1", "replace"):
        leaks.append("the raw HMAC secret in the output")
    for kl in KEY_LINES:
        if kl[:40] in text:
            leaks.append("key material %s... in the output" % kl[:12])
check("no output holds the token, the HMAC secret or key material (%d runs)" % len(outputs), leaks)
ok(be.nconn == 0, "the backend never saw a connection")
holder.close()
done()
