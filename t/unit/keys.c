/* Key store: every supported format loads into the right key type, and
 * every bad fixture fails with a message that names the file and holds no
 * key bytes. Fixtures: t/keys (WSGATE_UNIT_DATA, else ./t). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>

#include "keys.h"
#include "tap.h"

static char datadir[1024];

static const char *fx(const char *name)
{
    static char buf[8][1200];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof(buf[i]), "%s/keys/%s", datadir, name);
    return buf[i];
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    size_t n = 0, cap = 0, r;

    if (!f)
        return NULL;
    do {
        if (cap - n < 4096)
            b = realloc(b, cap = cap ? cap * 2 : 8192);
        r = fread(b + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    *len = n;
    return b;
}

static EVP_PKEY *read_pub(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    return k;
}

/* No run of 12 base64/hex characters from the file may show up in err:
 * catches PEM bodies, JWK members and secrets alike. */
static int err_has_no_key_bytes(const char *err, const char *path)
{
    size_t len = 0, run = 0;
    unsigned char *b = slurp(path, &len);
    int clean = 1;

    if (!b)
        return 1;
    for (size_t i = 0; i < len && clean; i++) {
        int c = b[i];
        run = (isalnum(c) || c == '+' || c == '/' || c == '-' || c == '_') ? run + 1 : 0;
        if (run >= 12) {
            char w[13];
            memcpy(w, b + i + 1 - 12, 12);
            w[12] = '\0';
            if (strstr(err, w))
                clean = 0;
        }
    }
    /* Binary secrets: any 8-byte window of the file verbatim. */
    int binary = 0;
    for (size_t i = 0; i < len; i++)
        if (!isprint(b[i]) && !isspace(b[i]))
            binary = 1;
    for (size_t i = 0; binary && i + 8 <= len && clean; i++)
        if (memmem(err, strlen(err), b + i, 8))
            clean = 0;
    free(b);
    return clean;
}

static void bad_key(const char *name, int secret, const char *want, const char *what)
{
    struct keystore *ks = keystore_new();
    char err[512] = "";
    const char *path = fx(name);
    int rc = secret ? keystore_add_secret_file(ks, path, err, sizeof(err))
                    : keystore_add_key_file(ks, path, err, sizeof(err));

    ok(rc == -1 && ks->nkeys == 0, "%s: %s is refused", what, name);
    ok(strstr(err, path) == err, "%s: message starts with the file name", what);
    ok(strstr(err, want) != NULL, "%s: message says \"%s\"", what, want);
    if (!strstr(err, want) || strstr(err, path) != err)
        printf("#   err: %s\n", err);
    ok(err_has_no_key_bytes(err, path), "%s: message holds no key bytes", what);
    keystore_free(ks);
}

static void test_pem(void)
{
    struct keystore *ks = keystore_new();
    char err[512] = "";
    EVP_PKEY *rsa = read_pub(fx("rsa.pub"));

    ok(rsa != NULL, "reference rsa.pub readable with OpenSSL");
    is_int(keystore_add_key_file(ks, fx("rsa.pub"), err, sizeof(err)), 0, "SPKI RSA public key loads");
    is_int(ks->nkeys, 1, "one key");
    ok(ks->keys[0].type == KEY_RSA && ks->keys[0].pkey && !ks->keys[0].kid && !ks->keys[0].alg,
       "SPKI: RSA key, no kid, no alg");
    is_str(ks->keys[0].source, fx("rsa.pub"), "SPKI: source is the file");

    is_int(keystore_add_key_file(ks, fx("rsa.crt"), err, sizeof(err)), 0, "X.509 certificate loads");
    ok(ks->nkeys == 2 && ks->keys[1].type == KEY_RSA, "certificate: RSA key");
    ok(ks->nkeys == 2 && EVP_PKEY_eq(ks->keys[1].pkey, rsa) == 1,
       "certificate: its public key is rsa.pub");

    static const struct { const char *f; int nid; } ec[] = {
        { "ec256.pub", NID_X9_62_prime256v1 }, { "ec384.pub", NID_secp384r1 },
        { "ec521.pub", NID_secp521r1 },
    };
    for (size_t i = 0; i < 3; i++) {
        size_t n = ks->nkeys;
        is_int(keystore_add_key_file(ks, fx(ec[i].f), err, sizeof(err)), 0, "EC %s loads", ec[i].f);
        ok(ks->nkeys == n + 1 && ks->keys[n].type == KEY_EC && ks->keys[n].curve_nid == ec[i].nid,
           "EC %s: type EC, curve recorded", ec[i].f);
    }
    size_t n = ks->nkeys;
    is_int(keystore_add_key_file(ks, fx("ed25519.pub"), err, sizeof(err)), 0, "SPKI Ed25519 key loads");
    ok(ks->nkeys == n + 1 && ks->keys[n].type == KEY_ED25519 && ks->keys[n].pkey,
       "Ed25519 SPKI: type Ed25519");
    keystore_free(ks);
    EVP_PKEY_free(rsa);

    ks = keystore_new();
    is_int(keystore_add_key_file(ks, fx("multi.pem"), err, sizeof(err)), 0,
           "multi-block PEM (two SPKI + one certificate, text between) loads");
    is_int(ks->nkeys, 3, "multi-block PEM: three keys");
    if (ks->nkeys == 3) {
        ok(ks->keys[0].type == KEY_RSA && ks->keys[1].type == KEY_EC &&
           ks->keys[1].curve_nid == NID_secp384r1 && ks->keys[2].type == KEY_RSA,
           "multi-block PEM: RSA, EC P-384, RSA in file order");
        ok(strstr(ks->keys[2].source, "block 3") != NULL, "multi-block PEM: source names the block");
    }
    keystore_free(ks);
}

