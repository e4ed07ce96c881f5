#!/usr/bin/python3
# Interop with the clients people really use (SPEC §10, DESIGN "Tests"):
# socket.io-client, node's ws, headless Chromium through playwright-core and
# python3-websockets, against the NestJS example in
# contrib/examples/nestjs-chat behind a real wsgate with a private Redis.
# The node parts live in t/interop/*.mjs and print TAP lines that are
# relayed here. Skipped when node or the npm installs are missing
# (.ci/run installs them with npm ci).

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (BASE_JWT, KEYS, MINT, SRCDIR, TMP, Gateway, _procs, check, claims,  # noqa: E402
                        diag, done, free_port, main_conf, mint, no_new_conn, ok, port_open, skip,
                        start_backend,
                        tamper_signature, wait_for)

INTEROP = os.path.join(SRCDIR, "t", "interop")
EXAMPLE = os.path.join(SRCDIR, "contrib", "examples", "nestjs-chat")
NODE = shutil.which("node")

missing = None
if not NODE:
    missing = "node not installed"
elif not os.path.isdir(os.path.join(INTEROP, "node_modules")):
    missing = "t/interop/node_modules missing (npm ci in t/interop)"
elif not os.path.isdir(os.path.join(EXAMPLE, "node_modules")):
    missing = "contrib/examples/nestjs-chat/node_modules missing (npm ci there)"
if missing:
    sys.stdout.write("1..0 # SKIP %s\n" % missing)
    sys.exit(0)

from redistest import Proxy, Redis  # noqa: E402

# ---------------------------------------------------------------- the example backend
rc = subprocess.run([os.path.join(EXAMPLE, "node_modules", ".bin", "tsc"), "-p",
                     os.path.join(EXAMPLE, "tsconfig.json")], capture_output=True, timeout=300)
if not ok(rc.returncode == 0, "the NestJS example compiles (tsc)",
          (rc.stdout + rc.stderr).decode("utf-8", "replace")[-3000:]):
    done()

nest_port = free_port()
nest_log = open(os.path.join(TMP, "nest.log"), "wb")
nest = subprocess.Popen([NODE, os.path.join(EXAMPLE, "dist", "main.js")], cwd=EXAMPLE,
                        env=dict(os.environ, PORT=str(nest_port), HOST="127.0.0.1"),
                        stdout=nest_log, stderr=nest_log, stdin=subprocess.DEVNULL)
_procs.append(nest)
if not ok(wait_for(lambda: nest.poll() is not None or port_open(nest_port), 30, 0.1)
          and nest.poll() is None, "the NestJS example starts",
          open(os.path.join(TMP, "nest.log")).read()[-3000:]):
    done()

# ---------------------------------------------------------------- pages for Chromium


class Pages(http.server.BaseHTTPRequestHandler):
    files = {
        "/app/index.html": (os.path.join(INTEROP, "page", "index.html"), "text/html"),
        "/app/reauth.html": (os.path.join(INTEROP, "page", "reauth.html"), "text/html"),
        "/app/socket.io.min.js": (os.path.join(INTEROP, "node_modules", "socket.io-client", "dist",
                                               "socket.io.min.js"), "text/javascript"),
    }

    def do_GET(self):
        f = self.files.get(self.path.split("?")[0])
        if not f:
            self.send_error(404)
            return
        data = open(f[0], "rb").read()
        self.send_response(200)
        self.send_header("Content-Type", f[1])
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


pages = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
threading.Thread(target=pages.serve_forever, daemon=True).start()

# ---------------------------------------------------------------- wsgate and Redis
redis = Redis()
# /stats reaches the NestJS app through a counting forwarder, so that a
# refused request can be shown not to have reached it.
stats_px = Proxy(nest_port)
ROUTES = """\
route /socket.io/ {
    upstream 127.0.0.1:%d;
    plain_http on;
    origins "http://127.0.0.1:@PORT@";
    identity_header sub X-Auth-Sub;
    identity_header roles X-Auth-Roles;
}
route /stats {
    upstream %s;
    plain_http on;
    require_claim roles admin;
}
route /app/ {
    upstream 127.0.0.1:%d;
    plain_http on;
    auth off;
    origins any;
}
""" % (nest_port, stats_px.addr, pages.server_address[1])
gw = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"', revocation_sweep="1s",
                       error_log="stderr info") + BASE_JWT + ROUTES, name="interop")

# The same backend behind a second gateway whose route reads the token from
# socket.io CONNECT packets (io(url, {auth: {token}})).
SIO_ROUTES = """\
route /socket.io/ {
    upstream 127.0.0.1:%d;
    socketio on;
    socketio_require_claim /admin roles admin;
    identity_header sub X-Auth-Sub;
    identity_header roles X-Auth-Roles;
}
""" % nest_port
gw2 = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"', error_log="stderr info")
              + BASE_JWT + SIO_ROUTES, name="interop-sio")

# A third, for in-band re-auth: leeway 0, so a token's exp is its end.
echo = start_backend()
REAUTH_ROUTES = """\
route /socket.io/ {
    upstream 127.0.0.1:%d;
    socketio on;
    reauth on;
    identity_header sub X-Auth-Sub;
}
route /plain {
    upstream %s;
    reauth on;
    origins any;
}
route /app/ {
    upstream 127.0.0.1:%d;
    plain_http on;
    auth off;
    origins any;
}
""" % (nest_port, echo.addr, pages.server_address[1])
gw3 = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"', error_log="stderr info")
              + BASE_JWT.replace("leeway 5s;", "leeway 0;") + REAUTH_ROUTES, name="interop-reauth")

