#!/usr/bin/python3
# Command line (SPEC §1): -V, -h, -t on good and bad configurations, unknown
# options, and the shipped conf/wsgate.conf.

import os
import re
import sys

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BIN, KEYS, SRCDIR, check, diag, done, free_port, is_, ok,  # noqa: E402
                        run, std_conf, subst, write_file)

# -V
rc, out, err = run([BIN, "-V"])
is_(rc, 0, "-V exits 0")
ok(re.search(r"\d+\.\d+", out + err), "-V prints a version", "stdout %r stderr %r" % (out, err))
ok("wsgate" in (out + err).lower(), "-V names the program", "stdout %r stderr %r" % (out, err))

# -h
rc, out, err = run([BIN, "-h"])
is_(rc, 0, "-h exits 0")
ok(re.search(r"usage", out + err, re.I) and "-c" in out + err and "-t" in out + err,
   "-h prints usage with -c and -t", "stdout %r stderr %r" % (out, err))

# unknown option
rc, out, err = run([BIN, "-Z"])
ok(rc != 0, "unknown option exits nonzero", "rc %r" % rc)
ok(re.search(r"usage", err, re.I), "unknown option prints usage on stderr",
   "stdout %r stderr %r" % (out, err))

# -t on a good configuration
good = subst(std_conf("127.0.0.1:%d" % free_port()), PORT=free_port())
path = write_file("good.conf", good)
rc, out, err = run([BIN, "-t", "-c", path])
is_(rc, 0, "-t good config exits 0")
want = "wsgate: configuration %s is ok" % path
ok(want in (out + err).splitlines(), "-t good config prints '%s'" % "wsgate: configuration FILE is ok",
   "want %r\nstdout %r\nstderr %r" % (want, out, err))

# The same with an option order of -c first.
rc2, out2, err2 = run([BIN, "-c", path, "-t"])
ok(rc2 == 0 and want in (out2 + err2).splitlines(), "-c FILE -t works in either order",
   "rc %r stdout %r stderr %r" % (rc2, out2, err2))

# A config using every core directive once, including optional ones.
full = subst("""\
listen 127.0.0.1:@PORT@;
workers auto;
max_connections 1000;
handshake_timeout 250ms;
upstream_connect_timeout 5s;
idle_timeout 0;
max_message_size 64k;
max_header_size 16k;
shutdown_timeout 1m;
access_log @TMP@/access.log json;
error_log stderr info;
jwt {
    key_file @KEYS@/rsa.pub;
    key_file @KEYS@/rsa.crt;
    key_file @KEYS@/ec384.pub;
    key_file @KEYS@/jwks.json;
    hmac_secret_file @KEYS@/hmac.secret;
    algorithms RS256 RS384 RS512 ES256 ES384 ES512 HS256 HS384 HS512;
    issuer "https://auth.test/";
    audience chat;
    audience other;
    leeway 30s;
    require_claims sub exp;
    token_sources header:Authorization header:X-Token cookie:access_token query:access_token subprotocol;
    on_expiry ignore;
}
# a comment line
route / {   # trailing comment
    upstream 127.0.0.1:9000 127.0.0.1:9001;
    origins any;
    require_claim roles chat;
    require_claim tenant "acme corp";
    identity_header sub X-Auth-Sub;
    claims_header X-Auth-Claims;
    strip_credentials off;
    auth on;
}
route /pub { upstream 127.0.0.1:9000; auth off; origins "null" "http://localhost:8080"; }
""", PORT=free_port())
path = write_file("full.conf", full)
rc, out, err = run([BIN, "-t", "-c", path])
ok(rc == 0 and ("wsgate: configuration %s is ok" % path) in (out + err).splitlines(),
   "-t accepts every core directive", "rc %r stdout %r stderr %r" % (rc, out, err))


def bad(name, text, want=None):
    """text marks the offending line with '#BAD'; -t must exit 1 with
    'wsgate: FILE:LINE: ...' on stderr."""
    text = subst(text, PORT=free_port())
    line = next(i + 1 for i, ln in enumerate(text.splitlines()) if "#BAD" in ln)
    path = write_file("bad-%s.conf" % re.sub(r"\W+", "-", name), text)
    rc, out, err = run([BIN, "-t", "-c", path])
    prefix = "wsgate: %s:%d: " % (path, line)
    p = []
    if rc != 1:
        p.append("exit code %r, expected 1" % rc)
    first = err.splitlines()[0] if err.strip() else ""
    if not any(ln.startswith(prefix) for ln in err.splitlines()):
        p.append("stderr has no line starting %r: %r" % (prefix, err))
    elif want and not re.search(want, err, re.I):
        p.append("message %r does not match /%s/" % (first, want))
    if "is ok" in out + err:
        p.append("says ok: %r" % (out + err))
    check("-t rejects %s at its line" % name, p)


BASE = subst(std_conf("127.0.0.1:9000"), PORT=free_port())


