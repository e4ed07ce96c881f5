#!/usr/bin/python3
# Admission of an upgrade request, SPEC §3 steps 1-7, in order: strict head
# parsing, routing, the upgrade check, Origin, the token sources, JWT
# verification and route claims. Every rejection is checked for its exact
# status, headers and JSON body, and for the backend never seeing a
# connection.

import base64
import os
import select
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (Gateway, Timeout, b64url, check, claims, done,  # noqa: E402
                        expect_101, expect_reject, is_, main_conf, mint, no_new_conn, ok,
                        reject_problems, start_backend, std_conf, tamper_signature,
                        unsigned_token, upgrade, upgrade_head, wait_for)

be = start_backend()
gw = Gateway(std_conf(be.addr, main=main_conf(handshake_timeout="1s")), name="main")

now = int(time.time())
RS = mint("RS256")
ES = mint("ES256")
HS = mint("HS256")
ADMIN = mint("RS256", claims_=claims(roles=["user", "admin"]))


def good_head(path="/", headers=(), token=RS, method="GET", version="HTTP/1.1", omit=()):
    h = list(headers)
    if token:
        h.append(("Authorization", "Bearer " + token))
    head, _ = upgrade_head(path, host="127.0.0.1:%d" % gw.port, headers=h, method=method,
                           version=version, omit=omit)
    return head


def inject(head, line, before=b"Upgrade:"):
    """Inserts a raw header line (bytes, no CRLF) before the given header."""
    i = head.index(b"\r\n" + before)
    return head[:i + 2] + line + b"\r\n" + head[i + 2:]


def bad_request(name, raw):
    return expect_reject(gw, be, name + " -> 400", 400, "bad_request", raw=raw)


# ---------------------------------------------------------------- sanity
expect_101(gw, be, "a valid RS256 upgrade is admitted", token=RS)

# ---------------------------------------------------------------- step 1: parsing
HOST = b"Host: 127.0.0.1:%d" % gw.port
bad_request("request line with a double space", good_head().replace(b"GET / ", b"GET  / ", 1))
bad_request("request line with a trailing word", good_head().replace(b"HTTP/1.1\r\n", b"HTTP/1.1 x\r\n", 1))
bad_request("request line without a version", good_head().replace(b" HTTP/1.1\r\n", b"\r\n", 1))
bad_request("request line without a method", good_head().replace(b"GET / ", b"/ ", 1))
bad_request("a non-HTTP protocol", good_head().replace(b"HTTP/1.1\r\n", b"HTTX/1.1\r\n", 1))
bad_request("a bare LF line ending", good_head().replace(b"\r\nUpgrade:", b"\nUpgrade:", 1))
bad_request("obs-fold", inject(good_head(), b"X-Folded: a\r\n  continued"))
bad_request("obs-fold with a tab", inject(good_head(), b"X-Folded: a\r\n\tcontinued"))
bad_request("NUL in a header value", inject(good_head(), b"X-Nul: a\x00b"))
bad_request("a bare CR in a header value", inject(good_head(), b"X-Cr: a\rb"))
bad_request("whitespace before the colon", inject(good_head(), b"X-Space : a"))
bad_request("a header line without a colon", inject(good_head(), b"X-No-Colon"))
bad_request("Content-Length with Transfer-Encoding",
            inject(inject(good_head(), b"Content-Length: 0"), b"Transfer-Encoding: chunked"))
bad_request("two Content-Length headers",
            inject(inject(good_head(), b"Content-Length: 0"), b"Content-Length: 10"))
bad_request("a non-numeric Content-Length", inject(good_head(), b"Content-Length: 1x"))
bad_request("a duplicate Host", inject(good_head(), b"Host: evil.example"))
bad_request("a missing Host", good_head(omit=("Host",)))
bad_request("absolute-form to a foreign host",
            good_head().replace(b"GET / ", b"GET http://evil.example/ ", 1))
