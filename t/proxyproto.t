#!/usr/bin/python3
# PROXY protocol v1 and v2 on "listen ... proxy_protocol" (SPEC §13):
# Debian's HAProxy in front of wsgate with send-proxy-v2 and send-proxy,
# also in front of a "tls proxy_protocol" listener (the header comes
# before TLS); the header's source is the client address for
# X-Forwarded-For, X-Real-IP, max_connections_per_ip, the access log and
# /sessions; a connection without a valid header is closed unanswered.

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from wsgatetest import (TMP, Gateway, WSClient, _procs, bail, check, claims, done,  # noqa: E402
                        encode_frame,
                        expect_101, free_port, listening, main_conf, mint, ok, skip,
                        start_backend, std_conf, upgrade, wait_for, write_file)
from tlstest import PKI, TLSWSClient, client_context  # noqa: E402
from wsclient import upgrade_head  # noqa: E402

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
CLIENT_IP = "127.0.0.5"     # the client's own loopback address, not HAProxy's

be = start_backend()
pki = PKI(os.path.join(TMP, "pki"))
pki.ca("ca")
pki.leaf("server", "ca")
CA = pki.path("ca.pem")
sport = free_port()
tport = free_port()
alog = os.path.join(TMP, "access.log")
main = main_conf(listen="127.0.0.1:@PORT@ proxy_protocol",
                 status_listen="127.0.0.1:%d" % sport,
                 access_log="%s json" % alog,
                 max_connections_per_ip="2",
                 handshake_timeout="1s") + \
    "listen 127.0.0.1:%d tls proxy_protocol;\ntls_certificate %s;\ntls_certificate_key %s;\n" % (
        tport, pki.path("server.pem"), pki.path("server.key"))
gw = Gateway(std_conf(be.addr, main=main), name="pp")
ok(wait_for(lambda: listening(gw.proc.pid, tport), 5), "the tls proxy_protocol listener is up")

TOK = mint("RS256", claims_=claims(sub="alice", roles=["chat"]))


class Front:
    """Something a client connects to: HAProxy's frontend port, or the
    gateway directly, from CLIENT_IP or 127.0.0.1, with an optional
    PROXY header written first."""

    def __init__(self, port, source=CLIENT_IP, prefix=b"", tls=False):
        self.port, self.source, self.prefix, self.tls = port, source, prefix, tls

    def client(self, timeout=5.0):
        if self.tls:
            c = _TLSClient(self.port, self.source, self.prefix, timeout)
        else:
            c = _Client(self.port, self.source, self.prefix, timeout)
        return c


class _Client(WSClient):
    def __init__(self, port, source, prefix, timeout):
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if prefix:
            self.sock.sendall(prefix)
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.response = None
        self.key = None
        self._msg_parts = []
        self._msg_op = None


class _TLSClient(TLSWSClient):
    def __init__(self, port, source, prefix, timeout):
        self.timeout = timeout
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                       source_address=(source, 0))
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if prefix:
            raw.sendall(prefix)
        self.sock = client_context(CA).wrap_socket(raw, server_hostname="localhost")
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.response = None
        self.key = None
        self._msg_parts = []
        self._msg_op = None


def v2(src, sport_, dst="127.0.0.1", dport=80, cmd=1):
    fam = 0x21 if ":" in src else 0x11
    af = socket.AF_INET6 if fam == 0x21 else socket.AF_INET
    body = socket.inet_pton(af, src) + socket.inet_pton(af, dst if fam == 0x11 else "::1") + \
        struct.pack(">HH", sport_, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x20 | cmd, fam]) + struct.pack(">H", len(body)) + body


def admitted_from(front, name, want_ip, **kw):
    """One session through front; the backend must see want_ip as the
    client. Returns the open client (or None)."""
    c, bc, resp = expect_101(front, be, name, close=False, token=TOK, **kw)
    if bc is None:
        if c:
            c.close()
        return None
    xff = bc.header("X-Forwarded-For")
    xri = bc.header("X-Real-IP")
    check(name + ": the backend sees the client's address",
          [] if (xff, xri) == (want_ip, want_ip) else
          ["X-Forwarded-For %r, X-Real-IP %r, expected %r" % (xff, xri, want_ip)])
    return c


def closed_unanswered(front, name, send=b"", wait=3.0):
    """The gateway closes the connection without writing a byte, and the
    backend sees nothing."""
    before = be.nconn
    p = []
    try:
        c = front.client()
    except OSError as e:
        return check(name, ["connect failed: %r" % e])
    try:
        if send:
            c.send(send)
        if not c.wait_eof(wait):
            p.append("not closed within %.1fs" % wait)
        if c.buf:
            p.append("the gateway answered %r" % bytes(c.buf[:100]))
    except OSError:
        pass
    c.close()
    if not be.fence():
        p.append("backend fence failed")
    elif be.nconn != before:
        p.append("backend saw %d connection(s)" % (be.nconn - before))
    return check(name, p)


