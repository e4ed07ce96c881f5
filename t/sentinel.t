#!/usr/bin/python3
# Redis Sentinel (SPEC §13): "redis sentinel://HOST:PORT,.../MASTER" with a
# real redis-server master and replica and a real redis-sentinel. The test
# kills the master; after the failover a SET on the new master closes a
# live session within 2 s, a revocation written there while the gateway
# moved is not missed, and new handshakes see revocations written there.
# Without a master known, redis_failure applies.

import os
import shutil
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (OP_CLOSE, OP_TEXT, TMP, Frame, Gateway, Timeout, _procs, bail,  # noqa: E402
                        claims, diag, done, free_port, main_conf, mint, ok, port_open, skip,
                        start_backend, std_conf, upgrade, wait_for, write_file)
from redistest import Redis, REDIS_SERVER  # noqa: E402

SENTINEL = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
if not os.path.exists(SENTINEL):
    skip("Redis Sentinel", "no redis-sentinel")
    done()


def spawn(args, name):
    log = open(os.path.join(TMP, name + ".log"), "ab")
    p = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    _procs.append(p)
    return p


def server(port, *extra):
    d = os.path.join(TMP, "r%d" % port)
    os.makedirs(d, exist_ok=True)
    p = spawn([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", d, "--protected-mode", "no",
               "--notify-keyspace-events", "K$"] + list(extra), "redis-%d" % port)
    if not wait_for(lambda: port_open(port), 10):
        bail("redis-server did not start on %d" % port)
    return p


class Node(Redis):
    """Redis's RESP client on a server this test started itself."""

    def __init__(self, port):
        self.port = port
        self.proc = None


mport, rport, sport, dead = free_port(), free_port(), free_port(), free_port()
mproc = server(mport)
rproc = server(rport, "--replicaof", "127.0.0.1", str(mport))
master, replica, sentinel = Node(mport), Node(rport), Node(sport)
ok(wait_for(lambda: "master_link_status:up" in replica.cmd("INFO", "replication"), 10),
   "the replica is in sync with the master")
scfg = write_file("sentinel.conf", """\
port %d
bind 127.0.0.1
protected-mode no
dir %s
sentinel monitor mymaster 127.0.0.1 %d 1
sentinel down-after-milliseconds mymaster 400
sentinel failover-timeout mymaster 3000
sentinel parallel-syncs mymaster 1
""" % (sport, TMP, mport))
sproc = spawn([SENTINEL, scfg], "sentinel")
if not wait_for(lambda: port_open(sport), 10):
    bail("redis-sentinel did not start")
ok(wait_for(lambda: len(sentinel.cmd("SENTINEL", "replicas", "mymaster") or []) == 1, 15, 0.1),
   "the sentinel knows the replica")

be = start_backend()
# The first sentinel listed is down: discovery goes on to the next. The
# sweep is slow, so closes after the failover come from the subscription
# (moved to the new master) or the resynchronising sweep.
gw = Gateway(std_conf(be.addr, main=main_conf(
    redis="sentinel://127.0.0.1:%d,127.0.0.1:%d/mymaster" % (dead, sport),
    redis_failure="reject", revocation_sweep="30s", redis_timeout="500ms")), name="sent")


def session(jti):
    tok = mint("RS256", claims_=claims(jti=jti, sub="s-" + jti))
    try:
        c, r = upgrade(gw, token=tok)
    except (Timeout, OSError):
        return None, tok
    if r is None or r.status != 101:
        diag("%s not admitted: %r" % (jti, r))
        c.close()
        return None, tok
    c.send_text(b"hi")
    try:
        if c.recv_message(5.0) != (OP_TEXT, b"hi"):
            return None, tok
    except Timeout:
        return None, tok
    return c, tok


def close_within(c, timeout):
    dl = time.monotonic() + timeout
    while c and time.monotonic() < dl:
        try:
            f = c.recv_frame(max(0.01, dl - time.monotonic()))
        except (Timeout, OSError):
            return None
        if isinstance(f, Frame) and f.opcode == OP_CLOSE:
            return f
    return None


