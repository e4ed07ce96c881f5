/* JWT (compact JWS) verification on the pre-parsed keys of keys.c: the
 * algorithm family is pinned to the key type before any signature is
 * checked, then the registered claims. Pure: no I/O, no logging. */
#include "jwt.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "keys.h"
#include "util.h"

/* Far above any sane token (a few hundred bytes to a few KiB) and far
 * below max_header_size: bounds decoding and JSON parsing work. */
#define JWT_MAX_LEN (16 * 1024)

struct alg_info {
    const char *name;
    enum key_type type;
    int curve_nid;          /* ES*: the only curve this alg may be verified on */
    size_t coord;           /* ES*: bytes of r and of s in the raw signature */
    int hash;               /* index into hash_names / fetched_md; EdDSA: none (-1) */
    int pss;                /* PS*: RSASSA-PSS, MGF1 of the same hash, salt = hash length */
};

static const char *const hash_names[3] = { "SHA256", "SHA384", "SHA512" };

static const struct alg_info algs[JWT_ALG_COUNT] = {
    [JWT_HS256] = { "HS256", KEY_HMAC, 0, 0, 0, 0 },
    [JWT_HS384] = { "HS384", KEY_HMAC, 0, 0, 1, 0 },
    [JWT_HS512] = { "HS512", KEY_HMAC, 0, 0, 2, 0 },
    [JWT_RS256] = { "RS256", KEY_RSA, 0, 0, 0, 0 },
    [JWT_RS384] = { "RS384", KEY_RSA, 0, 0, 1, 0 },
    [JWT_RS512] = { "RS512", KEY_RSA, 0, 0, 2, 0 },
    [JWT_ES256] = { "ES256", KEY_EC, NID_X9_62_prime256v1, 32, 0, 0 },
    [JWT_ES384] = { "ES384", KEY_EC, NID_secp384r1, 48, 1, 0 },
    [JWT_ES512] = { "ES512", KEY_EC, NID_secp521r1, 66, 2, 0 },
    [JWT_PS256] = { "PS256", KEY_RSA, 0, 0, 0, 1 },
    [JWT_PS384] = { "PS384", KEY_RSA, 0, 0, 1, 1 },
    [JWT_PS512] = { "PS512", KEY_RSA, 0, 0, 2, 1 },
    [JWT_EDDSA] = { "EdDSA", KEY_ED25519, 0, 0, -1, 0 },
};

int jwt_alg_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i < JWT_ALG_COUNT; i++)
        if (strcmp(name, algs[i].name) == 0)
            return i;
    return -1;
}

const char *jwt_alg_name(int alg)
{
    if (alg < 0 || alg >= JWT_ALG_COUNT)
        return NULL;
    return algs[alg].name;
}

/* OpenSSL 3 looks an algorithm up by name on every use of EVP_sha256() or
 * HMAC(); fetching once saves a few microseconds per token. The fetched
 * objects are immutable and shared by every worker thread. */
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static EVP_MD *fetched_md[3];
static EVP_MAC *fetched_hmac;

static void fetch_algorithms(void)
{
    for (int i = 0; i < 3; i++)
        fetched_md[i] = EVP_MD_fetch(NULL, hash_names[i], NULL);
    fetched_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    ERR_clear_error();
}

static const EVP_MD *md_of(const struct alg_info *ai)
{
    static const EVP_MD *(*const legacy[3])(void) = { EVP_sha256, EVP_sha384, EVP_sha512 };

    pthread_once(&fetch_once, fetch_algorithms);
    return fetched_md[ai->hash] ? fetched_md[ai->hash] : legacy[ai->hash]();
}

static int fail(char *err, size_t errlen, const char *reason)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", reason);
    return -1;
}

/* ---- explain mode ---------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static void trace(const struct jwt_policy *pol, const char *step, const char *fmt, ...)
{
    char buf[320];
    va_list ap;

    if (!pol->trace)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    pol->trace->step(pol->trace->arg, step, buf);
}

/* A token's own text (kid, iss) for a trace line: printable ASCII, cut
 * at 64 bytes, else a placeholder; the operator's terminal gets no
 * control bytes. */
