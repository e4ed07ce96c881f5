# A local HTTPS identity provider for the tests of remote keys (t/jwks.t,
# t/oidc.t): a private CA and server certificates made with the openssl
# CLI, and a threaded HTTPS server for /jwks.json and, when given a
# document, /.well-known/openid-configuration. Stdlib only.

import http.server
import os
import ssl
import threading
import time

from wsgatetest import KEYS, TMP, free_port, run, write_file

# ---------------------------------------------------------------- certificates


def openssl(*args):
    rc, out, err = run(["openssl"] + list(args), cwd=TMP)
    if rc != 0:
        raise RuntimeError("openssl %s: %s" % (args[0], err.strip()))


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
            "-subj", "/CN=wsgate test %s" % name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return os.path.join(TMP, name + ".crt")


def make_server_cert(name, ca, dns="localhost", ip="127.0.0.1"):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=%s" % dns)
    write_file(name + ".ext", "subjectAltName=DNS:%s,IP:%s\n"
               "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" % (dns, ip))
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", "2", "-extfile", name + ".ext")
    return os.path.join(TMP, name + ".crt"), os.path.join(TMP, name + ".key")


CA = make_ca("ca")
make_ca("otherca")
SRV_CERT = make_server_cert("srv", "ca")
BAD_CERT = make_server_cert("badsrv", "otherca")   # right name, wrong CA
OTHER_NAME_CERT = make_server_cert("othersrv", "ca", dns="other.example", ip="192.0.2.1")

# ---------------------------------------------------------------- JWKS server


def read_key_file(name):
    with open(os.path.join(KEYS, name), "rb") as f:
        return f.read()


JWKS = read_key_file("jwks.json")
ROTATED = read_key_file("jwks-rotated.json")


class JwksServer:
    """HTTPS server for /jwks.json whose answer the test switches: a
    document (plain or chunked), a 500, garbage, an oversized body, a
    certificate from another CA or for another name. Counts the GETs it
    answered."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.mode = "doc"
        self.doc = JWKS
        self.disc = None                 # the discovery document, None: 404
        self.disc_count = 0
        self.count = 0
        self.last = time.monotonic()     # when the last GET arrived
        self.lock = threading.Lock()
        self.good = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.good.load_cert_chain(*SRV_CERT)
        self.bad = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.bad.load_cert_chain(*BAD_CERT)
        self.other = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.other.load_cert_chain(*OTHER_NAME_CERT)
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/.well-known/openid-configuration" and owner.disc is not None:
                    with owner.lock:
                        owner.disc_count += 1
                        body = owner.disc
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body)
                    self.close_connection = True
                    return
                with owner.lock:
                    owner.count += 1
                    owner.last = time.monotonic()
                    mode, doc = owner.mode, owner.doc
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                if mode == "500":
                    body = b"oops"
                    self.send_response(500)
                elif mode == "garbage":
                    body = b"<html>this is not a key set</html>"
                    self.send_response(200)
                elif mode == "big":
                    body = b"{" + b" " * (2 * 1024 * 1024) + b"}"
                    self.send_response(200)
                else:
                    body = doc
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                if mode == "chunked":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i in range(0, len(body), 100):
                        part = body[i:i + 100]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                self.close_connection = True

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self):
                sock, addr = self.socket.accept()
                ctx = {"wrongca": owner.bad, "wrongname": owner.other}.get(owner.mode, owner.good)
                return ctx.wrap_socket(sock, server_side=True,
                                       do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass    # a client refusing our certificate is part of the test

        self.httpd = Server(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def set(self, mode, doc=None):
        with self.lock:
            self.mode = mode
            if doc is not None:
                self.doc = doc

    def set_discovery(self, doc):
        """The discovery document (bytes), served from now on."""
        with self.lock:
            self.disc = doc

    def n_discovery(self):
        with self.lock:
            return self.disc_count

    def n(self):
        with self.lock:
            return self.count

    def quiet_for(self):
        """Seconds since the last GET arrived. The gateway started that
        fetch no later, so its jwks_min_refresh interval has run at least
        this long."""
        with self.lock:
            return time.monotonic() - self.last

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


