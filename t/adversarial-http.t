#!/usr/bin/python3
# One reading of the request (SPEC §3a), tried as an attacker would: path
# spellings that a decoding backend reads as a protected route, header names
# with '_' that WSGI reads as identity headers, and spoofed client address
# headers. Each case, as a plain HTTP request and as a WebSocket upgrade,
# asserts what the client got and what the backend saw: the normalised path
# and headers, or no connection at all for a refusal. Two kinds of backend:
# Python's wsgiref (the decoding reader: PATH_INFO, HTTP_* environ keys) and
# the raw test backends (the exact forwarded bytes).

import json
import os
import sys
import time
import urllib.request

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from httpbackend import HTTPBackend  # noqa: E402
from wsgibackend import WSGIBackend  # noqa: E402
from wsgatetest import (BASE_JWT, Gateway, _backends, check, claims, done, free_port,  # noqa: E402
                        main_conf, mint, ok, raw_exchange, start_backend, upgrade_head,
                        wait_for)

wsgi = WSGIBackend().start()
_backends.append(wsgi)
hb = HTTPBackend().start()
_backends.append(hb)
wsb = start_backend()

ROUTES = """\
route / {
    upstream @UP@;
    plain_http on;
    auth off;
}
route /admin {
    upstream @UP@;
    plain_http on;
    require_claim roles admin;
    identity_header sub X-Auth-Sub;
}
route /app {
    upstream @UP@;
    plain_http on;
    identity_header sub X-Auth-Sub;
    identity_header roles X-User-Roles;
    claims_header X-Auth-Claims;
}
"""


def gateway(name, up, **main):
    conf = main_conf(handshake_timeout="2s", **main) + BASE_JWT + ROUTES.replace("@UP@", up)
    return Gateway(conf, name=name)


SPORT = free_port()
gw_w = gateway("wsgi", wsgi.addr)
gw_wi = gateway("wsgi-insensitive", wsgi.addr, route_case="insensitive", access_log="stderr")
gw_wu = gateway("wsgi-underscores", wsgi.addr, underscores_in_headers="on")
gw_rh = gateway("raw-http", hb.addr)
gw_rw = gateway("raw-ws", wsb.addr, status_listen="127.0.0.1:%d" % SPORT)

ADMIN = mint("RS256", claims_=claims(sub="alice", roles=["user", "admin"]))
USER = mint("RS256", claims_=claims(sub="alice", roles=["user"]))


# ---------------------------------------------------------------- backends
# What one backend saw for one request: the request line, the header list
# (raw backends) or the HTTP_* environ (wsgiref), and connection counts.

class Seen:
    def __init__(self, line, headers=None, env=None, path_info=None):
        self.line = line
        self.target = line.split(" ")[1] if line and line.count(" ") >= 2 else None
        self.headers = headers      # [(name, value)] as received, raw backends
        self.env = env              # {"HTTP_...": value}, wsgiref
        self.path_info = path_info

    def names(self):
        return [n for n, _ in self.headers or []]

    def all(self, name):
        return [v for n, v in self.headers or [] if n.lower() == name.lower()]


def backend_of(gw):
    return {gw_w: "wsgi", gw_wi: "wsgi", gw_wu: "wsgi", gw_rh: "http", gw_rw: "ws"}[gw]


def nconn(kind):
    return {"wsgi": lambda: wsgi.nconn, "http": lambda: hb.nconn, "ws": lambda: wsb.nconn}[kind]()


def nseen(kind):
    if kind == "wsgi":
        return len(wsgi.records)
    if kind == "http":
        return len(hb.requests)
    return len([c for c in wsb.conns if c.request_line])


def seen(kind, i):
    if kind == "wsgi":
        r = wsgi.records[i]
        return Seen(r["request_line"], env=r["http"], path_info=r["PATH_INFO"])
    if kind == "http":
        r = hb.requests[i]
        return Seen(r.request_line, headers=r.headers)
    c = [c for c in wsb.conns if c.request_line][i]
    return Seen(c.request_line, headers=c.headers)


# ---------------------------------------------------------------- requests

