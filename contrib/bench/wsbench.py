#!/usr/bin/python3
# Shared pieces of the wsgate benchmarks (stdlib only): an asyncio RFC 6455
# client and echo backend that hold thousands of sockets in one process,
# HS256 minting, a pipelining RESP client, a private redis-server, and
# process bookkeeping so every benchmark cleans up what it started.
#
#   standalone echo backend: wsbench.py backend [--host H] [--port P]
#   (prints "listening PORT" once it accepts connections)

import argparse
import asyncio
import base64
import collections
import hashlib
import hmac
import json
import os
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
ZERO_KEY = b"\0\0\0\0"
TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def built(rel):
    """A program of the build: ./REL after an in-tree build, else build/REL
    (the directory t/check.sh builds in)."""
    here = os.path.join(".", rel)
    return here if os.path.exists(here) else os.path.join("build", rel)


class BenchError(Exception):
    """A failure the benchmark reports in one line and exits 1 for."""


def run_async(coro):
    """asyncio.run(coro), with SIGINT/SIGTERM/SIGHUP cancelling it cleanly
    (BenchError "interrupted") so that the caller's cleanup runs."""
    async def wrapper():
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        got = []

        def on_signal(signum):
            got.append(signum)
            task.cancel()
        sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        for s in sigs:
            loop.add_signal_handler(s, on_signal, s)
        try:
            return await coro
        except asyncio.CancelledError:
            if got:
                raise BenchError("interrupted by signal %d" % got[0])
            raise
        finally:
            for s in sigs:
                loop.remove_signal_handler(s)
    return asyncio.run(wrapper())


# ---------------------------------------------------------------- tokens

def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_hs256(secret, claims):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")))
    body = b64url(json.dumps(claims, separators=(",", ":")))
    signing = ("%s.%s" % (head, body)).encode()
    return "%s.%s" % (signing.decode(), b64url(hmac.new(secret, signing, hashlib.sha256).digest()))


def mint_jwtmint(mint_bin, alg, keyfile, claims):
    """A token from tools/jwtmint (RS256 and friends)."""
    p = subprocess.run([mint_bin, "-a", alg, "-k", keyfile, "-c", json.dumps(claims)],
                       capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        raise BenchError("jwtmint -a %s failed: %s" % (alg, p.stderr.strip()))
    return p.stdout.strip()

# ---------------------------------------------------------------- frames


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def xor_mask(data, key):
    """RFC 6455 masking; big-integer XOR keeps it in C for large payloads."""
    n = len(data)
    if n == 0:
        return b""
    if key == ZERO_KEY:
        # The relay benchmark masks 64 KiB frames with a zero key so that
        # this Python backend is not the bottleneck; proxies relay masked
        # bytes untouched either way.
        return bytes(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def encode_frame(opcode, payload, mask=True, fin=True, key=None):
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key or os.urandom(4)
    return head + key + xor_mask(payload, key)


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class FrameParser:
    """Incremental frame parser: feed() returns the complete frames as
    (fin, opcode, payload) with the payload unmasked."""

    def __init__(self, max_payload=64 << 20):
        self.buf = bytearray()
        self.max_payload = max_payload

    def feed(self, data):
        buf = self.buf
        buf += data
        out = []
        pos = 0
        blen = len(buf)
        while blen - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            hl = 2
            if n == 126:
                if blen - pos < 4:
                    break
                n = (buf[pos + 2] << 8) | buf[pos + 3]
                hl = 4
            elif n == 127:
                if blen - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2:pos + 10], "big")
                hl = 10
            if n > self.max_payload:
                raise ValueError("frame of %d bytes" % n)
            masked = b1 & 0x80
            if masked:
                hl += 4
            if blen - pos < hl + n:
                break
            payload = bytes(buf[pos + hl:pos + hl + n])
            if masked:
                payload = xor_mask(payload, bytes(buf[pos + hl - 4:pos + hl]))
            out.append((b0 & 0x80, b0 & 0x0F, payload))
            pos += hl + n
        if pos:
            del buf[:pos]
        return out


def parse_close(payload):
    if len(payload) >= 2:
        return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")
    return 1005, ""

# ---------------------------------------------------------------- echo backend


