/* libFuzzer target: JWKS documents (keystore_add_jwks, the parser of both
 * key_file JWKS and remote jwks_url sets) on arbitrary bytes. Checks
 * besides memory safety: a document is taken whole or not at all; every
 * key taken is usable for its type, with a JWK alg that fits it; an error
 * message never quotes a secret or private member of the input; and the
 * set verifies a token only with a key that really is the signer's (a
 * fixed HS256 token and a fixed RS256 one, signed at start-up with a fuzz
 * secret and t/keys/rsa.key). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "jwt.h"
#include "keys.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

#define NOW 1700000000LL

/* base64url of this is the "k" of the seeds' oct keys */
static const char fuzz_secret[] = "fuzz-secret-0123456789abcdef";
static char *hs_token, *rs_token;
static EVP_PKEY *rsa_pub;

static char *sign_token(const char *alg, const char *payload, EVP_PKEY *key)
{
    char hdr[64];
    snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", alg);
    char *h = util_b64url_encode((const unsigned char *)hdr, strlen(hdr));
    char *p = util_b64url_encode((const unsigned char *)payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *in = malloc(n);
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);

    snprintf(in, n, "%s.%s", h, p);
    if (key) {
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        CHECK(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)in, strlen(in)) == 1);
        EVP_MD_CTX_free(ctx);
    } else {
        unsigned int m = 0;
        HMAC(EVP_sha256(), fuzz_secret, (int)strlen(fuzz_secret), (unsigned char *)in, strlen(in), sig, &m);
        siglen = m;
    }
    char *s = util_b64url_encode(sig, siglen);
    size_t tn = n + strlen(s) + 1;
    char *tok = malloc(tn);
    snprintf(tok, tn, "%s.%s", in, s);
    free(h);
    free(p);
    free(in);
    free(s);
    return tok;
}

static void setup(void)
{
    char path[1024];
    const char *dir = getenv("WSGATE_FUZZ_DATA");

    if (!dir)
        dir = WSGATE_FUZZ_DATA;
    snprintf(path, sizeof(path), "%s/keys/rsa.key", dir);
    FILE *f = fopen(path, "r");
    EVP_PKEY *priv = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!priv) {
        fprintf(stderr, "jwks_fuzz: cannot read %s\n", path);
        abort();
    }
    /* the public half, as a key of its own for EVP_PKEY_eq */
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(priv, &der);
    const unsigned char *q = der;
    rsa_pub = d2i_PUBKEY(NULL, &q, dl);
    OPENSSL_free(der);
    hs_token = sign_token("HS256", "{\"sub\":\"x\"}", NULL);
    rs_token = sign_token("RS256", "{\"sub\":\"x\"}", priv);
    EVP_PKEY_free(priv);
}

/* Secret-bearing members must never be quoted back in an error. */
static void check_err_quiet(const char *buf, size_t size, const char *err)
{
    json_t *doc = json_loadb(buf, size, 0, NULL);
    json_t *keys = json_object_get(doc, "keys");
    static const char *const secret_members[] = { "k", "d", "p", "q", "dp", "dq", "qi" };

    for (size_t i = 0; i < json_array_size(keys); i++) {
        json_t *jwk = json_array_get(keys, i);
        for (size_t m = 0; m < sizeof(secret_members) / sizeof(secret_members[0]); m++) {
            const char *v = json_string_value(json_object_get(jwk, secret_members[m]));
            if (v && strlen(v) >= 6)
                CHECK(strstr(err, v) == NULL);
        }
    }
    json_decref(doc);
}

static int verifies(const struct keystore *ks, const char *tok)
{
    struct jwt_policy pol;
    struct jwt_claims c;
    char err[128];

    memset(&pol, 0, sizeof(pol));
    pol.algs = (1u << JWT_ALG_COUNT) - 1;
    pol.keys = ks;
    if (jwt_verify(&pol, tok, strlen(tok), NOW, &c, err, sizeof(err)) != 0)
        return 0;
    jwt_claims_clear(&c);
    return 1;
}

/* HMAC pads a key shorter than its block with zero bytes, so a key is
 * the same key with zero bytes appended (up to the block, 64 bytes for
 * SHA-256): "secret" and "secret\0" sign alike. */
static int same_hmac_key(const unsigned char *k, size_t len)
{
    size_t n = strlen(fuzz_secret);

    if (len < n || len > 64 || memcmp(k, fuzz_secret, n) != 0)
        return 0;
    for (size_t i = n; i < len; i++)
        if (k[i] != 0)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    char err[512];

    if (!ready) {
        setup();
        ready = 1;
    }
    /* An exact-size heap copy so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    struct keystore *ks = keystore_new();
    err[0] = '\0';
    int rc = keystore_add_jwks(ks, buf, size, "fuzz", err, sizeof(err));

    CHECK(rc == 0 || rc == -1);
    CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc != 0) {
        CHECK(err[0] != '\0' && ks->nkeys == 0);
        check_err_quiet(buf, size, err);
    } else {
        CHECK(ks->nkeys > 0);
    }
    int has_fuzz_secret = 0, has_rsa = 0;
    for (size_t i = 0; i < ks->nkeys; i++) {
        const struct key *k = &ks->keys[i];
        CHECK(!k->kid || memchr(k->kid, '\0', strlen(k->kid) + 1));
        switch (k->type) {
        case KEY_HMAC:
            CHECK(k->secret && k->secret_len > 0 && !k->pkey);
            CHECK(!k->alg || !strncmp(k->alg, "HS", 2));
            has_fuzz_secret |= same_hmac_key(k->secret, k->secret_len);
            break;
        case KEY_RSA:
            CHECK(k->pkey && EVP_PKEY_is_a(k->pkey, "RSA") && EVP_PKEY_get_bits(k->pkey) >= 2048);
            CHECK(!k->alg || !strncmp(k->alg, "RS", 2) || !strncmp(k->alg, "PS", 2));
            has_rsa |= EVP_PKEY_eq(k->pkey, rsa_pub) == 1;
            break;
        case KEY_EC:
            CHECK(k->pkey && EVP_PKEY_is_a(k->pkey, "EC"));
            CHECK(!k->alg || !strncmp(k->alg, "ES", 2));
            break;
        case KEY_ED25519:
            CHECK(k->pkey && EVP_PKEY_is_a(k->pkey, "ED25519"));
            CHECK(!k->alg || !strcmp(k->alg, "EdDSA"));
            break;
        default:
            CHECK(k->pkey != NULL);     /* key types added later */
        }
        CHECK(!k->alg || jwt_alg_from_name(k->alg) >= 0);
    }
    /* A token verifies only when the set holds its signer's key. */
    int hs = verifies(ks, hs_token), rs = verifies(ks, rs_token);
    CHECK(!hs || has_fuzz_secret);
    CHECK(!rs || has_rsa);
    keystore_free(ks);
    free(buf);
    return 0;
}