def status_of(tok):
    try:
        c, r = upgrade(gw, token=tok)
    except (Timeout, OSError):
        return None
    c.close()
    return r.status if r else None


ok(wait_for(lambda: status_of(mint("RS256", claims_=claims())) == 101, 10, 0.1),
   "the gateway found the master through the second sentinel")
a, _ = session("sent-a")
master.cmd("SET", "wsgate:revoked:jti:sent-a", "1", "EX", "60")
f = close_within(a, 2.0)
ok(f is not None and f.close_code == 4403, "before the failover: a SET on the master closes", f)

b, btok = session("sent-b")
c, _ = session("sent-c")
d, _ = session("sent-d")
ok(b and c and d, "three live sessions before the failover")

# ---- failover --------------------------------------------------------------------------
t_kill = time.monotonic()
mproc.kill()
mproc.wait(5)


def new_master():
    try:
        addr = sentinel.cmd("SENTINEL", "get-master-addr-by-name", "mymaster")
    except (OSError, RuntimeError):
        return None
    return addr if addr and int(addr[1]) == rport else None


ok(wait_for(new_master, 20, 0.05), "the sentinel promoted the replica",
   sentinel.cmd("SENTINEL", "get-master-addr-by-name", "mymaster"))
t_switch = time.monotonic()
diag("failover took %.2fs after the kill" % (t_switch - t_kill))
ok(wait_for(lambda: replica.cmd("ROLE")[0] == "master", 10, 0.05), "the replica is a master now")
# Written the moment the switch is announced, while the gateway moves.
replica.cmd("SET", "wsgate:revoked:jti:sent-d", "1", "EX", "60")
f = close_within(d, 3.0)
ok(f is not None and f.close_code == 4403,
   "a revocation written on the new master during the move is not missed", f)
t0 = time.monotonic()
replica.cmd("SET", "wsgate:revoked:jti:sent-b", "1", "EX", "60")
f = close_within(b, 2.0)
dt = time.monotonic() - t0
ok(f is not None and f.close_code == 4403 and f.close_reason == "token revoked",
   "after the failover a SET on the new master closes a live session with 4403", f)
ok(f is not None and dt <= 2.0, "within 2 s of the SET", "%.3fs" % dt)
is_st = status_of(btok)
ok(is_st == 401, "a new handshake with a token revoked on the new master gets 401", is_st)
ok(status_of(mint("RS256", claims_=claims())) == 101, "other tokens are admitted after the failover")
ok(c is not None and close_within(c, 0.2) is None, "an unrevoked session survives the failover")
ok("master is 127.0.0.1:%d" % rport in gw.log(), "the gateway logged the move to the new master")
for x in (a, b, c, d):
    if x:
        x.close()

# ---- no master known: redis_failure ------------------------------------------------
gw2 = Gateway(std_conf(be.addr, main=main_conf(
    redis="sentinel://127.0.0.1:%d/mymaster" % dead, redis_failure="reject")), name="nomaster")
st = None
try:
    cc, r = upgrade(gw2, token=mint("RS256", claims_=claims()))
    st = r.status if r else None
    cc.close()
except (Timeout, OSError):
    pass
ok(st == 503, "no sentinel answers: redis_failure reject refuses with 503", st)
gw3 = Gateway(std_conf(be.addr, main=main_conf(
    redis="sentinel://127.0.0.1:%d/othermaster" % sport, redis_failure="allow")), name="unknown")
st = None
try:
    cc, r = upgrade(gw3, token=mint("RS256", claims_=claims()))
    st = r.status if r else None
    cc.close()
except (Timeout, OSError):
    pass
ok(st == 101, "a master the sentinels do not know: redis_failure allow admits", st)
sproc.terminate()
rproc.terminate()
done()
