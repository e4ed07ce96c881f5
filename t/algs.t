# PS256/PS384/PS512 and EdDSA (SPEC §14): admitted on the keys of their
# family, and every cross-family forgery refused with a 401 before any
# upstream connection exists. Tokens are minted by tools/jwtmint, which
# signs PS* and EdDSA with OpenSSL directly (libjwt 1.10 has neither).

import os
import sys

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BIN, Gateway, check, done, expect_101, expect_reject, free_port, mint, run,  # noqa: E402
                        start_backend, std_conf, subst, write_file)

JWT = """\
jwt {
    %s
    algorithms %s;
    issuer "https://auth.test/";
    audience chat;
    leeway 5s;
    require_claims sub exp;
}
"""


def jwt_block(keys, algs):
    return JWT % (" ".join("key_file @KEYS@/%s;" % k for k in keys), algs)


def bad(gw, be, name, tok, desc):
    expect_reject(gw, be, name, 401, "invalid_token", desc=desc,
                  www_auth='Bearer realm="wsgate", error="invalid_token", '
                           'error_description="%s"' % desc, token=tok)


be = start_backend()

# ---- every new algorithm admitted on the key of its family
gw = Gateway(std_conf(be.addr, jwt=jwt_block(["rsa.pub", "ed25519.pub"],
                                             "RS256 PS256 PS384 PS512 EdDSA")))
for alg in ("PS256", "PS384", "PS512"):
    expect_101(gw, be, "%s signed with rsa.key admitted" % alg, token=mint(alg, key="rsa.key"))
expect_101(gw, be, "EdDSA signed with ed25519.key admitted", token=mint("EdDSA", key="ed25519.key"))
expect_101(gw, be, "RS256 still admitted next to PS256", token=mint("RS256"))

# ---- the signature scheme is what the header names, nothing else
bad(gw, be, "RS256 signature presented as PS256: 401, backend saw nothing",
    mint("RS256", key="rsa.key", header={"alg": "PS256"}), "bad signature")
bad(gw, be, "PS256 signature presented as RS256: 401, backend saw nothing",
    mint("PS256", key="rsa.key", header={"alg": "RS256"}), "bad signature")
bad(gw, be, "PS256 signature presented as PS512: 401, backend saw nothing",
    mint("PS256", key="rsa.key", header={"alg": "PS512"}), "bad signature")
bad(gw, be, "PS256 signed with another RSA key: 401, backend saw nothing",
    mint("PS256", key="rsa2.key"), "bad signature")
bad(gw, be, "EdDSA signed by another Ed25519 key: 401, backend saw nothing",
    mint("EdDSA", key="ed25519b.key"), "bad signature")
bad(gw, be, "HS256 signed with the Ed25519 public key PEM (HS256 not listed): 401, backend saw nothing",
    mint("HS256", key="ed25519.pub"), "algorithm not allowed")

# ---- a PS token on an RS-only configuration
gw_rs = Gateway(std_conf(be.addr, jwt=jwt_block(["rsa.pub"], "RS256")))
bad(gw_rs, be, "PS256 token on an RS256-only config: 401, backend saw nothing",
    mint("PS256", key="rsa.key"), "algorithm not allowed")
bad(gw_rs, be, "EdDSA token on an RS256-only config: 401, backend saw nothing",
    mint("EdDSA", key="ed25519.key"), "algorithm not allowed")
expect_101(gw_rs, be, "RS256 admitted on the RS256-only config", token=mint("RS256"))

# ---- EdDSA allowed, but the key set holds only RSA keys
gw_ed_rsa = Gateway(std_conf(be.addr, jwt=jwt_block(["rsa.pub"], "RS256 PS256 EdDSA")))
bad(gw_ed_rsa, be, "EdDSA with an RSA key set: 401, backend saw nothing",
    mint("EdDSA", key="ed25519.key"), "no matching key")

# ---- JWKS with OKP keys: the kid selects, the family still decides
gw_jwks = Gateway(std_conf(be.addr, jwt=jwt_block(["jwks-okp.json"], "PS256 EdDSA")))
expect_101(gw_jwks, be, "EdDSA with kid ed1 (JWKS OKP) admitted",
           token=mint("EdDSA", key="ed25519.key", kid="ed1"))
expect_101(gw_jwks, be, "PS256 with kid rsa-ps (JWKS RSA, alg PS256) admitted",
           token=mint("PS256", key="rsa.key", kid="rsa-ps"))
bad(gw_jwks, be, "alg EdDSA whose kid names an RSA key: 401, backend saw nothing",
    mint("EdDSA", key="ed25519.key", kid="rsa-ps"), "no matching key")
bad(gw_jwks, be, "alg PS256 whose kid names an Ed25519 key: 401, backend saw nothing",
    mint("PS256", key="rsa.key", kid="ed1"), "no matching key")
bad(gw_jwks, be, "EdDSA signed by ed25519b with kid ed1: 401, backend saw nothing",
    mint("EdDSA", key="ed25519b.key", kid="ed1"), "bad signature")

# ---- -t: an allow-list no loaded key can serve is a configuration error
conf = write_file("ed-only-rsa.conf", subst(std_conf(be.addr, jwt=jwt_block(["rsa.pub"], "EdDSA")), PORT=free_port()))
rc, out, err = run([BIN, "-t", "-c", conf])
check("-t refuses algorithms EdDSA with only an RSA key", [] if rc == 1 and
      "no loaded key can verify any allowed algorithm (EdDSA)" in err else
      ["rc %d, stderr %r" % (rc, err)])
conf = write_file("ed-ok.conf", subst(std_conf(be.addr, jwt=jwt_block(["ed25519.pub"], "EdDSA")), PORT=free_port()))
rc, out, err = run([BIN, "-t", "-c", conf])
check("-t accepts algorithms EdDSA with an Ed25519 key",
      [] if rc == 0 and "is ok" in out else ["rc %d, stderr %r" % (rc, err)])

done()