# ---- raw headers, written by the test ------------------------------------------------
direct = Front(gw.port, source="127.0.0.1")
c = admitted_from(Front(gw.port, prefix=b"PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\n"),
                  "v1 TCP4 header written by hand", "203.0.113.7")
c and c.close()
c = admitted_from(Front(gw.port, prefix=b"PROXY TCP6 2001:db8::7 ::1 51234 80\r\n"),
                  "v1 TCP6 header", "2001:db8::7")
c and c.close()
c = admitted_from(Front(gw.port, prefix=v2("198.51.100.9", 40000)), "v2 TCP4 header",
                  "198.51.100.9")
c and c.close()
c = admitted_from(Front(gw.port, prefix=v2("2001:db8::9", 40000)), "v2 TCP6 header",
                  "2001:db8::9")
c and c.close()
c = admitted_from(Front(gw.port, prefix=v2("198.51.100.9", 1, cmd=0)),
                  "v2 LOCAL: the real peer is the client", CLIENT_IP)
c and c.close()
c = admitted_from(Front(gw.port, prefix=b"PROXY UNKNOWN\r\n"),
                  "v1 UNKNOWN: the real peer is the client", CLIENT_IP)
c and c.close()
# The client's own X-Forwarded-For is kept and the header's address appended.
cc, bc, resp = expect_101(Front(gw.port, prefix=b"PROXY TCP4 203.0.113.8 10.0.0.1 1 80\r\n"), be,
                          "admitted with a client X-Forwarded-For", close=False, token=TOK,
                          headers=[("X-Forwarded-For", "198.18.0.1")])
if bc:
    ok(bc.header("X-Forwarded-For") == "198.18.0.1, 203.0.113.8" and
       bc.header("X-Real-IP") == "203.0.113.8",
       "X-Forwarded-For appends the header's address, X-Real-IP is it",
       bc.headers)
cc and cc.close()

# The header, the request head and a first frame in one write: the reader
# takes the header only, the rest is the intake's and the relay's.
for label, hdr, ip in (("v1", b"PROXY TCP4 203.0.113.21 10.0.0.1 5000 80\r\n", "203.0.113.21"),
                       ("v2", v2("203.0.113.22", 5001), "203.0.113.22")):
    before = be.nconn
    head, key = upgrade_head("/", headers=[("Authorization", "Bearer " + TOK)])
    cl = _Client(gw.port, CLIENT_IP, b"", 5.0)
    cl.key = key
    cl.send(hdr + head + encode_frame(1, b"same-write"))
    p = []
    try:
        r = cl.read_response(5.0)
        if r is None or r.status != 101:
            p.append("response %r" % (r,))
        elif cl.recv_message(5.0) != (1, b"same-write"):
            p.append("the frame sent with the head was not relayed")
    except Exception as e:     # noqa: BLE001
        p.append("%r" % e)
    if not be.wait_conns(before + 1, 3):
        p.append("backend saw no connection")
    elif be.conns[before].header("X-Real-IP") != ip:
        p.append("X-Real-IP %r" % be.conns[before].header("X-Real-IP"))
    check("%s header, head and frame in one write: admitted, frame relayed, %s" % (label, ip), p)
    cl.close()