static void test_jwks(void)
{
    struct keystore *ks = keystore_new();
    char err[512] = "";
    EVP_PKEY *rsa = read_pub(fx("rsa.pub")), *ec = read_pub(fx("ec256.pub"));
    size_t slen = 0;
    unsigned char *secret = slurp(fx("hmac.secret"), &slen);

    is_int(keystore_add_key_file(ks, fx("jwks.json"), err, sizeof(err)), 0, "JWKS loads");
    if (err[0])
        printf("#   err: %s\n", err);
    is_int(ks->nkeys, 3, "JWKS: three keys");
    if (ks->nkeys == 3) {
        struct key *k = ks->keys;
        ok(k[0].type == KEY_RSA && k[0].kid && !strcmp(k[0].kid, "rsa1") &&
           k[0].alg && !strcmp(k[0].alg, "RS256"), "JWKS RSA: kid rsa1, alg RS256");
        ok(EVP_PKEY_eq(k[0].pkey, rsa) == 1, "JWKS RSA: n/e give the key of rsa.pub");
        ok(k[1].type == KEY_EC && k[1].curve_nid == NID_X9_62_prime256v1 && k[1].kid &&
           !strcmp(k[1].kid, "ec1") && !k[1].alg, "JWKS EC: P-256, kid ec1, no alg");
        ok(EVP_PKEY_eq(k[1].pkey, ec) == 1, "JWKS EC: x/y give the key of ec256.pub");
        ok(k[2].type == KEY_HMAC && k[2].kid && !strcmp(k[2].kid, "oct1") &&
           k[2].secret_len == slen && secret && !memcmp(k[2].secret, secret, slen),
           "JWKS oct: kid oct1, k is the bytes of hmac.secret");
        ok(strstr(k[1].source, "jwks.json keys[1]") != NULL, "JWKS: source names file and index");
    }
    keystore_free(ks);

    ks = keystore_new();
    is_int(keystore_add_key_file(ks, fx("jwks-skip.json"), err, sizeof(err)), 0,
           "JWKS with a use:enc key and an X25519 OKP key loads");
    ok(ks->nkeys == 1 && ks->keys[0].kid && !strcmp(ks->keys[0].kid, "rsa2"),
       "use:enc and X25519 keys skipped, the signing key kept");
    keystore_free(ks);

    EVP_PKEY *ed = read_pub(fx("ed25519.pub")), *ed2 = read_pub(fx("ed25519b.pub"));
    ks = keystore_new();
    is_int(keystore_add_key_file(ks, fx("jwks-okp.json"), err, sizeof(err)), 0, "JWKS with OKP keys loads");
    if (err[0])
        printf("#   err: %s\n", err);
    is_int(ks->nkeys, 3, "JWKS OKP: three keys");
    if (ks->nkeys == 3) {
        struct key *k = ks->keys;
        ok(k[0].type == KEY_ED25519 && !strcmp(k[0].kid, "ed1") && k[0].alg &&
           !strcmp(k[0].alg, "EdDSA"), "JWKS OKP: Ed25519, kid ed1, alg EdDSA");
        ok(EVP_PKEY_eq(k[0].pkey, ed) == 1, "JWKS OKP: x gives the key of ed25519.pub");
        ok(k[1].type == KEY_ED25519 && EVP_PKEY_eq(k[1].pkey, ed2) == 1 && !k[1].alg,
           "JWKS OKP: kid ed2 is ed25519b.pub, no alg");
        ok(k[2].type == KEY_RSA && !strcmp(k[2].alg, "PS256"), "JWKS RSA with alg PS256 loads");
    }
    keystore_free(ks);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(ed2);

    static const struct { const char *doc, *want, *name; } okp[] = {
        { "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
          "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}]}",
          "remote: keys[0]: OKP key holds private key material", "OKP JWK with private member d refused" },
        { "{\"keys\":[{\"kty\":\"OKP\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}",
          "remote: keys[0]: OKP key lacks \"crv\"", "OKP JWK without crv refused" },
        { "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\"}]}",
          "remote: keys[0]: OKP key lacks \"x\"", "OKP JWK without x refused" },
        { "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AAAA\"},{\"kty\":\"oct\",\"k\":\"c2VjcmV0\"}]}",
          NULL, "OKP Ed448 JWK skipped (not verifiable here), the oct key kept" },
    };
    for (size_t i = 0; i < sizeof(okp) / sizeof(okp[0]); i++) {
        ks = keystore_new();
        err[0] = '\0';
        int rc = keystore_add_jwks(ks, okp[i].doc, strlen(okp[i].doc), "remote", err, sizeof(err));
        if (okp[i].want)
            ok(rc == -1 && strstr(err, okp[i].want) == err && ks->nkeys == 0, "%s", okp[i].name);
        else
            ok(rc == 0 && ks->nkeys == 1 && ks->keys[0].type == KEY_HMAC, "%s", okp[i].name);
        if (!(okp[i].want ? rc == -1 && strstr(err, okp[i].want) == err : rc == 0))
            printf("#   rc %d err %s\n", rc, err);
        keystore_free(ks);
    }

    ks = keystore_new();
    is_int(keystore_add_key_file(ks, fx("jwks-rotated.json"), err, sizeof(err)), 0,
           "rotated JWKS loads");
    ok(ks->nkeys == 1 && !strcmp(ks->keys[0].kid, "rsa2"), "rotated JWKS: kid rsa2");
    keystore_free(ks);

    const char *doc = "  {\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"HS384\",\"use\":\"sig\"}]}";
    ks = keystore_new();
    is_int(keystore_add_jwks(ks, doc, strlen(doc), "remote", err, sizeof(err)), 0,
           "JWKS from memory loads");
    ok(ks->nkeys == 1 && ks->keys[0].secret_len == 6 && !memcmp(ks->keys[0].secret, "secret", 6) &&
       !strcmp(ks->keys[0].alg, "HS384"), "JWKS from memory: oct secret and alg");
    doc = "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"d\":\"AQAB\"}]}";
    err[0] = '\0';
    ok(keystore_add_jwks(ks, doc, strlen(doc), "remote", err, sizeof(err)) == -1 &&
       strstr(err, "remote: keys[0]: RSA key holds private key material") == err,
       "JWK with private member d refused");
    doc = "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\",\"alg\":\"none\"}]}";
    ok(keystore_add_jwks(ks, doc, strlen(doc), "remote", err, sizeof(err)) == -1 &&
       strstr(err, "alg \"none\" is unknown"), "JWK with alg none refused");
    doc = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"alg\":\"ES384\","
          "\"x\":\"AAAA\",\"y\":\"AAAA\"}]}";
    ok(keystore_add_jwks(ks, doc, strlen(doc), "remote", err, sizeof(err)) == -1,
       "JWK EC with short coordinates refused");
    doc = "{\"keys\":[{\"k\":\"c2VjcmV0\"}]}";
    ok(keystore_add_jwks(ks, doc, strlen(doc), "remote", err, sizeof(err)) == -1 &&
       strstr(err, "lacks \"kty\""), "JWK without kty refused");
    doc = "[1,2]";
    ok(keystore_add_jwks(ks, doc, strlen(doc), "remote", err, sizeof(err)) == -1 &&
       strstr(err, "no \"keys\" array"), "JSON that is not a JWKS refused");
    is_int(ks->nkeys, 1, "failed loads leave the store as it was");
    keystore_free(ks);

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    free(secret);
}