# Dot segments are resolved (SPEC §3a): the request is routed, and
# forwarded, as the path they name, so /public/../admin is /admin and needs
# the admin role.
for name, path in (("a dot-segment path", "/public/../admin"),
                   ("a single-dot segment", "/./admin"),
                   ("a percent-encoded dot-segment", "/public/%2e%2e/admin"),
                   ("a mixed-case percent-encoded dot-segment", "/public/.%2E/admin")):
    expect_reject(gw, be, "%s (%s) routes as /admin: no role -> 403" % (name, path), 403,
                  "insufficient_scope", raw=good_head(path=path))
for path, want in (("/public/../admin", "/admin"), ("/admin/..", "/"), ("/./admin/x/.", "/admin/x/")):
    c, bc, resp = expect_101(gw, be, "%s is admitted as %s" % (path, want),
                             token=ADMIN, path=path)
    is_(bc.target if bc else None, want, "%s reaches the backend as %s" % (path, want))
bad_request("a dot-segment above the root", good_head(path="/admin/../../admin"))
bad_request("garbage instead of a request", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")

expect_101(gw, be, "absolute-form to the Host given is admitted",
           path="http://127.0.0.1:%d/" % gw.port,
           headers=[("Authorization", "Bearer " + RS)])

# A head that arrives in pieces (within handshake_timeout) is fine.
c = gw.client()
head = good_head()
for part in (head[:7], head[7:30], head[30:-3], head[-3:]):
    c.send(part)
    time.sleep(0.05)
try:
    resp = c.read_response(5.0)
except Timeout:
    resp = None
ok(resp is not None and resp.status == 101, "a head sent in four pieces is admitted", "got %r" % (resp,))
c.close()

# Head larger than max_header_size (default 16k).
expect_reject(gw, be, "a 20k request head -> 431", 431, "request_header_fields_too_large",
              raw=inject(good_head(), b"X-Big: " + b"a" * 20000))
expect_101(gw, be, "a 12k request head is admitted", headers=[("X-Big", "b" * 12000),
                                                             ("Authorization", "Bearer " + RS)])


def slow_head(name, trickle):
    """Sends part of a head, then (trickle) one byte every 200 ms or nothing;
    the gateway must answer 408 once handshake_timeout (1s) passes."""
    before = be.nconn
    c = gw.client(6.0)
    head = good_head()
    c.send(head[:20])
    t0 = time.monotonic()
    pos, resp, p = 20, None, []
    while time.monotonic() - t0 < 6.0:
        r, _, _ = select.select([c.sock], [], [], 0.2)
        if r:
            try:
                resp = c.read_response(3.0)
            except Timeout:
                resp = None
            break
        if trickle and pos < len(head) - 4:
            try:
                c.send(head[pos:pos + 1])
            except OSError:
                break
            pos += 1
    elapsed = time.monotonic() - t0
    p += reject_problems(c, resp, 408, "request_timeout")
    if elapsed < 0.8 or elapsed > 3.5:
        p.append("answered after %.2fs, handshake_timeout is 1s" % elapsed)
    p += no_new_conn(be, before)
    c.close()
    check(name, p)


slow_head("a head trickled slower than handshake_timeout -> 408", True)
slow_head("an incomplete head -> 408 after handshake_timeout", False)

# ---------------------------------------------------------------- step 2: routing
be2 = start_backend()
gw2 = Gateway(std_conf(be2.addr, main=main_conf(max_header_size="4k", max_connections=3), routes="""\
route /chat { upstream @BACKEND@; origins any; }
"""), name="chatonly")
expect_reject(gw2, be2, "no matching route -> 404", 404, "not_found", path="/other", token=RS)
expect_reject(gw2, be2, "routing precedes the upgrade check (plain GET, no route) -> 404", 404,
              "not_found", raw=b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
expect_101(gw2, be2, "the /chat route is admitted", path="/chat/room", token=RS)
expect_reject(gw2, be2, "a 5k head with max_header_size 4k -> 431", 431,
              "request_header_fields_too_large", path="/chat", token=RS,
              headers=[("X-Big", "c" * 5000)])
expect_101(gw2, be2, "a 3k head with max_header_size 4k is admitted", path="/chat", token=RS,
           headers=[("X-Big", "c" * 3000)])

# max_connections 3: a fourth connection while three sessions live -> 503.
live = []
for i in range(3):
    c, bc, resp = expect_101(gw2, be2, "max_connections: live session %d" % (i + 1), close=False,
                             path="/chat", token=RS)
    if c:
        live.append(c)
expect_reject(gw2, be2, "max_connections 3: a fourth connection -> 503", 503, "service_unavailable",
              path="/chat", token=RS)
if live:
    live.pop().close()


def admitted(g, path):
    try:
        c, resp = upgrade(g, path=path, token=RS)
    except (Timeout, OSError):
        return False
    c.close()
    return resp is not None and resp.status == 101


ok(wait_for(lambda: admitted(gw2, "/chat"), 5, 0.1),
   "max_connections: a slot freed by a closed session is usable again")
for c in live:
    c.close()

# ---------------------------------------------------------------- step 3: upgrade check
expect_reject(gw, be, "a plain GET -> 400", 400, "bad_request",
              raw=b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"
              % RS.encode())
expect_reject(gw, be, "a POST upgrade -> 400", 400, "bad_request", raw=good_head(method="POST"))
expect_reject(gw, be, "HTTP/1.0 upgrade -> 400", 400, "bad_request", raw=good_head(version="HTTP/1.0"))
expect_reject(gw, be, "no Upgrade header -> 400", 400, "bad_request", omit=("Upgrade",), token=RS)
expect_reject(gw, be, "Upgrade: h2c -> 400", 400, "bad_request", omit=("Upgrade",),
              headers=[("Upgrade", "h2c")], token=RS)
expect_reject(gw, be, "no Connection header -> 400", 400, "bad_request", omit=("Connection",), token=RS)
expect_reject(gw, be, "Connection: keep-alive only -> 400", 400, "bad_request", omit=("Connection",),
              headers=[("Connection", "keep-alive")], token=RS)
expect_101(gw, be, "Connection: keep-alive, Upgrade is admitted", omit=("Connection",),
           headers=[("Connection", "keep-alive, Upgrade")], token=RS)
expect_101(gw, be, "Upgrade: WebSocket (any case) is admitted", omit=("Upgrade",),
           headers=[("Upgrade", "WebSocket")], token=RS)
expect_reject(gw, be, "no Sec-WebSocket-Key -> 400", 400, "bad_request",
              omit=("Sec-WebSocket-Key",), token=RS)
expect_reject(gw, be, "a Sec-WebSocket-Key that is not base64 -> 400", 400, "bad_request",
              key="not base64 at all!!", token=RS)
expect_reject(gw, be, "a Sec-WebSocket-Key of 15 bytes -> 400", 400, "bad_request",
              key=base64.b64encode(b"x" * 15).decode(), token=RS)
expect_reject(gw, be, "a Sec-WebSocket-Key of 17 bytes -> 400", 400, "bad_request",
              key=base64.b64encode(b"x" * 17).decode(), token=RS)
expect_reject(gw, be, "Sec-WebSocket-Version 8 -> 426", 426, "upgrade_required",
              omit=("Sec-WebSocket-Version",), headers=[("Sec-WebSocket-Version", "8")],
              token=RS, extra=[("Sec-WebSocket-Version", "13")])
expect_reject(gw, be, "no Sec-WebSocket-Version -> 426", 426, "upgrade_required",
              omit=("Sec-WebSocket-Version",), token=RS, extra=[("Sec-WebSocket-Version", "13")])

# ---------------------------------------------------------------- step 4: Origin
for origin in ("http://localhost:8080", "https://chat.example.com", "https://a.b.example.com"):
    expect_101(gw, be, "Origin %s is allowed" % origin, headers=[("Origin", origin)], token=RS)
for origin in ("https://example.com.evil.com", "https://evilexample.com", "http://chat.example.com",
               "https://example.com", "null", "http://localhost:8081", "http://localhost",
               "https://localhost:8080", "http://evil.com", "https://chat.example.com.",
               "https://x.example.com:8443"):
    expect_reject(gw, be, "Origin %s -> 403" % origin, 403, "origin_not_allowed",
                  headers=[("Origin", origin)], token=RS)
expect_reject(gw, be, "a bad Origin is refused before the token is looked at", 403,
              "origin_not_allowed", headers=[("Origin", "https://evil.com")])
expect_101(gw, be, "no Origin (non-browser client) passes", token=RS)
expect_101(gw, be, "origins any admits any Origin", path="/admin",
           headers=[("Origin", "https://evil.com")], token=ADMIN)

# auth off: no token needed, Origin still enforced.
expect_101(gw, be, "auth off route admits without a token", path="/public",
           headers=[("Origin", "http://localhost:8080")])
expect_101(gw, be, "auth off route admits without Origin and token", path="/public")
expect_reject(gw, be, "auth off route still refuses a foreign Origin", 403, "origin_not_allowed",
              path="/public", headers=[("Origin", "https://evil.com")])

# ---------------------------------------------------------------- step 5: token sources
W_MISSING = 'Bearer realm="wsgate"'
expect_reject(gw, be, "no token -> 401 missing_token", 401, "missing_token", www_auth=W_MISSING)
expect_reject(gw, be, "Authorization: Basic is not a token -> 401 missing_token", 401,
              "missing_token", www_auth=W_MISSING, headers=[("Authorization", "Basic YTpi")])
expect_reject(gw, be, "an empty Bearer is not a token -> 401 missing_token", 401, "missing_token",
              www_auth=W_MISSING, headers=[("Authorization", "Bearer ")])
expect_reject(gw, be, "another cookie name is not a token -> 401 missing_token", 401,
              "missing_token", www_auth=W_MISSING, headers=[("Cookie", "token=%s" % RS)])
expect_reject(gw, be, "a bearer subprotocol without a value -> 401 missing_token", 401,
              "missing_token", www_auth=W_MISSING, headers=[("Sec-WebSocket-Protocol", "bearer")])

expect_101(gw, be, "token in Authorization (mixed-case Bearer) is accepted",
           headers=[("Authorization", "bEaReR " + RS)])
expect_101(gw, be, "token in a cookie among others is accepted",
           headers=[("Cookie", "theme=dark; access_token=%s; lang=en" % RS)])
expect_101(gw, be, "token in the query is accepted", path="/?room=1&access_token=%s&x=y" % RS)
expect_101(gw, be, "lower-case authorization header name is accepted",
           headers=[("authorization", "bearer " + RS)])
expect_101(gw, be, "a percent-encoded query token is accepted",
           path="/?access_token=%s" % RS.replace(".", "%2E").replace("-", "%2D"))
expect_101(gw, be, "a subprotocol list without spaces is accepted",
           headers=[("Sec-WebSocket-Protocol", "chat.v1,bearer,%s" % RS)])
expect_101(gw, be, "token in the subprotocol list is accepted",
           headers=[("Sec-WebSocket-Protocol", "bearer, %s, chat.v1" % RS)])
EXPIRED = mint("RS256", claims_=claims(exp=now - 600))
expect_reject(gw, be, "the first configured source wins (expired header, valid cookie)", 401,
              "invalid_token", "token expired",
              headers=[("Authorization", "Bearer " + EXPIRED), ("Cookie", "access_token=" + RS)])

# ---------------------------------------------------------------- step 6: verification


def invalid(name, token, desc, **kw):
    """desc: the exact reason, or a tuple of acceptable ones where SPEC
    leaves the order of checks open."""
    alts = desc if isinstance(desc, tuple) else (desc,)
    www = tuple('Bearer realm="wsgate", error="invalid_token", error_description="%s"' % d
                for d in alts)
    return expect_reject(gw, be, "%s -> 401 %s" % (name, " or ".join(alts)), 401, "invalid_token",
                         alts, www_auth=www, token=token, **kw)


expect_101(gw, be, "an ES256 token is accepted", token=ES)
expect_101(gw, be, "an HS256 token is accepted", token=HS)

c0 = claims()
invalid("alg none", unsigned_token({"alg": "none", "typ": "JWT"}, c0), "algorithm not allowed")
invalid("alg NONE", unsigned_token({"alg": "NONE", "typ": "JWT"}, c0), "algorithm not allowed")
invalid("alg none with a signature", unsigned_token({"alg": "none"}, c0, b64url(b"x" * 32)),
        "algorithm not allowed")
invalid("no alg", unsigned_token({"typ": "JWT"}, c0, b64url(b"x" * 32)),
        ("algorithm not allowed", "malformed token"))
invalid("HS256 signed with the RSA public key (key confusion)",
        mint("HS256", key="rsa.pub"), "bad signature")
invalid("HS256 signed with the EC public key (key confusion)",
        mint("HS256", key="ec256.pub"), "bad signature")
invalid("RS384, not in the allow-list", mint("RS384", key="rsa.key"), "algorithm not allowed")
invalid("ES384, not in the allow-list", mint("ES384"), "algorithm not allowed")
invalid("a flipped signature character", tamper_signature(RS), "bad signature")
invalid("a flipped ES256 signature character", tamper_signature(ES), "bad signature")
invalid("a flipped HS256 signature character", tamper_signature(HS), "bad signature")
h, p, s = RS.split(".")
invalid("a payload swapped under a valid signature",
        "%s.%s.%s" % (h, b64url(b'{"sub":"admin","iss":"https://auth.test/","aud":"chat","exp":%d}'
                                % (now + 300)), s), "bad signature")
invalid("an empty signature", "%s.%s." % (h, p), ("bad signature", "malformed token"))
invalid("RS256 signed by another key (rsa2)", mint("RS256", key="rsa2.key"), "bad signature")
invalid("HS256 signed with another secret", mint("HS256", key="hmac2.secret"), "bad signature")
invalid("an expired token", EXPIRED, "token expired")
invalid("expired just beyond the leeway", mint("RS256", claims_=claims(exp=now - 30)), "token expired")
expect_101(gw, be, "expired within the leeway is accepted", token=mint("RS256", claims_=claims(exp=int(time.time()) - 2)))
invalid("nbf in the future", mint("RS256", claims_=claims(nbf=now + 600)), "token not yet valid")
expect_101(gw, be, "nbf within the leeway is accepted", token=mint("RS256", claims_=claims(nbf=int(time.time()) + 2)))
invalid("iat in the future", mint("RS256", claims_=claims(iat=now + 600)), "token issued in the future")
invalid("a wrong issuer", mint("RS256", claims_=claims(iss="https://evil.test/")), "issuer mismatch")
invalid("a wrong audience", mint("RS256", claims_=claims(aud="other")), "audience mismatch")
invalid("an audience array without ours", mint("RS256", claims_=claims(aud=["a", "b"])),
        "audience mismatch")
expect_101(gw, be, "an audience array containing ours is accepted",
           token=mint("RS256", claims_=claims(aud=["other", "chat"])))
invalid("a missing sub (require_claims)", mint("RS256", claims_=claims(sub=None)), "missing claim sub")
invalid("a missing exp (require_claims)", mint("RS256", claims_=claims(exp=None)), "missing claim exp")
invalid("a garbage token", "garbage", "malformed token")
invalid("two segments", "%s.%s" % (h, p), "malformed token")
invalid("four segments", RS + ".xx", "malformed token")
invalid("a header that is not JSON", "%s.%s.%s" % (b64url(b"not json"), p, s), "malformed token")
invalid("a non-base64url character", "%s.%s.%s" % (h, p[:5] + "*" + p[6:], s), "malformed token")
invalid("an unsupported critical header",
        mint("RS256", header={"crit": ["x-custom"], "x-custom": 1}), "unsupported critical header")
invalid("an invalid token in a cookie", None, "malformed token",
        headers=[("Cookie", "a=b; access_token=garbage")])
invalid("an invalid token in the subprotocol list", None, "token expired",
        headers=[("Sec-WebSocket-Protocol", "bearer, %s" % EXPIRED)])
invalid("an invalid token in the query (percent-encoded)", None, "bad signature",
        path="/?access_token=%s" % tamper_signature(RS))

# ---------------------------------------------------------------- step 7: route claims
W_SCOPE = 'Bearer realm="wsgate", error="insufficient_scope"'


def scope_reject(name, token):
    before = be.nconn
    c, resp = upgrade(gw, path="/admin", token=token)
    p = reject_problems(c, resp, 403, "insufficient_scope")
    www = resp.header("WWW-Authenticate") if resp else None
    if not www or not www.startswith(W_SCOPE):
        p.append("WWW-Authenticate %r, expected it to start with %r" % (www, W_SCOPE))
    p += no_new_conn(be, before)
    c.close()
    check(name, p)


scope_reject("require_claim unmet (roles [user]) -> 403 insufficient_scope",
             mint("RS256", claims_=claims(roles=["user"])))
scope_reject("require_claim unmet (no roles) -> 403 insufficient_scope", RS)
scope_reject("require_claim unmet (roles \"administrator\") -> 403",
             mint("RS256", claims_=claims(roles="administrator")))
expect_101(gw, be, "require_claim met by an array member", path="/admin", token=ADMIN)
expect_101(gw, be, "require_claim met by a string", path="/admin",
           token=mint("RS256", claims_=claims(roles="admin")))
expect_reject(gw, be, "an invalid token on /admin is 401 before the claim check", 401,
              "invalid_token", "token expired", path="/admin",
              token=mint("RS256", claims_=claims(exp=now - 600, roles=["admin"])))

# ---------------------------------------------------------------- key confusion without a secret
be3 = start_backend()
gw3 = Gateway(std_conf(be3.addr, jwt="""\
jwt {
    key_file @KEYS@/rsa.pub;
    algorithms RS256 HS256;
    issuer "https://auth.test/";
    audience chat;
    require_claims sub exp;
}
""", routes="route / { upstream @BACKEND@; origins any; }\n"), name="rsaonly")
expect_101(gw3, be3, "RSA-only gateway admits RS256", token=RS)
expect_reject(gw3, be3, "RSA-only gateway: HS256 signed with the RSA public key -> no matching key",
              401, "invalid_token", "no matching key", token=mint("HS256", key="rsa.pub"))

# ---------------------------------------------------------------- JWKS with kids
be4 = start_backend()
gw4 = Gateway(std_conf(be4.addr, jwt="""\
jwt {
    key_file @KEYS@/jwks.json;
    algorithms RS256 ES256 HS256;
    issuer "https://auth.test/";
    audience chat;
    require_claims sub exp;
}
""", routes="route / { upstream @BACKEND@; origins any; }\n"), name="jwks")
expect_101(gw4, be4, "JWKS: kid rsa1 RS256 is accepted", token=mint("RS256", kid="rsa1"))
expect_101(gw4, be4, "JWKS: kid ec1 ES256 is accepted", token=mint("ES256", kid="ec1"))
expect_101(gw4, be4, "JWKS: kid oct1 HS256 is accepted", token=mint("HS256", kid="oct1"))
expect_101(gw4, be4, "JWKS: a token without kid is accepted", token=RS)
expect_reject(gw4, be4, "JWKS: an unknown kid -> no matching key", 401, "invalid_token",
              "no matching key", token=mint("RS256", kid="nope"))
expect_reject(gw4, be4, "JWKS: kid rsa1 signed by rsa2 -> bad signature", 401, "invalid_token",
              "bad signature", token=mint("RS256", key="rsa2.key", kid="rsa1"))
expect_reject(gw4, be4, "JWKS: HS256 with kid rsa1 and the RSA public key is refused", 401,
              "invalid_token", token=mint("HS256", key="rsa.pub", kid="rsa1"))
expect_reject(gw4, be4, "JWKS: kid ec1 with an RS256 token is refused", 401, "invalid_token",
              token=mint("RS256", kid="ec1"))

# SPEC §9: a token never appears in any log (the query one included).
logs = gw.log() + gw2.log() + gw3.log() + gw4.log()
leaked = [name for name, t in (("RS", RS), ("ES", ES), ("HS", HS), ("ADMIN", ADMIN), ("EXPIRED", EXPIRED))
          if t.split(".")[2] in logs or t.split(".")[1] in logs]
ok(not leaked, "no token appears in the gateway logs", "leaked: %r" % leaked)

ok(gw.alive() and gw2.alive() and gw3.alive() and gw4.alive(), "every gateway is still running")
done()
