#!/usr/bin/python3
# The verified-token cache (token_cache): the same token verified once per
# worker, revocation still looked up on every handshake, expiry honoured
# at exp + leeway, and a reload never reusing a verification made under
# the old configuration.

import os
import re
import sys
import time
import urllib.request

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BASE_JWT, Gateway, claims, done, expect_101, expect_reject,  # noqa: E402
                        free_port, is_, main_conf, mint, ok, start_backend, std_conf, wait_for)
from redistest import Redis, redis_cli  # noqa: E402

be = start_backend()
redis = Redis()
sport = free_port()
JWT0 = BASE_JWT.replace("leeway 5s;", "leeway 0;")


def conf(cache="64", jwt=JWT0):
    return std_conf(be.addr, jwt=jwt,
                    main=main_conf(workers=1, status_listen="127.0.0.1:%d" % sport, redis=redis.addr,
                                   redis_prefix='"wsgate:"', token_cache=cache))


def lookups(port=None):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % (port or sport), timeout=5) as r:
        text = r.read().decode()
    got = dict(re.findall(r'wsgate_token_cache_lookups_total\{result="(hit|miss)"\} (\d+)', text))
    ent = re.search(r"^wsgate_token_cache_entries (\d+)$", text, re.M)
    return int(got.get("hit", -1)), int(got.get("miss", -1)), int(ent.group(1)) if ent else -1


gw = Gateway(conf(), name="tokcache")
tok = mint("RS256", claims_=claims(sub="cache-user", jti="jti-cache-1"))
h0, m0, _ = lookups()
expect_101(gw, be, "first handshake with a token", token=tok)
h1, m1, e1 = lookups()
is_((h1 - h0, m1 - m0), (0, 1), "the first use of a token is a miss, verified in full")
ok(e1 >= 1, "and it is cached", e1)
expect_101(gw, be, "the same token again", token=tok)
h2, m2, _ = lookups()
is_((h2 - h1, m2 - m1), (1, 0), "the same token again is a hit")

# Revocation is looked up for every handshake, cached or not.
redis_cli(redis.port, "SET", "wsgate:revoked:jti:jti-cache-1", "1", "EX", "600")
expect_reject(gw, be, "a cached token revoked since: 401 token revoked", 401, "invalid_token",
              desc="token revoked", token=tok)
h3, _, _ = lookups()
is_(h3 - h2, 1, "that refusal came after a cache hit: the cache never skips revocation")

# Expiry: a cached token stops being honoured at exp + leeway (0 here).
exp = int(time.time()) + 2
short = mint("RS256", claims_=claims(sub="short", exp=exp))
expect_101(gw, be, "a token with two seconds left", token=short)
expect_101(gw, be, "reused while valid (a hit)", token=short)
ok(wait_for(lambda: time.time() > exp + 1, timeout=6), "the token's exp has passed")
expect_reject(gw, be, "the cached token after its exp: 401 token expired", 401, "invalid_token",
              desc="token expired", token=short)

# A reload (here: another issuer) makes every cached verification miss.
fresh = mint("RS256", claims_=claims(sub="reload-user"))
expect_101(gw, be, "a token cached before the reload", token=fresh)
gw.write_conf(conf(jwt=JWT0.replace('issuer "', 'issuer "x')))
before = gw.log().count("reloaded")
gw.reload()
ok(wait_for(lambda: gw.log().count("reloaded") > before, timeout=5), "reloaded")
expect_reject(gw, be, "after a reload that changes the issuer, the cached token is checked anew",
              401, "invalid_token", desc="issuer mismatch", token=fresh)
gw.stop()

# token_cache 0: no lookup at all.
gw0 = Gateway(conf(cache="0"), name="tokcache-off")
hb, mb, _ = lookups()
again = mint("RS256", claims_=claims(sub="nocache", jti="jti-nocache"))
for _ in range(2):
    expect_101(gw0, be, "token_cache 0: handshake", token=again)
ha, ma, ea = lookups()
is_((ha - hb, ma - mb, ea), (0, 0, 0), "token_cache 0: the cache is never consulted")
gw0.stop()
done()