static void test_secret(void)
{
    struct keystore *ks = keystore_new();
    char err[512] = "";
    size_t slen = 0;
    unsigned char *secret = slurp(fx("hmac.secret"), &slen);

    is_int(keystore_add_secret_file(ks, fx("hmac.secret"), err, sizeof(err)), 0, "HMAC secret loads");
    ok(ks->nkeys == 1 && ks->keys[0].type == KEY_HMAC && ks->keys[0].secret_len == 32 &&
       secret && !memcmp(ks->keys[0].secret, secret, 32), "HMAC secret: the 32 raw bytes as stored");

    /* trailing newline is part of the secret: no trimming */
    char tmp[] = "/tmp/wsgate-unit-secret-XXXXXX";
    int fd = mkstemp(tmp);
    ok(fd >= 0 && write(fd, "abc\n", 4) == 4, "temp secret written");
    close(fd);
    is_int(keystore_add_secret_file(ks, tmp, err, sizeof(err)), 0, "secret with newline loads");
    ok(ks->nkeys == 2 && ks->keys[1].secret_len == 4 && !memcmp(ks->keys[1].secret, "abc\n", 4),
       "secret: no newline trimming");

    /* > 1 MiB refused */
    FILE *f = fopen(tmp, "wb");
    static char big[64 * 1024];
    memset(big, 'x', sizeof(big));
    for (int i = 0; i < 16; i++)
        fwrite(big, 1, sizeof(big), f);
    fputc('x', f);
    fclose(f);
    err[0] = '\0';
    ok(keystore_add_secret_file(ks, tmp, err, sizeof(err)) == -1 && strstr(err, tmp) == err &&
       strstr(err, "larger than 1 MiB"), "secret over 1 MiB refused");
    if (!strstr(err, "larger than 1 MiB"))
        printf("#   err: %.200s\n", err);
    unlink(tmp);
    is_int(ks->nkeys, 2, "refused secret adds nothing");
    keystore_free(ks);
    free(secret);
}

