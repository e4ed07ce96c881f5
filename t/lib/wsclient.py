# RFC 6455 framing (stdlib only) and a raw WebSocket client for the
# black-box tests: the request head is sent byte for byte as the test wrote
# it, so malformed and smuggling requests can be crafted; every read has a
# deadline.

import base64
import hashlib
import os
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


class Timeout(Exception):
    pass


def accept_key(key):
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def apply_mask(data, mask):
    """XOR data with the 4-byte mask; big-integer XOR keeps 1 MiB fast."""
    n = len(data)
    if n == 0:
        return b""
    reps = (mask * (n // 4 + 1))[:n]
    x = int.from_bytes(data, "big") ^ int.from_bytes(reps, "big")
    return x.to_bytes(n, "big")


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0xF)
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = mask_key if mask_key is not None else os.urandom(4)
        return head + key + apply_mask(payload, key)
    return head + payload


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class Frame:
    __slots__ = ("fin", "rsv", "opcode", "masked", "payload")

    def __init__(self, fin, rsv, opcode, masked, payload):
        self.fin, self.rsv, self.opcode = fin, rsv, opcode
        self.masked, self.payload = masked, payload

    @property
    def close_code(self):
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self):
        return self.payload[2:].decode("utf-8", "replace")

    def __repr__(self):
        p = self.payload if len(self.payload) <= 32 else self.payload[:32] + b"..."
        return "Frame(fin=%d op=%#x masked=%d len=%d %r)" % (
            self.fin, self.opcode, self.masked, len(self.payload), p)


def parse_frame(buf):
    """Parses one frame from the start of buf (bytearray). Returns
    (Frame, consumed) or (None, 0) when more bytes are needed."""
    if len(buf) < 2:
        return None, 0
    b0, b1 = buf[0], buf[1]
    n = b1 & 0x7F
    pos = 2
    if n == 126:
        if len(buf) < 4:
            return None, 0
        n = struct.unpack_from("!H", buf, 2)[0]
        pos = 4
    elif n == 127:
        if len(buf) < 10:
            return None, 0
        n = struct.unpack_from("!Q", buf, 2)[0]
        pos = 10
    masked = bool(b1 & 0x80)
    key = None
    if masked:
        if len(buf) < pos + 4:
            return None, 0
        key = bytes(buf[pos:pos + 4])
        pos += 4
    if len(buf) < pos + n:
        return None, 0
    payload = bytes(buf[pos:pos + n])
    if masked:
        payload = apply_mask(payload, key)
    return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, masked, payload), pos + n


def upgrade_head(path="/", host="127.0.0.1", headers=(), key=None, omit=(),
                 method="GET", version="HTTP/1.1"):
    """A standard client upgrade head. headers: (name, value) pairs added
    after the standard ones; omit: standard header names to leave out
    (case-insensitive). Returns (bytes, key)."""
    key = key or new_key()
    std = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
           ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]
    om = {o.lower() for o in omit}
    lines = ["%s %s %s" % (method, path, version)]
    lines += ["%s: %s" % (n, v) for n, v in std if n.lower() not in om]
    lines += ["%s: %s" % (n, v) for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), key


class Response:
    def __init__(self, raw_head, status, reason, version, headers, body):
        self.raw_head = raw_head
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers          # list of (name, value) as received
        self.body = body

    def header(self, name):
        """First value of the header (case-insensitive name) or None."""
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def __repr__(self):
        return "Response(%s %r, %r, body=%r)" % (self.status, self.reason,
                                                 self.headers, self.body[:200])


def parse_head(raw):
    """raw: head bytes without the final CRLFCRLF. Returns (start_line_parts,
    headers)."""
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    headers = []
    for ln in lines[1:]:
        if not ln:
            continue
        n, _, v = ln.partition(":")
        headers.append((n, v.strip(" \t")))
    return lines[0], headers