static const char *shown(const char *v, char *buf, size_t cap)
{
    size_t n = strlen(v);

    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e || v[i] == '"')
            return "(unprintable)";
    snprintf(buf, cap, "%.64s%s", v, n > 64 ? "..." : "");
    return buf;
}

static const char *family_name(const struct alg_info *ai)
{
    switch (ai->type) {
    case KEY_HMAC: return "HMAC secret";
    case KEY_RSA: return "RSA key";
    case KEY_EC:
        return ai->curve_nid == NID_X9_62_prime256v1 ? "EC P-256 key"
             : ai->curve_nid == NID_secp384r1 ? "EC P-384 key" : "EC P-521 key";
    case KEY_ED25519: return "Ed25519 key";
    }
    return "key";
}

/* ---- signatures ----------------------------------------------------------- */

static int verify_hmac(const struct key *k, const struct alg_info *ai,
                       const unsigned char *data, size_t len,
                       const unsigned char *sig, size_t siglen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t maclen = 0;
    const EVP_MD *md = md_of(ai);
    int computed;

    if (fetched_hmac) {
        EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(fetched_hmac);
        OSSL_PARAM params[2] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)hash_names[ai->hash], 0),
            OSSL_PARAM_construct_end(),
        };
        computed = ctx && EVP_MAC_init(ctx, k->secret, k->secret_len, params) == 1 &&
                   EVP_MAC_update(ctx, data, len) == 1 &&
                   EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1;
        EVP_MAC_CTX_free(ctx);
    } else {
        unsigned int n = 0;
        computed = HMAC(md, k->secret, (int)k->secret_len, data, len, mac, &n) != NULL;
        maclen = n;
    }
    if (!computed) {
        ERR_clear_error();
        return 0;
    }
    int good = siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return good;
}

/* EVP_DigestVerifyInit() fetches the signature algorithm and builds a key
 * context on every call, which in OpenSSL 3 costs more than the RSA
 * verification itself. Each thread instead keeps a few verify contexts,
 * initialised once per (key, hash), and per token only hashes the signing
 * input and calls EVP_PKEY_verify() on the digest. A context holds a
 * reference to its key, so a key freed by a reload stays alive, and its
 * address unique, until its slot is reused; the cache is freed when the
 * thread exits. A slot is one (key, alg): RS* and PS* of one key and hash
 * differ in padding. EdDSA has no slot: Ed25519 signs the message itself,
 * not a digest, so it needs EVP_DigestVerify on an EVP_MD_CTX, and there
 * the set-up is about 2% of the verification (on this 2-core machine,
 * 58.6-60.2 us per token with a fresh context against 57.2-58.0 us with one
 * copied from a prepared context, which a one-shot verify needs anyway). */
#define VERIFY_CACHE 8

struct verify_slot {
    EVP_PKEY *pkey;
    const struct alg_info *ai;
    EVP_PKEY_CTX *ctx;
};

struct verify_cache {
    struct verify_slot slot[VERIFY_CACHE];
    unsigned next;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void verify_cache_free(void *p)
{
    struct verify_cache *c = p;

    for (int i = 0; i < VERIFY_CACHE; i++)
        EVP_PKEY_CTX_free(c->slot[i].ctx);
    free(c);
}

static void verify_cache_init(void)
{
    pthread_key_create(&cache_key, verify_cache_free);
}

static EVP_PKEY_CTX *verify_ctx(EVP_PKEY *pkey, const struct alg_info *ai)
{
    struct verify_cache *c;

    pthread_once(&cache_once, verify_cache_init);
    c = pthread_getspecific(cache_key);
    if (!c) {
        c = util_xcalloc(1, sizeof(*c));
        pthread_setspecific(cache_key, c);
    }
    for (int i = 0; i < VERIFY_CACHE; i++)
        if (c->slot[i].ctx && c->slot[i].pkey == pkey && c->slot[i].ai == ai)
            return c->slot[i].ctx;

    /* RSA keys default to PKCS#1 v1.5 padding, which is what RS* means;
     * PS* is PSS with MGF1 of the same hash and a salt as long as the
     * hash (RFC 7518 §3.5), never the "auto" salt length a verifier
     * would otherwise accept. */
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!ctx || EVP_PKEY_verify_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, md_of(ai)) != 1 ||
        (ai->pss && (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
                     EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md_of(ai)) != 1 ||
                     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) != 1))) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    struct verify_slot *sl = &c->slot[c->next++ % VERIFY_CACHE];
    EVP_PKEY_CTX_free(sl->ctx);
    sl->pkey = pkey;
    sl->ai = ai;
    sl->ctx = ctx;
    return ctx;
}

