# Live sessions: revocation through Redis at the handshake and on live
# sockets (keyspace notifications and the sweep), expiry close, Redis
# outages under redis_failure reject/allow, several instances on one Redis,
# and close injection at frame boundaries.

import os
import sys
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (relaying_session, OP_BINARY, OP_CLOSE, OP_CONT, OP_TEXT, Frame, Gateway, Timeout,  # noqa: E402
                        check, claims, diag, done, expect_101, expect_reject, main_conf, mint,
                        ok, start_backend, std_conf, upgrade, wait_for, BASE_JWT)
from redistest import Proxy, Redis, redis_cli  # noqa: E402
from wsclient import encode_frame, parse_frame  # noqa: E402

REVOKED_AUTH = ('Bearer realm="wsgate", error="invalid_token", '
                'error_description="token revoked"')
EXPIRED_AUTH = ('Bearer realm="wsgate", error="invalid_token", '
                'error_description="token expired"')


def conf(be, redis_addr, failure="reject", sweep="1s", jwt=BASE_JWT, **main):
    m = main_conf(redis=redis_addr, redis_prefix='"wsgate:"', redis_failure=failure,
                  revocation_sweep=sweep, redis_timeout="500ms", **main)
    return std_conf(be.addr, main=m, jwt=jwt)




def wait_close(c, timeout):
    """The first close frame the client receives within timeout, and when
    (monotonic), or (None, None)."""
    dl = time.monotonic() + timeout
    while time.monotonic() < dl:
        try:
            f = c.recv_frame(max(0.01, dl - time.monotonic()))
        except (Timeout, OSError):
            return None, None
        if isinstance(f, Frame) and f.opcode == OP_CLOSE:
            return f, time.monotonic()
    return None, None


def backend_close(bc, timeout=3.0):
    """The close frame the backend received: (code, masked) or None."""
    if not bc.got_close.wait(timeout):
        return None
    for f in bc.frames:
        if f.opcode == OP_CLOSE:
            return f.close_code, f.masked
    return None


def stream_problems(raw, first, code, masked):
    """Problems list unless raw is exactly the bytes of first followed by
    one close frame with code and "token revoked" (masked or not). A close
    injected in the middle of first would sit inside it and be read as
    payload by a parser; comparing bytes cannot be fooled that way."""
    raw = bytes(raw)
    if raw[:len(first)] != first:
        i = next((i for i in range(min(len(raw), len(first))) if raw[i] != first[i]),
                 min(len(raw), len(first)))
        return ["the stream differs from the frame at byte %d of %d (got %d bytes in all)"
                % (i, len(first), len(raw))]
    f, used = parse_frame(bytearray(raw[len(first):]))
    if f is None:
        return ["no complete frame after the %d-byte frame: %r" % (len(first), raw[len(first):][:40])]
    p = []
    if (f.opcode, f.close_code, f.close_reason, f.masked) != (OP_CLOSE, code, "token revoked", masked):
        p.append("the frame after it is %r, expected a%s close %d \"token revoked\""
                 % (f, " masked" if masked else "n unmasked", code))
    if len(first) + used != len(raw):
        p.append("%d more bytes after the close" % (len(raw) - len(first) - used))
    return p


now = lambda: int(time.time())  # noqa: E731

rd = Redis(notify=True)
be = start_backend(record_raw=True)
gw = Gateway(conf(be, rd.addr), name="main")

# ---- handshake ---------------------------------------------------------
c0 = claims(jti="jti-revoked-1")
rd.cmd("SET", "wsgate:revoked:jti:jti-revoked-1", "1", "EX", "600")
expect_reject(gw, be, "revoked jti -> 401 token revoked, no upstream connection",
              401, "invalid_token", "token revoked", REVOKED_AUTH, token=mint(claims_=c0))
expect_101(gw, be, "another jti of the same sub is admitted",
           token=mint(claims_=claims(jti="jti-fine-1")))

iat = now() - 100
rd.cmd("SET", "wsgate:revoked:sub:bob", str(iat))
expect_reject(gw, be, "sub cutoff == iat -> 401", 401, "invalid_token", "token revoked",
              REVOKED_AUTH, token=mint(claims_=claims(sub="bob", iat=iat)))
expect_reject(gw, be, "sub cutoff > iat -> 401", 401, "invalid_token", "token revoked",
              REVOKED_AUTH, token=mint(claims_=claims(sub="bob", iat=iat - 50)))
