#!/usr/bin/python3
# SIGHUP reload (SPEC §1): new configuration and keys for new connections,
# live sessions untouched, a broken configuration refused with a logged
# file:line error; SIGTERM graceful shutdown with close 1001 and exit 0.

import os
import re
import signal
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True   # keep t/lib free of __pycache__ (EXTRA_DIST ships it)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (OP_TEXT, BASE_JWT, Frame, Gateway, Timeout, check, claims, diag,  # noqa: E402
                        done, main_conf, mint, no_new_conn, ok, reject_problems, start_backend,
                        std_conf, upgrade, wait_for)

TOK = mint("RS256", claims_=claims(exp=int(time.time()) + 3600))
TOK2 = mint("RS256", key="rsa2.key", claims_=claims(exp=int(time.time()) + 3600))

be = start_backend()
be_extra = start_backend()

ROUTES1 = """\
route / {
    upstream @BACKEND@;
    origins "http://localhost:8080";
}
"""
ROUTES2 = ROUTES1.replace('"http://localhost:8080"', '"http://localhost:8080" "https://new.example.org"') + """\
route /extra {
    upstream %s;
    origins any;
}
""" % be_extra.addr
JWT2 = BASE_JWT.replace("/rsa.pub;", "/rsa2.pub;")
CONF1 = std_conf(be.addr, routes=ROUTES1, main=main_conf(shutdown_timeout="5s"))
CONF2 = std_conf(be.addr, routes=ROUTES2, jwt=JWT2, main=main_conf(shutdown_timeout="5s"))

gw = Gateway(CONF1, name="reload")


def try_upgrade(path="/", token=TOK, headers=()):
    """Status of a fresh upgrade attempt (the connection is closed after)."""
    try:
        c, resp = upgrade(gw, path=path, token=token, headers=headers)
    except (Timeout, OSError) as e:
        return repr(e)
    c.close()
    return resp.status if resp else None


def refused(name, status, error, path="/", token=TOK, headers=()):
    """One point: the upgrade is rejected with status and error (SPEC §3's
    whole rejection) and no backend of this gateway saw a connection."""
    n_be, n_extra = be.nconn, be_extra.nconn
    try:
        c, resp = upgrade(gw, path=path, token=token, headers=headers)
    except (Timeout, OSError) as e:
        return check(name, ["no response: %r" % e])
    p = reject_problems(c, resp, status, error)
    c.close()
    p += no_new_conn(be, n_be) + no_new_conn(be_extra, n_extra)
    return check(name, p)


def echo(c, text):
    try:
        c.send_text(text)
        return c.recv_message(5.0) == (OP_TEXT, text.encode())
    except (Timeout, OSError):
        return False


def going_away(named):
    """Reads the close of each (name, session) and answers it; returns what
    went wrong: a missing session, or anything but a close 1001."""
    p = []
    for name, s in named:
        if s is None:
            p.append("%s missing" % name)
            continue
        try:
            f = s.recv_close(5.0)
        except (Timeout, OSError) as e:
            f = repr(e)
        if not (isinstance(f, Frame) and f.close_code == 1001):
            p.append("%s got %r instead of close 1001" % (name, f))
            continue
        try:
            s.send_close(1001)
        except OSError:
            pass
    return p


def live_session(token):
    c, resp = upgrade(gw, token=token)
    if resp is None or resp.status != 101:
        diag("live session not admitted: %r" % resp)
        return None
    return c


NEW_ORIGIN = [("Origin", "https://new.example.org")]

s1 = live_session(TOK)
ok(s1 is not None and echo(s1, "before reload"), "a live session echoes before the reload")
refused("before: the new origin is refused", 403, "origin_not_allowed", headers=NEW_ORIGIN)
refused("before: a token from rsa2 is refused", 401, "invalid_token", token=TOK2)
n_be, n_extra = be.nconn, be_extra.nconn
ok(try_upgrade(path="/extra") == 101 and be.nconn == n_be + 1 and be_extra.nconn == n_extra,
   "before: /extra goes to the / route's backend",
   "connections: / backend +%d, /extra backend +%d" % (be.nconn - n_be, be_extra.nconn - n_extra))

# ---------------------------------------------------------------- good reload
gw.write_conf(CONF2)
gw.reload()
ok(wait_for(lambda: try_upgrade(headers=NEW_ORIGIN, token=TOK2) == 101, 10, 0.1),
   "after SIGHUP: the newly allowed origin is admitted")
ok(try_upgrade(token=TOK2) == 101, "after SIGHUP: the reloaded key (rsa2) verifies")
refused("after SIGHUP: the removed key (rsa) no longer verifies", 401, "invalid_token", token=TOK)
n_extra = be_extra.nconn
ok(try_upgrade(path="/extra", token=TOK2) == 101 and be_extra.nconn == n_extra + 1,
   "after SIGHUP: the new /extra route reaches its own backend")
ok(s1 is not None and echo(s1, "after reload"), "the live session survived the reload")
ok(gw.alive(), "the gateway is running after the reload")