static int verify_pkey(EVP_PKEY *pkey, const struct alg_info *ai,
                       const unsigned char *data, size_t len,
                       const unsigned char *sig, size_t siglen)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_PKEY_CTX *ctx = verify_ctx(pkey, ai);
    int good = ctx && EVP_Digest(data, len, digest, &dlen, md_of(ai), NULL) == 1 &&
               EVP_PKEY_verify(ctx, sig, siglen, digest, dlen) == 1;

    /* A failed verify leaves errors on this thread's queue, where a later
     * SSL_get_error() on the same thread would find them. */
    ERR_clear_error();
    return good;
}

/* JWS carries ECDSA signatures as fixed-size r||s (RFC 7518 §3.4);
 * OpenSSL verifies DER. Any other length, DER included, is a bad signature. */
static int verify_ec(const struct key *k, const struct alg_info *ai,
                     const unsigned char *data, size_t len,
                     const unsigned char *sig, size_t siglen)
{
    ECDSA_SIG *es;
    BIGNUM *r, *s;
    unsigned char *der = NULL;
    int derlen, good = 0;

    if (siglen != 2 * ai->coord)
        return 0;
    es = ECDSA_SIG_new();
    r = BN_bin2bn(sig, (int)ai->coord, NULL);
    s = BN_bin2bn(sig + ai->coord, (int)ai->coord, NULL);
    if (!es || !r || !s) {
        ECDSA_SIG_free(es);
        BN_free(r);
        BN_free(s);
        ERR_clear_error();
        return 0;
    }
    ECDSA_SIG_set0(es, r, s);
    derlen = i2d_ECDSA_SIG(es, &der);
    if (derlen > 0)
        good = verify_pkey(k->pkey, ai, data, len, der, (size_t)derlen);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    ERR_clear_error();
    return good;
}

/* Ed25519 (RFC 8037 §3.1): 64 bytes over the signing input itself. */
static int verify_ed25519(const struct key *k, const unsigned char *data, size_t len,
                          const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *ctx;
    int good;

    if (siglen != 64)
        return 0;
    ctx = EVP_MD_CTX_new();
    good = ctx && EVP_DigestVerifyInit_ex(ctx, NULL, NULL, NULL, NULL, k->pkey, NULL) == 1 &&
           EVP_DigestVerify(ctx, sig, siglen, data, len) == 1;
    EVP_MD_CTX_free(ctx);
    ERR_clear_error();
    return good;
}

static int verify_with(const struct key *k, const struct alg_info *ai,
                       const unsigned char *data, size_t len,
                       const unsigned char *sig, size_t siglen)
{
    switch (k->type) {
    case KEY_HMAC:
        return verify_hmac(k, ai, data, len, sig, siglen);
    case KEY_RSA:
        return verify_pkey(k->pkey, ai, data, len, sig, siglen);
    case KEY_EC:
        return verify_ec(k, ai, data, len, sig, siglen);
    case KEY_ED25519:
        return verify_ed25519(k, data, len, sig, siglen);
    }
    return 0;
}

