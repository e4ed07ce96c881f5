/* libFuzzer target: token verification (jwks_verify, hence jwt_verify) on
 * a fixed key set: the static keys rsa.pub, ec256.pub, ed25519.pub and
 * hmac.secret of t/keys, and t/keys/jwks.json published as the remote set. Two kinds of
 * input:
 *   - any other bytes: a token string. Invariant: an accepted token is
 *     signed by one of those keys, as checked here with OpenSSL's one-shot
 *     EVP_DigestVerify/HMAC (not jwt.c's cached contexts), for its header
 *     alg, which is never "none".
 *   - "S:HEADER\nPAYLOAD": both JSON texts, encoded and signed HS256 with
 *     hmac.secret here, so the claim checks see arbitrary JSON. Invariant:
 *     accepted only when the header says HS256; sub and jti are their
 *     string or decimal text (SPEC §13) and the identity header agrees;
 *     exp, nbf and iat hold at NOW; a refusal for a date is right.
 * Seeds: t/fuzz/corpus/jwt_fuzz (t/fuzz/make-seeds.py). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include "config.h"
#include "jwks.h"
#include "jwks_fetch.h"
#include "jwt.h"
#include "keys.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

#define NOW 1700000000LL
#define LEEWAY 5

static struct config cfg;
static struct keystore *local, *remote;
static unsigned char *secret;
static size_t secret_len;

static void setup(void)
{
    static char path[1024];
    char err[512];
    const char *dir = getenv("WSGATE_FUZZ_DATA");

    if (!dir)
        dir = WSGATE_FUZZ_DATA;
    local = keystore_new();
    remote = keystore_new();
#define LOAD(call) do { if ((call) != 0) { fprintf(stderr, "jwt_fuzz: %s\n", err); abort(); } } while (0)
    snprintf(path, sizeof(path), "%s/keys/rsa.pub", dir);
    LOAD(keystore_add_key_file(local, path, err, sizeof(err)));
    snprintf(path, sizeof(path), "%s/keys/ec256.pub", dir);
    LOAD(keystore_add_key_file(local, path, err, sizeof(err)));
    snprintf(path, sizeof(path), "%s/keys/ed25519.pub", dir);
    LOAD(keystore_add_key_file(local, path, err, sizeof(err)));
    snprintf(path, sizeof(path), "%s/keys/hmac.secret", dir);
    LOAD(keystore_add_secret_file(local, path, err, sizeof(err)));
    snprintf(path, sizeof(path), "%s/keys/jwks.json", dir);
    LOAD(keystore_add_key_file(remote, path, err, sizeof(err)));
    for (size_t i = 0; i < local->nkeys; i++)
        if (local->keys[i].type == KEY_HMAC) {
            secret = local->keys[i].secret;
            secret_len = local->keys[i].secret_len;
        }
    CHECK(secret);

    cfg.keys = local;
    cfg.policy.algs = (1u << JWT_ALG_COUNT) - 1;
    cfg.policy.keys = local;
    cfg.policy.leeway = LEEWAY;
    cfg.jwks = jwks_new();
    jwks_publish(cfg.jwks, remote);
}

/* ---- the reference signature check ---------------------------------------- */

static const EVP_MD *md_for(const char *alg)
{
    if (!strcmp(alg + 2, "256"))
        return EVP_sha256();
    if (!strcmp(alg + 2, "384"))
        return EVP_sha384();
    if (!strcmp(alg + 2, "512"))
        return EVP_sha512();
    return NULL;
}

/* pss: RSASSA-PSS with MGF1 of md and a salt of md's length (RFC 7518 §3.5). */
static int pkey_verifies(EVP_PKEY *pkey, const EVP_MD *md, int pss, const unsigned char *in,
                         size_t inlen, const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = ctx && EVP_DigestVerifyInit(ctx, &pctx, md, NULL, pkey) == 1 &&
             (!pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                       EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1 &&
                       EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1)) &&
             EVP_DigestVerify(ctx, sig, siglen, in, inlen) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Is sig a signature of in under alg by any key of ks? */
