#!/usr/bin/python3
# The relay after the 101 (SPEC §5): payloads intact both ways, fragments
# and interleaved control frames, the close handshake, max_message_size
# (1009), unmasked client frames (1002), idle_timeout (1001), abrupt ends on
# either side, backpressure, many concurrent sessions, several workers.

import os
import socket
import struct
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT,  # noqa: E402
                        Frame, Gateway, Timeout, check, claims, diag, done, encode_frame, main_conf,
                        mint, ok, start_backend, std_conf, upgrade, upgrade_head, wait_for)

TOK = mint("RS256", claims_=claims(exp=int(time.time()) + 3600))

be = start_backend()
gw = Gateway(std_conf(be.addr, main=main_conf(max_message_size="2m")), name="big")
be_small = start_backend()
gw_small = Gateway(std_conf(be_small.addr, main=main_conf(max_message_size="64k", idle_timeout="1s")),
                   name="small")
be_w2 = start_backend()
gw_w2 = Gateway(std_conf(be_w2.addr, main=main_conf(workers=2)), name="workers2")


def open_session(g, b, timeout=5.0):
    """Client and backend conn of a fresh admitted session, or (None, None)."""
    before = b.nconn
    try:
        c, resp = upgrade(g, token=TOK, timeout=timeout)
    except (Timeout, OSError) as e:
        diag("upgrade failed: %r" % e)
        return None, None
    if resp is None or resp.status != 101:
        diag("upgrade answered %r" % resp)
        c.close()
        return None, None
    if not b.wait_conns(before + 1, 2):
        c.close()
        return None, None
    return c, b.conns[before]


def recv(c, timeout=5.0, **kw):
    try:
        return c.recv_message(timeout, **kw)
    except Timeout:
        return "timeout"
    except OSError as e:
        return repr(e)


def rclose(c, timeout=5.0):
    """The next close frame; None at EOF; a string on timeout or error."""
    try:
        return c.recv_close(timeout)
    except Timeout:
        return "timeout after %.1fs" % timeout
    except OSError as e:
        return repr(e)


def backend_frames(bc, start, want, code, reason):
    """Problems list unless the frames the backend parsed from index start
    on are exactly want ((opcode, fin, payload) each) followed by one masked
    close frame with code and reason. Frames are parsed in order and the
    close is the last one read, so once it is there the list is final; a
    close written in the middle of a frame would turn up as payload and
    break the comparison."""
    if not bc.got_close.wait(5):
        return ["the backend got no close frame within 5s (connection ended: %r, frames %r)"
                % (bc.ended.is_set(), bc.frames[start:][:5])]
    want = list(want) + [(OP_CLOSE, True, struct.pack("!H", code) + reason.encode())]
    got = [(f.opcode, f.fin, f.payload) for f in bc.frames[start:]]

    def show(fs):
        return [(op, fin, p if len(p) <= 40 else "%d bytes" % len(p)) for op, fin, p in fs]

    p = []
    if got != want:
        p.append("the backend got %r, expected %r" % (show(got), show(want)))
    if not all(f.masked for f in bc.frames[start:]):
        p.append("a frame toward the backend is not masked")
    return p


def client_ends(c, timeout=5.0):
    try:
        return c.wait_eof(timeout)
    except OSError:
        return True