/* The alg family is pinned to the key type: an HMAC alg never meets a
 * public key, so the RSA-PEM-as-HMAC-secret forgery finds no key at all. */
static int key_fits(const struct key *k, const struct alg_info *ai, int alg)
{
    if (k->type != ai->type)
        return 0;
    if (k->type == KEY_HMAC ? !k->secret : !k->pkey)
        return 0;
    if (k->type == KEY_EC && k->curve_nid != ai->curve_nid)
        return 0;
    if (k->alg && jwt_alg_from_name(k->alg) != alg)
        return 0;
    return 1;
}

/* ---- claims -------------------------------------------------------------- */

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* a - b, saturated: dates from a token may be anywhere in int64. */
static int64_t sat_sub(int64_t a, int64_t b)
{
    if (b < 0 && a > INT64_MAX + b)
        return INT64_MAX;
    if (b > 0 && a < INT64_MIN + b)
        return INT64_MIN;
    return a - b;
}

/* NumericDate may be fractional (RFC 7519 §2): floor it, saturating. */
static int64_t num_floor(const json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    double d = json_real_value(v);
    if (d >= 9223372036854775807.0)
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    int64_t t = (int64_t)d;
    if ((double)t > d)
        t--;
    return t;
}

/* Integers below 2^53 in magnitude are exact as doubles (I-JSON, RFC 7493
 * §2.2): an integral real within that is one integer. 2^53 itself is not,
 * it is also what 2^53 + 1 rounds to. */
#define EXACT_DOUBLE_INT 9007199254740992.0

/* sub/jti as text (see struct jwt_claims): *text borrows a string or, for
 * an integer, points to the decimal written into *owned. A fraction, or an
 * integral real too large to name one integer (1e20, or an integer literal
 * beyond int64 that forced the real parse in decode_object), is refused:
 * no backend would agree with us on which subject it is. -1 on refusal. */
static int id_claim(const json_t *payload, const char *name, const char **text, char **owned)
{
    const json_t *v = json_object_get(payload, name);
    char buf[32];

    *text = NULL;
    *owned = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        *text = json_string_value(v);
        return 0;
    }
    if (json_is_integer(v)) {
        snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d > -EXACT_DOUBLE_INT && d < EXACT_DOUBLE_INT) || (double)(int64_t)d != d)
            return -1;
        snprintf(buf, sizeof(buf), "%lld", (long long)(int64_t)d);
    } else {
        return -1;
    }
    *owned = util_xstrdup(buf);
    *text = *owned;
    return 0;
}

/* -1 when present but not a number. */
static int num_claim(const json_t *payload, const char *name, int64_t *v, int *has)
{
    const json_t *j = json_object_get(payload, name);

    *has = 0;
    *v = 0;
    if (!j)
        return 0;
    if (!json_is_number(j))
        return -1;
    *v = num_floor(j);
    *has = 1;
    return 0;
}

static int audience_ok(const struct jwt_policy *pol, const json_t *aud)
{
    if (json_is_string(aud)) {
        for (size_t i = 0; i < pol->naudiences; i++)
            if (strcmp(json_string_value(aud), pol->audiences[i]) == 0)
                return 1;
        return 0;
    }
    if (!json_is_array(aud))
        return 0;
    for (size_t j = 0; j < json_array_size(aud); j++)
        if (!json_is_string(json_array_get(aud, j)))
            return 0;
    for (size_t j = 0; j < json_array_size(aud); j++) {
        const char *a = json_string_value(json_array_get(aud, j));
        for (size_t i = 0; i < pol->naudiences; i++)
            if (strcmp(a, pol->audiences[i]) == 0)
                return 1;
    }
    return 0;
}

static int check_claims(const struct jwt_policy *pol, const json_t *p, int64_t now,
                        struct jwt_claims *c, char *err, size_t errlen)
{
    int64_t leeway = pol->leeway > 0 ? pol->leeway : 0;
    char sb[80];