static int signed_by(const struct keystore *ks, const char *alg, const unsigned char *in, size_t inlen,
                     const unsigned char *sig, size_t siglen)
{
    const EVP_MD *md = md_for(alg);

    if (!ks)
        return 0;
    if (!strcmp(alg, "EdDSA")) {
        for (size_t i = 0; i < ks->nkeys; i++)
            if (ks->keys[i].type == KEY_ED25519 &&
                pkey_verifies(ks->keys[i].pkey, NULL, 0, in, inlen, sig, siglen))
                return 1;
        return 0;
    }
    if (!md)
        return 0;
    for (size_t i = 0; i < ks->nkeys; i++) {
        const struct key *k = &ks->keys[i];
        if (alg[0] == 'H' && alg[1] == 'S' && k->type == KEY_HMAC) {
            unsigned char mac[EVP_MAX_MD_SIZE];
            unsigned int n = 0;
            if (HMAC(md, k->secret, (int)k->secret_len, in, inlen, mac, &n) && n == siglen &&
                memcmp(mac, sig, n) == 0)
                return 1;
        } else if ((alg[0] == 'R' || alg[0] == 'P') && alg[1] == 'S' && k->type == KEY_RSA) {
            if (pkey_verifies(k->pkey, md, alg[0] == 'P', in, inlen, sig, siglen))
                return 1;
        } else if (alg[0] == 'E' && alg[1] == 'S' && k->type == KEY_EC && siglen % 2 == 0) {
            size_t c = siglen / 2;
            ECDSA_SIG *es = ECDSA_SIG_new();
            unsigned char *der = NULL;
            ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)c, NULL), BN_bin2bn(sig + c, (int)c, NULL));
            int dl = i2d_ECDSA_SIG(es, &der);
            int ok = dl > 0 && pkey_verifies(k->pkey, md, 0, in, inlen, der, (size_t)dl);
            OPENSSL_free(der);
            ECDSA_SIG_free(es);
            if (ok)
                return 1;
        }
    }
    return 0;
}

static void check_signed(const char *tok, size_t len)
{
    const char *d1 = memchr(tok, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
    CHECK(d2 != NULL);
    size_t hlen = 0, slen = 0;
    unsigned char *h = util_b64url_decode(tok, (size_t)(d1 - tok), &hlen);
    unsigned char *sig = util_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), &slen);
    CHECK(h && sig);
    json_t *hdr = json_loadb((const char *)h, hlen, 0, NULL);
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    CHECK(alg && strlen(alg) == 5);
    CHECK(signed_by(local, alg, (const unsigned char *)tok, (size_t)(d2 - tok), sig, slen) ||
          signed_by(remote, alg, (const unsigned char *)tok, (size_t)(d2 - tok), sig, slen));
    json_decref(hdr);
    free(h);
    free(sig);
}

/* ---- claims of a token signed here ---------------------------------------- */

static void check_id(const json_t *v, const char *text, int accepted)
{
    char buf[32];

    if (!v || json_is_null(v)) {
        CHECK(!accepted || text == NULL);
        return;
    }
    if (json_is_string(v)) {
        CHECK(!accepted || (text && strcmp(text, json_string_value(v)) == 0));
        return;
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        CHECK(!accepted || (text && strcmp(text, buf) == 0));
        return;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (accepted) {
            /* only a real that is exactly one integer below 2^53 */
            CHECK(fabs(d) < 9007199254740992.0 && floor(d) == d);
            snprintf(buf, sizeof(buf), "%.0f", d == 0 ? 0.0 : d);
            CHECK(text && strcmp(text, buf) == 0);
        }
        return;
    }
    CHECK(!accepted);               /* boolean, array, object */
}

static double date(const json_t *p, const char *name, int *has)
{
    const json_t *v = json_object_get(p, name);
    *has = json_is_number(v);
    return *has ? floor(json_number_value(v)) : 0;
}

