#!/bin/sh
# Regenerates the TEST-ONLY keys in this directory (see README). The unit and
# black-box tests never hard-code key material, so regenerating is safe.
# Needs openssl 3, basenc (coreutils) and tail/head.
set -eu
cd "$(dirname "$0")"

b64url() { basenc --base64url -w0 | tr -d '='; }

rsa() { openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:$2" -out "$1.key"
        openssl pkey -in "$1.key" -pubout -out "$1.pub"; chmod 644 "$1.key"; }
ec()  { openssl genpkey -quiet -algorithm EC -pkeyopt "ec_paramgen_curve:$2" \
            -pkeyopt ec_param_enc:named_curve -out "$1.key"
        openssl pkey -in "$1.key" -pubout -out "$1.pub"; chmod 644 "$1.key"; }

rsa rsa 2048
rsa rsa2 2048
openssl req -new -x509 -key rsa.key -subj "/CN=wsgate test key rsa1" -days 36500 -out rsa.crt
ec ec256 P-256
ec ec384 P-384
ec ec521 P-521
ed()  { openssl genpkey -quiet -algorithm ED25519 -out "$1.key"
        openssl pkey -in "$1.key" -pubout -out "$1.pub"; chmod 644 "$1.key"; }
ed ed25519
ed ed25519b
head -c 32 /dev/urandom > hmac.secret
head -c 32 /dev/urandom > hmac2.secret

# Several PEM blocks in one key_file, with the commentary text that
# certificate bundles usually carry between them.
{ echo "rsa2 public key"; cat rsa2.pub; echo "ec384 public key"; cat ec384.pub
  echo "certificate of rsa"; cat rsa.crt; } > multi.pem

# JWK members straight from the DER encodings.
rsa_n() { openssl rsa -pubin -in "$1" -noout -modulus | sed 's/^Modulus=//' | xxd -r -p | b64url; }
rsa_e() { printf '%s' AQAB; }   # 65537, openssl's default exponent
# SPKI DER of a named-curve key ends with the uncompressed point 04||x||y.
ec_xy() { # file coordinate-bytes -> "x y"
    pt=$(openssl pkey -pubin -in "$1" -outform DER | tail -c $((2 * $2)) | xxd -p | tr -d '\n')
    x=$(printf '%s' "$pt" | head -c $((4 * $2 / 2)) | xxd -r -p | b64url)
    y=$(printf '%s' "$pt" | tail -c $((4 * $2 / 2)) | xxd -r -p | b64url)
    echo "$x $y"; }
set -- $(ec_xy ec256.pub 32); ec1_x=$1; ec1_y=$2
# SPKI DER of an OKP key ends with the raw 32-byte public key (RFC 8410).
okp_x() { openssl pkey -pubin -in "$1" -outform DER | tail -c 32 | b64url; }
openssl genpkey -quiet -algorithm X25519 -out x25519.tmp
x25519_x=$(openssl pkey -in x25519.tmp -pubout -outform DER | tail -c 32 | b64url); rm -f x25519.tmp

cat > jwks.json <<EOF
{"keys": [
  {"kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig",
   "n": "$(rsa_n rsa.pub)", "e": "$(rsa_e)"},
  {"kty": "EC", "kid": "ec1", "crv": "P-256",
   "x": "$ec1_x", "y": "$ec1_y"},
  {"kty": "oct", "kid": "oct1", "k": "$(b64url < hmac.secret)"}
]}
EOF

cat > jwks-rotated.json <<EOF
{"keys": [
  {"kty": "RSA", "kid": "rsa2", "alg": "RS256", "use": "sig",
   "n": "$(rsa_n rsa2.pub)", "e": "$(rsa_e)"}
]}
EOF

# Ed25519 (OKP) keys, and an RSA key pinned to PS256, by kid.
cat > jwks-okp.json <<EOF
{"keys": [
  {"kty": "OKP", "kid": "ed1", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
   "x": "$(okp_x ed25519.pub)"},
  {"kty": "OKP", "kid": "ed2", "crv": "Ed25519", "x": "$(okp_x ed25519b.pub)"},
  {"kty": "RSA", "kid": "rsa-ps", "alg": "PS256", "n": "$(rsa_n rsa.pub)", "e": "$(rsa_e)"}
]}
EOF

