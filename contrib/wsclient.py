#!/usr/bin/env python3
"""A tiny WebSocket client for trying wsgate by hand (standard library only).

    contrib/wsclient.py ws://127.0.0.1:8080/ --token TOKEN --send hello

Sends each --send message, prints what comes back, then closes with 1000.
The token goes in an Authorization: Bearer header unless --via says
cookie, query or subprotocol.
"""
import argparse
import base64
import os
import socket
import struct
import sys
import urllib.parse


def frame(opcode, payload):
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def read_frame(sock):
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    return b0 & 0x0F, recv_exact(sock, n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--token")
    ap.add_argument("--via", choices=["header", "cookie", "query", "subprotocol"], default="header")
    ap.add_argument("--origin")
    ap.add_argument("--send", action="append", default=[])
    args = ap.parse_args()

    u = urllib.parse.urlsplit(args.url)
    port = u.port or 80
    target = u.path or "/"
    headers = []
    if args.token and args.via == "query":
        q = (u.query + "&" if u.query else "") + "access_token=" + urllib.parse.quote(args.token)
        target += "?" + q
    elif u.query:
        target += "?" + u.query
    if args.token and args.via == "header":
        headers.append("Authorization: Bearer " + args.token)
    if args.token and args.via == "cookie":
        headers.append("Cookie: access_token=" + args.token)
    if args.token and args.via == "subprotocol":
        headers.append("Sec-WebSocket-Protocol: bearer, " + args.token)
    if args.origin:
        headers.append("Origin: " + args.origin)
    key = base64.b64encode(os.urandom(16)).decode()
    head = (f"GET {target} HTTP/1.1\r\nHost: {u.hostname}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            + "".join(h + "\r\n" for h in headers) + "\r\n")
    sock = socket.create_connection((u.hostname, port), timeout=10)
    sock.sendall(head.encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = sock.recv(4096)
        if not chunk:
            break
        resp += chunk
    status_head, _, rest = resp.partition(b"\r\n\r\n")
    print(status_head.decode(errors="replace").splitlines()[0] if status_head else "(no answer)")
    if not status_head.startswith(b"HTTP/1.1 101"):
        print(rest.decode(errors="replace"))
        return 1
    for msg in args.send or ["hello"]:
        sock.sendall(frame(1, msg.encode()))
        op, payload = read_frame(sock)
        if op == 8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            print(f"closed by the gateway: {code} {payload[2:].decode(errors='replace')}")
            return 1
        print("echo:", payload.decode(errors="replace"))
    sock.sendall(frame(8, struct.pack("!H", 1000)))
    try:
        op, payload = read_frame(sock)
    except (EOFError, OSError):
        pass
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