def request(gw, mode, target, headers=(), token=None):
    """Sends one request (mode "http": a plain GET with Connection: close,
    mode "ws": a WebSocket upgrade) and returns the response (or None)."""
    h = list(headers)
    if token:
        h.append(("Authorization", "Bearer " + token))
    host = "127.0.0.1:%d" % gw.port
    if mode == "ws":
        head, _ = upgrade_head(target, host=host, headers=h)
    else:
        lines = ["GET %s HTTP/1.1" % target, "Host: " + host] + ["%s: %s" % hv for hv in h]
        lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    c, resp = raw_exchange(gw, head)
    c.close()
    return resp


def admitted_status(gw, mode):
    # wsgiref answers every request 200, upgrades included (relayed, then closed).
    return 101 if backend_of(gw) == "ws" else 200


def case(name, gw, mode, target, status, want_target=None, headers=(), token=None, more=None):
    """One test point. status: what the client must get. want_target: the
    request target the backend must see (None: the backend must see no
    connection at all). more(seen) returns extra problems."""
    kind = backend_of(gw)
    c0, s0 = nconn(kind), nseen(kind)
    resp = request(gw, mode, target, headers, token)
    p = []
    got = resp.status if resp else None
    if got != status:
        p.append("client got %r, expected %r (%r)" % (got, status, resp.raw_head[:200] if resp else None))
    if want_target is None:
        time.sleep(0.05)          # a late upstream connect would land here
        if nconn(kind) != c0:
            p.append("backend saw %d connection(s) for a refused request" % (nconn(kind) - c0))
    elif not wait_for(lambda: nseen(kind) > s0, 3):
        p.append("backend saw no request")
    else:
        sw = seen(kind, s0)
        if sw.target != want_target:
            p.append("backend request line %r, expected target %r" % (sw.line, want_target))
        if sw.path_info is not None and "?" not in want_target and "%" not in want_target \
                and sw.path_info != want_target:
            p.append("backend PATH_INFO %r, expected %r" % (sw.path_info, want_target))
        if more:
            p += more(sw)
    check("%s [%s %s]" % (name, mode, gw.name), p)


MODES = ("http", "ws")
# wsgiref takes both kinds of request; the raw backends one each.
PAIRS = [(gw_w, "http"), (gw_w, "ws"), (gw_rh, "http"), (gw_rw, "ws")]
RAW_PAIRS = [(gw_rh, "http"), (gw_rw, "ws")]

# ---------------------------------------------------------------- class 3: paths
# Spellings of /admin: routed, and forwarded, as /admin. Without a token
# they meet /admin's checks (401), never the public / route.
SPELLINGS = [
    ("/%61dmin/users", "/admin/users"),
    ("/%61%64%6D%69%6E/users", "/admin/users"),
    ("//admin/users", "/admin/users"),
    ("///admin//users", "/admin/users"),
    ("/x/../admin/users", "/admin/users"),
    ("/x/%2e%2e/admin/users", "/admin/users"),
    ("/x/%2E%2e/admin/users", "/admin/users"),
    ("/x/.%2E/admin/users", "/admin/users"),
    ("/x/./../admin/users", "/admin/users"),
    ("/x//..//admin/users", "/admin/users"),
    ("/./admin/users", "/admin/users"),
    ("/%2e/admin/users", "/admin/users"),
    ("/admin/users/x/..", "/admin/users/"),
    ("/admin;x=1/users", "/admin;x=1/users"),
]
for gw, mode in PAIRS:
    for raw, norm in SPELLINGS:
        case("%s without a token meets /admin: 401" % raw, gw, mode, raw, 401)
        case("%s with the admin role reaches the backend as %s" % (raw, norm), gw, mode, raw,
             admitted_status(gw, mode), norm, token=ADMIN)
    case("%s with a token without the role: 403" % SPELLINGS[0][0], gw, mode, SPELLINGS[0][0],
         403, token=USER)

# Absolute-form targets go through the same normalisation.
for gw, mode in PAIRS:
    t = "http://127.0.0.1:%d/x/%%2e%%2e/%%61dmin" % gw.port
    case("absolute-form %s without a token: 401" % t, gw, mode, t, 401)
    case("absolute-form %s with the admin role: origin-form /admin" % t, gw, mode, t,
         admitted_status(gw, mode), "/admin", token=ADMIN)

