# Remote JWKS (SPEC §7): keys fetched over verified TLS from a JWKS server
# in this test (a private CA made with the openssl CLI), refetched on an
# unknown kid at most once per jwks_min_refresh, the last good set kept
# through 500s, garbage, oversized bodies and a certificate from another
# CA, 503 while no set exists yet, and -t refusing plain http URLs.

import os
import re
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BIN, KEYS, TMP, Gateway, Timeout, check, claims, diag, done,  # noqa: E402
                        expect_101, expect_reject, free_port, main_conf, mint, no_new_conn, ok,
                        reject_problems, run, start_backend, std_conf, subst, upgrade, wait_for,
                        write_file)

from idpserver import (BAD_CERT, CA, JWKS, OTHER_NAME_CERT, ROTATED, SRV_CERT,  # noqa: E402,F401
                       JwksServer, read_key_file)

# ---------------------------------------------------------------- config

ROUTES = """\
route / {
    upstream @BACKEND@;
    origins any;
}
route /public {
    upstream @BACKEND@;
    auth off;
}
"""


def jwt_block(url, min_refresh="3s", startup_wait="5s", refresh="1h", ca=CA, extra=""):
    return """\
jwt {
    jwks_url %s;
    jwks_ca_file %s;
    jwks_refresh %s;
    jwks_min_refresh %s;
    jwks_startup_wait %s;
    algorithms RS256 ES256;
    issuer "https://auth.test/";
    audience chat;
    leeway 5s;
    require_claims sub exp;
%s}
""" % (url, ca, refresh, min_refresh, startup_wait, extra)


def url(port, host="localhost"):
    return "https://%s:%d/jwks.json" % (host, port)


def long_claims():
    return claims(exp=int(time.time()) + 3600)


TOK_RSA1 = mint("RS256", key="rsa.key", kid="rsa1", claims_=long_claims())
TOK_EC1 = mint("ES256", key="ec256.key", kid="ec1", claims_=long_claims())
TOK_RSA2 = mint("RS256", key="rsa2.key", kid="rsa2", claims_=long_claims())
TOK_RSA1_WRONGKEY = mint("RS256", key="rsa2.key", kid="rsa1", claims_=long_claims())
TOK_UNKNOWN = [mint("RS256", key="rsa.key", kid="nope-%d" % i, claims_=long_claims())
               for i in range(10)]

NOKEY_AUTH = ('Bearer realm="wsgate", error="invalid_token", '
              'error_description="no matching key"')


def status_of(gw, tok, path="/"):
    try:
        c, resp = upgrade(gw, path=path, token=tok)
    except (Timeout, OSError) as e:
        return repr(e)
    c.close()
    return resp.status if resp else None


def log_lines(gw, pattern):
    return [ln for ln in gw.log().splitlines() if re.search(pattern, ln)]


be = start_backend()

# ---------------------------------------------------------------- wsgate -t


def check_conf(name, jwt):
    text = subst(std_conf(be.addr, routes=ROUTES, jwt=jwt), PORT=free_port())
    path = write_file(name + ".conf", text)
    rc, out, err = run([BIN, "-t", "-c", path])
    return path, rc, out, err


def line_of(path, word):
    with open(path) as f:
        for i, ln in enumerate(f, 1):
            if word in ln:
                return i
    return 0


srv = JwksServer()

path, rc, out, err = check_conf("t-good", jwt_block(url(srv.port)))
check("-t accepts a jwks_url with a CA file and no static key",
      [] if rc == 0 and "is ok" in out else ["rc %d: %s%s" % (rc, out, err)])

path, rc, out, err = check_conf("t-http", jwt_block("http://localhost:%d/jwks.json" % srv.port))
check("-t rejects a plain http jwks_url with file:line",
      [] if rc == 1 and re.search(r"^wsgate: %s:%d: jwks_url .*only https:// URLs are allowed"
                                  % (re.escape(path), line_of(path, "jwks_url")), err)
      else ["rc %d: %r" % (rc, err)])

for bad, why in (("https://", "missing host"), ("https://localhost:0/x", "invalid port"),
                 ("https://user@localhost/x", "user information"),
                 ("ftp://localhost/x", "expected https://")):
    path, rc, out, err = check_conf("t-bad", jwt_block(bad))
    check("-t rejects jwks_url %s (%s)" % (bad, why),
          [] if rc == 1 and why in err else ["rc %d: %r" % (rc, err)])

