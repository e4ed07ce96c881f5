#!/usr/bin/python3
# Writes the seed corpora of the fuzz targets into t/fuzz/corpus/<target>/
# (the files are committed; run this again after t/keys/generate.sh, since
# the valid-token seeds are signed with those keys). Stdlib and the openssl
# command only. The shapes are those of issue 8: encoded and dotted paths,
# underscore and client-address headers, engine.io parameters, smuggling
# framings, numeric and huge claims, algorithm confusion.
#   /usr/bin/python3 t/fuzz/make-seeds.py
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "..", "keys")
CORPUS = os.path.join(HERE, "corpus")


def target(name, seeds):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for fname, data in seeds:
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
    print("%s: %d seeds" % (name, len(seeds)))


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---- http_fuzz: request heads -------------------------------------------------

def req(target_, *headers, method="GET", version="1.1", host="gw.test"):
    lines = ["%s %s HTTP/%s" % (method, target_, version)]
    if host is not None:
        lines.append("Host: " + host)
    lines += list(headers)
    return "\r\n".join(lines) + "\r\n\r\n"


UPG = ("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
       "Sec-WebSocket-Version: 13")
http = [
    ("upgrade", req("/chat", *UPG, "Authorization: Bearer abc.def.ghi", "Origin: https://a.example.com")),
    ("percent-encoded-admin", req("/%61dmin/users", *UPG)),
    ("percent-encoded-slash", req("/admin%2fusers", *UPG)),
    ("dot-segments", req("/public/../admin/users", *UPG)),
    ("encoded-dots", req("/public/%2e%2e/admin", *UPG)),
    ("double-slash", req("//admin//users", *UPG)),
    ("uppercase-route", req("/ADMIN/users", *UPG)),
    ("backslash", req("/public\\..\\admin", *UPG)),
    ("underscore-identity", req("/", *UPG, "X_Auth_Sub: root", "X-Auth-Sub: mallory")),
    ("client-address-headers", req("/", *UPG, "X-Real-IP: 10.0.0.1", "Forwarded: for=10.0.0.1",
                                   "X-Forwarded-Host: evil.test", "X-Forwarded-For: 1.2.3.4")),
    ("eio-duplicate", req("/socket.io/?EIO=4&%45IO=3&transport=websocket", *UPG)),
    ("eio3-namespace-query", req("/socket.io/?EIO=3&transport=polling&t=x")),
    ("jsonp", req("/socket.io/?EIO=4&transport=polling&j=0", method="POST")),
    ("token-query", req("/chat?access_token=abc.def.ghi&x=1", *UPG)),
    ("token-cookie", req("/chat", *UPG, "Cookie: a=b; access_token=abc.def.ghi; c=d")),
    ("token-subprotocol", req("/chat", *UPG, "Sec-WebSocket-Protocol: chat, bearer.abc.def.ghi")),
    ("cl-and-te", req("/api", "Content-Length: 4", "Transfer-Encoding: chunked", method="POST")),
    ("te-chunked", req("/api", "Transfer-Encoding: chunked", method="POST")),
    ("te-obfuscated", req("/api", "Transfer-Encoding: xchunked", method="POST")),
    ("duplicate-host", req("/", "Host: other.test")),
    ("obs-fold", req("/", "X-A: one", " two")),
    ("space-before-colon", req("/", "Content-Length : 5", method="POST")),
    ("http10-no-host", req("/", version="1.0", host=None)),
    ("absolute-form", req("http://gw.test/admin", *UPG)),
    ("absolute-form-foreign", req("http://evil.test/admin", *UPG)),
    ("nul-in-value", req("/", "X-A: a\0b")),
    ("bare-lf", "GET / HTTP/1.1\nHost: gw.test\n\n"),
    ("origin-null", req("/", *UPG, "Origin: null")),
    ("many-headers", req("/", *["X-%d: v" % i for i in range(120)])),
    ("long-target", req("/" + "a" * 3000)),
]
target("http_fuzz", http)

