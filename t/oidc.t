# oidc_discovery (SPEC §14): the OpenID discovery document is fetched over
# verified TLS from a local HTTPS identity provider (t/lib/idpserver.py,
# the server of t/jwks.t), its jwks_uri is used as the jwks_url, a document
# whose issuer differs from the configured one is refused with the last
# good keys kept and a clear log line, and jwks_refresh fetches both again.

import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BIN, Gateway, Timeout, check, claims, done, expect_101,  # noqa: E402
                        expect_reject, free_port, mint, ok, run, start_backend, std_conf, subst,
                        upgrade, wait_for, write_file)
from idpserver import CA, ROTATED, JwksServer  # noqa: E402

ISSUER = "https://auth.test/"
ROUTES = """\
route / {
    upstream @BACKEND@;
    origins any;
}
"""


def jwt_block(disc, issuer=ISSUER, refresh="1s", extra=""):
    return """\
jwt {
    oidc_discovery %s;
    jwks_ca_file %s;
    jwks_refresh %s;
    jwks_min_refresh 1s;
    jwks_startup_wait 5s;
    algorithms RS256 ES256;
%s    audience chat;
    leeway 5s;
    require_claims sub exp;
%s}
""" % (disc, CA, refresh, 'issuer "%s";\n    ' % issuer if issuer else "", extra)


def discovery(issuer, jwks_uri):
    return json.dumps({"issuer": issuer, "jwks_uri": jwks_uri,
                       "authorization_endpoint": "https://auth.test/authorize",
                       "id_token_signing_alg_values_supported": ["RS256"]}).encode()


def status_of(gw, tok):
    try:
        c, resp = upgrade(gw, token=tok)
    except (Timeout, OSError) as e:
        return repr(e)
    c.close()
    return resp.status if resp else None


def long_claims():
    return claims(exp=int(time.time()) + 3600)


be = start_backend()
idp = JwksServer()
DISC = "https://localhost:%d/.well-known/openid-configuration" % idp.port
JWKS_URI = "https://localhost:%d/jwks.json" % idp.port
idp.set_discovery(discovery(ISSUER, JWKS_URI))

TOK1 = mint("RS256", key="rsa.key", kid="rsa1", claims_=long_claims())
TOK2 = mint("RS256", key="rsa2.key", kid="rsa2", claims_=long_claims())

# ---- -t
for name, jwt, want in [
        ("plain http", jwt_block("http://localhost:%d/x" % idp.port), "only https:// URLs are allowed"),
        ("without issuer", jwt_block(DISC, issuer=None), "oidc_discovery needs issuer"),
        ("next to jwks_url", jwt_block(DISC, extra="    jwks_url %s;\n" % JWKS_URI),
         "oidc_discovery and jwks_url exclude each other")]:
    path = write_file("t-%s.conf" % name.replace(" ", "-"),
                      subst(std_conf(be.addr, routes=ROUTES, jwt=jwt), PORT=free_port()))
    rc, out, err = run([BIN, "-t", "-c", path])
    check("-t refuses oidc_discovery %s" % name,
          [] if rc == 1 and want in err and re.search(r"\.conf:\d+: ", err) else
          ["rc %d, stderr %r" % (rc, err)])
path = write_file("t-good.conf", subst(std_conf(be.addr, routes=ROUTES, jwt=jwt_block(DISC)),
                                       PORT=free_port()))
rc, out, err = run([BIN, "-t", "-c", path])
ok(rc == 0 and "is ok" in out, "-t accepts oidc_discovery https with issuer", err)

# ---- discovery, then the jwks_uri
gw = Gateway(std_conf(be.addr, routes=ROUTES, jwt=jwt_block(DISC)))
ok(idp.n_discovery() >= 1 and idp.n() >= 1, "the gateway read the discovery document, then the jwks_uri")
ok(wait_for(lambda: "names jwks_uri %s" % JWKS_URI in gw.log(), 5), "the jwks_uri taken is logged")
expect_101(gw, be, "token signed by a key of the discovered JWKS admitted", token=TOK1)
expect_reject(gw, be, "token of a key the discovered JWKS lacks: 401, backend saw nothing", 401,
              "invalid_token", desc="no matching key", token=TOK2)

# ---- an issuer mismatch: refused, last good keys kept, logged clearly
idp.set_discovery(discovery("https://evil.test/", JWKS_URI))
idp.set("doc", ROTATED)       # the provider's keys change under the wrong issuer
n0 = idp.n_discovery()
ok(wait_for(lambda: re.search(r'discovery document refused: its issuer "https://evil.test/" is not '
                              r'the configured issuer "https://auth.test/"', gw.log()), 6),
   "the refused issuer is logged with both issuers")
ok(re.search(r"jwks: fetching \S+openid-configuration failed \(keeping the last good key set\)",
             gw.log()), "the log line says the last good key set is kept")
ok(wait_for(lambda: idp.n_discovery() >= n0 + 2, 6), "jwks_refresh fetches the discovery document again")
ok(status_of(gw, TOK1) == 101, "after the refused document the last good keys still admit")
expect_reject(gw, be, "keys served under the wrong issuer are not taken: 401, backend saw nothing",
              401, "invalid_token", desc="no matching key", token=TOK2)

# ---- the issuer fixed: the new keys come in on the next refresh
idp.set_discovery(discovery(ISSUER, JWKS_URI))
ok(wait_for(lambda: status_of(gw, TOK2) == 101, 8), "issuer right again: the rotated key admits")
ok(wait_for(lambda: status_of(gw, TOK1) == 401, 5), "and the key the provider dropped stops verifying")

# ---- a jwks_uri that is not https is refused the same way
idp.set_discovery(discovery(ISSUER, "http://localhost:%d/jwks.json" % idp.port))
ok(wait_for(lambda: "discovery document refused: jwks_uri only https:// URLs are allowed" in gw.log(), 6),
   "a plain http jwks_uri is refused and logged")
ok(status_of(gw, TOK2) == 101, "the last good keys stay in use")

# ---- explain mode fetches through discovery too
idp.set_discovery(discovery(ISSUER, JWKS_URI))
rc, out, err = run([BIN, "-c", gw.conf_path, "-x", "/"], input=(TOK2 + "\n").encode())
ok(rc == 0 and "remote keys" in out and "status           101" in out,
   "wsgate -x with oidc_discovery: keys fetched, admitted", out + err)

gw.stop()
idp.stop()
done()