    for (size_t i = 0; i < pol->nrequire_claims; i++) {
        const json_t *v = json_object_get(p, pol->require_claims[i]);
        if (!v || json_is_null(v)) {
            if (err && errlen)
                snprintf(err, errlen, "missing claim %s", pol->require_claims[i]);
            trace(pol, "required claims", "missing claim %s", pol->require_claims[i]);
            return -1;
        }
    }
    trace(pol, "required claims", "ok (%zu)", pol->nrequire_claims);
    if (num_claim(p, "exp", &c->exp, &c->has_exp) != 0 ||
        num_claim(p, "nbf", &c->nbf, &c->has_nbf) != 0 ||
        num_claim(p, "iat", &c->iat, &c->has_iat) != 0) {
        trace(pol, "claim dates", "malformed token (exp, nbf or iat is not a number)");
        return fail(err, errlen, "malformed token");
    }
    if (id_claim(p, "sub", &c->sub, &c->sub_num) != 0) {
        trace(pol, "claim sub", "sub must be a string or an integer");
        return fail(err, errlen, "sub must be a string or an integer");
    }
    trace(pol, "claim sub", c->sub ? "ok" : "ok (absent)");
    if (id_claim(p, "jti", &c->jti, &c->jti_num) != 0) {
        trace(pol, "claim jti", "jti must be a string or an integer");
        return fail(err, errlen, "jti must be a string or an integer");
    }
    trace(pol, "claim jti", c->jti ? "ok" : "ok (absent)");
    if (c->has_exp && now > sat_add(c->exp, leeway)) {
        trace(pol, "claim exp", "token expired (%llds ago, leeway %llds)",
              (long long)sat_sub(now, c->exp), (long long)leeway);
        return fail(err, errlen, "token expired");
    }
    if (c->has_exp)
        trace(pol, "claim exp", "ok (expires in %llds)", (long long)sat_sub(c->exp, now));
    else
        trace(pol, "claim exp", "ok (absent: the token never expires)");
    if (c->has_nbf && sat_add(now, leeway) < c->nbf) {
        trace(pol, "claim nbf", "token not yet valid (valid in %llds, leeway %llds)",
              (long long)sat_sub(c->nbf, now), (long long)leeway);
        return fail(err, errlen, "token not yet valid");
    }
    trace(pol, "claim nbf", c->has_nbf ? "ok" : "ok (absent)");
    if (c->has_iat && c->iat > sat_add(now, leeway)) {
        trace(pol, "claim iat", "token issued in the future (in %llds, leeway %llds)",
              (long long)sat_sub(c->iat, now), (long long)leeway);
        return fail(err, errlen, "token issued in the future");
    }
    trace(pol, "claim iat", c->has_iat ? "ok" : "ok (absent)");
    if (pol->issuer) {
        const json_t *iss = json_object_get(p, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), pol->issuer) != 0) {
            trace(pol, "claim iss", "issuer mismatch (token: %s%s%s, issuer: \"%s\")",
                  json_is_string(iss) ? "\"" : "",
                  json_is_string(iss) ? shown(json_string_value(iss), sb, sizeof(sb)) : "none",
                  json_is_string(iss) ? "\"" : "", pol->issuer);
            return fail(err, errlen, "issuer mismatch");
        }
        trace(pol, "claim iss", "ok");
    } else {
        trace(pol, "claim iss", "ok (not checked: no issuer)");
    }
    if (pol->naudiences > 0 && !audience_ok(pol, json_object_get(p, "aud"))) {
        trace(pol, "claim aud", "audience mismatch");
        return fail(err, errlen, "audience mismatch");
    }
    trace(pol, "claim aud", pol->naudiences ? "ok" : "ok (not checked: no audience)");
    return 0;
}

/* ---- verification ---------------------------------------------------------- */