# What a backend could read another way is refused, whatever the route.
REFUSED = [
    "/admin%2Fusers", "/admin%2fusers", "/x%2F..%2Fadmin", "/public%2F..%2Fadmin",
    "/admin%5Cusers", "/x%5c..%5cadmin", "/x\\..\\admin", "/admin\\users",
    "/admin%00", "/admin%00.json", "/ad%zzmin", "/admin%4", "/admin%", "/admin%g0",
    "/../admin", "/%2e%2e/admin", "/.%2E/admin", "/x/../../admin", "/admin/../..",
    "/..;/admin", "/x/..;/admin", "/x/.;/admin", "/;x/admin", "/x/%2e%2e;/admin",
]
for gw, mode in PAIRS:
    for raw in REFUSED:
        case("%s -> 400" % raw, gw, mode, raw, 400)
        case("%s -> 400 even with the admin role" % raw, gw, mode, raw, 400, token=ADMIN)

# Double encoding is decoded once: %252F stays %252F (a '%2F' to the backend
# after its own decoding, never a separator we missed), on the public route.
for gw, mode in PAIRS:
    case("/%252Fadmin stays /%252Fadmin on the public route", gw, mode, "/%252Fadmin",
         admitted_status(gw, mode), "/%252Fadmin")
    case("/%2561dmin stays /%2561dmin on the public route", gw, mode, "/%2561dmin",
         admitted_status(gw, mode), "/%2561dmin")
    case("/caf%c3%a9 reaches the backend with upper-case hex", gw, mode, "/caf%c3%a9",
         admitted_status(gw, mode), "/caf%C3%A9")
    case("/%7euser: an encoded unreserved '~' is decoded", gw, mode, "/%7euser",
         admitted_status(gw, mode), "/~user")


def wsgi_path(want):
    return lambda sw: [] if sw.path_info == want else ["PATH_INFO %r, expected %r" % (sw.path_info, want)]


for mode in MODES:
    case("wsgiref decodes /%252Fadmin once, to /%2Fadmin", gw_w, mode, "/%252Fadmin", 200,
         "/%252Fadmin", more=wsgi_path("/%2Fadmin"))

# The query is never touched: kept byte for byte, only the token parameter
# goes (strip_credentials).
Q = "a=%2e%2e/%2F&b=..%5C&c=%00&d=%61"
for gw, mode in PAIRS:
    case("query kept as sent behind a normalised path", gw, mode, "/x/../%61dmin?" + Q,
         admitted_status(gw, mode), "/admin?" + Q, token=ADMIN)
    case("query token: path normalised, token parameter stripped", gw, mode,
         "/x/%%2e%%2e/admin?access_token=%s&z=1" % ADMIN, admitted_status(gw, mode), "/admin?z=1")

# route_case: with sensitive (the default) /ADMIN is another path, served by
# the public route and by a case-sensitive backend as /ADMIN; with
# insensitive, for Express or ASP.NET backends, it meets /admin's checks.
for mode in MODES:
    case("route_case sensitive: /ADMIN is the public route's, forwarded as /ADMIN", gw_w, mode,
         "/ADMIN/users", 200, "/ADMIN/users", more=wsgi_path("/ADMIN/users"))
    for raw in ("/ADMIN/users", "/Admin/users", "/%41DMIN/users", "/x/../aDmIn/users"):
        case("route_case insensitive: %s without a token: 401" % raw, gw_wi, mode, raw, 401)
        case("route_case insensitive: %s with a token without the role: 403" % raw, gw_wi, mode,
             raw, 403, token=USER)
    case("route_case insensitive: /ADMIN with the admin role keeps its spelling", gw_wi, mode,
         "/%41DMIN/users", 200, "/ADMIN/users", token=ADMIN)
    case("route_case insensitive: /APP meets /app's checks", gw_wi, mode, "/APP", 401)

# ---------------------------------------------------------------- class 4: headers
# Spoofed identity spelt with '_' (WSGI reads it as X-Auth-Sub, and joins it
# with the real one): the backend sees only the verified identity.


def env_is(**want):
    def f(sw):
        p = []
        for k, v in want.items():
            got = sw.env.get(k)
            if got != v:
                p.append("%s %r, expected %r (environ %r)" % (k, got, v, sw.env))
        return p
    return f