class EchoServerProto(asyncio.Protocol):
    """Answers any upgrade with 101 (choosing the first subprotocol offered)
    and echoes every data frame, frame by
    frame, unmasked; answers close with the same code and closes TCP."""

    def connection_made(self, transport):
        self.t = transport
        self.head = bytearray()
        self.parser = None
        self.closing = False

    def data_received(self, data):
        if self.parser is None:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                if len(self.head) > 65536:
                    self.t.abort()
                return
            key = proto = None
            for line in bytes(self.head[:i]).split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"sec-websocket-key":
                    key = value.strip().decode("latin-1")
                if name.strip().lower() == b"sec-websocket-protocol" and proto is None:
                    proto = value.split(b",")[0].strip().decode("latin-1")
            data = bytes(self.head[i + 4:])
            self.head = None
            if not key:
                self.t.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                self.t.close()
                return
            # The first subprotocol offered is chosen (graphql-ws sessions).
            self.t.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n" %
                          (accept_key(key), "Sec-WebSocket-Protocol: %s\r\n" % proto if proto else "")).encode())
            self.parser = FrameParser()
            if not data:
                return
        if self.closing:
            return
        try:
            frames = self.parser.feed(data)
        except ValueError:
            self.t.abort()
            return
        out = []
        for fin, op, payload in frames:
            if op == OP_CLOSE:
                out.append(encode_frame(OP_CLOSE, payload[:2], mask=False))
                self.closing = True
                break
            if op == OP_PING:
                out.append(encode_frame(OP_PONG, payload, mask=False))
            elif op != OP_PONG:
                out.append(encode_frame(op, payload, fin=bool(fin), mask=False))
        if out:
            self.t.write(out[0] if len(out) == 1 else b"".join(out))
        if self.closing:
            self.t.close()

    def connection_lost(self, exc):
        pass


async def serve_backend(host, port):
    loop = asyncio.get_running_loop()
    srv = await loop.create_server(EchoServerProto, host, port, backlog=4096, reuse_address=True)
    sys.stdout.write("listening %d\n" % srv.sockets[0].getsockname()[1])
    sys.stdout.flush()
    stop = loop.create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, lambda: stop.done() or stop.set_result(None))
    await stop
    srv.close()

# ---------------------------------------------------------------- client


class WSClient(asyncio.Protocol):
    """One client connection. handshake resolves once the 101 has been
    checked; data messages go to on_message(opcode, payload, t) or, without
    it, to recv(); a close frame is recorded with its arrival time and
    answered; lost resolves when TCP ends."""

    def __init__(self, request, key, on_message=None):
        loop = asyncio.get_running_loop()
        self.request = request
        self.key = key
        self.on_message = on_message
        self.handshake = loop.create_future()
        self.lost = loop.create_future()
        self.got_close = loop.create_future()
        self.close_code = None
        self.close_reason = None
        self.close_time = None
        self.sent_close = False
        self.head = bytearray()
        self.parser = None
        self.inbox = collections.deque()
        self.waiter = None
        self.t = None

    def connection_made(self, transport):
        self.t = transport
        transport.write(self.request)

    def _fail_handshake(self, why):
        if not self.handshake.done():
            self.handshake.set_exception(BenchError(why))
            self.handshake.exception()    # no "never retrieved" noise if nobody waits
        self.t.abort()

    def data_received(self, data):
        now = time.perf_counter()
        if self.parser is None:
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                if len(self.head) > 65536:
                    self._fail_handshake("response head too large")
                return
            lines = bytes(self.head[:i]).decode("latin-1").split("\r\n")
            data = bytes(self.head[i + 4:])
            self.head = None
            if not lines[0].startswith("HTTP/1.1 101"):
                self._fail_handshake("upgrade answered %r" % lines[0])
                return
            acc = None
            for ln in lines[1:]:
                name, _, value = ln.partition(":")
                if name.strip().lower() == "sec-websocket-accept":
                    acc = value.strip()
            if acc != accept_key(self.key):
                self._fail_handshake("bad Sec-WebSocket-Accept %r" % acc)
                return
            self.parser = FrameParser()
            if not self.handshake.done():     # cancelled by a timeout meanwhile
                self.handshake.set_result(None)
            if not data:
                return
        try:
            frames = self.parser.feed(data)
        except ValueError:
            self.t.abort()
            return
        for fin, op, payload in frames:
            if op == OP_CLOSE:
                if self.close_code is None:
                    self.close_time = now
                    self.close_code, self.close_reason = parse_close(payload)
                    if not self.sent_close:
                        self.send_close(self.close_code if self.close_code != 1005 else 1000)
                    if not self.got_close.done():
                        self.got_close.set_result(None)
            elif op == OP_PING:
                self.t.write(encode_frame(OP_PONG, payload))
            elif op == OP_PONG:
                pass
            elif self.on_message is not None:
                self.on_message(op, payload, now)
            else:
                self.inbox.append((op, payload, now))
                if self.waiter is not None and not self.waiter.done():
                    self.waiter.set_result(None)

    def connection_lost(self, exc):
        if not self.handshake.done():
            self.handshake.set_exception(BenchError("connection closed during the handshake"))
            self.handshake.exception()
        if not self.lost.done():
            self.lost.set_result(None)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def send(self, opcode, payload):
        self.t.write(encode_frame(opcode, payload))

    def send_raw(self, frame):
        self.t.write(frame)

    def send_close(self, code=1000):
        self.sent_close = True
        self.t.write(encode_frame(OP_CLOSE, close_payload(code)))

    async def recv(self, timeout):
        """Next data message (opcode, payload, arrival time)."""
        if not self.inbox:
            if self.lost.done():
                raise BenchError("connection closed")
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self.waiter, timeout)
            except asyncio.TimeoutError:
                raise BenchError("no message within %.1fs" % timeout)
            if not self.inbox:
                raise BenchError("connection closed")
        return self.inbox.popleft()

    def abort(self):
        if self.t is not None:
            self.t.abort()