# Keys that must be skipped (use "enc", an ECDH OKP curve) next to usable ones.
cat > jwks-skip.json <<EOF
{"keys": [
  {"kty": "RSA", "kid": "enc1", "use": "enc", "alg": "RSA-OAEP",
   "n": "$(rsa_n rsa2.pub)", "e": "$(rsa_e)"},
  {"kty": "OKP", "kid": "x1", "crv": "X25519", "x": "$x25519_x"},
  {"kty": "RSA", "kid": "rsa2", "use": "sig",
   "n": "$(rsa_n rsa2.pub)", "e": "$(rsa_e)"}
]}
EOF

# ---- bad fixtures for the key-loading error tests --------------------------
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:1024 | openssl pkey -pubout -out bad-rsa1024.pub
openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-192 \
    -pkeyopt ec_param_enc:named_curve | openssl pkey -pubout -out bad-ec192.pub
cat rsa.pub ec256.key > bad-withpriv.pem
printf -- '-----BEGIN PUBLIC KEY-----\nthis is not base64 at all!\n-----END PUBLIC KEY-----\n' > bad-garbage.pem
# Well-formed PEM armour around bytes that are not a SubjectPublicKeyInfo.
{ echo '-----BEGIN PUBLIC KEY-----'; head -c 96 /dev/zero | base64; echo '-----END PUBLIC KEY-----'; } > bad-notder.pem
printf 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC test@example\n' > bad-nopem.pub
: > bad-empty.secret
openssl rsa -pubin -in rsa.pub -RSAPublicKey_out -out bad-pkcs1.pub 2>/dev/null
set -- $(ec_xy ec256.pub 32)
cat > bad-jwks-crv.json <<EOF
{"keys": [
  {"kty": "RSA", "kid": "rsa1", "n": "$(rsa_n rsa.pub)", "e": "$(rsa_e)"},
  {"kty": "oct", "kid": "oct1", "k": "$(b64url < hmac.secret)"},
  {"kty": "EC", "kid": "weak", "crv": "P-192",
   "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
]}
EOF
# y is x: not a point on the curve.
cat > bad-jwks-offcurve.json <<EOF
{"keys": [{"kty": "EC", "crv": "P-256", "x": "$1", "y": "$1"}]}
EOF
cat > bad-jwks-short.json <<EOF
{"keys": [{"kty": "EC", "crv": "P-256", "x": "$(printf '%s' "$1" | cut -c1-40)", "y": "$2"}]}
EOF
cat > bad-jwks-alg.json <<EOF
{"keys": [{"kty": "RSA", "alg": "ES256", "n": "$(rsa_n rsa.pub)", "e": "$(rsa_e)"}]}
EOF
cat > bad-jwks-rsa1024.json <<EOF
{"keys": [{"kty": "RSA", "n": "$(rsa_n bad-rsa1024.pub)", "e": "$(rsa_e)"}]}
EOF
cat > bad-jwks-nousable.json <<EOF
{"keys": [
  {"kty": "OKP", "crv": "X25519", "x": "$x25519_x"},
  {"kty": "RSA", "use": "enc", "n": "$(rsa_n rsa.pub)", "e": "$(rsa_e)"}
]}
EOF
printf '{"keys": [ {"kty": "oct", "k": "c2VjcmV0"}, ]}\n' > bad-jwks-syntax.json
cat > bad-jwks-okp-short.json <<EOF
{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "$(okp_x ed25519.pub | cut -c1-40)"}]}
EOF
cat > bad-jwks-okp-alg.json <<EOF
{"keys": [{"kty": "OKP", "crv": "Ed25519", "alg": "RS256", "x": "$(okp_x ed25519.pub)"}]}
EOF
openssl genpkey -quiet -algorithm ED448 | openssl pkey -pubout -out bad-ed448.pub
