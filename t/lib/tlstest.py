# TLS helpers for the black-box tests (stdlib only, plus the openssl CLI):
# a throw-away PKI generated at test time (no private key is committed), a
# TLS-wrapped variant of the echo backend that records the SNI it was sent,
# and a WebSocket client over TLS that plugs into the wsgatetest helpers.

import os
import socket
import ssl
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsbackend import Backend  # noqa: E402
from wsclient import Timeout, WSClient  # noqa: E402

OPENSSL = os.environ.get("OPENSSL", "openssl")


def _openssl(args, cwd):
    p = subprocess.run([OPENSSL] + args, cwd=cwd, capture_output=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args[:2]),
                                                      p.stderr.decode("utf-8", "replace")))


class PKI:
    """Certificates in dir: EC P-256 keys (fast to make), each CA
    self-signed, each leaf signed by the CA it names."""

    def __init__(self, dir):
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        self._serial = int(time.time()) * 1000

    def path(self, name):
        return os.path.join(self.dir, name)

    def ca(self, name, cn=None):
        """name.key, name.pem: a CA certificate."""
        _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", name + ".key", "-out", name + ".pem", "-days", "2",
                  "-subj", "/CN=" + (cn or name),
                  "-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign"], self.dir)
        return self.path(name + ".pem")

    def leaf(self, name, ca, cn="localhost", dns=("localhost",), ips=("127.0.0.1",)):
        """name.key, name.pem: a server certificate signed by ca (a name
        given to ca()); returns its serial number."""
        self._serial += 1
        san = ",".join(["DNS:" + d for d in dns] + ["IP:" + i for i in ips])
        with open(self.path(name + ".ext"), "w") as f:
            f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n")
            if san:
                f.write("subjectAltName=%s\n" % san)
        _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn],
                 self.dir)
        _openssl(["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                  "-set_serial", str(self._serial), "-days", "2", "-out", name + ".pem",
                  "-extfile", name + ".ext"], self.dir)
        return self._serial


def client_context(cafile=None, alpn=None, version=None):
    """A client context trusting cafile (no verification without one).
    version: ssl.TLSVersion to pin both ends to."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        if version < ssl.TLSVersion.TLSv1_2:
            # OpenSSL 3 refuses to even offer TLS 1.0/1.1 above level 0.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ctx.maximum_version = version
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    ctx.options |= getattr(ssl, "OP_IGNORE_UNEXPECTED_EOF", 0)
    return ctx


class TLSWSClient(WSClient):
    """WSClient over TLS: the handshake completes in the constructor (an
    ssl.SSLError escapes when it fails)."""

    def __init__(self, port, ctx, host="127.0.0.1", server_hostname="localhost", timeout=5.0):
        self.timeout = timeout
        raw = socket.create_connection((host, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname)
        except BaseException:
            raw.close()
            raise
        self.buf = bytearray()
        self.eof = False
        self.reset = False
        self.response = None
        self.key = None
        self._msg_parts = []
        self._msg_op = None

    def _fill(self, deadline):
        try:
            return WSClient._fill(self, deadline)
        except ssl.SSLError:
            # An alert or a damaged record ends the connection like a reset.
            self.eof = self.reset = True
            return False

    def peer_cert(self):
        return self.sock.getpeercert()


class TLSBackend(Backend):
    """The echo backend behind TLS. Every accepted connection is recorded
    (as Backend does) before its handshake; conn.sni is the server name the
    client sent (None without SNI), conn.tls_error the handshake failure."""

    def __init__(self, certfile, keyfile, **kw):
        Backend.__init__(self, **kw)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.ctx.sni_callback = self._sni
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.tls_errors = []

    @staticmethod
    def _sni(sslobj, name, ctx):
        sslobj._wsgate_sni = name
        return None

    def _serve(self, c):
        c.sni = None
        c.tls_error = None
        c.alpn = None
        try:
            c.sock.settimeout(10)
            c.sock = self.ctx.wrap_socket(c.sock, server_side=True)
            c.sock.settimeout(None)
            c.sni = getattr(c.sock, "_wsgate_sni", None)
            c.alpn = c.sock.selected_alpn_protocol()
        except (ssl.SSLError, OSError) as e:
            c.tls_error = e
            self.tls_errors.append(e)
            c.ended.set()
            c.got_head.set()
            try:
                c.sock.close()
            except OSError:
                pass
            return
        Backend._serve(self, c)


__all__ = ["PKI", "TLSBackend", "TLSWSClient", "Timeout", "client_context"]
