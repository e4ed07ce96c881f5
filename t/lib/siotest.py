# What the socket.io tests share: the real socket.io 4 server of
# t/lib/siobackend.js (its JSON event log) and a kept-alive HTTP/1.1
# client for the polling transport. Standard library only.

import json
import os
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsgatetest import SRCDIR, TMP, _procs, wait_for  # noqa: E402

MODS = os.path.join(SRCDIR, "contrib", "examples", "nestjs-chat", "node_modules")


class SioBackend:
    """t/lib/siobackend.js under node; events(ev) reads its log."""

    def __init__(self, node, name="siobackend", env=None):
        self.log_path = os.path.join(TMP, name + ".log")
        self.proc = subprocess.Popen([node, os.path.join(SRCDIR, "t", "lib", "siobackend.js"), MODS],
                                     stdout=open(self.log_path, "wb"),
                                     stderr=open(self.log_path + ".err", "wb"),
                                     stdin=subprocess.DEVNULL,
                                     env=dict(os.environ, **(env or {})))
        _procs.append(self.proc)
        self.port = wait_for(lambda: self._port(), 20, 0.05)
        if not self.port:
            sys.stdout.write("Bail out! socket.io backend did not start: %s\n"
                             % open(self.log_path + ".err").read()[-2000:])
            sys.exit(1)

    def _port(self):
        for e in self.events("listening"):
            return e["port"]
        return None

    def events(self, ev=None):
        out = []
        try:
            with open(self.log_path) as f:
                for ln in f:
                    try:
                        e = json.loads(ln)
                    except ValueError:
                        continue
                    if ev is None or e.get("ev") == ev:
                        out.append(e)
        except OSError:
            pass
        return out

    def count(self, ev):
        return len(self.events(ev))


class Http:
    """A kept-alive HTTP/1.1 client connection to port."""

    def __init__(self, port, poll_path=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""
        self.poll_path = poll_path

    def send(self, method, path, body=b"", headers=()):
        h = "%s %s HTTP/1.1\r\nHost: x\r\n" % (method, path)
        for n, v in headers:
            h += "%s: %s\r\n" % (n, v)
        if method == "POST":
            h += "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: %d\r\n" % len(body)
        self.s.sendall(h.encode() + b"\r\n" + body)

    def response(self, timeout=5):
        """(status, headers, body) of the next response, (None, {}, b"")
        when none came in time."""
        dl = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if not self._fill(dl):
                return None, {}, b""
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        hd = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            hd[k.strip().lower()] = v.strip()
        n = int(hd.get("content-length", "0"))
        while len(self.buf) < n:
            if not self._fill(dl):
                break
        b, self.buf = self.buf[:n], self.buf[n:]
        return int(lines[0].split(" ")[1]), hd, b

    def request(self, method, path, body=b"", headers=(), timeout=5):
        self.send(method, path, body, headers)
        return self.response(timeout)

    def _fill(self, dl):
        self.s.settimeout(max(0.01, dl - time.monotonic()))
        try:
            d = self.s.recv(65536)
        except OSError:
            return False
        self.buf += d
        return bool(d)

    def eof(self, timeout=3):
        dl = time.monotonic() + timeout
        while time.monotonic() < dl:
            self.s.settimeout(max(0.01, dl - time.monotonic()))
            try:
                if not self.s.recv(65536):
                    return True
            except socket.timeout:
                return False
            except OSError:
                return True
        return False

    def handshake(self, headers=()):
        st, _, b = self.request("GET", self.poll_path, headers=headers)
        return json.loads(b[1:])["sid"] if st == 200 and b.startswith(b"0{") else None

    def close(self):
        self.s.close()
