#!/usr/bin/python3
# What binding socket.io polling sessions to their sid costs, and how fast
# an ended sid is enforced: one wsgate (1 worker, "socketio on") with Redis
# in front of the real socket.io 4 server of t/lib/siobackend.js (node and
# contrib/examples/nestjs-chat/node_modules needed).
#   - session: SESSIONS polling sessions one after another, each the
#     handshake GET, a POST with a CONNECT token, the GET with its answer
#     and the client's close POST, through wsgate and straight to the
#     backend: time per session, and gateway CPU per session (the open
#     packet read, the sid entered, the CONNECT checked and bound, every
#     poll looked up and admitted with the sid's identity);
#   - revocation: REVOKES bound sessions, each with a GET poll pending, are
#     revoked one at a time in Redis: time from the SET to the goodbye on
#     the pending poll, and whether the backend's Engine.IO session closed.
# Run from the top of the source tree after make; see contrib/bench/README.md.

import argparse
import json
import os
import shutil
import socket
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsbench import (built, TOP, BenchError, Procs, cpu_seconds, free_port, loadavg,  # noqa: E402
                     mint_hs256, percentile, port_open, redis_cmd_sync, start_redis, wait_for)

MODS = os.path.join(TOP, "contrib", "examples", "nestjs-chat", "node_modules")
POLL = "/socket.io/?EIO=4&transport=polling"


def parse_args():
    ap = argparse.ArgumentParser(prog="sio-polling-costs.py",
                                 description="Measure socket.io polling sessions through wsgate.")
    ap.add_argument("--sessions", type=int, default=300, help="polling sessions timed (default 300)")
    ap.add_argument("--revokes", type=int, default=50, help="sessions revoked (default 50)")
    ap.add_argument("--gateway", default=built(os.path.join("src", "wsgate")),
                    help="wsgate binary (default ./src/wsgate, else build/src/wsgate)")
    ap.add_argument("--secret", default=os.path.join(TOP, "t", "keys", "hmac.secret"),
                    help="HS256 secret file (default t/keys/hmac.secret)")
    return ap.parse_args()


class Http:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, method, path, body=b""):
        h = "%s %s HTTP/1.1\r\nHost: x\r\n" % (method, path)
        if method == "POST":
            h += "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n" % len(body)
        self.s.sendall(h.encode() + b"\r\n" + body)

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise BenchError("connection closed before a response")
            self.buf += d
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        n = 0
        for ln in head.split(b"\r\n")[1:]:
            k, _, v = ln.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise BenchError("connection closed in a response body")
            self.buf += d
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(head.split(b" ")[1]), body

    def request(self, method, path, body=b""):
        self.send(method, path, body)
        return self.response()

    def close(self):
        self.s.close()


SEQ = [0]


def token(secret, sub):
    SEQ[0] += 1
    now = int(time.time())
    c = {"iss": "https://auth.bench/", "aud": "chat", "sub": sub, "iat": now - 1, "exp": now + 600,
         "jti": "poll-%d-%d" % (os.getpid(), SEQ[0])}
    return mint_hs256(secret, c), c


def connected(h, tok):
    st, b = h.request("GET", POLL)
    if st != 200 or not b.startswith(b"0{"):
        raise BenchError("handshake answered %r %r" % (st, b[:80]))
    sid = json.loads(b[1:])["sid"]
    st, b = h.request("POST", POLL + "&sid=" + sid, b'40{"token":"%s"}' % tok.encode())
    if st != 200:
        raise BenchError("CONNECT answered %r %r" % (st, b[:80]))
    st, b = h.request("GET", POLL + "&sid=" + sid)
    if st != 200 or b"40{" not in b:
        raise BenchError("no CONNECT answer: %r %r" % (st, b[:80]))
    return sid


