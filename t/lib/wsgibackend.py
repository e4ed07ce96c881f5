#!/usr/bin/python3
# A decoding backend for the tests: Python's own wsgiref server, which reads
# a request the way WSGI/CGI applications see it (PATH_INFO percent-decoded,
# header names upper-cased with '-' and '_' both turned into '_', repeated
# names joined with ','). It records, per request, the raw request line,
# PATH_INFO, QUERY_STRING, REMOTE_ADDR and every HTTP_* key, and answers 200
# with that record as JSON. Every accepted TCP connection is counted, so a
# test can assert that a refused request never reached it.
#
#   be = WSGIBackend().start(); ... be.records, be.nconn; be.stop()

import json
import socketserver
import sys
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

sys.dont_write_bytecode = True


class _Handler(WSGIRequestHandler):
    def get_environ(self):
        env = super().get_environ()
        env["wsgibackend.raw_requestline"] = self.raw_requestline.decode("latin-1").rstrip("\r\n")
        return env

    def log_message(self, fmt, *args):
        pass


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = super().get_request()
        with self.owner.lock:
            self.owner.nconn += 1
        return sock, addr


class WSGIBackend:
    def __init__(self, host="127.0.0.1"):
        self.records = []           # one dict per request, in arrival order
        self.nconn = 0
        self.lock = threading.Lock()
        self.server = _Server((host, 0), _Handler)
        self.server.owner = self
        self.server.set_app(self._app)
        self.port = self.server.server_address[1]
        self.addr = "%s:%d" % (host, self.port)

    def _app(self, environ, start_response):
        rec = {
            "request_line": environ.get("wsgibackend.raw_requestline"),
            "PATH_INFO": environ.get("PATH_INFO"),
            "QUERY_STRING": environ.get("QUERY_STRING"),
            "REMOTE_ADDR": environ.get("REMOTE_ADDR"),
            "http": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        }
        with self.lock:
            self.records.append(rec)
        body = json.dumps(rec).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def start(self):
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def wait_records(self, n, timeout=5.0):
        dl = time.monotonic() + timeout
        while time.monotonic() < dl:
            if len(self.records) >= n:
                return True
            time.sleep(0.01)
        return len(self.records) >= n
