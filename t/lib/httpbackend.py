#!/usr/bin/python3
# A plain HTTP/1.1 backend for the tests (stdlib only, raw sockets so that
# it can misbehave on purpose). It records every TCP connection and every
# request it reads (head, headers, decoded body, how the body was framed),
# keeps connections alive, and answers by path:
#   /echo...      200, JSON {method, target, headers, body} with Content-Length
#   /chunked...   200, the same JSON sent chunked in 3 pieces, with a trailer
#   /status/NNN   NNN with no body (204, 304) or a short one
#   /big/N        200 with N bytes of body (Content-Length)
#   /continue     sends "100 Continue" before reading the body, then echoes
#   /bothclte     a response with both Content-Length and Transfer-Encoding
#   /closebody    200 without Content-Length: the body ends at close
#   /closeafter   200 with Content-Length, then closes without saying so
#   /connclose    200 with Content-Length and Connection: close, then closes
#   /badchunk     a chunked response with a malformed chunk size
#   /sleep/MS     answers after MS milliseconds
#   /cors...      the /echo answer with CORS headers of its own (Access-Control-
#                 Allow-Origin *, -Credentials false, Vary: Accept-Encoding,
#                 Access-Control-Expose-Headers: X-Backend)
# With engineio=True it also plays the Engine.IO side of socket.io's polling
# transport, as far as the gateway can see it: a handshake (GET with EIO=4,
# transport=polling and no sid) is answered with an open packet
# 0{"sid":...,"echo":{the /echo answer}} for a fresh sid (listed in sids); a
# POST whose body is the close packet "1" closes its sid (listed in closed);
# a GET poll of a sid is held until its sid is closed (then "1") or for
# hold_s seconds (then the noop "6"); other POSTs get the /echo answer.

import json
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsbackend import fence_listener, fence_taken  # noqa: E402


class Req:
    def __init__(self, conn_index, head, body, framing, raw_body):
        self.conn = conn_index
        self.head = head
        lines = head.decode("latin-1").split("\r\n")
        self.request_line = lines[0]
        self.method, self.target, self.version = lines[0].split(" ", 2)
        self.headers = []
        for ln in lines[1:]:
            if ln:
                n, v = ln.split(":", 1)
                self.headers.append((n, v.strip()))
        self.body = body
        self.framing = framing      # "none", "length", "chunked"
        self.raw_body = raw_body

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]


class _Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError()
        self.buf += d

    def read_until(self, sep):
        while sep not in self.buf:
            self.fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n):
        while len(self.buf) < n:
            self.fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


