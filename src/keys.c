/* Key store: every verification key is parsed here, once, at load or reload,
 * into an EVP_PKEY or raw HMAC secret bytes, so that nothing about a key is
 * parsed per request. Errors name the file (and key) but never carry key bytes. */
#include "keys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "util.h"

#define KEY_FILE_MAX    (4u << 20)  /* a JWKS of a few hundred keys is < 1 MiB */
#define SECRET_FILE_MAX (1u << 20)
#define RSA_MIN_BITS    2048

/* Buffers that may hold secrets come from malloc (util, jansson-free
 * paths), so they are wiped and released with free(). */
static void clear_free(void *p, size_t n)
{
    if (p) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

static void key_clear(struct key *k)
{
    free(k->kid);
    free(k->alg);
    free(k->source);
    EVP_PKEY_free(k->pkey);
    clear_free(k->secret, k->secret_len);
    memset(k, 0, sizeof(*k));
}

struct keystore *keystore_new(void)
{
    return util_xcalloc(1, sizeof(struct keystore));
}

void keystore_free(struct keystore *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->nkeys; i++)
        key_clear(&ks->keys[i]);
    free(ks->keys);
    free(ks);
}

/* Keys of one file are staged in a scratch store and moved into the real one
 * only when the whole file loaded, so a failed load leaves ks untouched. */
static struct key *stage_push(struct keystore *st)
{
    st->keys = util_xrealloc(st->keys, (st->nkeys + 1) * sizeof(struct key));
    memset(&st->keys[st->nkeys], 0, sizeof(struct key));
    return &st->keys[st->nkeys++];
}

static void stage_discard(struct keystore *st)
{
    for (size_t i = 0; i < st->nkeys; i++)
        key_clear(&st->keys[i]);
    free(st->keys);
    st->keys = NULL;
    st->nkeys = 0;
}

static void stage_commit(struct keystore *ks, struct keystore *st)
{
    if (st->nkeys) {
        ks->keys = util_xrealloc(ks->keys, (ks->nkeys + st->nkeys) * sizeof(struct key));
        memcpy(ks->keys + ks->nkeys, st->keys, st->nkeys * sizeof(struct key));
        ks->nkeys += st->nkeys;
    }
    free(st->keys);
    st->keys = NULL;
    st->nkeys = 0;
}

/* Whole file into memory (NUL-terminated). The buffer is cleansed by the
 * callers that may hold secrets. */
static unsigned char *read_file(const char *path, size_t max, size_t *lenp,
                                char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        util_fail(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            size_t ncap = cap ? cap * 2 : 8192;
            unsigned char *nbuf = util_xmalloc(ncap + 1);
            if (buf) {
                memcpy(nbuf, buf, len);
                clear_free(buf, len);
            }
            buf = nbuf;
            cap = ncap;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (len > max) {
            fclose(f);
            clear_free(buf, len);
            util_fail(err, errlen, "%s: file is larger than %zu MiB", path, max >> 20);
            return NULL;
        }
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        clear_free(buf, len);
        util_fail(err, errlen, "%s: %s", path, strerror(e ? e : EIO));
        return NULL;
    }
    fclose(f);
    buf[len] = '\0';
    *lenp = len;
    return buf;
}

static int supported_curve(int nid, size_t *coord)
{
    size_t c = 0;

    switch (nid) {
    case NID_X9_62_prime256v1: c = 32; break;
    case NID_secp384r1: c = 48; break;
    case NID_secp521r1: c = 66; break;
    default: return 0;
    }
    if (coord)
        *coord = c;
    return 1;
}