# ---- refusals: closed with no response, nothing reaches the backend ---------------------
closed_unanswered(direct, "a request without a PROXY header is closed unanswered",
                  send=b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
closed_unanswered(direct, "a malformed v1 header is closed unanswered",
                  send=b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 80\r\nGET / HTTP/1.1\r\n\r\n")
closed_unanswered(direct, "a v2 header with a TLV past its end is closed unanswered",
                  send=v2("1.2.3.4", 1)[:14] + b"\x00\x10" + v2("1.2.3.4", 1)[16:] + b"\x01\x00\x09x")
closed_unanswered(direct, "no header within handshake_timeout: closed unanswered", wait=4.0)
closed_unanswered(direct, "half a header, then silence: closed within handshake_timeout",
                  send=b"PROXY TCP4 1.2.3.4 ", wait=4.0)
closed_unanswered(direct, "a v1 header over 107 bytes is closed unanswered",
                  send=b"PROXY UNKNOWN " + b"a" * 120)

with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % sport, timeout=5) as r:
    mtext = r.read().decode()


def rejected(reason):
    key = 'wsgate_handshakes_total{result="rejected",reason="%s"} ' % reason
    return sum(int(ln[len(key):]) for ln in mtext.splitlines() if ln.startswith(key))


ok(rejected("bad_proxy_header") == 4 and rejected("proxy_header_timeout") == 2,
   "/metrics counts the refused headers by reason",
   (rejected("bad_proxy_header"), rejected("proxy_header_timeout")))

# ---- max_connections_per_ip counts the header's address -------------------------------
held = []
for i in range(2):
    c = admitted_from(Front(gw.port, prefix=b"PROXY TCP4 192.0.2.50 10.0.0.1 %d 80\r\n" % (1000 + i)),
                      "per-IP slot %d of 2 for 192.0.2.50" % (i + 1), "192.0.2.50")
    if c:
        held.append(c)
c, resp = upgrade(Front(gw.port, prefix=b"PROXY TCP4 192.0.2.50 10.0.0.1 1002 80\r\n"), token=TOK)
ok(resp is not None and resp.status == 429, "a third connection from 192.0.2.50 gets 429",
   resp and resp.status)
c.close()
c = admitted_from(Front(gw.port, prefix=b"PROXY TCP4 192.0.2.51 10.0.0.1 1003 80\r\n"),
                  "another address behind the same balancer is not limited", "192.0.2.51")

# ---- /sessions and the access log show the header's address ---------------------------
with urllib.request.urlopen("http://127.0.0.1:%d/sessions" % sport, timeout=5) as r:
    sess = json.loads(r.read().decode())
remotes = sorted(x.get("remote", "").rsplit(":", 1)[0] for x in sess)
ok(remotes == ["192.0.2.50", "192.0.2.50", "192.0.2.51"], "/sessions shows the header's addresses",
   remotes)
for x in held + ([c] if c else []):
    x.close()


def access_remotes():
    try:
        return [json.loads(ln).get("remote", "") for ln in open(alog) if ln.startswith("{")]
    except (OSError, ValueError):
        return []


ok(wait_for(lambda: any(r.startswith("192.0.2.51:") for r in access_remotes()), 5),
   "the access log shows the header's address", access_remotes()[-3:])

# ---- a flood of connections that never send a header -------------------------------
# Far over max_connections the listener pauses; connections refused for
# their header free their slots like ended sessions and accepting resumes.
gw2 = Gateway(std_conf(be.addr, main=main_conf(listen="127.0.0.1:@PORT@ proxy_protocol",
                                               max_connections="10", handshake_timeout="1s")),
              name="ppflood")
flood = []
for i in range(40):
    try:
        flood.append(socket.create_connection(("127.0.0.1", gw2.port), timeout=2))
    except OSError:
        break
ok(wait_for(lambda: "not accepting" in gw2.log(), 5), "the flood paused the listener")
for x in flood:
    x.close()


def admitted_again():
    try:
        c, r = upgrade(Front(gw2.port, prefix=b"PROXY TCP4 203.0.113.30 10.0.0.1 7000 80\r\n"),
                       token=TOK, timeout=2.0)
    except Exception:      # noqa: BLE001
        return False
    c.close()
    return r is not None and r.status == 101


ok(wait_for(admitted_again, 5, 0.1),
   "once the flood's connections are refused, accepting resumes and a client is admitted")

# ---- Debian's HAProxy in front --------------------------------------------------------
if not os.path.exists(HAPROXY):
    skip("HAProxy in front", "no haproxy")
    done()
hp2, hp1, hpt = free_port(), free_port(), free_port()
hcfg = write_file("haproxy.cfg", """\
global
    maxconn 200
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend v2
    bind 127.0.0.1:%d
    default_backend gw_v2
backend gw_v2
    server gw 127.0.0.1:%d send-proxy-v2
frontend v1
    bind 127.0.0.1:%d
    default_backend gw_v1
backend gw_v1
    server gw 127.0.0.1:%d send-proxy
frontend tls
    bind 127.0.0.1:%d
    default_backend gw_tls
backend gw_tls
    server gw 127.0.0.1:%d send-proxy-v2
""" % (hp2, gw.port, hp1, gw.port, hpt, tport))
hlog = open(os.path.join(TMP, "haproxy.log"), "ab")
hp = subprocess.Popen([HAPROXY, "-db", "-f", hcfg], stdin=subprocess.DEVNULL, stdout=hlog,
                      stderr=hlog)
_procs.append(hp)
if not wait_for(lambda: all(listening(hp.pid, p) for p in (hp2, hp1, hpt)), 10):
    bail("haproxy did not start: %s" % open(os.path.join(TMP, "haproxy.log")).read()[-500:])

c = admitted_from(Front(hp2), "HAProxy send-proxy-v2: admitted", CLIENT_IP)
if c:
    c.send_text(b"hello")
    ok(c.recv_message(5.0) == (1, b"hello"), "HAProxy send-proxy-v2: relay works")
    c.close()
c = admitted_from(Front(hp1), "HAProxy send-proxy (v1): admitted", CLIENT_IP)
c and c.close()
c = admitted_from(Front(hpt, tls=True), "HAProxy send-proxy-v2 before TLS: admitted", CLIENT_IP)
c and c.close()
closed_unanswered(Front(tport, source="127.0.0.1", tls=False),
                  "a TLS ClientHello without a PROXY header is closed unanswered",
                  send=b"\x16\x03\x01\x00\x05hello")
# Every connection reached wsgate from 127.0.0.1 (HAProxy's side, or the
# test's direct ones); the access log names the clients only.
ok(wait_for(lambda: len(access_remotes()) >= 16, 5) and
   not any(r.startswith("127.0.0.1:") for r in access_remotes()),
   "no access log line names the connection's real peer", access_remotes())
hp.terminate()
hp.wait(5)
done()
