# A private redis-server for the revocation tests, a minimal RESP client to
# drive it, and a TCP proxy that can cut the gateway off from Redis while the
# test itself keeps talking to it (an outage seen from the gateway only).

import os
import shutil
import socket
import subprocess
import threading
import time

from wsgatetest import TMP, _procs, bail, free_port, port_open, wait_for
from wsbackend import fence_listener, fence_taken

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class Redis:
    def __init__(self, port=None, notify=True):
        self.port = port or free_port()
        self.proc = None
        self.start(notify)

    def start(self, notify=True):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", TMP, "--protected-mode", "no",
                "--notify-keyspace-events", "K$" if notify else ""]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        _procs.append(self.proc)
        if not wait_for(lambda: port_open(self.port), 10):
            bail("redis-server did not start on port %d" % self.port)
        # A fresh connection per call keeps the client trivially correct.
        wait_for(lambda: self.ping(), 5)

    def kill(self):
        self.proc.kill()
        self.proc.wait(5)
        wait_for(lambda: not port_open(self.port), 5)

    def ping(self):
        try:
            return self.cmd("PING") == "PONG"
        except OSError:
            return False

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def cmd(self, *args):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        try:
            out = b"*%d\r\n" % len(args)
            for a in args:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
            s.sendall(out)
            f = s.makefile("rb")
            return _read_reply(f)
        finally:
            s.close()


def _read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode()
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RuntimeError("bad reply %r" % line)


class Proxy:
    """TCP forwarder in front of Redis. down() drops every connection and
    refuses new ones (they are accepted and closed at once); up() lets
    them through again."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port()
        self.is_up = True
        self.conns = []
        self.nconn = 0              # connections accepted (fences aside)
        self._fences = {}
        self.lock = threading.Lock()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", self.port))
        self.ls.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def fence(self, timeout=5.0):
        """Every connection made before the call is counted in nconn when
        this returns True (see wsbackend.Backend.fence); lets a proxied
        backend the test does not control be checked for absence."""
        return fence_listener("127.0.0.1", self.port, self._fences, self.lock, timeout)

    def _accept(self):
        while True:
            try:
                c, peer = self.ls.accept()
            except OSError:
                return
            if fence_taken(self._fences, self.lock, c, peer):
                continue
            with self.lock:
                self.nconn += 1
            if not self.is_up:
                c.close()
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    def _pipe(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self):
        self.is_up = False
        with self.lock:
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def up(self):
        self.is_up = True


def redis_cli(port, *args):
    """The operator's tool, exactly as documented."""
    cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
    return subprocess.run([cli, "-p", str(port)] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=10)