# ---- chunked_fuzz: 4 control bytes, then a body --------------------------------
# byte 0: bit 0 keep trailers, bits 1-3 output limit index (1,2,3,7,64,1000,4096,1M)
# byte 1: trailer bound / 16 (255: 64 KiB); bytes 2-3: split seed


def ch(flags, trailer, body, seed=0x1234):
    return bytes([flags, trailer, seed >> 8, seed & 255]) + body


chunked = [
    ("simple", ch(0x0e, 64, b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n")),
    ("simple-limit1", ch(0x00, 64, b"4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n", 7)),
    ("extensions", ch(0x0b, 64, b"4;name=value\r\nwiki\r\n5 ; x\r\npedia\r\n0;last\r\n\r\n")),
    ("trailers-kept", ch(0x0f, 64, b"3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-B: two words\r\n\r\n")),
    ("trailers-dropped", ch(0x0e, 64, b"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n")),
    ("trailer-too-large", ch(0x0f, 1, b"0\r\nX-Long: " + b"v" * 40 + b"\r\n\r\n")),
    ("trailer-bad-field", ch(0x0f, 64, b"0\r\nnot a field\r\n\r\n")),
    ("uppercase-hex", ch(0x0e, 64, b"A\r\n0123456789\r\n0\r\n\r\n")),
    ("leading-zeros", ch(0x0e, 64, b"000000000000004\r\nwiki\r\n0\r\n\r\n")),
    ("sixteen-digits", ch(0x0e, 64, b"0000000000000004\r\nwiki\r\n0\r\n\r\n")),
    ("huge-size", ch(0x0e, 64, b"fffffffffffffff\r\nabc")),
    ("size-with-sign", ch(0x0e, 64, b"+4\r\nwiki\r\n0\r\n\r\n")),
    ("size-0x", ch(0x0e, 64, b"0x4\r\nwiki\r\n0\r\n\r\n")),
    ("size-trailing-space", ch(0x0e, 64, b"4 \r\nwiki\r\n0\r\n\r\n")),
    ("lf-only", ch(0x0e, 64, b"4\nwiki\n0\n\n")),
    ("cr-only", ch(0x0e, 64, b"4\rwiki\r0\r\r")),
    ("no-crlf-after-data", ch(0x0e, 64, b"4\r\nwikiX\r\n0\r\n\r\n")),
    ("data-too-long", ch(0x0e, 64, b"2\r\nwiki\r\n0\r\n\r\n")),
    ("then-next-request", ch(0x0e, 64, b"1\r\na\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n")),
    ("incomplete", ch(0x0e, 64, b"10\r\nonly some")),
    ("ctl-in-extension", ch(0x0e, 64, b"1;a\x01b\r\nx\r\n0\r\n\r\n")),
    ("long-extension", ch(0x0e, 255, b"1;" + b"e" * 4094 + b"\r\nx\r\n0\r\n\r\n")),
    ("too-long-line", ch(0x0e, 255, b"1;" + b"e" * 4095 + b"\r\nx\r\n0\r\n\r\n")),
    ("binary-data", ch(0x08, 64, b"8\r\n\r\n\0\xff\r\n0\r\r\n0\r\n\r\n")),
]
target("chunked_fuzz", chunked)

# ---- response_fuzz: backend and key-server responses ----------------------------
JWKS_BODY = open(os.path.join(KEYS, "jwks.json"), "rb").read()
response = [
    ("101", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
    ("200-cl", b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
               % (len(JWKS_BODY), JWKS_BODY)),
    ("200-chunked", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"keys\":[      ]}\r\n"
                    b"0\r\nX-T: 1\r\n\r\n"),
    ("200-eof", b"HTTP/1.0 200 OK\r\n\r\n{\"keys\":[]}"),
    ("interim-then-200", b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
    ("cl-and-te", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("two-cl", b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
    ("cl-list", b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc"),
    ("no-reason", b"HTTP/1.1 204\r\n\r\n"),
    ("bad-status", b"HTTP/1.1 2000 OK\r\n\r\n"),
    ("http2", b"HTTP/2 200 OK\r\n\r\n"),
    ("obs-fold", b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\n\r\n"),
    ("404", b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"),
    ("chunked-big", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n"),
]
target("response_fuzz", response)

# ---- jwt_fuzz: tokens ------------------------------------------------------------
SECRET = open(os.path.join(KEYS, "hmac.secret"), "rb").read()
RSA_PEM = open(os.path.join(KEYS, "rsa.pub"), "rb").read()
NOW = 1700000000


def openssl_sign(key, data):
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(KEYS, key)],
                          input=data, capture_output=True, check=True).stdout


def openssl_pss_sign(key, data):
    # RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash
    return subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(KEYS, key),
                           "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest",
                           "-sigopt", "rsa_mgf1_md:sha256"],
                          input=data, capture_output=True, check=True).stdout


def openssl_ed25519_sign(key, data):
    # pkeyutl -rawin: Ed25519 signs the message itself
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey",
                               os.path.join(KEYS, key), "-in", f.name],
                              capture_output=True, check=True).stdout


def der_to_raw(der, n=32):
    # SEQUENCE { INTEGER r, INTEGER s }
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7f)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        ln = der[i + 1]
        v = der[i + 2:i + 2 + ln].lstrip(b"\0")
        out += v.rjust(n, b"\0")
        i += 2 + ln
    return out


def token(header, payload, alg=None, key=None):
    h = b64(header if isinstance(header, str) else json.dumps(header, separators=(",", ":")))
    p = b64(payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":")))
    si = ("%s.%s" % (h, p)).encode()
    alg = alg or (json.loads(header) if isinstance(header, str) else header).get("alg")
    if alg == "HS256":
        sig = hmac.new(key or SECRET, si, hashlib.sha256).digest()
    elif alg == "RS256":
        sig = openssl_sign("rsa.key", si)
    elif alg == "ES256":
        sig = der_to_raw(openssl_sign("ec256.key", si))
    elif alg == "PS256":
        sig = openssl_pss_sign("rsa.key", si)
    elif alg == "EdDSA":
        sig = openssl_ed25519_sign(key or "ed25519.key", si)
    else:
        sig = b""
    return "%s.%s.%s" % (h, p, b64(sig))


def claims(**kw):
    c = {"sub": "alice", "jti": "j-1", "iat": NOW - 10, "exp": NOW + 600}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


HS = {"alg": "HS256", "typ": "JWT"}
jwt = [
    ("valid-hs256", token(HS, claims())),
    ("valid-rs256", token({"alg": "RS256", "typ": "JWT"}, claims())),
    ("valid-es256", token({"alg": "ES256"}, claims())),
    ("valid-kid-rsa1", token({"alg": "RS256", "kid": "rsa1"}, claims())),
    ("valid-kid-oct1", token({"alg": "HS256", "kid": "oct1"}, claims())),
    ("numeric-sub", token(HS, claims(sub=12345, jti=987654))),
    ("huge-exp", token(HS, '{"sub":"a","exp":1e300}')),
    ("exp-beyond-int64", token(HS, '{"sub":12345,"exp":99999999999999999999}')),
    ("alg-none", token({"alg": "none"}, claims())),
    ("alg-none-case", token({"alg": "nOnE"}, claims(), alg="HS256")),
    ("confusion-rsa-pem-as-secret", token(HS, claims(), key=RSA_PEM)),
    ("header-rs256-hmac-signed", token({"alg": "RS256"}, claims(), alg="HS256")),
    ("crit", token({"alg": "HS256", "crit": ["exp"]}, claims())),
    ("kid-number", token({"alg": "HS256", "kid": 7}, claims())),
    ("duplicate-sub", token(HS, '{"sub":"a","sub":"root","exp":%d}' % (NOW + 60))),
    ("valid-ps256", token({"alg": "PS256"}, claims())),
    ("valid-eddsa", token({"alg": "EdDSA", "typ": "JWT"}, claims())),
    ("eddsa-other-key", token({"alg": "EdDSA"}, claims(), key="ed25519b.key")),
    ("rs256-sig-as-ps256", token({"alg": "PS256"}, claims(), alg="RS256")),
    ("ps256-sig-as-rs256", token({"alg": "RS256"}, claims(), alg="PS256")),
    ("eddsa-kid-rsa1", token({"alg": "EdDSA", "kid": "rsa1"}, claims())),
    ("garbage", "not-a-token"),
    ("two-dots-empty", ".."),
    ("four-segments", token(HS, claims()) + ".x"),
    # signed here by the harness: "S:" header "\n" payload
    ("s-numeric-sub", 'S:{"alg":"HS256"}\n{"sub":12345,"jti":987654,"exp":%d}' % (NOW + 60)),
    ("s-real-sub", 'S:{"alg":"HS256"}\n{"sub":12345.0,"jti":1.2345e4}'),
    ("s-fraction-sub", 'S:{"alg":"HS256"}\n{"sub":1.5}'),
    ("s-sub-2p53", 'S:{"alg":"HS256"}\n{"sub":9007199254740993,"exp":1e19}'),
    ("s-sub-types", 'S:{"alg":"HS256"}\n{"sub":[1],"jti":{"a":true}}'),
    ("s-exp-1e300", 'S:{"alg":"HS256"}\n{"exp":1e300,"nbf":-1e300,"iat":-5}'),
    ("s-exp-neg", 'S:{"alg":"HS256"}\n{"exp":-1e300}'),
    ("s-exp-int64", 'S:{"alg":"HS256"}\n{"exp":9223372036854775807,"nbf":-9223372036854775808}'),
    ("s-exp-beyond-int64", 'S:{"alg":"HS256"}\n{"exp":-99999999999999999999,"iat":99999999999999999999}'),
    ("s-exp-1e400", 'S:{"alg":"HS256"}\n{"exp":1e400}'),
    ("s-exp-fraction", 'S:{"alg":"HS256"}\n{"exp":%d.999,"nbf":%d.5}' % (NOW - 5, NOW + 5)),
    ("s-exp-string", 'S:{"alg":"HS256"}\n{"exp":"%d"}' % (NOW + 60)),
    ("s-alg-hs384", 'S:{"alg":"HS384"}\n{"sub":"a"}'),
    ("s-alg-rs256", 'S:{"alg":"RS256"}\n{"sub":"a"}'),
    ("s-alg-none", 'S:{"alg":"none"}\n{"sub":"a"}'),
    ("s-sub-nul", 'S:{"alg":"HS256"}\n{"sub":"a\\u0000b"}'),
    ("s-nested", 'S:{"alg":"HS256"}\n{"sub":"a","roles":[[[[[[[[[[1]]]]]]]]]]}'),
]
target("jwt_fuzz", jwt)

# ---- jwks_fuzz: key sets --------------------------------------------------------
FUZZ_K = b64("fuzz-secret-0123456789abcdef")   # the harness's own secret
RSA1 = json.loads(JWKS_BODY)["keys"][0]
jwks = [("t-keys-" + f, open(os.path.join(KEYS, f), "rb").read())
        for f in sorted(os.listdir(KEYS)) if f.endswith(".json")]
jwks += [
    ("oct-fuzz-secret", '{"keys":[{"kty":"oct","kid":"f","alg":"HS256","k":"%s"}]}' % FUZZ_K),
    ("oct-bad-alg", '{"keys":[{"kty":"oct","alg":"RS256","k":"%s"}]}' % FUZZ_K),
    ("oct-empty-k", '{"keys":[{"kty":"oct","k":""}]}'),
    ("oct-padded-k", '{"keys":[{"kty":"oct","k":"%s=="}]}' % FUZZ_K),
    ("rsa1-only", json.dumps({"keys": [RSA1]})),
    ("rsa-small-e", json.dumps({"keys": [dict(RSA1, e="Aw")]})),
    ("rsa-even-n", json.dumps({"keys": [dict(RSA1, n=RSA1["n"][:-1] + "A")]})),
    ("rsa-alg-es256", json.dumps({"keys": [dict(RSA1, alg="ES256")]})),
    ("rsa-with-d", json.dumps({"keys": [dict(RSA1, d="c2VjcmV0LXByaXZhdGUtZXhwb25lbnQ")]})),
    ("use-enc", json.dumps({"keys": [dict(RSA1, use="enc")]})),
    ("ec-missing-y", '{"keys":[{"kty":"EC","crv":"P-256","x":"mDFdgfgpH-giOy69BYDAAuBHpOQNfyMSB9VGr6zJRWg"}]}'),
    ("ec-p192", '{"keys":[{"kty":"EC","crv":"P-192","x":"AA","y":"AA"}]}'),
    ("okp", '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}'),
    ("duplicate-member", '{"keys":[{"kty":"oct","k":"%s","k":"AAAA"}]}' % FUZZ_K),
    ("kid-types", '{"keys":[{"kty":"oct","kid":5,"k":"%s"}]}' % FUZZ_K),
    ("keys-not-array", '{"keys":{"kty":"oct"}}'),
    ("not-object", '[1,2,3]'),
    ("numbers", '{"keys":[{"kty":"oct","k":"%s","x5c":1e400}]}' % FUZZ_K),
    ("big-integer", '{"keys":[],"n":99999999999999999999}'),
    ("empty", ''),
]
target("jwks_fuzz", jwks)

# ---- proxyproto_fuzz: PROXY protocol headers ----------------------------------
import struct
V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(cmd, fam, body):
    return V2SIG + bytes([0x20 | cmd, fam]) + struct.pack(">H", len(body)) + body


V4 = bytes([203, 0, 113, 7, 10, 0, 0, 1]) + struct.pack(">HH", 51234, 8080)
V6 = bytes(15) + b"\x01" + bytes(15) + b"\x02" + struct.pack(">HH", 443, 8443)
TLVS = b"\x01\x00\x02h2" + b"\x04\x00\x00" + b"\x20\x00\x05\x01\x00\x00\x00\x00"
proxyproto = [
    ("v1-tcp4", "PROXY TCP4 203.0.113.7 10.0.0.1 51234 8080\r\nGET / HTTP/1.1\r\n\r\n"),
    ("v1-tcp6", "PROXY TCP6 2001:db8::7 ::1 51234 8080\r\n"),
    ("v1-unknown", "PROXY UNKNOWN\r\n"),
    ("v1-unknown-junk", "PROXY UNKNOWN ffff:f...f:ffff 1 2\r\n"),
    ("v1-max", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
    ("v1-lf-only", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
    ("v1-port-overflow", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
    ("v1-double-space", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"),
    ("v1-family-mismatch", "PROXY TCP4 ::1 ::1 1 2\r\n"),
    ("v2-tcp4", v2(1, 0x11, V4) + b"\x16\x03\x01"),
    ("v2-tcp6", v2(1, 0x21, V6)),
    ("v2-local", v2(0, 0x00, b"")),
    ("v2-local-tcp4", v2(0, 0x11, V4)),
    ("v2-unspec", v2(1, 0x00, b"")),
    ("v2-tlvs", v2(1, 0x11, V4 + TLVS)),
    ("v2-tlv-overrun", v2(1, 0x11, V4 + b"\x01\x00\x09ab")),
    ("v2-tlv-truncated", v2(1, 0x11, V4 + b"\x01\x00")),
    ("v2-short-addr", v2(1, 0x11, V4[:8])),
    ("v2-udp4", v2(1, 0x12, V4)),
    ("v2-unix", v2(1, 0x31, bytes(216))),
    ("v2-bad-version", V2SIG + b"\x11\x11\x00\x0c" + V4),
    ("v2-bad-command", V2SIG + b"\x22\x11\x00\x0c" + V4),
    ("v2-huge-length", V2SIG + b"\x21\x11\xff\xff" + V4),
    ("plain-request", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("empty", ""),
]
target("proxyproto_fuzz", proxyproto)
sys.exit(0)
