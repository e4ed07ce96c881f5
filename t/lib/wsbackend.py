#!/usr/bin/python3
# A WebSocket echo backend for the tests and the demo (stdlib only). It
# records every TCP connection it accepts and every request head it reads,
# so tests can assert what reached the backend (or that nothing did), and it
# can be told to misbehave: answer non-101, hang, close at once, send frames.
#
#   in-process: be = Backend(); be.start(); ... be.stop()
#   standalone: python3 t/lib/wsbackend.py --listen 127.0.0.1:9000

import os
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsclient import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,  # noqa: E402
                      accept_key, close_payload, encode_frame, parse_frame, parse_head)


def fence_listener(host, port, fences, lock, timeout=5.0):
    """Connects to host:port from a port registered in fences first (so the
    accept loop knows it at once) and waits until fence_taken() saw it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        ev = threading.Event()
        local = s.getsockname()[1]
        with lock:
            fences[local] = ev
        try:
            s.settimeout(timeout)
            s.connect((host, port))
            return ev.wait(timeout)
        except OSError:
            return False
        finally:
            with lock:
                fences.pop(local, None)
    finally:
        s.close()


def fence_taken(fences, lock, sock, peer):
    """In an accept loop: True (and the connection closed) when the
    accepted connection is a fence of ours."""
    with lock:
        ev = fences.get(peer[1]) if peer[0] == "127.0.0.1" else None
    if ev is None:
        return False
    try:
        sock.close()
    except OSError:
        pass
    ev.set()
    return True


class BackendConn:
    """One accepted TCP connection, as the backend saw it."""

    def __init__(self, backend, sock, peer):
        self.backend = backend
        self.sock = sock
        self.peer = peer
        self.accepted_at = time.monotonic()
        self.head = None            # raw request head bytes (without CRLFCRLF)
        self.request_line = None
        self.method = self.target = None
        self.headers = []           # (name, value) as received, in order
        self.upgraded = False
        self.frames = []            # every frame received after the 101
        self.messages = []          # complete data messages (opcode, payload)
        self.pings = []
        self.close_code = None      # code of the close frame received (1005: none)
        self.close_reason = None
        self.got_close = threading.Event()
        self.sent_close = False
        self.got_head = threading.Event()
        self.ended = threading.Event()   # TCP connection over (EOF, reset or closed by us)
        self.eof_seen = False
        self.rx_bytes = 0           # bytes read from the socket, complete frames or not
        self.raw = None             # with record_raw: every byte after the 101 up to the close
        self._wlock = threading.Lock()

    # --- what arrived ---------------------------------------------------
    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def header_names(self):
        return [n for n, _ in self.headers]

    # --- acting ---------------------------------------------------------
    def send_raw(self, data):
        with self._wlock:
            try:
                self.sock.sendall(data)
                return True
            except OSError:
                return False

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, mask=False):
        return self.send_raw(encode_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv))

    def send_close(self, code=1000, reason=b""):
        self.sent_close = True
        return self.send_frame(OP_CLOSE, close_payload(code, reason))

    def abort(self):
        """Ends the TCP connection with a RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # SHUT_RD wakes the serving thread without sending a FIN; its close()
        # then sends the RST.
        try:
            self.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def close(self):
        self._shut()

    def _shut(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __repr__(self):
        return "BackendConn(%s %r)" % (self.peer, self.request_line)


class Backend:
    """mode: "echo" (default), "hang" (read the head, never answer),
    "close" (accept, close at once), "silent" (accept, never read).
    response: raw bytes sent instead of a 101 (then the connection closes).
    subprotocol: name picked when the client offers it.
    headers: extra (name, value) pairs for the 101.
    echo_frames: echo every data frame as received instead of whole messages.
    on_open: callable(conn) run right after the 101 is sent.
    on_head: callable(conn) run once the request head is read, before the answer.
    record_raw: keep the raw bytes after the 101 in conn.raw, to check
    byte streams exactly (where a close frame sits among the frames)."""

    def __init__(self, host="127.0.0.1", port=0, mode="echo", response=None,
                 subprotocol=None, headers=(), echo_frames=False, on_open=None,
                 verbose=False, close_reply=True, record_raw=False, on_head=None):
        self.host, self.port = host, port
        self.record_raw = record_raw        # keep every byte after the head in conn.raw
        self.close_reply = close_reply      # answer a close frame and end the connection
        self.mode = mode
        self.response = response
        self.subprotocol = subprotocol
        self.headers = list(headers)
        self.echo_frames = echo_frames
        self.on_open = on_open
        self.on_head = on_head
        self.verbose = verbose
        self.conns = []
        self._lsock = None
        self._stopped = False
        self._lock = threading.Lock()
        self._fences = {}           # local port of a fence connection -> Event

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def nconn(self):
        return len(self.conns)

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(512)
        self.port = s.getsockname()[1]
        self._lsock = s
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        return self

    def stop(self):
        self._stopped = True
        if self._lsock is not None:
            try:
                self._lsock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                self._lsock.close()
            except OSError:
                pass
        for c in list(self.conns):
            c.close()

    def wait_conns(self, n, timeout=5.0):
        dl = time.monotonic() + timeout
        while time.monotonic() < dl:
            if len(self.conns) >= n:
                return True
            time.sleep(0.01)
        return len(self.conns) >= n

    def last(self):
        return self.conns[-1] if self.conns else None

    def fence(self, timeout=5.0):
        """A barrier for absence checks: connects to our own listener and
        waits until the accept loop has taken that connection. The kernel's
        accept queue is FIFO and one thread accepts, so every connection
        that was made before the fence is in conns when this returns True.
        The fence connection itself is never recorded."""
        return fence_listener(self.host, self.port, self._fences, self._lock, timeout)

    def _log(self, *a):
        if self.verbose:
            print("wsbackend:", *a, flush=True)

    def _accept_loop(self):
        while not self._stopped:
            try:
                sock, peer = self._lsock.accept()
            except OSError:
                return
            if fence_taken(self._fences, self._lock, sock, peer):
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = BackendConn(self, sock, "%s:%d" % peer[:2])
            with self._lock:
                self.conns.append(c)
            self._log("connection from", c.peer)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    # --- one connection -------------------------------------------------
    def _serve(self, c):
        try:
            self._serve_inner(c)
        except OSError:
            pass
        finally:
            c.ended.set()
            c.got_head.set()
            try:
                c.sock.close()
            except OSError:
                pass

    def _recv(self, c, buf):
        try:
            d = c.sock.recv(262144)
        except OSError:
            d = b""
        if not d:
            c.eof_seen = True
            return False
        buf += d
        c.rx_bytes += len(d)
        return True

    def _serve_inner(self, c):
        if self.mode == "close":
            c._shut()
            return
        buf = bytearray()
        if self.mode == "silent":
            while self._recv(c, bytearray()):
                pass
            return
        while b"\r\n\r\n" not in buf:
            if len(buf) > 1 << 20 or not self._recv(c, buf):
                return
        i = buf.find(b"\r\n\r\n")
        c.head = bytes(buf[:i])
        del buf[:i + 4]
        c.request_line, c.headers = parse_head(c.head)
        parts = c.request_line.split(" ")
        c.method = parts[0]
        c.target = parts[1] if len(parts) > 1 else ""
        c.got_head.set()
        self._log(c.request_line)
        if self.on_head:
            self.on_head(c)
        if self.mode == "hang":
            while self._recv(c, bytearray()):
                pass
            return
        if self.response is not None:
            c.send_raw(self.response)
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            while self._recv(c, bytearray()):
                pass
            return
        key = c.header("Sec-WebSocket-Key")
        up = (c.header("Upgrade") or "").lower()
        if c.method != "GET" or up != "websocket" or not key:
            body = b"not a websocket upgrade\n"
            c.send_raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: %d\r\n"
                       b"Connection: close\r\n\r\n%s" % (len(body), body))
            return
        lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Accept: " + accept_key(key)]
        offered = []
        for v in c.header_all("Sec-WebSocket-Protocol"):
            offered += [p.strip() for p in v.split(",") if p.strip()]
        if self.subprotocol and self.subprotocol in offered:
            lines.append("Sec-WebSocket-Protocol: " + self.subprotocol)
        lines += ["%s: %s" % hv for hv in self.headers]
        c.send_raw(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        c.upgraded = True
        if self.on_open:
            self.on_open(c)
        self._relay(c, buf)

    def _relay(self, c, buf):
        parts, mop = [], None
        if self.record_raw:
            c.raw = bytearray(buf)
        while True:
            while True:
                f, used = parse_frame(buf)
                if f is None:
                    break
                del buf[:used]
                c.frames.append(f)
                if f.opcode == OP_CLOSE:
                    c.close_code = f.close_code if f.close_code is not None else 1005
                    c.close_reason = f.close_reason
                    c.got_close.set()
                    if not self.close_reply:
                        continue    # the test answers (or not) by itself
                    if not c.sent_close:
                        c.sent_close = True
                        c.send_frame(OP_CLOSE, f.payload[:2])
                    # Server closes the TCP connection first (RFC 6455 §7.1.1).
                    try:
                        c.sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    c.sock.settimeout(5)
                    while self._recv(c, bytearray()):
                        pass
                    return
                if f.opcode == OP_PING:
                    c.pings.append(f.payload)
                    c.send_frame(OP_PONG, f.payload)
                    continue
                if f.opcode == OP_PONG:
                    continue
                if self.echo_frames:
                    c.send_frame(f.opcode, f.payload, fin=f.fin)
                if f.opcode in (OP_TEXT, OP_BINARY):
                    mop, parts = f.opcode, [f.payload]
                elif f.opcode == OP_CONT:
                    parts.append(f.payload)
                if f.fin and mop is not None:
                    msg = b"".join(parts)
                    c.messages.append((mop, msg))
                    if not self.echo_frames:
                        c.send_frame(mop, msg)
                    parts, mop = [], None
            n = len(buf)
            if not self._recv(c, buf):
                return
            if c.raw is not None:
                c.raw += buf[n:]


def main(argv):
    import argparse
    import signal
    ap = argparse.ArgumentParser(description="WebSocket echo backend for wsgate tests and demo")
    ap.add_argument("--listen", default="127.0.0.1:9000", help="HOST:PORT (default %(default)s)")
    ap.add_argument("--subprotocol", help="subprotocol to pick when the client offers it")
    ap.add_argument("--echo-frames", action="store_true", help="echo frames as received")
    ap.add_argument("--header", action="append", default=[], help="'Name: value' added to the 101")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    hdrs = [tuple(x.strip() for x in h.split(":", 1)) for h in a.header]
    be = Backend(host=host.strip("[]") or "127.0.0.1", port=int(port), subprotocol=a.subprotocol,
                 headers=hdrs, echo_frames=a.echo_frames, verbose=not a.quiet)
    be.start()
    print("wsbackend: listening on %s:%d" % (be.host, be.port), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *x: stop.set())
    signal.signal(signal.SIGINT, lambda *x: stop.set())
    while not stop.wait(1):
        pass
    be.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