expect_101(gw, be, "sub cutoff < iat -> admitted", token=mint(claims_=claims(sub="bob", iat=iat + 1)))
expect_reject(gw, be, "token without iat is revoked by any sub entry", 401, "invalid_token",
              "token revoked", REVOKED_AUTH, token=mint(claims_=claims(sub="bob", iat=None)))
rd.cmd("SET", "wsgate:revoked:sub:carol", "not-a-time")
expect_101(gw, be, "a sub entry that is not a unix time revokes nothing",
           token=mint(claims_=claims(sub="carol")))
rd.cmd("SET", "otherprefix:revoked:jti:jti-other", "1")
expect_101(gw, be, "keys under another prefix are ignored",
           token=mint(claims_=claims(jti="jti-other")))

# ---- live, with keyspace notifications -----------------------------------
c, bc = relaying_session(gw, be, mint(claims_=claims(jti="jti-live-1", sub="dave")))
if c:
    t0 = time.monotonic()
    r = redis_cli(rd.port, "SET", "wsgate:revoked:jti:jti-live-1", "1", "EX", "600")
    ok(r.returncode == 0, "redis-cli SET as documented works", r.stderr)
    f, t1 = wait_close(c, 3.0)
    ok(f is not None and f.close_code == 4403 and f.close_reason == "token revoked",
       "live session closed with 4403 \"token revoked\" after redis-cli SET", "got %r" % (f,))
    lat = (t1 - t0) * 1000 if t1 else None
    diag("revocation-to-close latency with notifications: %s ms" % (None if lat is None else "%.1f" % lat))
    # redis-cli's own start-up is part of t0..t1, so this bound is generous to us.
    ok(lat is not None and lat < 150, "closed within 150 ms with keyspace notifications",
       "latency %r ms" % lat)
    bclose = backend_close(bc)
    ok(bclose == (4403, 1), "the backend got a masked close 4403", "got %r" % (bclose,))
    c.send_close(4403)
    ok(c.wait_eof(3.0), "TCP closes after the close handshake")
    c.close()
else:
    ok(False, "live session for notification revocation")

# Fixed times around one cutoff, so the clock ticking over between minting
# and the SET cannot move a token to the other side of it: the older token
# was issued 50 s before the cutoff, the kept one 40 s after it.
T = now()
c, bc = relaying_session(gw, be, mint(claims_=claims(jti="jti-live-2", sub="erin", iat=T - 100)))
c_keep, bc_keep = relaying_session(gw, be, mint(claims_=claims(jti="jti-live-3", sub="erin", iat=T - 10)))
if c and c_keep:
    t0 = time.monotonic()
    rd.cmd("SET", "wsgate:revoked:sub:erin", str(T - 50))
    f, t1 = wait_close(c, 3.0)
    ok(f is not None and f.close_code == 4403, "sub cutoff closes the older live session",
       "got %r" % (f,))
    ok(t1 is not None and (t1 - t0) * 1000 < 150, "within 150 ms",
       "latency %r" % (None if t1 is None else (t1 - t0) * 1000))
    c_keep.send_text(b"still")
    try:
        m = c_keep.recv_message(3.0)
    except Timeout:
        m = None
    ok(m == (OP_TEXT, b"still"), "a session issued after the cutoff stays open", "got %r" % (m,))
    c.close()
    c_keep.close()
else:
    ok(False, "live sessions for sub revocation")

# ---- live, without notifications: the sweep --------------------------------
rd2 = Redis(notify=False)
be2 = start_backend()
gw2 = Gateway(conf(be2, rd2.addr, sweep="500ms"), name="sweep")
c, bc = relaying_session(gw2, be2, mint(claims_=claims(jti="jti-sweep-1")))
if c:
    t0 = time.monotonic()
    rd2.cmd("SET", "wsgate:revoked:jti:jti-sweep-1", "1", "EX", "600")
    f, t1 = wait_close(c, 3.0)
    ok(f is not None and f.close_code == 4403, "sweep closes the live session with 4403",
       "got %r" % (f,))
    lat = (t1 - t0) * 1000 if t1 else None
    diag("revocation-to-close latency by sweep (500ms): %s ms" % lat)
    ok(lat is not None and lat < 500 + 150, "within revocation_sweep + 150 ms", "latency %r" % lat)
    c.close()
else:
    ok(False, "live session for sweep revocation")