path, rc, out, err = check_conf("t-noca", jwt_block(url(srv.port), ca=os.path.join(TMP, "nope.crt")))
check("-t rejects a missing jwks_ca_file",
      [] if rc == 1 and "jwks_ca_file" in err and "No such file" in err else ["rc %d: %r" % (rc, err)])

path, rc, out, err = check_conf("t-notca", jwt_block(url(srv.port),
                                                     ca=os.path.join(KEYS, "hmac.secret")))
check("-t rejects a jwks_ca_file without certificates",
      [] if rc == 1 and "cannot load CA certificates" in err else ["rc %d: %r" % (rc, err)])

# ---------------------------------------------------------------- fetch and verify

gw = Gateway(std_conf(be.addr, routes=ROUTES, jwt=jwt_block(url(srv.port))), name="jwks")

ok(srv.n() == 1, "the key set was fetched once at start (%d)" % srv.n())
ok(log_lines(gw, r"notice jwks: .*3 keys loaded \(rsa1 ec1 oct1\)"),
   "the log names the keys loaded")
expect_101(gw, be, "RS256 token with kid rsa1 is accepted from the first request on",
           token=TOK_RSA1)
expect_101(gw, be, "ES256 token with kid ec1 is accepted", token=TOK_EC1)
expect_reject(gw, be, "kid rsa1 signed with another key: bad signature", 401, "invalid_token",
              "bad signature", token=TOK_RSA1_WRONGKEY)

# ---------------------------------------------------------------- rotation

# Past jwks_min_refresh (3s) since the start-up fetch.
ok(wait_for(lambda: srv.quiet_for() >= 3.2, 15, 0.05), "no fetch for a whole jwks_min_refresh")
srv.set("doc", ROTATED)
n0 = srv.n()
expect_reject(gw, be, "a token naming a kid the set lacks is rejected itself", 401,
              "invalid_token", "no matching key", NOKEY_AUTH, token=TOK_RSA2)
got = wait_for(lambda: status_of(gw, TOK_RSA2) == 101, 10.0, 0.1)
ok(got, "after rotation a token with kid rsa2 is accepted without a restart")
ok(srv.n() == n0 + 1, "exactly one refetch brought the new key (%d -> %d)" % (n0, srv.n()))
ok(log_lines(gw, r"info jwks: refetching https://localhost:%d/jwks.json: a token named a key"
             % srv.port), "the refetch is logged as caused by an unknown kid")
expect_101(gw, be, "kid rsa2 accepted end to end", token=TOK_RSA2)

# ---------------------------------------------------------------- rate limit

ok(wait_for(lambda: srv.quiet_for() >= 3.2, 15, 0.05), "no fetch for a whole jwks_min_refresh again")
n0 = srv.n()
kicks0 = len(log_lines(gw, r"jwks: refetching"))
t0 = time.monotonic()
nbe = be.nconn
p = []
for i, t in enumerate(TOK_UNKNOWN):
    try:
        c, resp = upgrade(gw, token=t)
    except (Timeout, OSError) as e:
        p.append("token %d: %r" % (i, e))
        continue
    p += ["token %d: %s" % (i, x) for x in
          reject_problems(c, resp, 401, "invalid_token", "no matching key", NOKEY_AUTH)]
    c.close()
burst_s = time.monotonic() - t0
check("a burst of unknown-kid tokens is rejected: 401 no matching key each, nothing upstream",
      p + no_new_conn(be, nbe))
# The first kick fetches at once; the next may only come a full interval
# after that fetch, so the count seen as soon as it moves must be one.
wait_for(lambda: srv.n() >= n0 + 1, 5.0)
ok(srv.n() == n0 + 1, "the burst caused one fetch within jwks_min_refresh (%d -> %d, burst %.1fs)"
   % (n0, srv.n(), burst_s))
# Watch a window a little longer than one interval: at most one more
# fetch. Waiting for the failure, a third fetch, ends the wait early.
wait_for(lambda: srv.n() > n0 + 2, max(0.0, 3.6 - (time.monotonic() - t0)), 0.05)
ok(srv.n() <= n0 + 2, "and at most one more when the interval ended (%d -> %d)" % (n0, srv.n()))
ok(len(log_lines(gw, r"jwks: refetching")) - kicks0 == srv.n() - n0,
   "every one of those fetches is logged as an unknown-kid refetch")