def upgrade_request(host, port, path, key, headers=()):
    h = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
         "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key, "Sec-WebSocket-Version: 13"]
    h += ["%s: %s" % (n, v) for n, v in headers]
    return ("\r\n".join(h) + "\r\n\r\n").encode()


async def ws_connect(host, port, path="/", headers=(), timeout=10.0, on_message=None, ssl=None):
    """Connects (over TLS with the ssl.SSLContext ssl) and upgrades;
    returns the WSClient or raises BenchError."""
    loop = asyncio.get_running_loop()
    key = base64.b64encode(os.urandom(16)).decode()
    req = upgrade_request(host, port, path, key, headers)
    try:
        _, c = await asyncio.wait_for(
            loop.create_connection(lambda: WSClient(req, key, on_message), host, port, ssl=ssl,
                                   server_hostname=host if ssl else None), timeout)
    except asyncio.TimeoutError:
        raise BenchError("connect to %s:%d timed out" % (host, port))
    except OSError as e:
        raise BenchError("connect to %s:%d: %s" % (host, port, e.strerror or e))
    try:
        await asyncio.wait_for(c.handshake, timeout)
    except asyncio.TimeoutError:
        c.abort()
        raise BenchError("no upgrade response within %.1fs" % timeout)
    return c

# ---------------------------------------------------------------- redis