# ---------------------------------------------------------------- payloads
c, bc = open_session(gw, be)
ok(c is not None, "session opened")
if c:
    data = os.urandom(1 << 20)
    c.send_binary(data)
    m = recv(c, 15.0)
    ok(m == (OP_BINARY, data), "1 MiB random binary message echoed intact",
       "got %r" % ((m if not isinstance(m, tuple) else (m[0], len(m[1]), m[1][:40])),))
    ok(bc.messages and bc.messages[-1] == (OP_BINARY, data), "the backend received it intact")

    text = "héllo wörld ✓ " * 100
    c.send_text(text)
    ok(recv(c) == (OP_TEXT, text.encode()), "text message echoed")

    c.send_binary(b"")
    ok(recv(c) == (OP_BINARY, b""), "empty message echoed")

    for n in (125, 126, 65535, 65536):
        payload = os.urandom(n)
        c.send_binary(payload)
        m = recv(c)
        ok(m == (OP_BINARY, payload), "%d-byte message echoed (length encoding edge)" % n)

    nframes = len(bc.frames)
    c.send_frame(OP_TEXT, b"frag-1|", fin=False)
    c.ping(b"interleaved")
    c.send_frame(OP_CONT, b"frag-2|", fin=False)
    c.send_frame(OP_CONT, b"frag-3", fin=True)
    m1 = recv(c, skip_pongs=False)
    m2 = recv(c, skip_pongs=False)
    ok((m1, m2) == ((OP_PONG, b"interleaved"), (OP_TEXT, b"frag-1|frag-2|frag-3")),
       "3 fragments with an interleaved ping: pong, then the whole message",
       "got %r, %r" % (m1, m2))
    seen = [(f.opcode, f.fin, f.payload) for f in bc.frames[nframes:nframes + 4]]
    ok(seen == [(OP_TEXT, False, b"frag-1|"), (OP_PING, True, b"interleaved"),
                (OP_CONT, False, b"frag-2|"), (OP_CONT, True, b"frag-3")],
       "the backend got the frames as sent (no re-framing)", "got %r" % seen)
    ok(all(f.masked for f in bc.frames), "every frame reaching the backend is masked")

    # A frame arriving a byte at a time: the header split over many reads.
    frame = encode_frame(OP_BINARY, b"s" * 300)
    for i in range(16):
        c.send(frame[i:i + 1])
        time.sleep(0.005)
    c.send(frame[16:])
    ok(recv(c) == (OP_BINARY, b"s" * 300), "a frame sent a byte at a time is relayed whole")

    c.ping(b"are you there")
    ok(recv(c, skip_pongs=False) == (OP_PONG, b"are you there"), "ping -> pong with the payload")

    bc.send_frame(OP_PING, b"from backend")
    m = recv(c, skip_pongs=False)
    ok(m == (OP_PING, b"from backend"), "a backend ping reaches the client", "got %r" % (m,))
    c.send_frame(OP_PONG, b"from backend")
    ok(wait_for(lambda: any(f.opcode == OP_PONG for f in bc.frames), 3),
       "the client's pong reaches the backend")

    bc.send_frame(OP_TEXT, b"x" * 70000)   # backend-to-client frames are not masked
    m = recv(c)
    ok(m == (OP_TEXT, b"x" * 70000), "a large backend message reaches the client unmasked")

    # Close handshake relayed both ways.
    c.send_close(1000, "bye")
    f = rclose(c, 5.0)
    ok(isinstance(f, Frame) and f.close_code == 1000, "client close 1000 -> close 1000 comes back",
       "got %r" % (f,))
    ok(bc.got_close.wait(3) and bc.close_code == 1000 and bc.close_reason == "bye",
       "the backend got the client's close untouched", "code %r reason %r" % (bc.close_code, bc.close_reason))
    ok(client_ends(c), "the gateway closes the client TCP connection")
    ok(bc.ended.wait(5), "the backend TCP connection ends")
    c.close()

# Backend-initiated close, relayed untouched.
c, bc = open_session(gw, be)
if c:
    bc.send_close(4000, "backend bye")
    f = rclose(c, 5.0)
    ok(isinstance(f, Frame) and f.close_code == 4000 and f.close_reason == "backend bye",
       "a backend close 4000 reaches the client untouched", "got %r" % (f,))
    c.send_close(4000)
    ok(bc.got_close.wait(3) and bc.close_code == 4000, "the client's close reply reaches the backend")
    ok(client_ends(c) and bc.ended.wait(5), "both TCP connections end after the close handshake")
    c.close()
else:
    ok(False, "session for backend close")

# ---------------------------------------------------------------- limits
c, bc = open_session(gw_small, be_small)
if c:
    payload = os.urandom(65536)
    c.send_binary(payload)
    ok(recv(c) == (OP_BINARY, payload), "a message of exactly max_message_size (64k) passes")
    start = len(bc.frames)
    try:
        c.send_binary(os.urandom(65537 + 4096))
    except OSError:
        pass
    f = rclose(c, 5.0)
    ok(isinstance(f, Frame) and f.close_code == 1009, "a message over max_message_size -> close 1009",
       "got %r" % (f,))
    check("the backend gets a masked close 1009 \"message too big\" and no byte of the oversized frame",
          backend_frames(bc, start, [], 1009, "message too big"))
    ok(client_ends(c), "the client connection ends after 1009")
    c.close()