def no_values(*bad):
    def f(sw):
        vals = list((sw.env or {}).values()) + [v for _, v in sw.headers or []]
        hits = [v for v in vals if any(b in v for b in bad)]
        return ["spoofed value reached the backend: %r" % hits] if hits else []
    return f


def both(*fs):
    return lambda sw: sum((f(sw) for f in fs), [])


SPOOFS = [
    ("X_Auth_Sub: root alone", [("X_Auth_Sub", "root")]),
    ("X_Auth_Sub: root next to a spoofed X-Auth-Sub", [("X_Auth_Sub", "root"), ("X-Auth-Sub", "root2")]),
    ("X-Auth-Sub then X_Auth_Sub", [("X-Auth-Sub", "root"), ("X_Auth_Sub", "root2")]),
    ("x_auth_sub: root", [("x_auth_sub", "root")]),
    ("X-Auth_Sub: root", [("X-Auth_Sub", "root")]),
    ("X_AUTH_SUB: root", [("X_AUTH_SUB", "root")]),
    ("X_User_Roles: admin (an injected name without X-Auth-)", [("X_User_Roles", "root")]),
    ("X_Auth_Claims (the claims header)", [("X_Auth_Claims", "root")]),
    ("X_Auth_Anything: root", [("X_Auth_Anything", "root")]),
]
for gw in (gw_w, gw_wu):
    for mode in MODES:
        for name, hdrs in SPOOFS:
            case("%s: the backend sees only the verified sub" % name, gw, mode, "/app", 200, "/app",
                 headers=hdrs, token=USER,
                 more=both(env_is(HTTP_X_AUTH_SUB="alice", HTTP_X_USER_ROLES="user"),
                           no_values("root")))

# The same spoofs seen byte for byte: no name with '_' reaches the backend,
# one X-Auth-Sub, the verified one.


def raw_headers_ok(sw):
    p = []
    us = [n for n in sw.names() if "_" in n]
    if us:
        p.append("names with '_' forwarded: %r" % us)
    if sw.all("X-Auth-Sub") != ["alice"]:
        p.append("X-Auth-Sub %r, expected ['alice']" % sw.all("X-Auth-Sub"))
    if sw.all("X-Real-IP") != ["127.0.0.1"]:
        p.append("X-Real-IP %r, expected ['127.0.0.1']" % sw.all("X-Real-IP"))
    return p


for gw, mode in RAW_PAIRS:
    for name, hdrs in SPOOFS:
        case("%s: exact forwarded headers" % name, gw, mode, "/app",
             admitted_status(gw, mode), "/app", headers=hdrs, token=USER,
             more=both(raw_headers_ok, no_values("root")))

# underscores_in_headers: off drops a harmless My_Header too; on keeps it,
# and still removes every name that reads as one of ours.
for mode in MODES:
    case("underscores_in_headers off: My_Header dropped", gw_w, mode, "/app", 200, "/app",
         headers=[("My_Header", "harmless")], token=USER,
         more=lambda sw: [] if "HTTP_MY_HEADER" not in sw.env else ["HTTP_MY_HEADER %r" % sw.env])
    case("underscores_in_headers on: My_Header kept, X_Auth_Sub still removed", gw_wu, mode, "/app",
         200, "/app", headers=[("My_Header", "harmless"), ("X_Auth_Sub", "root")], token=USER,
         more=both(env_is(HTTP_MY_HEADER="harmless", HTTP_X_AUTH_SUB="alice"), no_values("root")))
    case("underscores_in_headers on: address headers spelt with '_' removed", gw_wu, mode, "/app",
         200, "/app", headers=[("X_Real_IP", "6.6.6.6"), ("X_Forwarded_For", "6.6.6.6"),
                               ("X_Forwarded_Host", "evil.example"), ("X_Forwarded_Proto", "https")],
         token=USER,
         more=both(env_is(HTTP_X_REAL_IP="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1",
                          HTTP_X_FORWARDED_PROTO="http"),
                   lambda sw: ["HTTP_X_FORWARDED_HOST %r" % sw.env["HTTP_X_FORWARDED_HOST"]]
                   if "HTTP_X_FORWARDED_HOST" in sw.env else [],
                   no_values("6.6.6.6", "evil")))