class HTTPBackend:
    def __init__(self, host="127.0.0.1", engineio=False, hold_s=10.0):
        self.engineio = engineio
        self.hold_s = hold_s
        self.sids = []
        self.closed = []
        self.sid_closed = threading.Condition()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.addr = "%s:%d" % (host, self.port)
        self.nconn = 0
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = False
        self.socks = []
        self.ended = {}             # connection index -> Event, set when it is over
        self._fences = {}

    def start(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass

    def fence(self, timeout=5.0):
        """Every connection made before the call is counted in nconn when
        this returns True (see wsbackend.Backend.fence)."""
        return fence_listener("127.0.0.1", self.port, self._fences, self.lock, timeout)

    def wait_ended(self, idx, timeout=5.0):
        """True once connection idx is over (EOF, error or closed by us):
        every request it carried is in requests then."""
        with self.lock:
            ev = self.ended.get(idx)
        return ev is not None and ev.wait(timeout)

    def wait_requests(self, n, timeout=5.0):
        dl = time.monotonic() + timeout
        while time.monotonic() < dl:
            if len(self.requests) >= n:
                return True
            time.sleep(0.01)
        return len(self.requests) >= n

    def _accept(self):
        while not self.stopping:
            try:
                s, peer = self.lsock.accept()
            except OSError:
                return
            if fence_taken(self._fences, self.lock, s, peer):
                continue
            with self.lock:
                idx = self.nconn
                self.nconn += 1
                self.socks.append(s)
                self.ended[idx] = threading.Event()
            threading.Thread(target=self._serve, args=(s, idx), daemon=True).start()

    def _read_body(self, c, head_text):
        te = cl = None
        for ln in head_text.split("\r\n")[1:]:
            if ":" in ln:
                n, v = ln.split(":", 1)
                if n.strip().lower() == "transfer-encoding":
                    te = v.strip().lower()
                elif n.strip().lower() == "content-length":
                    cl = int(v.strip())
        if te:
            body = raw = b""
            while True:
                line = c.read_until(b"\r\n")
                raw += line
                size = int(line[:-2].split(b";")[0], 16)
                if size == 0:
                    while True:
                        t = c.read_until(b"\r\n")
                        raw += t
                        if t == b"\r\n":
                            break
                    return body, "chunked", raw
                data = c.read_n(size + 2)
                raw += data
                body += data[:-2]
        if cl:
            b = c.read_n(cl)
            return b, "length", b
        return b"", "none", b""

    def _serve(self, s, idx):
        c = _Conn(s)
        try:
            while True:
                head = c.read_until(b"\r\n\r\n")
                ht = head.decode("latin-1")
                target = ht.split(" ", 2)[1]
                expect = "expect: 100-continue" in ht.lower()
                if target.startswith("/continue") and expect:
                    s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body, framing, raw = self._read_body(c, ht)
                r = Req(idx, head[:-4], body, framing, raw)
                with self.lock:
                    self.requests.append(r)
                if not self._answer(s, r):
                    break
        except (EOFError, OSError, ValueError):
            pass
        try:
            s.close()
        except OSError:
            pass
        self.ended[idx].set()

    def _echo(self, r):
        return json.dumps({"method": r.method, "target": r.target, "headers": r.headers,
                           "body": r.body.decode("latin-1"), "framing": r.framing,
                           "conn": r.conn}).encode()

    def _eio(self, s, r, conn_hdr):
        """The Engine.IO answer to r, or None when r is no Engine.IO request."""
        q = dict(kv.split("=", 1) for kv in r.target.partition("?")[2].split("&") if "=" in kv)
        if q.get("EIO") != "4" or q.get("transport") != "polling":
            return None
        sid = q.get("sid")
        if r.method == "GET" and not sid:
            sid = "s%06d%s" % (len(self.sids), os.urandom(4).hex())
            with self.lock:
                self.sids.append(sid)
            body = b"0" + json.dumps({"sid": sid, "upgrades": [], "pingInterval": 25000,
                                      "pingTimeout": 20000, "maxPayload": 1000000,
                                      "echo": json.loads(self._echo(r))}).encode()
        elif r.method == "POST" and sid and r.body == b"1":
            with self.sid_closed:
                self.closed.append(sid)
                self.sid_closed.notify_all()
            body = b"ok"
        elif r.method == "GET" and sid:
            with self.sid_closed:
                self.sid_closed.wait_for(lambda: sid in self.closed, self.hold_s)
                body = b"1" if sid in self.closed else b"6"
        else:
            return None
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                  b"Content-Length: %d\r\n%s\r\n%s" % (len(body), conn_hdr, body))
        return True

    def wait_closed(self, sid, timeout=5.0):
        """True once the gateway POSTed the close packet for sid."""
        with self.sid_closed:
            return self.sid_closed.wait_for(lambda: sid in self.closed, timeout)

    def _answer(self, s, r):
        t = r.target
        closing = (r.header("Connection") or "").lower() == "close" or r.version == "HTTP/1.0"
        conn_hdr = b"Connection: close\r\n" if closing else b""
        if self.engineio and self._eio(s, r, conn_hdr):
            return not closing
        if t.startswith("/sleep/"):
            time.sleep(int(t.split("/")[2].split("?")[0]) / 1000.0)
        if t.startswith("/chunked"):
            body = self._echo(r)
            third = len(body) // 3
            parts = [body[:third], body[third:2 * third], body[2 * third:]]
            out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            out += conn_hdr + b"\r\n"
            for p in parts:
                out += b"%x;ext=1\r\n%s\r\n" % (len(p), p)
            out += b"0\r\nX-Trailer: yes\r\n\r\n"
            s.sendall(out)
            return not closing
        if t.startswith("/status/"):
            code = int(t.split("/")[2].split("?")[0])
            if code in (204, 304):
                s.sendall(b"HTTP/1.1 %d X\r\nX-Status: %d\r\nContent-Length: 7\r\n%s\r\n"
                          % (code, code, conn_hdr) if code == 304 else
                          b"HTTP/1.1 %d X\r\nX-Status: %d\r\n%s\r\n" % (code, code, conn_hdr))
            else:
                s.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n%s\r\nno" % (code, conn_hdr))
            return not closing
        if t.startswith("/big/"):
            n = int(t.split("/")[2].split("?")[0])
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (n, conn_hdr))
            chunk = bytes(range(256)) * 256
            left = n
            while left:
                k = min(left, len(chunk))
                s.sendall(chunk[:k])
                left -= k
            return not closing
        if t.startswith("/bothclte"):
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"0\r\n\r\n")
            return False
        if t.startswith("/badchunk"):
            s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                      b"zz\r\nxx\r\n0\r\n\r\n")
            return False
        if t.startswith("/closebody"):
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil-close body")
            return False
        body = self._echo(r)
        extra = b""
        if t.startswith("/connclose"):
            extra = b"Connection: close\r\n"
        if t.startswith("/cors"):
            conn_hdr += (b"Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Credentials: false\r\n"
                         b"Vary: Accept-Encoding\r\nAccess-Control-Expose-Headers: X-Backend\r\n"
                         b"X-Backend: yes\r\n")
        if r.method == "HEAD":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                      b"%s%s\r\n" % (len(body), conn_hdr, extra))
        else:
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                      b"Keep-Alive: timeout=5\r\n%s%s\r\n%s" % (len(body), conn_hdr, extra, body))
        if t.startswith("/closeafter"):
            time.sleep(0.05)
            return False
        return not closing and not extra