/* The policy every public key must meet, wherever it came from. */
static int classify_pkey(EVP_PKEY *pkey, struct key *k, char *why, size_t whylen)
{
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < RSA_MIN_BITS)
            return util_fail(why, whylen, "RSA key is %d bits, at least %d are required",
                        bits, RSA_MIN_BITS);
        k->type = KEY_RSA;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char name[80];
        size_t nlen = 0;
        int nid;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                           name, sizeof(name), &nlen) != 1) {
            ERR_clear_error();
            return util_fail(why, whylen, "EC key with explicit curve parameters is not supported");
        }
        nid = OBJ_sn2nid(name);
        if (nid == NID_undef)
            nid = EC_curve_nist2nid(name);
        if (!supported_curve(nid, NULL))
            return util_fail(why, whylen,
                        "EC key on unsupported curve \"%s\" (P-256, P-384 and P-521 are)", name);
        k->type = KEY_EC;
        k->curve_nid = nid;
        return 0;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) {
        k->type = KEY_ED25519;
        return 0;
    }
    const char *tn = EVP_PKEY_get0_type_name(pkey);
    return util_fail(why, whylen, "unsupported key type %s (RSA, EC and Ed25519 are)",
                     tn ? tn : "(unknown)");
}

/* ---- PEM ---------------------------------------------------------------- */

static int pem_is_private(const char *name)
{
    return strstr(name, "PRIVATE KEY") != NULL;
}

/* One PEM block into a staged key; why gets the reason on failure. */
static int pem_block(struct keystore *st, const char *name, const unsigned char *data,
                     long dlen, char *why, size_t whylen)
{
    const unsigned char *p = data;
    EVP_PKEY *pkey = NULL;

    if (pem_is_private(name))
        return util_fail(why, whylen, "key_file must hold a public key or certificate, not a private key");
    if (strcmp(name, "PUBLIC KEY") == 0) {
        pkey = d2i_PUBKEY(NULL, &p, dlen);
        if (!pkey || p != data + dlen) {
            EVP_PKEY_free(pkey);
            ERR_clear_error();
            return util_fail(why, whylen, "PUBLIC KEY block is not a valid SubjectPublicKeyInfo");
        }
    } else if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0) {
        X509 *x = d2i_X509(NULL, &p, dlen);
        if (!x || p != data + dlen) {
            X509_free(x);
            ERR_clear_error();
            return util_fail(why, whylen, "CERTIFICATE block is not a valid X.509 certificate");
        }
        pkey = X509_get_pubkey(x);
        X509_free(x);
        if (!pkey) {
            ERR_clear_error();
            return util_fail(why, whylen, "certificate holds no usable public key");
        }
    } else {
        return util_fail(why, whylen, "unsupported PEM block \"%.40s\" (PUBLIC KEY or CERTIFICATE expected)",
                    name);
    }

    struct key tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (classify_pkey(pkey, &tmp, why, whylen) != 0) {
        EVP_PKEY_free(pkey);
        return -1;
    }
    struct key *k = stage_push(st);
    k->type = tmp.type;
    k->curve_nid = tmp.curve_nid;
    k->pkey = pkey;
    return 0;
}

static int load_pem(struct keystore *st, const char *path, const unsigned char *buf,
                    size_t len, char *err, size_t errlen)
{
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    char why[200];
    int nblocks = 0, rc = 0;

    if (!bio)
        return util_fail(err, errlen, "%s: out of memory", path);
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *data = NULL;
        long dlen = 0;

        ERR_clear_error();
        if (!PEM_read_bio(bio, &name, &header, &data, &dlen)) {
            unsigned long e = ERR_peek_last_error();
            ERR_clear_error();
            /* "no start line" is how PEM_read_bio says: no further block */
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
                break;
            if (nblocks == 0)
                rc = util_fail(err, errlen, "%s: malformed PEM data", path);
            else
                rc = util_fail(err, errlen, "%s: malformed PEM data after block %d", path, nblocks);
            break;
        }
        nblocks++;
        rc = pem_block(st, name, data, dlen, why, sizeof(why));
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(data, (size_t)dlen);
        if (rc != 0) {
            if (nblocks == 1)
                util_fail(err, errlen, "%s: %s", path, why);
            else
                util_fail(err, errlen, "%s: PEM block %d: %s", path, nblocks, why);
            break;
        }
        if (nblocks == 1)
            st->keys[st->nkeys - 1].source = util_xstrdup(path);
        else {
            char src[64];
            snprintf(src, sizeof(src), " (PEM block %d)", nblocks);
            size_t n = strlen(path) + strlen(src) + 1;
            char *s = util_xmalloc(n);
            snprintf(s, n, "%s%s", path, src);
            st->keys[st->nkeys - 1].source = s;
        }
    }
    BIO_free(bio);
    if (rc == 0 && nblocks == 0)
        rc = util_fail(err, errlen, "%s: no PEM public key or certificate found", path);
    return rc;
}