else:
    ok(False, "session for 1009")

c, bc = open_session(gw_small, be_small)
if c:
    for i in range(3):
        try:
            c.send_frame(OP_BINARY if i == 0 else OP_CONT, b"z" * 30000, fin=(i == 2))
        except OSError:
            break
    f = rclose(c, 5.0)
    ok(isinstance(f, Frame) and f.close_code == 1009,
       "fragments summing over max_message_size (3 x 30000) -> close 1009", "got %r" % (f,))
    check("the backend gets the two fragments within the limit, then a masked close 1009",
          backend_frames(bc, 0, [(OP_BINARY, False, b"z" * 30000), (OP_CONT, False, b"z" * 30000)],
                         1009, "message too big"))
    c.close()
else:
    ok(False, "session for fragmented 1009")

# On a gateway of its own, so that a failure here cannot hide the rest.
be_proto = start_backend()
gw_proto = Gateway(std_conf(be_proto.addr), name="proto")
# Each case: the frames sent, and those the backend gets before the close
# (everything up to the offending frame, nothing of it).
for name, frames, passed in (
        ("a continuation frame without a message", [(OP_CONT, b"orphan", True)], []),
        ("a new message inside a fragmented one", [(OP_TEXT, b"a", False), (OP_TEXT, b"b", True)],
         [(OP_TEXT, False, b"a")]),
        ("a fragmented ping", [(OP_PING, b"p", False)], []),
        ("a 126-byte ping", [(OP_PING, b"p" * 126, True)], []),
        ("a reserved opcode", [(0x3, b"r", True)], [])):
    c, bc = open_session(gw_proto, be_proto, timeout=3.0)
    if not c:
        ok(False, "%s -> close 1002 (no session)" % name)
        continue
    for op, data, fin in frames:
        c.send_frame(op, data, fin=fin)
    f = rclose(c, 5.0)
    p = [] if isinstance(f, Frame) and f.close_code == 1002 else ["the client got %r" % (f,)]
    check("%s -> close 1002 to the client, a masked close 1002 to the backend" % name,
          p + backend_frames(bc, 0, passed, 1002, "protocol error"))
    c.close()

c, bc = open_session(gw_proto, be_proto)
if c:
    c.send_binary(b"unmasked!", mask=False)
    f = rclose(c, 5.0)
    ok(isinstance(f, Frame) and f.close_code == 1002, "an unmasked client frame -> close 1002", "got %r" % (f,))
    ok(client_ends(c), "the client connection ends after 1002")
    check("the unmasked frame is not forwarded: the backend gets only a masked close 1002",
          backend_frames(bc, 0, [], 1002, "protocol error"))
    c.close()
else:
    ok(False, "session for 1002")

# ---------------------------------------------------------------- idle timeout
c, bc = open_session(gw_small, be_small)
if c:
    t0 = time.monotonic()
    f = rclose(c, 6.0)
    el = time.monotonic() - t0
    ok(isinstance(f, Frame) and f.close_code == 1001 and 0.7 <= el <= 4.0,
       "idle_timeout 1s with no traffic -> close 1001", "got %r after %.2fs" % (f, el))
    check("the backend gets a masked close 1001 \"idle timeout\" too",
          backend_frames(bc, 0, [], 1001, "idle timeout"))
    c.close()
else:
    ok(False, "session for idle timeout")

c, bc = open_session(gw_small, be_small)
if c:
    t0 = time.monotonic()
    fine = True
    while time.monotonic() - t0 < 2.5:
        c.send_text("keepalive")
        m = recv(c, 2.0)
        if m != (OP_TEXT, b"keepalive"):
            fine = False
            diag("got %r after %.2fs" % (m, time.monotonic() - t0))
            break
        time.sleep(0.25)
    ok(fine, "a session with traffic every 250ms outlives idle_timeout 1s")
    c.close()