class WSClient:
    """One raw TCP connection to the gateway. Every read takes a timeout in
    seconds and raises Timeout when it passes."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.response = None
        self.key = None
        self._msg_parts = []
        self._msg_op = None

    # --- raw I/O -------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Reads more bytes into buf. Returns False on EOF/reset."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(262144)
        except socket.timeout:
            raise Timeout()
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.eof = self.reset = True
            return False
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def _deadline(self, timeout):
        return time.monotonic() + (self.timeout if timeout is None else timeout)

    # --- handshake -----------------------------------------------------
    def upgrade(self, path="/", headers=(), omit=(), timeout=None, **kw):
        """Sends a standard upgrade head and reads the response."""
        head, self.key = upgrade_head(path, headers=headers, omit=omit, **kw)
        self.send(head)
        return self.read_response(timeout)

    def read_response(self, timeout=None):
        """Reads the response head; for a non-101 answer also the body
        (Content-Length, else until EOF). Returns Response or None when the
        connection ended without a complete head."""
        dl = self._deadline(timeout)
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if not self._fill(dl):
                return None
        raw = bytes(self.buf[:i])
        del self.buf[:i + 4]
        start, headers = parse_head(raw)
        parts = start.split(" ", 2)
        version = parts[0]
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            status = -1
        reason = parts[2] if len(parts) > 2 else ""
        resp = Response(raw, status, reason, version, headers, b"")
        if status != 101:
            cl = resp.header("Content-Length")
            try:
                if cl is not None:
                    n = int(cl)
                    while len(self.buf) < n and self._fill(dl):
                        pass
                    resp.body = bytes(self.buf[:n])
                    del self.buf[:n]
                else:
                    while self._fill(dl):
                        pass
                    resp.body = bytes(self.buf)
                    self.buf.clear()
            except Timeout:
                resp.body = bytes(self.buf)
                self.buf.clear()
        self.response = resp
        return resp

    # --- frames --------------------------------------------------------
    def send_frame(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        self.send(encode_frame(opcode, payload, fin=fin, mask=mask, rsv=rsv))

    def send_text(self, text, **kw):
        self.send_frame(OP_TEXT, text.encode() if isinstance(text, str) else text, **kw)

    def send_binary(self, data, **kw):
        self.send_frame(OP_BINARY, data, **kw)

    def ping(self, data=b""):
        self.send_frame(OP_PING, data)

    def send_close(self, code=1000, reason=b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    def recv_frame(self, timeout=None):
        """Next frame, or None when the connection ended first."""
        dl = self._deadline(timeout)
        while True:
            f, used = parse_frame(self.buf)
            if f is not None:
                del self.buf[:used]
                return f
            if not self._fill(dl):
                return None

    def recv_message(self, timeout=None, skip_pongs=True):
        """Next complete data message as (opcode, payload), reassembling
        fragments; a close frame is returned as (OP_CLOSE, Frame); pings are
        returned as (OP_PING, payload). None on end of connection."""
        dl = self._deadline(timeout)
        while True:
            f = self.recv_frame(max(0.0, dl - time.monotonic()))
            if f is None:
                return None
            if f.opcode == OP_PONG and skip_pongs:
                continue
            if f.opcode == OP_CLOSE:
                return (OP_CLOSE, f)
            if f.opcode in (OP_PING, OP_PONG):
                return (f.opcode, f.payload)
            if f.opcode != OP_CONT:
                self._msg_op = f.opcode
                self._msg_parts = []
            self._msg_parts.append(f.payload)
            if f.fin:
                op = self._msg_op
                self._msg_op = None
                data = b"".join(self._msg_parts)
                self._msg_parts = []
                return (op, data)

    def recv_close(self, timeout=None):
        """Skips data frames until a close frame; returns it or None at EOF."""
        dl = self._deadline(timeout)
        while True:
            f = self.recv_frame(max(0.0, dl - time.monotonic()))
            if f is None or f.opcode == OP_CLOSE:
                return f

    def wait_eof(self, timeout=None):
        """True when the peer ends the connection (EOF or reset) within
        timeout, discarding anything that arrives meanwhile."""
        dl = self._deadline(timeout)
        try:
            while self._fill(dl):
                self.buf.clear()
        except Timeout:
            return False
        return True

    def abort(self):
        """Closes with a RST (SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