# Client address headers: Forwarded, X-Real-IP and X-Forwarded-Host removed,
# X-Real-IP set to the peer, X-Forwarded-For appended to.
ADDR_SPOOF = [("Forwarded", "for=6.6.6.6;host=evil.example;proto=https"), ("X-Real-IP", "6.6.6.6"),
              ("x-real-ip", "7.7.7.7"), ("X-Forwarded-Host", "evil.example"),
              ("X-Forwarded-For", "10.1.1.1")]


def address_ok(sw):
    if sw.env is not None:
        p = env_is(HTTP_X_REAL_IP="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.1.1, 127.0.0.1")(sw)
        p += ["%s reached the backend" % k for k in ("HTTP_FORWARDED", "HTTP_X_FORWARDED_HOST")
              if k in sw.env]
        return p
    p = []
    if sw.all("X-Real-IP") != ["127.0.0.1"]:
        p.append("X-Real-IP %r" % sw.all("X-Real-IP"))
    if sw.all("X-Forwarded-For") != ["10.1.1.1, 127.0.0.1"]:
        p.append("X-Forwarded-For %r" % sw.all("X-Forwarded-For"))
    for n in ("Forwarded", "X-Forwarded-Host"):
        if sw.all(n):
            p.append("%s %r reached the backend" % (n, sw.all(n)))
    return p


for gw, mode in PAIRS:
    case("client Forwarded, X-Real-IP, X-Forwarded-Host replaced", gw, mode, "/app",
         admitted_status(gw, mode), "/app", headers=ADDR_SPOOF, token=USER,
         more=both(address_ok, no_values("6.6.6.6", "7.7.7.7", "evil")))
    case("X-Real-IP set by wsgate on a public route too", gw, mode, "/pub",
         admitted_status(gw, mode), "/pub",
         more=lambda sw: env_is(HTTP_X_REAL_IP="127.0.0.1")(sw) if sw.env is not None else
         ([] if sw.all("X-Real-IP") == ["127.0.0.1"] else ["X-Real-IP %r" % sw.all("X-Real-IP")]))

# ---------------------------------------------------------------- logs and /sessions
# The access log shows the normalised path with the query token redacted;
# /sessions shows the normalised path of a live session.
before = len(gw_w.log())
resp = request(gw_w, "http", "/x/%%2e%%2e/%%61dmin/users?access_token=%s&z=1" % ADMIN)
ok(resp is not None and resp.status == 200, "query-token request through a dot segment admitted")


def access_paths(gw, since):
    out = []
    for ln in gw.log()[since:].splitlines():
        ln = ln.strip()
        if ln.startswith("{") and '"path"' in ln:
            try:
                out.append(json.loads(ln)["path"])
            except (ValueError, KeyError):
                pass
    return out


ok(wait_for(lambda: "/admin/users?access_token=REDACTED&z=1" in access_paths(gw_w, before), 3),
   "access log: normalised path, token value redacted", access_paths(gw_w, before))
ok(ADMIN not in gw_w.log() and ADMIN.split(".")[2] not in gw_w.log(), "no token in the gateway log")

# The plain access log: the normalised path, a raw '"' in it escaped.
before = len(gw_wi.log())
resp = request(gw_wi, "http", '/x/../%61"b?access_token=' + USER)
ok(resp is not None and resp.status == 200, "request with a '\"' in the path admitted")
ok(wait_for(lambda: '"GET /a\\x22b" 200' in gw_wi.log()[before:], 3),
   "plain access log: normalised path, '\"' escaped, no query", gw_wi.log()[before:][-600:])
ok(USER not in gw_wi.log(), "plain access log: no token")

c = gw_rw.client()
c.send(upgrade_head("/x/%2e%2e/%61dmin/./live?access_token=" + ADMIN,
                    host="127.0.0.1:%d" % gw_rw.port)[0])
resp = c.read_response(5.0)
ok(resp is not None and resp.status == 101, "live session through /x/%2e%2e/%61dmin/./live")


def sessions():
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/sessions" % SPORT, timeout=2) as r:
            return json.loads(r.read().decode())
    except (OSError, ValueError):
        return []


live = wait_for(lambda: [s for s in sessions() if s.get("route") == "/admin"], 3)
ok(live and live[0].get("path") == "/admin/live", "/sessions shows the normalised path", live)
ok(live and ADMIN not in json.dumps(live), "/sessions carries no token")
c.close()

done()