def session_phase(a, secret, port, pid, name):
    lat = []
    c0 = cpu_seconds(pid) if pid else 0.0
    for i in range(a.sessions):
        tok, _ = token(secret, "s%d" % i)
        t0 = time.perf_counter()
        h = Http(port)
        sid = connected(h, tok)
        st, _ = h.request("POST", POLL + "&sid=" + sid, b"1")
        lat.append((time.perf_counter() - t0) * 1000)
        h.close()
    cpu = (cpu_seconds(pid) - c0) if pid else 0.0
    s = sorted(lat)
    print("polling session (handshake, CONNECT, its answer, close), %s: p50_ms %.3f p99_ms %.3f"
          % (name, percentile(s, 50), percentile(s, 99)))
    if pid:
        print("gateway CPU per polling session: %.1f us" % (cpu / a.sessions * 1e6))
    return percentile(s, 50)


def revoke_phase(a, secret, port, redis, backend_log):
    lat = []
    closed = 0
    for i in range(a.revokes):
        tok, c = token(secret, "r%d" % i)
        h = Http(port)
        sid = connected(h, tok)
        h.send("GET", POLL + "&sid=" + sid)
        time.sleep(0.02)            # the poll is held by the backend
        t0 = time.perf_counter()
        redis_cmd_sync(redis, "SET", "wsgate:revoked:jti:" + c["jti"], "1", "EX", "600")
        st, b = h.response()
        lat.append((time.perf_counter() - t0) * 1000)
        if (st, b) != (200, b"41\x1e1"):
            raise BenchError("the pending poll got %r %r" % (st, b[:80]))
        h.close()
        if wait_for(lambda: ('"engine_close","sid":"%s"' % sid) in open(backend_log).read(), 3):
            closed += 1
    s = sorted(lat)
    print("revocation to the goodbye on the pending poll (%d sessions): p50_ms %.3f p99_ms %.3f"
          % (a.revokes, percentile(s, 50), percentile(s, 99)))
    print("backend Engine.IO sessions closed by the gateway's close packet: %d of %d" % (closed, a.revokes))


def main():
    a = parse_args()
    node = os.environ.get("NODE") or shutil.which("node")
    if not node or not os.path.isdir(os.path.join(MODS, "socket.io")):
        sys.stderr.write("sio-polling-costs: node and contrib/examples/nestjs-chat/node_modules are needed\n")
        return 1
    procs = Procs("wsgate-siopolling-")
    secret = open(a.secret, "rb").read().strip()
    try:
        _, redis = start_redis(procs, notify=True)
        blog = os.path.join(procs.tmp, "siobackend.out")
        procs.start("siobackend", [node, os.path.join(TOP, "t", "lib", "siobackend.js"), MODS],
                    stdout=open(blog, "wb"))
        be = wait_for(lambda: next((json.loads(ln)["port"] for ln in open(blog)
                                    if '"listening"' in ln), None), 20)
        if not be:
            raise BenchError("socket.io backend did not start:\n%s" % procs.log("siobackend"))
        port = free_port()
        conf = os.path.join(procs.tmp, "wsgate.conf")
        with open(conf, "w") as f:
            f.write("""\
listen 127.0.0.1:{port};
workers 1;
error_log stderr warn;
redis 127.0.0.1:{redis};
redis_prefix "wsgate:";
jwt {{
    hmac_secret_file {secret};
    algorithms HS256;
    issuer "https://auth.bench/";
    audience chat;
}}
route /socket.io/ {{
    upstream 127.0.0.1:{be};
    socketio on;
    identity_header sub X-Auth-Sub;
}}
""".format(port=port, redis=redis, secret=os.path.abspath(a.secret), be=be))
        gw = procs.start("gateway", [os.path.abspath(a.gateway), "-c", conf])
        if not wait_for(lambda: gw.poll() is not None or port_open(port), 10) or gw.poll() is not None:
            raise BenchError("wsgate did not start:\n%s" % procs.log("gateway"))
        print("# wsgate 1 worker, HS256, redis-server and socket.io 4 on loopback; load %s" % loadavg())
        direct = session_phase(a, secret, be, None, "direct to the backend")
        via = session_phase(a, secret, port, gw.pid, "through wsgate")
        print("wsgate extra per polling session p50: %.3f ms" % (via - direct))
        revoke_phase(a, secret, port, redis, blog)
    except BenchError as e:
        sys.stderr.write("sio-polling-costs: %s\n" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