# ---------------------------------------------------------------- failures keep the last good set


def fail_case(mode, name, pattern):
    """Switch the server to a failing mode, make the gateway refetch (an
    unknown kid; the refetch may wait for the end of the interval) and check
    that the warning is logged and the current set still verifies."""
    warn = r"warn jwks: fetching https://localhost:%d/jwks.json failed \(keeping the last good key set\): .*%s" % (srv.port, pattern)
    before = len(log_lines(gw, warn))
    srv.set(mode)
    status_of(gw, TOK_UNKNOWN[0])
    logged = wait_for(lambda: len(log_lines(gw, warn)) > before, 8.0, 0.1)
    ok(logged, "%s: a warning with the reason is logged" % name)
    expect_101(gw, be, "%s: the last good set still verifies" % name, token=TOK_RSA2)


fail_case("500", "HTTP 500", r"HTTP status 500")
# The retries of one failure streak (backoff 1s, 2s) do not repeat the warning.
n0 = srv.n()
wait_for(lambda: srv.n() >= n0 + 2, 5.0, 0.1)
warns = log_lines(gw, r"warn jwks: .*HTTP status 500")
ok(srv.n() >= n0 + 2 and len(warns) == 1,
   "a failure streak logs its reason once (%d retries, %d warnings)" % (srv.n() - n0, len(warns)))
fail_case("garbage", "a body that is not JSON", r"invalid JSON")
fail_case("big", "a body over 1 MiB", r"larger than the limit")
fail_case("wrongca", "a certificate from another CA", r"certificate verification failed")
fail_case("wrongname", "a certificate for another host name",
          r"certificate verification failed: [Hh]ostname mismatch")

# Recovery, with a chunked response this time: rsa1 is back.
srv.set("chunked", JWKS)
status_of(gw, TOK_RSA1)
got = wait_for(lambda: status_of(gw, TOK_RSA1) == 101, 10.0, 0.2)
ok(got, "the server recovers (chunked response): kid rsa1 accepted again")
ok(log_lines(gw, r"notice jwks: fetching https://localhost:%d/jwks.json works again after \d+ failed"
             % srv.port), "the recovery is logged")
expect_reject(gw, be, "the new set replaced the old one: rsa2 is gone", 401, "invalid_token",
              "no matching key", token=TOK_RSA2)

# ---------------------------------------------------------------- reload

n0 = srv.n()
gw.reload()
ok(wait_for(lambda: log_lines(gw, r"configuration .* reloaded"), 5.0),
   "SIGHUP reloads the configuration")
expect_101(gw, be, "right after a reload the set is still there", token=TOK_RSA1)
ok(wait_for(lambda: srv.n() > n0, 5.0), "a reload fetches the set again")

# ---------------------------------------------------------------- server down at start
# (and an IP literal in the URL: the certificate's IP SAN is checked, no SNI)

down_port = free_port()
gw2 = Gateway(std_conf(be.addr, routes=ROUTES,
                       jwt=jwt_block(url(down_port, "127.0.0.1"), min_refresh="1s",
                                     startup_wait="1s")),
              name="jwks-down")
ok(log_lines(gw2, r"warn jwks: no key set from .* yet; routes with auth answer 503"),
   "start with the JWKS server down: the gateway says so and serves after jwks_startup_wait")
ok(log_lines(gw2, r"warn jwks: fetching .* failed \(no key set yet\): cannot connect"),
   "the connection failure is logged")
expect_reject(gw2, be, "while no key set exists, auth routes answer 503", 503,
              "service_unavailable", "signing keys not available yet", token=TOK_RSA1)
expect_101(gw2, be, "routes without auth work meanwhile", path="/public")
srv2 = JwksServer(port=down_port)
got = wait_for(lambda: status_of(gw2, TOK_RSA1) == 101, 10.0, 0.2)
ok(got, "once the JWKS server is up, tokens are accepted without a restart")
expect_101(gw2, be, "kid ec1 too", token=TOK_EC1)

gw.stop()
gw2.stop()
srv.stop()
srv2.stop()
done()
