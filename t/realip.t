#!/usr/bin/python3
# real_ip_from / real_ip_header (SPEC §13) with Debian's nginx in front of
# wsgate: the client address is the right-most X-Forwarded-For entry not
# in real_ip_from, for X-Forwarded-For, X-Real-IP, max_connections_per_ip,
# the access log and /sessions; untrusted peers' headers count for nothing.

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (TMP, Gateway, WSClient, _procs, bail, check, claims, done,  # noqa: E402
                        expect_101, free_port, listening, main_conf, mint, ok, skip,
                        start_backend, std_conf, upgrade, wait_for, write_file)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

be = start_backend()
sport = free_port()
alog = os.path.join(TMP, "access.log")
main = main_conf(status_listen="127.0.0.1:%d" % sport, access_log="%s json" % alog,
                 max_connections_per_ip="2") + \
    "real_ip_from 127.0.0.1/32 192.0.2.0/24;\nreal_ip_header X-Forwarded-For;\n"
gw = Gateway(std_conf(be.addr, main=main), name="realip")
TOK = mint("RS256", claims_=claims(sub="alice", roles=["chat"]))


class Front:
    def __init__(self, port, source):
        self.port, self.source = port, source

    def client(self, timeout=5.0):
        return _Client(self.port, self.source, timeout)


class _Client(WSClient):
    def __init__(self, port, source, timeout):
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.response = None
        self.key = None
        self._msg_parts = []
        self._msg_op = None


def seen(front, name, headers=()):
    """Admits one session; returns (client, X-Forwarded-For, X-Real-IP)."""
    c, bc, resp = expect_101(front, be, name, close=False, token=TOK, headers=list(headers))
    if bc is None:
        if c:
            c.close()
        return None, None, None
    return c, bc.header("X-Forwarded-For"), bc.header("X-Real-IP")


# ---- a trusted peer (127.0.0.1) and an untrusted one (127.0.0.5), directly ----------
c, xff, xri = seen(Front(gw.port, "127.0.0.1"), "trusted peer with X-Forwarded-For",
                   [("X-Forwarded-For", "198.51.100.4, 203.0.113.7, 192.0.2.9")])
ok(xri == "203.0.113.7", "trusted peer: X-Real-IP is the right-most untrusted entry", xri)
ok(xff == "198.51.100.4, 203.0.113.7, 192.0.2.9, 203.0.113.7",
   "trusted peer: the client address is appended to X-Forwarded-For", xff)
c and c.close()
c, xff, xri = seen(Front(gw.port, "127.0.0.5"), "untrusted peer with X-Forwarded-For",
                   [("X-Forwarded-For", "203.0.113.66")])
ok(xri == "127.0.0.5" and xff == "203.0.113.66, 127.0.0.5",
   "untrusted peer: its header does not name the client", (xff, xri))
c and c.close()
c, xff, xri = seen(Front(gw.port, "127.0.0.1"), "trusted peer without the header")
ok(xri == "127.0.0.1" and xff == "127.0.0.1", "no header: the peer is the client", (xff, xri))
c and c.close()
c, xff, xri = seen(Front(gw.port, "127.0.0.1"), "trusted peer, every hop trusted",
                   [("X-Forwarded-For", "192.0.2.1, 192.0.2.2")])
ok(xri == "192.0.2.1", "all entries trusted: the left-most", xri)
c and c.close()

# ---- Debian's nginx in front -----------------------------------------------------
if not os.path.exists(NGINX):
    skip("nginx in front", "no nginx")
    done()
nport = free_port()
nroot = os.path.join(TMP, "nginx")
os.makedirs(os.path.join(nroot, "logs"), exist_ok=True)
ncfg = write_file("nginx.conf", """\
daemon off;
master_process off;
worker_processes 1;
pid %(root)s/nginx.pid;
error_log %(root)s/logs/error.log info;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %(root)s/body;
    proxy_temp_path %(root)s/proxy;
    fastcgi_temp_path %(root)s/fastcgi;
    uwsgi_temp_path %(root)s/uwsgi;
    scgi_temp_path %(root)s/scgi;
    server {
        listen 127.0.0.1:%(nport)d;
        location / {
            proxy_pass http://127.0.0.1:%(gw)d;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }
    }
}
""" % {"root": nroot, "nport": nport, "gw": gw.port})
nlog = open(os.path.join(TMP, "nginx.out"), "ab")
ng = subprocess.Popen([NGINX, "-p", nroot, "-c", ncfg], stdin=subprocess.DEVNULL, stdout=nlog,
                      stderr=nlog)
_procs.append(ng)
if not wait_for(lambda: listening(ng.pid, nport), 10):
    bail("nginx did not start: %s" % open(os.path.join(TMP, "nginx.out")).read()[-500:])

via5, via6 = Front(nport, "127.0.0.5"), Front(nport, "127.0.0.6")
c, xff, xri = seen(via5, "through nginx: admitted")
ok(xri == "127.0.0.5", "through nginx: X-Real-IP is the client's address", xri)
ok(xff == "127.0.0.5, 127.0.0.5", "through nginx: X-Forwarded-For ends with the client", xff)
c and c.close()
c, xff, xri = seen(via5, "through nginx with a forged X-Forwarded-For",
                   [("X-Forwarded-For", "203.0.113.99")])
ok(xri == "127.0.0.5", "a client's forged entry left of nginx's is not believed", (xff, xri))
c and c.close()

held = []
for i in range(2):
    c, xff, xri = seen(via5, "through nginx: per-IP slot %d of 2" % (i + 1))
    if c:
        held.append(c)
c, resp = upgrade(via5, token=TOK)
ok(resp is not None and resp.status == 429,
   "through nginx: a third connection from the same client gets 429", resp and resp.status)
c.close()
c, xff, xri = seen(via6, "through nginx: another client is not limited by the first")
ok(xri == "127.0.0.6", "through nginx: the other client's address", xri)
if c:
    held.append(c)
with urllib.request.urlopen("http://127.0.0.1:%d/sessions" % sport, timeout=5) as r:
    sess = json.loads(r.read().decode())
remotes = sorted(x.get("remote") for x in sess)
ok(remotes == ["127.0.0.5", "127.0.0.5", "127.0.0.6"], "/sessions shows the clients' addresses",
   remotes)
for x in held:
    x.close()


def access_remotes():
    try:
        return [json.loads(ln).get("remote") for ln in open(alog) if ln.startswith("{")]
    except (OSError, ValueError):
        return []


ok(wait_for(lambda: access_remotes().count("127.0.0.6") == 1, 5),
   "the access log names the client, not nginx", access_remotes())
ng.terminate()
ng.wait(5)
done()