/* ---- JWKS --------------------------------------------------------------- */

static unsigned char *jwk_b64(const json_t *jwk, const char *member, size_t *len,
                              const char *what, char *why, size_t whylen)
{
    const json_t *v = json_object_get(jwk, member);
    unsigned char *out;

    if (!v) {
        util_fail(why, whylen, "%s key lacks \"%s\"", what, member);
        return NULL;
    }
    if (!json_is_string(v) ||
        !(out = util_b64url_decode(json_string_value(v), json_string_length(v), len))) {
        util_fail(why, whylen, "%s key has malformed \"%s\" (base64url expected)", what, member);
        return NULL;
    }
    return out;
}

static int jwk_alg_ok(const char *alg, enum key_type type, int curve_nid)
{
    switch (type) {
    case KEY_HMAC:
        return !strcmp(alg, "HS256") || !strcmp(alg, "HS384") || !strcmp(alg, "HS512");
    case KEY_RSA:
        return !strcmp(alg, "RS256") || !strcmp(alg, "RS384") || !strcmp(alg, "RS512") ||
               !strcmp(alg, "PS256") || !strcmp(alg, "PS384") || !strcmp(alg, "PS512");
    case KEY_ED25519:
        return !strcmp(alg, "EdDSA");
    case KEY_EC:
        return (!strcmp(alg, "ES256") && curve_nid == NID_X9_62_prime256v1) ||
               (!strcmp(alg, "ES384") && curve_nid == NID_secp384r1) ||
               (!strcmp(alg, "ES512") && curve_nid == NID_secp521r1);
    }
    return 0;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;

    if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (pkey) {
        /* RSA: n odd, e sane; EC: the point is on the curve. */
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!chk || EVP_PKEY_public_check(chk) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
        EVP_PKEY_CTX_free(chk);
    }
    ERR_clear_error();
    return pkey;
}

static EVP_PKEY *jwk_rsa(const json_t *jwk, char *why, size_t whylen)
{
    size_t nlen = 0, elen = 0;
    unsigned char *n = NULL, *e = NULL;
    BIGNUM *bn_n = NULL, *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;

    if (!(n = jwk_b64(jwk, "n", &nlen, "RSA", why, whylen)) ||
        !(e = jwk_b64(jwk, "e", &elen, "RSA", why, whylen)))
        goto out;
    if (nlen == 0 || elen == 0 || elen > 8) {
        util_fail(why, whylen, "RSA key has an invalid modulus or exponent");
        goto out;
    }
    bn_n = BN_bin2bn(n, (int)nlen, NULL);
    bn_e = BN_bin2bn(e, (int)elen, NULL);
    bld = OSSL_PARAM_BLD_new();
    if (!bn_n || !bn_e || !bld ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
        util_fail(why, whylen, "out of memory");
        goto out;
    }
    if (BN_num_bits(bn_n) < RSA_MIN_BITS) {
        util_fail(why, whylen, "RSA key is %d bits, at least %d are required",
             BN_num_bits(bn_n), RSA_MIN_BITS);
        goto out;
    }
    if (!(pkey = pkey_fromdata("RSA", bld)))
        util_fail(why, whylen, "RSA key is not a valid public key");
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
    free(e);
    ERR_clear_error();
    return pkey;
}