# ---- two instances on one Redis --------------------------------------------
be3 = start_backend()
gw3a = Gateway(conf(be3, rd.addr), name="inst-a")
gw3b = Gateway(conf(be3, rd.addr), name="inst-b")
tok = mint(claims_=claims(jti="jti-shared", sub="frank"))
ca, _ = relaying_session(gw3a, be3, tok)
cb, _ = relaying_session(gw3b, be3, tok)
if ca and cb:
    rd.cmd("SET", "wsgate:revoked:jti:jti-shared", "1", "EX", "600")
    fa, _ = wait_close(ca, 3.0)
    fb, _ = wait_close(cb, 3.0)
    ok(fa is not None and fa.close_code == 4403, "instance A closed its session")
    ok(fb is not None and fb.close_code == 4403, "instance B closed its session")
    ca.close()
    cb.close()
else:
    ok(False, "sessions on two instances")

# ---- expiry --------------------------------------------------------------------
jwt0 = BASE_JWT.replace("leeway 5s;", "leeway 0;")
be4 = start_backend()
gw4 = Gateway(conf(be4, rd.addr, jwt=jwt0), name="expiry")
exp = now() + 2
c, bc = relaying_session(gw4, be4, mint(claims_=claims(jti="jti-exp", exp=exp)))
if c:
    f, t1 = wait_close(c, 6.0)
    ok(f is not None and f.close_code == 4401 and f.close_reason == "token expired",
       "token expiring in 2 s is closed with 4401 \"token expired\"", "got %r" % (f,))
    ok(f is not None and time.time() >= exp - 0.05, "not before exp")
    ok(f is not None and time.time() < exp + 1.5, "promptly at exp")
    bclose = backend_close(bc)
    ok(bclose == (4401, 1), "the backend got a masked close 4401", "got %r" % (bclose,))
    c.close()
else:
    ok(False, "session for expiry")

gw5 = Gateway(conf(be4, rd.addr, jwt=jwt0.replace("}", "    on_expiry ignore;\n}")), name="ignore")
exp = now() + 1
c, bc = relaying_session(gw5, be4, mint(claims_=claims(jti="jti-exp-ignore", exp=exp)))
if c:
    wait_for(lambda: time.time() > exp + 1.2, 5)
    c.send_text(b"after-exp")
    try:
        m = c.recv_message(3.0)
    except Timeout:
        m = None
    ok(m == (OP_TEXT, b"after-exp"), "on_expiry ignore keeps the session past exp", "got %r" % (m,))
    c.close()
else:
    ok(False, "session for on_expiry ignore")