# ---------------------------------------------------------------- bad reload
lines = CONF2.splitlines()
bad_line = next(i for i, ln in enumerate(lines) if ln.startswith("workers")) + 2
lines.insert(bad_line - 1, "this_is_not_a_directive 42;")
gw.write_conf("\n".join(lines) + "\n")
log_before = len(gw.log())
gw.reload()
want = "%s:%d" % (gw.conf_path, bad_line)
ok(wait_for(lambda: want in gw.log()[log_before:], 10, 0.05),
   "a broken config on SIGHUP logs an error naming %s" % "FILE:LINE",
   "wanted %r in the new log lines:\n%s" % (want, gw.log()[log_before:]))
err_lines = [ln for ln in gw.log()[log_before:].splitlines() if want in ln]
ok(err_lines and re.search(r"error|crit|alert|emerg|warn", err_lines[0], re.I),
   "the line is logged as an error", "got %r" % err_lines)
ok(gw.alive(), "the gateway keeps running after a broken config")
ok(try_upgrade(headers=NEW_ORIGIN, token=TOK2) == 101,
   "new connections still follow the last good config (origin)")
refused("new connections still follow the last good config (keys)", 401, "invalid_token", token=TOK)
n_extra = be_extra.nconn
ok(try_upgrade(path="/extra", token=TOK2) == 101 and be_extra.nconn == n_extra + 1,
   "new connections still follow the last good config (routes)")
ok(s1 is not None and echo(s1, "after bad reload"), "the live session survived the refused reload")

# A reload with a config whose key file disappeared is refused too.
lines = CONF2.splitlines()
i = next(i for i, ln in enumerate(lines) if "rsa2.pub" in ln)
lines[i] = lines[i].replace("rsa2.pub", "missing-key.pub")
gw.write_conf("\n".join(lines) + "\n")
log_before = len(gw.log())
gw.reload()
want = "%s:%d" % (gw.conf_path, i + 1)
ok(wait_for(lambda: want in gw.log()[log_before:], 10, 0.05),
   "a missing key file on SIGHUP is refused with FILE:LINE in the log",
   "new log lines:\n%s" % gw.log()[log_before:])
ok(gw.alive() and try_upgrade(token=TOK2) == 101, "the old keys stay in force")

# Settings read only at start-up: the reload applies the rest and warns.
gw.write_conf(CONF2 + "redis 127.0.0.1:1;\n")
log_before = len(gw.log())
gw.reload()
ok(wait_for(lambda: "configuration %s reloaded" % gw.conf_path in gw.log()[log_before:], 10, 0.05),
   "a reload that adds redis is applied")
ok(re.search(r"warn reload: redis, .* changed; they take effect at the next restart",
             gw.log()[log_before:]) is not None,
   "and warns that redis takes effect at the next restart", gw.log()[log_before:])
ok(try_upgrade(token=TOK2) == 101, "handshakes go on without a Redis lookup until the restart")
gw.write_conf(CONF2)

# ---------------------------------------------------------------- SIGTERM
s2 = live_session(TOK2)
ok(s2 is not None and echo(s2, "before shutdown"), "a second live session echoes")
t0 = time.monotonic()
gw.proc.send_signal(signal.SIGTERM)
check("SIGTERM: every live session receives close 1001", going_away((("s1", s1), ("s2", s2))))
try:
    rc = gw.proc.wait(5 + 3)
except Exception:
    rc = None
el = time.monotonic() - t0
ok(rc == 0, "SIGTERM: the gateway exits 0", "exit %r after %.2fs" % (rc, el))
ok(el < 5, "SIGTERM: exit comes before shutdown_timeout when sessions close", "took %.2fs" % el)
ok(all(s is None or s.wait_eof(3) for s in (s1, s2)), "SIGTERM: client connections are closed")
ok(wait_for(lambda: all(c.ended.is_set() for c in be.conns), 5), "SIGTERM: backend connections are closed")

# ---------------------------------------------------------------- under load
# Sessions relaying binary messages and a stream of new handshakes while the
# configuration is reloaded again and again, then SIGTERM: nothing is lost,
# every handshake is admitted, every session gets its 1001.
beL = start_backend()
ROUTES_B = ROUTES1 + """\
route /other {
    upstream @BACKEND@;
    origins any;
}
"""
CONF_A = std_conf(beL.addr, routes=ROUTES1, main=main_conf(workers=2, shutdown_timeout="5s"))
CONF_B = std_conf(beL.addr, routes=ROUTES_B, main=main_conf(workers=2, shutdown_timeout="5s"))
gwL = Gateway(CONF_A, name="load")
stop = threading.Event()
NSESS = 16
results = {"echoed": 0, "bad": [], "statuses": []}
lock = threading.Lock()


def pump(c, i):
    """Echoes random binary messages until told to stop."""
    n = 0
    while not stop.is_set():
        data = os.urandom(1024 + (n * 7919 + i * 104729) % 60000)
        try:
            c.send_binary(data)
            m = c.recv_message(10.0)
        except (Timeout, OSError) as e:
            m = repr(e)
        with lock:
            if m != (0x2, data):
                results["bad"].append("session %d message %d: %s" % (i, n, m if isinstance(m, str) else "altered"))
                return
            results["echoed"] += 1
        n += 1