def with_line(text, after, line):
    """Inserts line after the first line containing after."""
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if after in ln)
    lines.insert(i + 1, line)
    return "\n".join(lines) + "\n"


def replace_line(text, contains, line):
    lines = text.splitlines()
    i = next(i for i, ln in enumerate(lines) if contains in ln)
    lines[i] = line
    return "\n".join(lines) + "\n"


bad("an unknown directive", with_line(BASE, "workers", "frobnicate 1; #BAD"), r"frobnicate|unknown")
bad("an unknown directive in a route", with_line(BASE, "route /admin", "    upstreams 127.0.0.1:1; #BAD"))
bad("an unknown directive in jwt", with_line(BASE, "jwt {", "    keyfile /x; #BAD"))
bad("a bad duration", replace_line(BASE, "handshake_timeout", "handshake_timeout 10parsecs; #BAD"))
bad("a bad size", replace_line(BASE, "max_message_size", "max_message_size lots; #BAD"))
bad("a bad workers value", replace_line(BASE, "workers", "workers -3; #BAD"))
bad("wrong arity", replace_line(BASE, "workers", "workers; #BAD"))
bad("a bad listen address", replace_line(BASE, "listen", "listen 127.0.0.1; #BAD"))
bad("a bad upstream address", replace_line(BASE, "    upstream ", "    upstream nowhere; #BAD"))
bad("a missing key file", replace_line(BASE, "rsa.pub", "    key_file %s/does-not-exist.pub; #BAD" % KEYS))
bad("a missing secret file", replace_line(BASE, "hmac_secret_file",
                                          "    hmac_secret_file %s/nope.secret; #BAD" % KEYS))
bad("a garbage key file", replace_line(BASE, "rsa.pub", "    key_file %s/bad-garbage.pem; #BAD" % KEYS))
bad("a JWKS with a syntax error", replace_line(BASE, "rsa.pub",
                                               "    key_file %s/bad-jwks-syntax.json; #BAD" % KEYS))
bad("'algorithms none'", replace_line(BASE, "algorithms", "    algorithms none; #BAD"), r"none")
bad("'none' among algorithms", replace_line(BASE, "algorithms", "    algorithms RS256 none; #BAD"), r"none")
bad("an unknown algorithm", replace_line(BASE, "algorithms", "    algorithms RS256 XS999; #BAD"))
bad("an unknown token source", replace_line(BASE, "token_sources", "    token_sources carrier:pigeon; #BAD"))
bad("a bad on/off flag", with_line(BASE, "route /public", "    strip_credentials maybe; #BAD"))
bad("a bad on_expiry", with_line(BASE, "jwt {", "    on_expiry explode; #BAD"))
bad("a bad log target level", replace_line(BASE, "error_log", "error_log stderr loud; #BAD"))

# Errors that are not about one directive still name the file.
path = write_file("unterminated.conf", BASE + "route /x {\n    upstream 127.0.0.1:9000;\n")
rc, out, err = run([BIN, "-t", "-c", path])
ok(rc == 1 and re.match(r"wsgate: %s:\d+: " % re.escape(path), err) and "PORT" not in err,
   "-t rejects an unterminated block with file:line",
   "rc %r stderr %r" % (rc, err))

path = write_file("nosemi.conf", replace_line(BASE, "workers", "workers 1"))
rc, out, err = run([BIN, "-t", "-c", path])
ok(rc == 1 and re.match(r"wsgate: %s:\d+: " % re.escape(path), err) and "PORT" not in err,
   "-t rejects a missing ';' with file:line",
   "rc %r stderr %r" % (rc, err))

rc, out, err = run([BIN, "-t", "-c", "/nonexistent/wsgate.conf"])
ok(rc == 1 and "/nonexistent/wsgate.conf" in err and err.startswith("wsgate: "),
   "-t on a missing file exits 1 naming it", "rc %r stderr %r" % (rc, err))

# Error messages never carry secret material.
secret = open(os.path.join(KEYS, "hmac.secret"), "rb").read()
path = write_file("secret-as-key.conf", replace_line(BASE, "rsa.pub",
                                                      "    key_file %s/hmac.secret; #BAD" % KEYS))
rc, out, err = run([BIN, "-t", "-c", path])
ok(rc == 1 and secret.decode("latin-1") not in err, "a secret used as key file fails without echoing it",
   "rc %r stderr %r" % (rc, err))

# The shipped configuration validates as is from the source tree.
conf = os.path.join(SRCDIR, "conf", "wsgate.conf")
rc, out, err = run([BIN, "-t", "-c", "conf/wsgate.conf"], cwd=SRCDIR)
ok(rc == 0 and "wsgate: configuration conf/wsgate.conf is ok" in (out + err).splitlines(),
   "-t on the shipped conf/wsgate.conf is ok", "rc %r stdout %r stderr %r" % (rc, out, err))
if rc != 0:
    diag("shipped config: %s" % conf)

done()