static EVP_PKEY *jwk_ec(const json_t *jwk, int *nidp, char *why, size_t whylen)
{
    const json_t *crv = json_object_get(jwk, "crv");
    unsigned char *x = NULL, *y = NULL, pub[1 + 2 * 66];
    size_t xlen = 0, ylen = 0, coord = 0;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    int nid = NID_undef;

    if (!json_is_string(crv)) {
        util_fail(why, whylen, "EC key lacks \"crv\"");
        return NULL;
    }
    if (!strcmp(json_string_value(crv), "P-256"))
        nid = NID_X9_62_prime256v1;
    else if (!strcmp(json_string_value(crv), "P-384"))
        nid = NID_secp384r1;
    else if (!strcmp(json_string_value(crv), "P-521"))
        nid = NID_secp521r1;
    if (!supported_curve(nid, &coord)) {
        util_fail(why, whylen, "EC key has unsupported crv \"%.32s\"", json_string_value(crv));
        return NULL;
    }
    if (!(x = jwk_b64(jwk, "x", &xlen, "EC", why, whylen)) ||
        !(y = jwk_b64(jwk, "y", &ylen, "EC", why, whylen)))
        goto out;
    if (xlen != coord || ylen != coord) {
        util_fail(why, whylen, "EC key coordinates must be %zu bytes each for %s",
             coord, json_string_value(crv));
        goto out;
    }
    pub[0] = 0x04; /* uncompressed point */
    memcpy(pub + 1, x, coord);
    memcpy(pub + 1 + coord, y, coord);
    bld = OSSL_PARAM_BLD_new();
    if (!bld ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(nid), 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * coord)) {
        util_fail(why, whylen, "out of memory");
        goto out;
    }
    if (!(pkey = pkey_fromdata("EC", bld)))
        util_fail(why, whylen, "EC key is not a valid point on %s", json_string_value(crv));
out:
    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);
    ERR_clear_error();
    *nidp = nid;
    return pkey;
}

/* RFC 8037 §2: an OKP public key is the raw x; Ed25519's is 32 bytes.
 * OpenSSL takes any 32 bytes here: a point that does not decode fails
 * every verification, as a wrong key would. */
static EVP_PKEY *jwk_ed25519(const json_t *jwk, char *why, size_t whylen)
{
    size_t xlen = 0;
    unsigned char *x = jwk_b64(jwk, "x", &xlen, "OKP", why, whylen);
    EVP_PKEY *pkey = NULL;

    if (!x)
        return NULL;
    if (xlen != 32)
        util_fail(why, whylen, "Ed25519 key \"x\" must be 32 bytes");
    else if (!(pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, xlen)))
        util_fail(why, whylen, "Ed25519 key is not a valid public key");
    free(x);
    ERR_clear_error();
    return pkey;
}

static int jwk_opt_string(const json_t *jwk, const char *member, const char **out,
                          char *why, size_t whylen)
{
    const json_t *v = json_object_get(jwk, member);

    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return util_fail(why, whylen, "\"%s\" is not a string", member);
    *out = json_string_value(v);
    return 0;
}

/* 1: key staged, 0: key skipped on purpose, -1: error (why filled). */
static int load_jwk(struct keystore *st, const json_t *jwk, const char *source, size_t idx,
                    char *why, size_t whylen)
{
    const char *kty, *use, *kid, *alg;
    struct key tmp;

    memset(&tmp, 0, sizeof(tmp));
    if (!json_is_object(jwk))
        return util_fail(why, whylen, "not a JSON object");
    if (jwk_opt_string(jwk, "kty", &kty, why, whylen) != 0)
        return -1;
    if (!kty)
        return util_fail(why, whylen, "lacks \"kty\"");
    if (jwk_opt_string(jwk, "use", &use, why, whylen) != 0 ||
        jwk_opt_string(jwk, "kid", &kid, why, whylen) != 0 ||
        jwk_opt_string(jwk, "alg", &alg, why, whylen) != 0)
        return -1;
    /* Encryption keys and key types we cannot verify with (OKP X25519 or
     * Ed448, ...) are normal in a provider's JWKS: not ours to judge. */
    if (use && strcmp(use, "sig") != 0)
        return 0;
    if (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0 && strcmp(kty, "oct") != 0 &&
        strcmp(kty, "OKP") != 0)
        return 0;
    if (!strcmp(kty, "OKP")) {
        const json_t *crv = json_object_get(jwk, "crv");
        if (!json_is_string(crv))
            return util_fail(why, whylen, "OKP key lacks \"crv\"");
        if (strcmp(json_string_value(crv), "Ed25519") != 0)
            return 0;
    }
    if (strcmp(kty, "oct") != 0 && json_object_get(jwk, "d"))
        return util_fail(why, whylen, "%s key holds private key material (\"d\"); "
                    "publish only public keys", kty);

    if (!strcmp(kty, "RSA")) {
        tmp.type = KEY_RSA;
        if (!(tmp.pkey = jwk_rsa(jwk, why, whylen)))
            return -1;
    } else if (!strcmp(kty, "EC")) {
        tmp.type = KEY_EC;
        if (!(tmp.pkey = jwk_ec(jwk, &tmp.curve_nid, why, whylen)))
            return -1;
    } else if (!strcmp(kty, "OKP")) {
        tmp.type = KEY_ED25519;
        if (!(tmp.pkey = jwk_ed25519(jwk, why, whylen)))
            return -1;
    } else {
        tmp.type = KEY_HMAC;
        if (!(tmp.secret = jwk_b64(jwk, "k", &tmp.secret_len, "oct", why, whylen)))
            return -1;
        if (tmp.secret_len == 0) {
            key_clear(&tmp);
            return util_fail(why, whylen, "oct key has an empty \"k\"");
        }
    }
    if (alg && !jwk_alg_ok(alg, tmp.type, tmp.curve_nid)) {
        key_clear(&tmp);
        return util_fail(why, whylen, "alg \"%.32s\" is unknown or does not fit the %s key",
                    alg, kty);
    }
    tmp.kid = kid ? util_xstrdup(kid) : NULL;
    tmp.alg = alg ? util_xstrdup(alg) : NULL;
    size_t n = strlen(source) + 32;
    tmp.source = util_xmalloc(n);
    snprintf(tmp.source, n, "%s keys[%zu]", source, idx);
    *stage_push(st) = tmp;
    return 1;
}