class RedisConn:
    """A pipelining RESP client on asyncio streams: concurrent commands get
    their replies in order."""

    def __init__(self):
        self.r = self.w = None
        self.pending = collections.deque()
        self.reader_task = None

    async def connect(self, host, port, timeout=5.0):
        self.r, self.w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        self.reader_task = asyncio.ensure_future(self._read_loop())
        return self

    async def _reply(self):
        line = await self.r.readline()
        if not line:
            raise BenchError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return BenchError("redis: " + rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            return (await self.r.readexactly(n + 2))[:-2].decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [await self._reply() for _ in range(n)]
        raise BenchError("redis: bad reply %r" % line)

    async def _read_loop(self):
        try:
            while True:
                v = await self._reply()
                fut = self.pending.popleft()
                if not fut.done():
                    if isinstance(v, BenchError):
                        fut.set_exception(v)
                    else:
                        fut.set_result(v)
        except (BenchError, OSError, asyncio.IncompleteReadError) as e:
            while self.pending:
                f = self.pending.popleft()
                if not f.done():
                    f.set_exception(BenchError("redis connection lost: %s" % e))

    def send(self, *args):
        """Writes one command; returns the future of its reply."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        fut = asyncio.get_running_loop().create_future()
        self.pending.append(fut)
        self.w.write(b"".join(out))
        return fut

    async def cmd(self, *args, timeout=5.0):
        return await asyncio.wait_for(self.send(*args), timeout)

    def close(self):
        if self.reader_task:
            self.reader_task.cancel()
        if self.w:
            self.w.close()


def redis_cmd_sync(port, *args, timeout=2.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        s.sendall(out)
        return s.makefile("rb").readline().rstrip(b"\r\n").decode()
    finally:
        s.close()

# ---------------------------------------------------------------- processes


class Procs:
    """Every process a benchmark starts, its temp dir, and their cleanup at
    exit, on SIGINT/SIGTERM/SIGHUP, and on failure."""

    def __init__(self, prefix):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        self.procs = []
        self.keep = bool(os.environ.get("WSBENCH_KEEP_TMP"))
        import atexit
        atexit.register(self.cleanup)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, self._on_signal)

    def _on_signal(self, signum, frame):
        sys.stderr.write("%s: interrupted by signal %d, cleaning up\n" %
                         (os.path.basename(sys.argv[0]), signum))
        sys.exit(130 if signum == signal.SIGINT else 143)

    def start(self, name, argv, stdout=None, cwd=None):
        log = open(os.path.join(self.tmp, name + ".log"), "ab")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                 stdout=stdout if stdout is not None else log, stderr=log,
                                 cwd=cwd or self.tmp, start_new_session=True)
        except OSError as e:
            raise BenchError("cannot run %s: %s" % (argv[0], e.strerror or e))
        finally:
            log.close()
        p.bench_name = name
        self.procs.append(p)
        return p

    def log(self, name, last=20):
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-last:])

    def stop(self, p, sig=signal.SIGTERM, timeout=5.0):
        if p.poll() is None:
            try:
                # The process group: nginx's workers go with their master.
                os.killpg(p.pid, sig)
            except OSError:
                p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    p.kill()
                p.wait(5)
        # Workers that outlive their leader (nginx) are in the same group.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass

    def cleanup(self):
        for p in reversed(self.procs):
            try:
                self.stop(p, timeout=3.0)
            except Exception:
                pass
        self.procs = []
        if self.keep:
            sys.stderr.write("# kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_for(cond, timeout, interval=0.02):
    dl = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() >= dl:
            return v
        time.sleep(interval)


def raise_nofile(need):
    """Raises the soft open-file limit to the hard one (inherited by the
    processes started afterwards); fails when the hard limit is below need."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        raise BenchError("open-file hard limit %d is below the %d this run needs "
                         "(use fewer sessions)" % (hard, need))
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def start_backend(procs, name="backend", host="127.0.0.1"):
    """The echo backend in its own process; returns (Popen, port)."""
    p = procs.start(name, [sys.executable, os.path.abspath(__file__), "backend", "--host", host,
                           "--port", "0"], stdout=subprocess.PIPE)
    line = b""
    dl = time.monotonic() + 10
    import select
    while time.monotonic() < dl and not line.endswith(b"\n"):
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            ch = os.read(p.stdout.fileno(), 64)
            if not ch:
                break
            line += ch
    if not line.startswith(b"listening "):
        raise BenchError("echo backend did not start: %s" % procs.log(name))
    return p, int(line.split()[1])


def start_redis(procs, notify, name="redis"):
    """A private redis-server on a free port; returns (Popen, port)."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(exe, os.X_OK):
        raise BenchError("redis-server not found (apt-get install redis-server)")
    for _ in range(3):
        port = free_port()
        p = procs.start(name, [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", procs.tmp, "--protected-mode", "no",
                               "--maxclients", "1000",
                               "--notify-keyspace-events", "K$" if notify else ""])
        ok = wait_for(lambda: p.poll() is not None or _redis_ping(port), 10)
        if ok and p.poll() is None:
            return p, port
        procs.stop(p)
    raise BenchError("redis-server did not start: %s" % procs.log(name))


def _redis_ping(port):
    try:
        return redis_cmd_sync(port, "PING") == "+PONG"
    except OSError:
        return False


def cpu_seconds(pid):
    """User+system CPU seconds of pid and all its descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    children = collections.defaultdict(list)
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        stats[int(d)] = (int(rest[11]) + int(rest[12])) / tick
        children[int(rest[1])].append(int(d))
    total, todo = 0.0, [pid]
    while todo:
        q = todo.pop()
        total += stats.get(q, 0.0)
        todo += children.get(q, [])
    return total


def loadavg():
    """The 1-minute load average, for the record (other work skews results)."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def machine_busy_seconds():
    """User+system CPU seconds of the whole machine (all cores, every
    process) plus the time the hypervisor gave to other guests (steal),
    from /proc/stat, so a run can show how much went to other work.
    irq/softirq time is left out: loopback traffic is processed there."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return float("nan")
    steal = v[7] if len(v) > 7 else 0
    return (v[0] + v[1] + v[2] + steal) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds():
    t = os.times()
    return t.user + t.system


def percentile(sorted_vals, q):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(-(-q * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def main():
    ap = argparse.ArgumentParser(description="asyncio WebSocket echo backend for the benchmarks")
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("backend", help="run the echo backend")
    b.add_argument("--host", default="127.0.0.1")
    b.add_argument("--port", type=int, default=0)
    a = ap.parse_args()
    if a.cmd == "backend":
        raise_nofile(0)
        asyncio.run(serve_backend(a.host, a.port))


if __name__ == "__main__":
    main()