def handshakes():
    while not stop.is_set():
        try:
            c, resp = upgrade(gwL, token=TOK)
            st = resp.status if resp else None
            c.close()
        except (Timeout, OSError) as e:
            st = repr(e)
        with lock:
            results["statuses"].append(st)


sessions = []
for i in range(NSESS):
    c, resp = upgrade(gwL, token=TOK)
    sessions.append(c if resp is not None and resp.status == 101 else None)
ok(all(sessions), "%d sessions open on the loaded gateway" % NSESS)
threads = [threading.Thread(target=pump, args=(c, i), daemon=True) for i, c in enumerate(sessions) if c]
threads += [threading.Thread(target=handshakes, daemon=True) for _ in range(2)]
for t in threads:
    t.start()
NRELOAD = 10
reloaded = 0
for k in range(NRELOAD):
    gwL.write_conf(CONF_B if k % 2 == 0 else CONF_A)
    gwL.reload()
    want = k + 1
    if wait_for(lambda: gwL.log().count("configuration %s reloaded" % gwL.conf_path) >= want, 10, 0.02):
        reloaded += 1
    # Let traffic run under this configuration before the next reload.
    n0 = results["echoed"]
    wait_for(lambda: results["echoed"] >= n0 + NSESS, 10, 0.01)
stop.set()
for t in threads:
    t.join(15)
ok(reloaded == NRELOAD, "%d reloads under load, each applied" % NRELOAD, "applied %d" % reloaded)
check("sessions relayed intact across the reloads", results["bad"])
ok(results["echoed"] >= NRELOAD * NSESS, "messages echoed under load: %d" % results["echoed"])
bad = [s for s in results["statuses"] if s != 101]
ok(results["statuses"] and not bad, "every handshake during the reloads was admitted (%d)"
   % len(results["statuses"]), "not 101: %r" % bad[:5])

# SIGTERM with every session still open: each gets 1001, the gateway exits 0.
t0 = time.monotonic()
gwL.proc.send_signal(signal.SIGTERM)
check("SIGTERM under load: every session receives close 1001",
      going_away(("session %d" % i, c) for i, c in enumerate(sessions)))
try:
    rc = gwL.proc.wait(10)
except Exception:
    rc = None
ok(rc == 0, "SIGTERM under load: exit 0", "exit %r after %.2fs" % (rc, time.monotonic() - t0))
for c in sessions:
    if c:
        c.close()

# A client that never answers the close: the gateway still exits, 0, after
# shutdown_timeout.
be3 = start_backend()
gw3 = Gateway(std_conf(be3.addr, main=main_conf(shutdown_timeout="2s")), name="stubborn")
c, resp = upgrade(gw3, token=TOK)
ok(resp is not None and resp.status == 101, "a session on the second gateway")
t0 = time.monotonic()
gw3.proc.send_signal(signal.SIGTERM)
try:
    f = c.recv_close(5.0)
except (Timeout, OSError) as e:
    f = repr(e)
ok(isinstance(f, Frame) and f.close_code == 1001, "the silent client gets close 1001", "got %r" % (f,))
try:
    rc = gw3.proc.wait(2 + 5)
except Exception:
    rc = None
el = time.monotonic() - t0
ok(rc == 0 and el <= 2 + 3.0, "a client that never closes: exit 0 by shutdown_timeout (2s)",
   "exit %r after %.2fs" % (rc, el))
diag("gateway exited %.2fs after SIGTERM" % el)
c.close()

# A session that cannot even be told: the backend floods a client that does
# not read, so the gateway's close frame is stuck behind the backlog. The
# gateway must still exit 0 once shutdown_timeout has passed.
flood_sent = [0]


def flood(conn):
    def run():
        frame = b"f" * 65536
        while conn.send_frame(0x2, frame):
            flood_sent[0] += len(frame)
    threading.Thread(target=run, daemon=True).start()


be4 = start_backend(on_open=flood)
gw4 = Gateway(std_conf(be4.addr, main=main_conf(shutdown_timeout="2s")), name="flooded")
c, resp = upgrade(gw4, token=TOK)
c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
ok(resp is not None and resp.status == 101, "a session on the flooded gateway")


def stalled():
    a = flood_sent[0]
    time.sleep(0.3)
    return a > 0 and flood_sent[0] == a


ok(wait_for(stalled, 15, 0), "the flood stalls on backpressure", "sent %d" % flood_sent[0])
t0 = time.monotonic()
gw4.proc.send_signal(signal.SIGTERM)
try:
    rc = gw4.proc.wait(2 + 5)
except Exception:
    rc = None
el = time.monotonic() - t0
ok(rc == 0 and el <= 2 + 3.0, "a session stuck behind backpressure: exit 0 by shutdown_timeout (2s)",
   "exit %r after %.2fs" % (rc, el))
c.close()
done()