int keystore_add_jwks(struct keystore *ks, const char *json, size_t len,
                      const char *source, char *err, size_t errlen)
{
    struct keystore st = { NULL, 0 };
    json_error_t je;
    json_t *doc, *keys;
    size_t i, skipped = 0;
    char why[200];
    int rc = 0;

    /* jansson's error text quotes the input near the error: keep to line/column. */
    doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return util_fail(err, errlen, "%s: invalid JSON at line %d, column %d", source, je.line, je.column);
    keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        json_decref(doc);
        return util_fail(err, errlen, "%s: not a JWKS (no \"keys\" array)", source);
    }
    for (i = 0; i < json_array_size(keys); i++) {
        int r = load_jwk(&st, json_array_get(keys, i), source, i, why, sizeof(why));
        if (r < 0) {
            rc = util_fail(err, errlen, "%s: keys[%zu]: %s", source, i, why);
            break;
        }
        if (r == 0)
            skipped++;
    }
    json_decref(doc);
    if (rc == 0 && st.nkeys == 0)
        rc = util_fail(err, errlen, "%s: JWKS holds no usable signing key (%zu skipped)", source, skipped);
    if (rc == 0)
        stage_commit(ks, &st);
    else
        stage_discard(&st);
    return rc;
}

/* ---- files -------------------------------------------------------------- */

int keystore_add_key_file(struct keystore *ks, const char *path, char *err, size_t errlen)
{
    struct keystore st = { NULL, 0 };
    size_t len = 0, i = 0;
    unsigned char *buf = read_file(path, KEY_FILE_MAX, &len, err, errlen);
    int rc;

    if (!buf)
        return -1;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (i < len && buf[i] == '{') {
        rc = keystore_add_jwks(ks, (const char *)buf, len, path, err, errlen);
    } else {
        rc = load_pem(&st, path, buf, len, err, errlen);
        if (rc == 0)
            stage_commit(ks, &st);
        else
            stage_discard(&st);
    }
    /* A misplaced private key may have been read: do not leave it in the heap. */
    clear_free(buf, len);
    return rc;
}

int keystore_add_secret_file(struct keystore *ks, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    unsigned char *buf = read_file(path, SECRET_FILE_MAX, &len, err, errlen);

    if (!buf)
        return -1;
    if (len == 0) {
        free(buf);
        return util_fail(err, errlen, "%s: secret file is empty", path);
    }
    struct key *k;
    ks->keys = util_xrealloc(ks->keys, (ks->nkeys + 1) * sizeof(struct key));
    k = &ks->keys[ks->nkeys++];
    memset(k, 0, sizeof(*k));
    k->type = KEY_HMAC;
    k->secret = buf;
    k->secret_len = len;
    k->source = util_xstrdup(path);
    return 0;
}