static void fuzz_signed(const char *text, size_t len)
{
    const char *nl = memchr(text, '\n', len);
    if (!nl)
        return;
    char *h = util_b64url_encode((const unsigned char *)text, (size_t)(nl - text));
    char *p = util_b64url_encode((const unsigned char *)nl + 1, len - (size_t)(nl + 1 - text));
    size_t in_len = strlen(h) + 1 + strlen(p);
    char *tok = malloc(in_len + 1 + 64);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;

    snprintf(tok, in_len + 1, "%s.%s", h, p);
    HMAC(EVP_sha256(), secret, (int)secret_len, (unsigned char *)tok, in_len, mac, &maclen);
    char *s = util_b64url_encode(mac, maclen);
    tok[in_len] = '.';
    memcpy(tok + in_len + 1, s, strlen(s) + 1);
    size_t tlen = strlen(tok);

    struct jwt_claims c;
    char err[128] = "";
    int rc = jwks_verify(&cfg, tok, tlen, NOW, &c, err, sizeof(err));
    CHECK(rc == 0 || rc == -1);
    CHECK(rc == 0 || err[0] != '\0');

    json_error_t e;
    /* As jwt.c reads them: an integer beyond int64 is read as a double. */
    json_t *hdr = json_loadb(text, (size_t)(nl - text), 0, &e);
    if (!hdr && json_error_code(&e) == json_error_numeric_overflow)
        hdr = json_loadb(text, (size_t)(nl - text), JSON_DECODE_INT_AS_REAL, NULL);
    const char *pl = nl + 1;
    size_t pllen = len - (size_t)(nl + 1 - text);
    json_t *pay = json_loadb(pl, pllen, JSON_REJECT_DUPLICATES, &e);
    if (!pay && json_error_code(&e) == json_error_numeric_overflow)
        pay = json_loadb(pl, pllen, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);

    if (rc == 0) {
        CHECK(json_is_object(hdr) && json_is_object(pay));
        const char *alg = json_string_value(json_object_get(hdr, "alg"));
        CHECK(alg && strcmp(alg, "HS256") == 0);
        CHECK(c.payload != NULL);
    }
    if (json_is_object(pay)) {
        check_id(json_object_get(pay, "sub"), c.sub, rc == 0);
        check_id(json_object_get(pay, "jti"), c.jti, rc == 0);
        int has;
        double exp = date(pay, "exp", &has);
        if (rc == 0 && has)
            CHECK(exp >= (double)(NOW - LEEWAY) && jwt_expires_at(&c, LEEWAY) >= NOW);
        if (rc != 0 && strcmp(err, "token expired") == 0)
            CHECK(has && exp < (double)(NOW - LEEWAY));
        double nbf = date(pay, "nbf", &has);
        if (rc == 0 && has)
            CHECK(nbf <= (double)(NOW + LEEWAY));
        if (rc != 0 && strcmp(err, "token not yet valid") == 0)
            CHECK(has && nbf > (double)(NOW + LEEWAY));
        double iat = date(pay, "iat", &has);
        if (rc == 0 && has)
            CHECK(iat <= (double)(NOW + LEEWAY));
    }
    if (rc == 0) {
        char *hs = jwt_claim_string(&c, "sub");
        CHECK((hs == NULL) == (c.sub == NULL) && (!hs || strcmp(hs, c.sub) == 0));
        free(hs);
        jwt_claims_clear(&c);
    }
    json_decref(hdr);
    json_decref(pay);
    free(h);
    free(p);
    free(s);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;

    if (!ready) {
        setup();
        ready = 1;
    }
    /* An exact-size heap copy so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    if (size >= 2 && buf[0] == 'S' && buf[1] == ':') {
        fuzz_signed(buf + 2, size - 2);
    } else {
        struct jwt_claims c;
        char err[128] = "";
        int rc = jwks_verify(&cfg, buf, size, NOW, &c, err, sizeof(err));
        CHECK(rc == 0 || rc == -1);
        CHECK(rc == 0 || (err[0] != '\0' && c.payload == NULL));
        if (rc == 0) {
            check_signed(buf, size);
            jwt_claims_clear(&c);
        }
    }
    free(buf);
    return 0;
}