# ---- close injection at a frame boundary ------------------------------------------
c, bc = relaying_session(gw, be, mint(claims_=claims(jti="jti-frag")))
if c:
    big = os.urandom(200000)
    # Header for a 200000-byte fragment, but only half of it now.
    frame = encode_frame(OP_BINARY, big, fin=False)
    half = len(frame) // 2
    rx0 = bc.rx_bytes
    raw0 = len(bc.raw or b"")       # the session's own "hi" came first
    c.send(frame[:half])
    # The gateway has passed the frame header on once the backend has it.
    ok(wait_for(lambda: bc.rx_bytes - rx0 >= half // 2, 5), "the first half reaches the backend")
    rd.cmd("SET", "wsgate:revoked:jti:jti-frag", "1", "EX", "600")
    f, _ = wait_close(c, 3.0)
    ok(f is not None and f.close_code == 4403, "client gets 4403 while its own frame is mid-flight")
    c.send(frame[half:])
    bclose = backend_close(bc, 3.0)
    ok(bclose == (4403, 1), "after the frame completes the backend gets a masked 4403",
       "got %r" % (bclose,))
    # The gateway forwards client frames byte for byte (it does not unmask
    # or re-frame): a close it wrote before the frame ended would sit inside
    # these bytes.
    check("the backend's stream is the whole frame, byte for byte, then one masked close 4403 "
          "(no close in the middle of the frame)", stream_problems((bc.raw or b"")[raw0:], frame, 4403, True))
    c.close()
else:
    ok(False, "session for mid-frame close")

# The other direction: the backend is mid-way through a large frame to the
# client when the revocation arrives; the client must get the whole frame,
# then the close.
be_nc = start_backend(close_reply=False, record_raw=True)
gw_nc = Gateway(conf(be_nc, rd.addr), name="midframe")
c, bc = relaying_session(gw_nc, be_nc, mint(claims_=claims(jti="jti-frag2")))
if c:
    big = os.urandom(300000)
    frame = encode_frame(OP_BINARY, big, fin=True, mask=False)
    half = len(frame) // 2
    bc.send_raw(frame[:half])
    dl = time.monotonic() + 5
    while len(c.buf) < half // 2 and c._fill(dl):
        pass
    ok(len(c.buf) >= half // 2, "the first half of the backend's frame reaches the client")
    rd.cmd("SET", "wsgate:revoked:jti:jti-frag2", "1", "EX", "600")
    bclose = backend_close(bc, 3.0)
    ok(bclose == (4403, 1), "the backend is told at once (its direction is at a boundary)",
       "got %r" % (bclose,))
    bc.send_raw(frame[half:])
    # Read the whole frame and whatever follows it, up to the close.
    dl = time.monotonic() + 5

    def rest_parsed():
        return parse_frame(bytearray(c.buf[len(frame):]))[0] is not None

    try:
        while not (len(c.buf) > len(frame) and rest_parsed()) and c._fill(dl):
            pass
    except Timeout:
        pass
    check("the client's stream is the whole frame, byte for byte, then one unmasked close 4403 "
          "(no close in the middle of the frame)", stream_problems(c.buf, frame, 4403, False))
    c.close()
else:
    ok(False, "session for mid-frame close toward the client")

# ---- outages ---------------------------------------------------------------------------
# A proxy lets the test cut the gateway off while it keeps writing to Redis.
px = Proxy(rd.port)
be6 = start_backend()
gw6 = Gateway(conf(be6, px.addr, failure="reject", sweep="30s"), name="reject")
gw7 = Gateway(conf(be6, px.addr, failure="allow", sweep="30s"), name="allow")
c_live, _ = relaying_session(gw6, be6, mint(claims_=claims(jti="jti-outage-live")))
c_live7, _ = relaying_session(gw7, be6, mint(claims_=claims(jti="jti-outage-live7")))
px.down()
ok(wait_for(lambda: "redis: connection lost" in gw6.log(), 5), "the loss is logged")
expect_reject(gw6, be6, "Redis unreachable, redis_failure reject -> 503", 503,
              "service_unavailable", token=mint(claims_=claims(jti="jti-during-1")))
expect_reject(gw6, be6, "again 503 (still down)", 503, "service_unavailable",
              token=mint(claims_=claims(jti="jti-during-2")))
ok(gw6.log().count("redis: connection lost") == 1, "the loss is logged once, not per request",
   "count %d" % gw6.log().count("redis: connection lost"))
expect_101(gw7, be6, "Redis unreachable, redis_failure allow -> 101",
           token=mint(claims_=claims(jti="jti-during-3")))
for name, cl in (("reject", c_live), ("allow", c_live7)):
    if cl:
        cl.send_text(b"alive")
        try:
            m = cl.recv_message(3.0)
        except Timeout:
            m = None
        ok(m == (OP_TEXT, b"alive"), "live session untouched by the outage (%s)" % name)
    else:
        ok(False, "live session before outage (%s)" % name)
# Revoked while the gateway cannot see Redis (no notification reaches it,
# and the sweep is 30 s away): enforced when the connection returns.
rd.cmd("SET", "wsgate:revoked:jti:jti-outage-live", "1", "EX", "600")
px.up()
if c_live:
    f, _ = wait_close(c_live, 5.0)
    ok(f is not None and f.close_code == 4403, "revocation made during the outage closes the "
       "session right after Redis returns", "got %r" % (f,))
    c_live.close()
ok(wait_for(lambda: "redis: connection restored" in gw6.log(), 5), "the return is logged")
expect_101(gw6, be6, "after Redis returns, reject mode admits again",
           token=mint(claims_=claims(jti="jti-after")))

# Redis really killed, then restarted.
c_k, _ = relaying_session(gw6, be6, mint(claims_=claims(jti="jti-kill-live")))
rd.kill()
expect_reject(gw6, be6, "redis-server killed: reject -> 503", 503, "service_unavailable",
              token=mint(claims_=claims(jti="jti-kill-1")))
expect_101(gw7, be6, "redis-server killed: allow -> 101", token=mint(claims_=claims(jti="jti-kill-2")))
rd.start(notify=True)
rd.cmd("SET", "wsgate:revoked:jti:jti-kill-live", "1")
if c_k:
    f, _ = wait_close(c_k, 5.0)
    ok(f is not None and f.close_code == 4403, "after a restart of Redis, revocations apply at once",
       "got %r" % (f,))
    c_k.close()
ok(wait_for(lambda: upgrade(gw6, token=mint(claims_=claims(jti="jti-k3")))[1].status == 101, 5),
   "handshakes are admitted again after the restart")

for g in (gw, gw2, gw3a, gw3b, gw4, gw5, gw6, gw7, gw_nc):
    ok(g.stop() == 0, "gateway %s exits 0 on SIGTERM" % g.name)
done()