static json_t *decode_object(const char *seg, size_t len, unsigned char **raw, size_t *rawlen)
{
    json_t *j;
    json_error_t e;

    *raw = util_b64url_decode(seg, len, rawlen);
    if (!*raw)
        return NULL;
    /* Duplicate names would let us and the backend read different claims. */
    j = json_loadb((const char *)*raw, *rawlen, JSON_REJECT_DUPLICATES, &e);
    /* An integer literal beyond int64 (an exp of 1e20 written out) is a
     * valid JSON number that jansson refuses as an integer: read every
     * number as a double then, as JavaScript does. Dates saturate, sub and
     * jti are checked by id_claim; beyond a double's range stays malformed. */
    if (!j && json_error_code(&e) == json_error_numeric_overflow)
        j = json_loadb((const char *)*raw, *rawlen, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static int select_and_verify(const struct jwt_policy *pol, int alg, const char *kid,
                             const unsigned char *data, size_t len,
                             const unsigned char *sig, size_t siglen,
                             char *err, size_t errlen)
{
    /* Static keys and the remote set form one key set: a kid in either
     * makes the token's kid select. */
    const struct keystore *stores[2] = { pol->keys, pol->remote };
    const struct alg_info *ai = &algs[alg];
    size_t i, ncand = 0;
    int by_kid = 0;
    char kb[80];

    for (int s = 0; s < 2 && kid; s++)
        for (i = 0; stores[s] && i < stores[s]->nkeys && !by_kid; i++)
            by_kid = stores[s]->keys[i].kid != NULL;
    for (int s = 0; s < 2; s++) {
        const struct keystore *ks = stores[s];
        for (i = 0; ks && i < ks->nkeys; i++) {
            const struct key *k = &ks->keys[i];
            if (!key_fits(k, ai, alg))
                continue;
            if (by_kid && (!k->kid || strcmp(k->kid, kid) != 0))
                continue;
            ncand++;
            if (verify_with(k, ai, data, len, sig, siglen)) {
                trace(pol, "key", "ok (%s%s%s)", k->source ? k->source : family_name(ai),
                      k->kid ? ", kid " : "", k->kid ? shown(k->kid, kb, sizeof(kb)) : "");
                trace(pol, "signature", "ok");
                return 0;
            }
        }
    }
    if (!ncand) {
        trace(pol, "key", "no matching key (no %s%s%s%s fits %s)", family_name(ai),
              by_kid ? " with kid \"" : "", by_kid ? shown(kid, kb, sizeof(kb)) : "",
              by_kid ? "\"" : "", ai->name);
        return fail(err, errlen, "no matching key");
    }
    trace(pol, "key", "ok (%zu %s%s tried)", ncand, family_name(ai), ncand == 1 ? "" : "s");
    trace(pol, "signature", "bad signature (no %s verifies it)", ncand == 1 ? "such key" : "of them");
    return fail(err, errlen, "bad signature");
}

int jwt_verify(const struct jwt_policy *pol, const char *token, size_t len,
               int64_t now, struct jwt_claims *out, char *err, size_t errlen)
{
    const char *d1, *d2;
    unsigned char *hraw = NULL, *praw = NULL, *sig = NULL;
    size_t hlen, plen, slen, hrawlen = 0, prawlen = 0, siglen = 0;
    json_t *hdr = NULL, *payload = NULL;
    const json_t *j;
    const char *kid = NULL;
    const char *stage = "format";   /* the step a failure belongs to, until traced */
    int alg, rc = -1;

    memset(out, 0, sizeof(*out));
    if (!pol || !token || len == 0 || len > JWT_MAX_LEN) {
        if (pol)
            trace(pol, "format", "malformed token (%zu bytes)", len);
        return fail(err, errlen, "malformed token");
    }
    d1 = memchr(token, '.', len);
    d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token))) {
        trace(pol, "format", "malformed token (not three segments)");
        return fail(err, errlen, "malformed token");
    }
    hlen = (size_t)(d1 - token);
    plen = (size_t)(d2 - d1 - 1);
    slen = len - (size_t)(d2 + 1 - token);
    /* An empty signature is well-formed (that is how alg "none" looks), so
     * such a token is turned away by the alg check with a clear reason; a
     * real alg with an empty signature fails as a bad signature. */
    if (hlen == 0 || plen == 0) {
        trace(pol, "format", "malformed token (empty header or payload)");
        return fail(err, errlen, "malformed token");
    }

    if (!(hdr = decode_object(token, hlen, &hraw, &hrawlen)) ||
        !(payload = decode_object(d1 + 1, plen, &praw, &prawlen)) ||
        !(sig = util_b64url_decode(d2 + 1, slen, &siglen))) {
        fail(err, errlen, "malformed token");
        goto out;
    }

    j = json_object_get(hdr, "alg");
    if (!json_is_string(j)) {
        fail(err, errlen, "malformed token");
        goto out;
    }
    trace(pol, "format", "ok");
    stage = "alg";
    alg = jwt_alg_from_name(json_string_value(j));  /* "none" in any case: -1 */
    if (alg < 0 || !(pol->algs & (1u << alg))) {
        if (alg < 0)
            trace(pol, "alg", "algorithm not allowed (none, or not a supported algorithm)");
        else
            trace(pol, "alg", "algorithm not allowed (%s is not listed in algorithms)", algs[alg].name);
        stage = NULL;
        fail(err, errlen, "algorithm not allowed");
        goto out;
    }
    trace(pol, "alg", "ok (%s)", algs[alg].name);
    stage = "header";
    /* We understand no extension header, so any crit list is one we miss. */
    if (json_object_get(hdr, "crit")) {
        fail(err, errlen, "unsupported critical header");
        goto out;
    }
    j = json_object_get(hdr, "kid");
    if (j && !json_is_string(j)) {
        fail(err, errlen, "malformed token");
        goto out;
    }
    kid = j ? json_string_value(j) : NULL;
    stage = NULL;   /* from here on, each step traces itself */

    /* The signing input is the received text, not a re-encoding of it. */
    if (select_and_verify(pol, alg, kid, (const unsigned char *)token, (size_t)(d2 - token),
                          sig, siglen, err, errlen) != 0)
        goto out;
    if (check_claims(pol, payload, now, out, err, errlen) != 0)
        goto out;

    out->payload = payload;
    out->payload_raw = (char *)praw;
    out->payload_raw_len = prawlen;
    payload = NULL;
    praw = NULL;
    rc = 0;