static void test_bad(void)
{
    bad_key("bad-rsa1024.pub", 0, "RSA key is 1024 bits, at least 2048 are required", "RSA < 2048 bits");
    bad_key("bad-ec192.pub", 0, "unsupported curve", "EC P-192");
    bad_key("bad-garbage.pem", 0, "malformed PEM", "garbage PEM");
    bad_key("bad-notder.pem", 0, "not a valid SubjectPublicKeyInfo", "PEM armour around non-DER");
    bad_key("bad-nopem.pub", 0, "no PEM public key or certificate found", "OpenSSH key, no PEM");
    bad_key("bad-pkcs1.pub", 0, "unsupported PEM block \"RSA PUBLIC KEY\"", "PKCS#1 RSA PUBLIC KEY");
    bad_key("rsa.key", 0, "key_file must hold a public key or certificate, not a private key",
            "PKCS#8 private key as key_file");
    bad_key("ec256.key", 0, "key_file must hold a public key or certificate, not a private key",
            "EC private key as key_file");
    bad_key("bad-withpriv.pem", 0, "PEM block 2: key_file must hold a public key",
            "public key followed by a private key");
    bad_key("bad-empty.secret", 0, "no PEM public key or certificate found", "empty key_file");
    bad_key("does-not-exist.pub", 0, "No such file", "missing key_file");
    bad_key("bad-empty.secret", 1, "secret file is empty", "empty secret");
    bad_key("does-not-exist.secret", 1, "No such file", "missing secret file");
    bad_key("bad-jwks-crv.json", 0, "bad-jwks-crv.json: keys[2]: EC key has unsupported crv \"P-192\"",
            "JWKS with crv P-192");
    bad_key("bad-jwks-offcurve.json", 0, "keys[0]: EC key is not a valid point on P-256",
            "JWKS EC point off the curve");
    bad_key("bad-jwks-short.json", 0, "keys[0]: EC key coordinates must be 32 bytes",
            "JWKS EC coordinate of wrong length");
    bad_key("bad-jwks-alg.json", 0, "keys[0]: alg \"ES256\" is unknown or does not fit the RSA key",
            "JWKS alg not fitting kty");
    bad_key("bad-jwks-rsa1024.json", 0, "keys[0]: RSA key is 1024 bits", "JWKS RSA < 2048 bits");
    bad_key("bad-jwks-nousable.json", 0, "JWKS holds no usable signing key (2 skipped)",
            "JWKS without a usable key");
    bad_key("bad-jwks-syntax.json", 0, "invalid JSON at line 1", "JWKS syntax error");
    bad_key("bad-ed448.pub", 0, "unsupported key type ED448 (RSA, EC and Ed25519 are)", "Ed448 SPKI key");
    bad_key("ed25519.key", 0, "key_file must hold a public key or certificate, not a private key",
            "Ed25519 private key as key_file");
    bad_key("bad-jwks-okp-short.json", 0, "keys[0]: Ed25519 key \"x\" must be 32 bytes",
            "JWKS OKP x of wrong length");
    bad_key("bad-jwks-okp-alg.json", 0, "keys[0]: alg \"RS256\" is unknown or does not fit the OKP key",
            "JWKS OKP with alg RS256");
}

int main(void)
{
    const char *d = getenv("WSGATE_UNIT_DATA");
    snprintf(datadir, sizeof(datadir), "%s", d && *d ? d : "t");

    keystore_free(NULL);
    ok(1, "keystore_free(NULL) is harmless");
    test_pem();
    test_jwks();
    test_secret();
    test_bad();
    return tap_done();
}