# ---------------------------------------------------------------- abrupt ends
c, bc = open_session(gw, be)
if c:
    c.send_text("before")
    recv(c)
    bc.abort()
    ok(client_ends(c, 5.0), "backend RST -> the client connection ends")
    c.close()
c, bc = open_session(gw, be)
if c:
    bc.close()
    ok(client_ends(c, 5.0), "backend FIN without close frame -> the client connection ends")
    c.close()
c, bc = open_session(gw, be)
if c:
    c.abort()
    ok(bc.ended.wait(5), "client RST -> the backend connection ends")
c, bc = open_session(gw, be)
if c:
    c.sock.shutdown(socket.SHUT_WR)
    ok(bc.ended.wait(5), "client half-close -> the backend connection ends")
    ok(client_ends(c, 5.0), "client half-close -> the gateway closes the client")
    c.close()

# ---------------------------------------------------------------- backpressure
hold = __import__("threading").Event()
be_slow = start_backend(on_open=lambda conn: hold.wait(30))
gw_slow = Gateway(std_conf(be_slow.addr, main=main_conf(max_message_size="2m")), name="slow")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


c, bc = open_session(gw_slow, be_slow)
if c:
    rss0 = rss_kb(gw_slow.proc.pid)
    frame = encode_frame(OP_BINARY, b"q" * 65536)
    sent, limit = 0, 256 << 20
    c.sock.settimeout(1.0)
    try:
        while sent < limit:
            c.sock.sendall(frame)
            sent += len(frame)
    except socket.timeout:
        pass
    rss1 = rss_kb(gw_slow.proc.pid)
    diag("client pushed %.1f MiB before blocking; gateway RSS %d -> %d kB" % (sent / 1048576.0, rss0, rss1))
    ok(sent < limit, "a backend that does not read blocks the client (backpressure)")
    ok(rss1 - rss0 < 32 * 1024, "the gateway does not buffer the backlog in memory",
       "RSS grew by %d kB" % (rss1 - rss0))
    c.sock.settimeout(None)
    hold.set()
    # Now everything must flow: read back every echoed message while the
    # backend drains.
    want = sent // len(frame)
    got, bad = 0, 0
    dl = time.monotonic() + 30
    while got < want and time.monotonic() < dl:
        m = recv(c, 10.0)
        if not isinstance(m, tuple):
            diag("stopped: %r" % (m,))
            break
        if m != (OP_BINARY, b"q" * 65536):
            bad += 1
        got += 1
    ok(got == want and bad == 0, "after the backend resumes every message is echoed",
       "got %d of %d, %d bad" % (got, want, bad))
    c.close()
else:
    ok(False, "session for backpressure")
hold.set()

# The other direction: a backend flooding a client that does not read.
NFLOOD = 400
flood_sent = [0]


def flood(conn):
    def run():
        frame = os.urandom(65536)
        conn.flood_frame = frame
        for _ in range(NFLOOD):
            if not conn.send_frame(OP_BINARY, frame):
                break
            flood_sent[0] += 1
    __import__("threading").Thread(target=run, daemon=True).start()


be_flood = start_backend(on_open=flood)
gw_flood = Gateway(std_conf(be_flood.addr, main=main_conf(max_message_size="2m")), name="flood")
c, bc = open_session(gw_flood, be_flood)
if c:
    rss0 = rss_kb(gw_flood.proc.pid)

    def stalled():
        a = flood_sent[0]
        time.sleep(0.3)
        return flood_sent[0] == a and (a > 0 or a == NFLOOD)

    wait_for(stalled, 15, 0)
    rss1 = rss_kb(gw_flood.proc.pid)
    diag("backend pushed %d of %d 64k frames before blocking; gateway RSS %d -> %d kB"
         % (flood_sent[0], NFLOOD, rss0, rss1))
    ok(flood_sent[0] < NFLOOD, "a client that does not read blocks the backend (backpressure)")
    ok(rss1 - rss0 < 32 * 1024, "the gateway does not buffer the backlog toward the client",
       "RSS grew by %d kB" % (rss1 - rss0))
    got, bad = 0, 0
    while got < NFLOOD:
        m = recv(c, 10.0)
        if not isinstance(m, tuple):
            diag("stopped: %r" % (m,))
            break
        if m != (OP_BINARY, bc.flood_frame):
            bad += 1
        got += 1
    ok(got == NFLOOD and bad == 0, "once the client reads, all %d frames arrive intact" % NFLOOD,
       "got %d, %d bad" % (got, bad))
    c.close()