out:
    if (rc != 0 && stage)
        trace(pol, stage, "%s", err && errlen ? err : "refused");
    if (rc != 0) {
        free(out->sub_num);
        free(out->jti_num);
        memset(out, 0, sizeof(*out));
    }
    json_decref(hdr);
    json_decref(payload);
    free(hraw);
    free(praw);
    free(sig);
    return rc;
}

void jwt_claims_clear(struct jwt_claims *c)
{
    if (!c)
        return;
    json_decref(c->payload);
    free(c->payload_raw);
    free(c->sub_num);
    free(c->jti_num);
    memset(c, 0, sizeof(*c));
}

int jwt_claims_copy(struct jwt_claims *dst, const struct jwt_claims *src)
{
    memset(dst, 0, sizeof(*dst));
    if (!src->payload)
        return -1;
    dst->payload = json_deep_copy(src->payload);
    dst->payload_raw = malloc(src->payload_raw_len + 1);
    if (!dst->payload || !dst->payload_raw) {
        jwt_claims_clear(dst);
        return -1;
    }
    memcpy(dst->payload_raw, src->payload_raw, src->payload_raw_len);
    dst->payload_raw[src->payload_raw_len] = '\0';
    dst->payload_raw_len = src->payload_raw_len;
    /* sub and jti point into the payload or into their own text. */
    if (src->sub_num)
        dst->sub = dst->sub_num = util_xstrdup(src->sub_num);
    else if (src->sub)
        dst->sub = json_string_value(json_object_get(dst->payload, "sub"));
    if (src->jti_num)
        dst->jti = dst->jti_num = util_xstrdup(src->jti_num);
    else if (src->jti)
        dst->jti = json_string_value(json_object_get(dst->payload, "jti"));
    dst->exp = src->exp;
    dst->nbf = src->nbf;
    dst->iat = src->iat;
    dst->has_exp = src->has_exp;
    dst->has_nbf = src->has_nbf;
    dst->has_iat = src->has_iat;
    return 0;
}