# graphql-ws: the example server behind a gateway that reads connection_init.
GQL_EXAMPLE = os.path.join(SRCDIR, "contrib", "examples", "graphql-ws")
gql_port = free_port()
gql_log = open(os.path.join(TMP, "gql.log"), "wb")
gql = subprocess.Popen([NODE, os.path.join(GQL_EXAMPLE, "server.mjs")], cwd=GQL_EXAMPLE,
                       env=dict(os.environ, PORT=str(gql_port), HOST="127.0.0.1",
                                MODULES_FROM=os.path.join(INTEROP, "node_modules")),
                       stdout=gql_log, stderr=gql_log, stdin=subprocess.DEVNULL)
_procs.append(gql)
ok(wait_for(lambda: gql.poll() is not None or port_open(gql_port), 30, 0.1) and gql.poll() is None,
   "the graphql-ws example server starts", open(os.path.join(TMP, "gql.log")).read()[-3000:])
GQL_ROUTES = """\
route /graphql-down {
    upstream 127.0.0.1:%d;
}
route /graphql {
    upstream 127.0.0.1:%d;
    require_claim scope graphql;
    identity_header sub X-Auth-Sub;
}
""" % (free_port(), gql_port)
gw4 = Gateway(main_conf(redis=redis.addr, redis_prefix='"wsgate:"', error_log="stderr info")
              + BASE_JWT.replace("subprotocol;", "subprotocol graphql_ws;") + GQL_ROUTES, name="interop-gql")

env = dict(os.environ, GW2_PORT=str(gw2.port), GW3_PORT=str(gw3.port),
           GQL_GW_PORT=str(gw4.port), GQL_PORT=str(gql_port), GW_PORT=str(gw.port), NEST_PORT=str(nest_port), REDIS_PORT=str(redis.port),
           WSGATE_MINT=MINT, KEYS=KEYS)


def relay(argv, name, timeout=180):
    """Runs one script and turns its TAP lines into test points here."""
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, cwd=INTEROP, env=env, capture_output=True, timeout=timeout)
        out, err, code = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode("utf-8", "replace")
        err, code = "timed out after %ds" % timeout, -1
    points = 0
    for ln in out.splitlines():
        if ln.startswith("ok - ") and " # SKIP " in ln:
            n, why = ln[5:].split(" # SKIP ", 1)
            skip(n, why)
            points += 1
        elif ln.startswith("ok - ") or ln.startswith("not ok - "):
            good = ln.startswith("ok - ")
            ok(good, ln[5:] if good else ln[9:])
            points += 1
        elif ln.startswith("#"):
            diag(ln[1:].strip())
    if code != 0 or points == 0:
        ok(False, "%s ran to the end (exit %r, %d points)" % (name, code, points), err[-3000:])
    else:
        diag("%s: %d points in %.1fs" % (name, points, time.monotonic() - t0))


relay([NODE, "socketio.mjs"], "socket.io-client")
relay([NODE, "wsclose.mjs"], "ws close codes")
relay([NODE, "sioauth.mjs"], "socket.io auth (socketio on)")
relay([NODE, "reauth.mjs"], "in-band re-auth (reauth on)")
relay([NODE, "graphqlws.mjs"], "graphql-ws first-message tokens (graphql_ws)")
relay(["/usr/bin/python3", os.path.join(INTEROP, "subprotocol.py"), str(gw.port),
       mint("RS256", claims_=claims(sub="proto-user")), tamper_signature(mint("RS256"))],
      "python3-websockets")
n_origin = gw.log().count('"reason":"origin_not_allowed"')
relay([NODE, "browser.mjs"], "chromium")
if os.path.exists(os.environ.get("CHROMIUM", "/usr/bin/chromium")):
    ok(gw.log().count('"reason":"origin_not_allowed"') > n_origin,
       "chromium, other origin: refused by wsgate's Origin check (403), not only by CORS")

# the example's own REST endpoint behind the same gateway, admin only
import urllib.request  # noqa: E402
import urllib.error  # noqa: E402


def get(path, tok):
    r = urllib.request.Request("http://127.0.0.1:%d%s" % (gw.port, path),
                               headers={"Authorization": "Bearer " + tok})
    try:
        with urllib.request.urlopen(r, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


st, body = get("/stats", mint("RS256", claims_=claims(roles=["admin"])))
ok(st == 200 and b'"handled"' in body, "REST next to the socket: /stats through wsgate for an admin")
n_px = stats_px.nconn
st, body = get("/stats", mint("RS256", claims_=claims(roles=["user"])))
try:
    err = json.loads(body).get("error")
except ValueError:
    err = None
check("REST next to the socket: /stats refused (403 insufficient_scope) without the admin role, "
      "nothing reaches the app", ([] if (st, err) == (403, "insufficient_scope") else ["got %r %r" % (st, body)])
      + no_new_conn(stats_px, n_px))

pages.shutdown()
nest.terminate()
done()