else:
    ok(False, "session for client-side backpressure")

# ---------------------------------------------------------------- concurrency


def many(g, b, n, name):
    clients, p = [], []
    for i in range(n):
        c, _ = open_session(g, b)
        if c is None:
            p.append("session %d not admitted" % i)
            break
        clients.append(c)
    for i, c in enumerate(clients):
        c.send_binary(b"session-%d-" % i + os.urandom(1000 + i))
    for i, c in enumerate(clients):
        m = recv(c)
        if not (isinstance(m, tuple) and m[0] == OP_BINARY and m[1].startswith(b"session-%d-" % i)
                and len(m[1]) == len(b"session-%d-" % i) + 1000 + i):
            p.append("session %d got %r" % (i, m if not isinstance(m, tuple) else m[1][:20]))
    for c in clients:
        c.send_close(1000)
    for i, c in enumerate(clients):
        f = rclose(c, 5.0)
        if f is None or f.close_code != 1000:
            p.append("session %d close %r" % (i, f))
        c.close()
    check(name, p)


# ---------------------------------------------------------------- bytes before the 101
# What a client sends while the gateway waits for the backend's answer is
# not read as part of the handshake: it waits and is relayed, in order and
# intact, once the 101 is in; a client that half-closes in that wait still
# has its frame delivered.
head_hold = __import__("threading").Event()
be_hold = start_backend(on_head=lambda conn: head_hold.wait(10))
gw_hold = Gateway(std_conf(be_hold.addr, main=main_conf(max_message_size="2m")), name="hold")
for label, half_close in (("frames sent during the backend's wait", False),
                          ("a frame and a half-close during the backend's wait", True)):
    head_hold.clear()
    before = be_hold.nconn
    p = []
    c = gw_hold.client(5.0)
    early = [(OP_TEXT, b"early"), (OP_BINARY, os.urandom(70000))][:1 if half_close else 2]
    try:
        head, c.key = upgrade_head("/", host="127.0.0.1:%d" % gw_hold.port,
                                   headers=[("Authorization", "Bearer " + TOK)])
        c.send(head)
        if not wait_for(lambda: be_hold.nconn > before and be_hold.conns[before].got_head.is_set(), 5):
            p.append("the backend never got the head")
        c.send(b"".join(encode_frame(op, m, mask=True) for op, m in early))
        if half_close:
            c.sock.shutdown(socket.SHUT_WR)
        head_hold.set()
        resp = c.read_response(5.0)
        if resp is None or resp.status != 101:
            p.append("response %r" % (resp,))
        elif half_close:
            bc = be_hold.conns[before]
            if not wait_for(lambda: any(f.opcode == OP_TEXT for f in bc.frames), 5):
                p.append("the backend got no frame")
            elif [(f.opcode, f.payload) for f in bc.frames if f.opcode == OP_TEXT] != early:
                p.append("the backend got %r" % [(f.opcode, f.payload[:20]) for f in bc.frames])
        else:
            got = [recv(c) for _ in early]
            if got != early:
                p.append("echoes %r" % [g if not isinstance(g, tuple) else (g[0], len(g[1]))
                                        for g in got])
    except (Timeout, OSError) as e:
        p.append(repr(e))
    head_hold.set()
    c.close()
    check(label + " reach the backend after the 101" if not half_close
          else label + ": the frame reaches the backend", p)

many(gw, be, 50, "50 concurrent sessions each echo their own message")
many(gw_w2, be_w2, 40, "workers 2: 40 concurrent sessions each echo their own message")

ok(gw.alive() and gw_small.alive() and gw_w2.alive() and gw_slow.alive() and gw_proto.alive()
   and gw_flood.alive() and gw_hold.alive(),
   "every gateway is still running")
c, bc = open_session(gw_proto, be_proto, timeout=3.0)
still = False
if c:
    c.send_text("still there")
    still = recv(c) == (OP_TEXT, b"still there")
    c.close()
ok(still, "the gateway that saw the unmasked frame still serves new sessions")

done()