static int own_text(const char **text, char **owned)
{
    char *d;

    if (!*text || *text == *owned)
        return 0;
    if (!(d = strdup(*text)))
        return -1;
    free(*owned);
    *owned = d;
    *text = d;
    return 0;
}

int jwt_claims_shrink(struct jwt_claims *c)
{
    if (own_text(&c->sub, &c->sub_num) < 0 || own_text(&c->jti, &c->jti_num) < 0)
        return -1;
    json_decref(c->payload);
    c->payload = NULL;
    free(c->payload_raw);
    c->payload_raw = NULL;
    c->payload_raw_len = 0;
    return 0;
}

int64_t jwt_expires_at(const struct jwt_claims *c, int64_t leeway)
{
    if (!c || !c->has_exp)
        return INT64_MAX;
    return sat_add(c->exp, leeway > 0 ? leeway : 0);
}

/* ---- claim access for routes and identity headers ------------------------- */

/* Scalars as their JSON text; integral reals as integers ("3", not "3.0").
 * Returns a pointer to the string or into buf; NULL for non-scalars. */
static const char *scalar_text(const json_t *v, char *buf, size_t cap)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_true(v))
        return "true";
    if (json_is_false(v))
        return "false";
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        int64_t t = num_floor(v);
        if ((double)t == d && d > -9.0e18 && d < 9.0e18) {
            snprintf(buf, cap, "%lld", (long long)t);
            return buf;
        }
        snprintf(buf, cap, "%.15g", d);
        if (strtod(buf, NULL) != d)
            snprintf(buf, cap, "%.17g", d);
        return buf;
    }
    return NULL;
}

int jwt_claim_matches(const struct jwt_claims *c, const char *claim, const char *value)
{
    const json_t *v;
    const char *t;
    char buf[64];

    if (!c || !c->payload || !claim || !value)
        return 0;
    v = json_object_get(c->payload, claim);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            t = scalar_text(json_array_get(v, i), buf, sizeof(buf));
            if (t && strcmp(t, value) == 0)
                return 1;
        }
        return 0;
    }
    t = v ? scalar_text(v, buf, sizeof(buf)) : NULL;
    return t && strcmp(t, value) == 0;
}

char *jwt_claim_string(const struct jwt_claims *c, const char *claim)
{
    const json_t *v;
    const char *t;
    char buf[64];

    if (!c || !c->payload || !claim)
        return NULL;
    /* One form of the identity everywhere: the header says what Redis and
     * the limits were asked about (claims not made by jwt_verify, without
     * sub/jti text, fall through to the payload). */
    t = strcmp(claim, "sub") == 0 ? c->sub : strcmp(claim, "jti") == 0 ? c->jti : NULL;
    if (t)
        return util_xstrdup(t);
    v = json_object_get(c->payload, claim);
    if (!v)
        return NULL;
    if (!json_is_array(v)) {
        t = scalar_text(v, buf, sizeof(buf));
        return t ? util_xstrdup(t) : NULL;
    }

    /* Array: scalar elements joined with ','; nested objects/arrays/null
     * have no header rendering and are left out. */
    size_t len = 0, cap = 64;
    char *s = util_xmalloc(cap);
    for (size_t i = 0; i < json_array_size(v); i++) {
        t = scalar_text(json_array_get(v, i), buf, sizeof(buf));
        if (!t)
            continue;
        size_t n = strlen(t);
        if (len + n + 2 > cap) {
            while (len + n + 2 > cap)
                cap *= 2;
            s = util_xrealloc(s, cap);
        }
        if (len)
            s[len++] = ',';
        memcpy(s + len, t, n);
        len += n;
    }
    s[len] = '\0';
    return s;
}
