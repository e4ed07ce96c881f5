/* JWT verification: valid tokens of every algorithm, then every attack as
 * its own test point. Tokens are minted in-process with OpenSSL from the
 * fixture private keys in t/keys (WSGATE_UNIT_DATA, else ./t). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwt.h"
#include "keys.h"
#include "tap.h"
#include "util.h"

#define NOW 1700000000LL

static char datadir[1024];

static const char *fx(const char *name)
{
    static char buf[4][1200];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/keys/%s", datadir, name);
    return buf[i];
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    size_t n = 0, cap = 0, r;

    if (!f) {
        printf("# cannot open %s\n", path);
        exit(1);
    }
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

/* ---- minting -------------------------------------------------------------- */

struct signer {
    EVP_PKEY *pkey;             /* RS, ES */
    unsigned char *secret;      /* HS */
    size_t secret_len;
    int der;                    /* ES: emit DER instead of r||s (attack) */
    int pss_salt;               /* PS: salt length; 0 means the hash length (RFC 7518) */
};

static struct signer rsa, rsa2, ec256, ec384, ec521, hmac, hmac2, rsa_pem_as_secret;
static struct signer ed, ed2, ed_pem_as_secret;

static void load_priv(struct signer *s, const char *name)
{
    FILE *f = fopen(fx(name), "r");
    s->pkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!s->pkey) {
        printf("# cannot read %s\n", fx(name));
        exit(1);
    }
}

static const EVP_MD *md_of(const char *alg)
{
    if (!strcmp(alg + 2, "384"))
        return EVP_sha384();
    if (!strcmp(alg + 2, "512"))
        return EVP_sha512();
    return EVP_sha256();
}

static unsigned char *sign(const char *alg, const struct signer *s, const char *in, size_t *siglen)
{
    unsigned char *sig = malloc(1024);
    size_t n = 1024;

    if (alg[0] == 'H') {
        unsigned int m = 0;
        HMAC(md_of(alg), s->secret, (int)s->secret_len, (const unsigned char *)in, strlen(in), sig, &m);
        *siglen = m;
        return sig;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ed25519 = EVP_PKEY_is_a(s->pkey, "ED25519");
    /* EdDSA signs the input itself; PS* is PSS with MGF1 of the same hash. */
    if (EVP_DigestSignInit(ctx, &pctx, ed25519 ? NULL : md_of(alg), NULL, s->pkey) != 1 ||
        (alg[0] == 'P' &&
         (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md_of(alg)) != 1 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, s->pss_salt ? s->pss_salt : RSA_PSS_SALTLEN_DIGEST) != 1)) ||
        EVP_DigestSign(ctx, sig, &n, (const unsigned char *)in, strlen(in)) != 1) {
        printf("# signing failed\n");
        exit(1);
    }
    EVP_MD_CTX_free(ctx);
    if (alg[0] == 'E' && alg[1] == 'S' && !s->der) {
        size_t c = EVP_PKEY_get_bits(s->pkey) == 521 ? 66 : (size_t)EVP_PKEY_get_bits(s->pkey) / 8;
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        unsigned char *raw = malloc(2 * c);
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)c);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + c, (int)c);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        n = 2 * c;
    }
    *siglen = n;
    return sig;
}

static char *b64(const char *s)
{
    return util_b64url_encode((const unsigned char *)s, strlen(s));
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s.%s", a, b, c);
    return t;
}

/* hdr and payload are JSON text; s == NULL leaves the signature empty. */
static char *mint_raw(const char *hdr, const char *payload, const char *sigalg, const struct signer *s)
{
    char *h = b64(hdr), *p = b64(payload), *in, *sb, *tok;
    size_t n = strlen(h) + strlen(p) + 2, siglen = 0;

    in = malloc(n);
    snprintf(in, n, "%s.%s", h, p);
    if (s) {
        unsigned char *sig = sign(sigalg, s, in, &siglen);
        sb = util_b64url_encode(sig, siglen);
        free(sig);
    } else {
        sb = strdup("");
    }
    tok = join3(h, p, sb);
    free(h);
    free(p);
    free(in);
    free(sb);
    return tok;
}

static char *mint_kid(const char *alg, const char *kid, const char *payload, const struct signer *s)
{
    char hdr[256];
    if (kid)
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg, kid);
    else
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    return mint_raw(hdr, payload, alg, s);
}

static char *mint(const char *alg, const char *payload, const struct signer *s)
{
    return mint_kid(alg, NULL, payload, s);
}

/* A standard payload valid at NOW. */
static const char *claims(void)
{
    static char buf[256];
    snprintf(buf, sizeof(buf),
             "{\"sub\":\"alice\",\"jti\":\"j-1\",\"iss\":\"https://auth.example.com/\","
             "\"aud\":\"chat\",\"iat\":%lld,\"exp\":%lld,\"roles\":[\"chat\",\"admin\"],\"n\":42}",
             NOW - 10, NOW + 600);
    return buf;
}

/* Segment i (0..2) of tok replaced by seg. */
static char *replace_seg(const char *tok, int i, const char *seg)
{
    char *copy = strdup(tok), *parts[3], *save = NULL, *t;
    parts[0] = strtok_r(copy, ".", &save);
    parts[1] = strtok_r(NULL, ".", &save);
    parts[2] = strtok_r(NULL, ".", &save);
    if (!parts[2])
        parts[2] = "";
    parts[i] = (char *)seg;
    t = join3(parts[0], parts[1], parts[2]);
    free(copy);
    return t;
}

static unsigned char *seg_decode(const char *tok, int i, size_t *len)
{
    const char *s = tok;
    for (int k = 0; k < i; k++)
        s = strchr(s, '.') + 1;
    const char *e = strchr(s, '.');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    return util_b64url_decode(s, n, len);
}

/* ---- checking -------------------------------------------------------------- */

/* Runs one verification; want NULL means it must pass. Takes tok. */
static void expect(const struct jwt_policy *pol, char *tok, const char *want, const char *name)
{
    struct jwt_claims c;
    char err[128] = "";
    int rc = jwt_verify(pol, tok, strlen(tok), NOW, &c, err, sizeof(err));

    if (!want) {
        ok(rc == 0 && c.payload != NULL, "%s: accepted", name);
        if (rc != 0)
            printf("#   err: %s\n", err);
        jwt_claims_clear(&c);
    } else {
        int good = rc == -1 && strcmp(err, want) == 0 && c.payload == NULL && c.payload_raw == NULL;
        ok(good, "%s: rejected with \"%s\"", name, want);
        if (!good)
            printf("#   rc %d, err \"%s\"\n", rc, err);
    }
    free(tok);
}

static struct keystore *store(const char *const *files)
{
    struct keystore *ks = keystore_new();
    char err[512];

    for (; *files; files++) {
        const char *f = *files;
        int rc = strstr(f, ".secret") ? keystore_add_secret_file(ks, fx(f), err, sizeof(err))
                                       : keystore_add_key_file(ks, fx(f), err, sizeof(err));
        if (rc != 0) {
            printf("# %s\n", err);
            exit(1);
        }
    }
    return ks;
}

#define ALL_ALGS ((1u << JWT_ALG_COUNT) - 1)

static struct jwt_policy policy(const struct keystore *ks, unsigned algs)
{
    struct jwt_policy p;
    memset(&p, 0, sizeof(p));
    p.algs = algs;
    p.keys = ks;
    return p;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_names(void)
{
    is_int(jwt_alg_from_name("RS256"), JWT_RS256, "jwt_alg_from_name RS256");
    is_int(jwt_alg_from_name("ES512"), JWT_ES512, "jwt_alg_from_name ES512");
    is_int(jwt_alg_from_name("rs256"), -1, "jwt_alg_from_name is case-sensitive");
    is_int(jwt_alg_from_name("none"), -1, "jwt_alg_from_name none is unknown");
    is_int(jwt_alg_from_name("PS256"), JWT_PS256, "jwt_alg_from_name PS256");
    is_int(jwt_alg_from_name("PS512"), JWT_PS512, "jwt_alg_from_name PS512");
    is_int(jwt_alg_from_name("EdDSA"), JWT_EDDSA, "jwt_alg_from_name EdDSA");
    is_int(jwt_alg_from_name("EDDSA"), -1, "jwt_alg_from_name EDDSA is unknown (case)");
    is_int(jwt_alg_from_name("Ed25519"), -1, "jwt_alg_from_name Ed25519 is unknown (not a JWS alg)");
    is_str(jwt_alg_name(JWT_EDDSA), "EdDSA", "jwt_alg_name EdDSA");
    is_str(jwt_alg_name(JWT_HS384), "HS384", "jwt_alg_name HS384");
    ok(jwt_alg_name(JWT_ALG_COUNT) == NULL && jwt_alg_name(-1) == NULL, "jwt_alg_name out of range");
}

static void test_valid(void)
{
    static const char *files[] = { "rsa.pub", "ec256.pub", "ec384.pub", "ec521.pub", "hmac.secret",
                                   "ed25519.pub", NULL };
    struct keystore *ks = store(files);
    struct jwt_policy p = policy(ks, ALL_ALGS);
    static const struct { const char *alg; struct signer *s; } v[] = {
        { "RS256", &rsa }, { "RS384", &rsa }, { "RS512", &rsa },
        { "PS256", &rsa }, { "PS384", &rsa }, { "PS512", &rsa }, { "EdDSA", &ed },
        { "ES256", &ec256 }, { "ES384", &ec384 }, { "ES512", &ec521 },
        { "HS256", &hmac }, { "HS384", &hmac }, { "HS512", &hmac },
    };
    char name[64];

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        snprintf(name, sizeof(name), "valid %s", v[i].alg);
        expect(&p, mint(v[i].alg, claims(), v[i].s), NULL, name);
    }

    /* claims filled in */
    struct jwt_claims c;
    char err[128];
    char *tok = mint("RS256", claims(), &rsa);
    is_int(jwt_verify(&p, tok, strlen(tok), NOW, &c, err, sizeof(err)), 0, "claims: verified");
    is_str(c.sub, "alice", "claims: sub");
    is_str(c.jti, "j-1", "claims: jti");
    ok(c.has_exp && c.exp == NOW + 600 && c.has_iat && c.iat == NOW - 10 && !c.has_nbf,
       "claims: exp, iat, no nbf");
    ok(c.payload_raw && c.payload_raw_len == strlen(claims()) && !strcmp(c.payload_raw, claims()),
       "claims: payload_raw is the signed payload text");
    jwt_claims_clear(&c);
    ok(c.payload == NULL && c.payload_raw == NULL, "jwt_claims_clear resets");
    jwt_claims_clear(NULL);
    free(tok);

    tok = mint("RS256", "{\"sub\":7,\"exp\":1700000600.9,\"nbf\":1699999999.5}", &rsa);
    is_int(jwt_verify(&p, tok, strlen(tok), NOW, &c, err, sizeof(err)), 0, "fractional dates verified");
    ok(c.exp == NOW + 600 && c.nbf == NOW - 1, "fractional dates floored");
    is_str(c.sub, "7", "numeric sub in its decimal form");
    jwt_claims_clear(&c);
    free(tok);

    keystore_free(ks);
}

static void test_none(void)
{
    static const char *files[] = { "rsa.pub", "hmac.secret", NULL };
    struct keystore *ks = store(files);
    struct jwt_policy p = policy(ks, ALL_ALGS);
    static const char *names[] = { "none", "None", "NONE", "nOnE" };
    char hdr[64], name[80];

    for (size_t i = 0; i < 4; i++) {
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", names[i]);
        char *t = mint_raw(hdr, claims(), NULL, NULL);
        snprintf(name, sizeof(name), "alg %s, empty signature", names[i]);
        expect(&p, t, "algorithm not allowed", name);
        /* same, with a signature segment that some verifiers ignore */
        t = mint_raw(hdr, claims(), "HS256", &hmac);
        snprintf(name, sizeof(name), "alg %s, with a signature", names[i]);
        expect(&p, t, "algorithm not allowed", name);
    }
    expect(&p, mint_raw("{\"typ\":\"JWT\"}", claims(), "HS256", &hmac), "malformed token",
           "header without alg");
    expect(&p, mint_raw("{\"alg\":256}", claims(), "HS256", &hmac), "malformed token",
           "alg not a string");
    keystore_free(ks);
}

static void test_confusion(void)
{
    static const char *pub_only[] = { "rsa.pub", NULL };
    static const char *pub_and_secret[] = { "rsa.pub", "hmac.secret", NULL };
    static const char *hmac_only[] = { "hmac.secret", NULL };
    struct keystore *ks = store(pub_only);
    struct jwt_policy p = policy(ks, ALL_ALGS);

    expect(&p, mint("HS256", claims(), &rsa_pem_as_secret), "no matching key",
           "key confusion: HS256 signed with the RSA public key PEM, HS256 allowed");
    p.algs = 1u << JWT_RS256;
    expect(&p, mint("HS256", claims(), &rsa_pem_as_secret), "algorithm not allowed",
           "key confusion: HS256 signed with the RSA public key PEM, HS256 not allowed");
    keystore_free(ks);

    ks = store(pub_and_secret);
    p = policy(ks, ALL_ALGS);
    expect(&p, mint("HS256", claims(), &rsa_pem_as_secret), "bad signature",
           "key confusion: RSA PEM as secret, store also has a real HMAC secret");
    keystore_free(ks);

    ks = store(hmac_only);
    p = policy(ks, ALL_ALGS);
    expect(&p, mint("RS256", claims(), &rsa), "no matching key", "RS256 token against HMAC-only store");
    expect(&p, mint("ES256", claims(), &ec256), "no matching key", "ES256 token against HMAC-only store");
    keystore_free(ks);

    static const char *ec384_only[] = { "ec384.pub", NULL };
    ks = store(ec384_only);
    p = policy(ks, ALL_ALGS);
    expect(&p, mint("ES256", claims(), &ec256), "no matching key", "ES256 token against a P-384 key");
    keystore_free(ks);
}

static void test_signatures(void)
{
    static const char *files[] = { "rsa.pub", "ec256.pub", "hmac.secret", NULL };
    struct keystore *ks = store(files);
    struct jwt_policy p = policy(ks, ALL_ALGS);
    char *tok, *t;
    unsigned char *sig;
    size_t siglen;

    p.algs = (1u << JWT_RS256);
    expect(&p, mint("ES256", claims(), &ec256), "algorithm not allowed", "alg not in allow-list (ES256)");
    expect(&p, mint("HS256", claims(), &hmac), "algorithm not allowed", "alg not in allow-list (HS256)");
    expect(&p, mint("PS256", claims(), &rsa), "algorithm not allowed", "PS256 on an RS256-only policy");
    expect(&p, mint("EdDSA", claims(), &ed), "algorithm not allowed", "EdDSA on an RS256-only policy");
    p.algs = ALL_ALGS;

    /* one bit flipped in the signature */
    tok = mint("RS256", claims(), &rsa);
    sig = seg_decode(tok, 2, &siglen);
    sig[siglen / 2] ^= 0x01;
    char *sb = util_b64url_encode(sig, siglen);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "RS256 signature with one bit flipped");
    free(sb);
    free(sig);
    free(tok);

    tok = mint("HS256", claims(), &hmac);
    sig = seg_decode(tok, 2, &siglen);
    sig[0] ^= 0x80;
    sb = util_b64url_encode(sig, siglen);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "HS256 signature with one bit flipped");
    free(sb);
    free(sig);
    free(tok);

    tok = mint("ES256", claims(), &ec256);
    sig = seg_decode(tok, 2, &siglen);
    sig[siglen - 1] ^= 0x01;
    sb = util_b64url_encode(sig, siglen);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "ES256 signature with one bit flipped");
    free(sb);
    free(sig);
    free(tok);

    expect(&p, mint("RS256", claims(), &rsa2), "bad signature", "RS256 signed with another key (rsa2)");
    expect(&p, mint("HS256", claims(), &hmac2), "bad signature", "HS256 signed with another secret");

    tok = mint("RS256", claims(), &rsa);
    *strrchr(tok, '.') = '\0';
    t = malloc(strlen(tok) + 2);
    sprintf(t, "%s.", tok);
    expect(&p, t, "bad signature", "signature stripped (trailing dot kept)");
    expect(&p, tok, "malformed token", "signature stripped (two segments)");

    /* header tampered after signing: same alg, extra field */
    tok = mint("RS256", claims(), &rsa);
    char *h = b64("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x\":1}");
    expect(&p, replace_seg(tok, 0, h), "bad signature", "header tampered after signing");
    free(h);
    char *pl = b64("{\"sub\":\"mallory\",\"exp\":1700000600}");
    expect(&p, replace_seg(tok, 1, pl), "bad signature", "payload tampered after signing");
    free(pl);
    free(tok);

    /* ES: only the raw r||s of the curve's size */
    tok = mint("ES256", claims(), &ec256);
    sig = seg_decode(tok, 2, &siglen);
    sb = util_b64url_encode(sig, siglen - 1);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "ES256 signature one byte short");
    free(sb);
    unsigned char longer[65];
    memcpy(longer, sig, 64);
    longer[64] = 0;
    sb = util_b64url_encode(longer, 65);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "ES256 signature one byte long");
    free(sb);
    free(sig);
    free(tok);
    ec256.der = 1;
    expect(&p, mint("ES256", claims(), &ec256), "bad signature", "ES256 DER-encoded signature rejected");
    ec256.der = 0;

    /* attacker's key embedded in the header is never used */
    size_t jl;
    unsigned char *jwks = slurp(fx("jwks-rotated.json"), &jl);
    json_t *doc = json_loadb((const char *)jwks, jl, 0, NULL);
    json_t *hj = json_pack("{s:s, s:O}", "alg", "RS256", "jwk", json_array_get(json_object_get(doc, "keys"), 0));
    char *hs = json_dumps(hj, JSON_COMPACT);
    expect(&p, mint_raw(hs, claims(), "RS256", &rsa2), "bad signature",
           "embedded jwk header (attacker's key) ignored");
    free(hs);
    json_decref(hj);
    json_decref(doc);
    free(jwks);

    keystore_free(ks);
}

/* PS* and EdDSA next to the families they must never be mistaken for. */
static void test_pss_eddsa(void)
{
    static const char *rsa_only[] = { "rsa.pub", NULL };
    static const char *ed_only[] = { "ed25519.pub", NULL };
    static const char *mixed[] = { "jwks-okp.json", "rsa.pub", NULL };
    struct keystore *ks = store(rsa_only);
    struct jwt_policy p = policy(ks, ALL_ALGS);
    char *tok, *sb;
    unsigned char *sig;
    size_t siglen;

    /* The signature scheme is what the header says, never guessed from
     * the bytes: a PKCS#1 v1.5 signature is no PSS one, and back. */
    expect(&p, mint_raw("{\"alg\":\"PS256\"}", claims(), "RS256", &rsa), "bad signature",
           "RS256 signature presented as PS256");
    expect(&p, mint_raw("{\"alg\":\"RS256\"}", claims(), "PS256", &rsa), "bad signature",
           "PS256 signature presented as RS256");
    expect(&p, mint_raw("{\"alg\":\"PS384\"}", claims(), "PS256", &rsa), "bad signature",
           "PS256 signature presented as PS384");
    expect(&p, mint("PS256", claims(), &rsa2), "bad signature", "PS256 signed with another key (rsa2)");
    /* RFC 7518 §3.5: the salt is as long as the hash, nothing else. */
    rsa.pss_salt = 20;
    expect(&p, mint("PS256", claims(), &rsa), "bad signature", "PS256 with a 20-byte salt");
    rsa.pss_salt = RSA_PSS_SALTLEN_MAX;
    expect(&p, mint("PS256", claims(), &rsa), "bad signature", "PS256 with the longest salt");
    rsa.pss_salt = 0;
    expect(&p, mint("EdDSA", claims(), &ed), "no matching key", "EdDSA with an RSA key set");
    expect(&p, mint("HS256", claims(), &ed_pem_as_secret), "no matching key",
           "HS256 signed with an Ed25519 public key PEM, RSA key set");
    tok = mint("PS256", claims(), &rsa);
    sig = seg_decode(tok, 2, &siglen);
    sig[siglen / 3] ^= 0x10;
    sb = util_b64url_encode(sig, siglen);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "PS256 signature with one bit flipped");
    free(sb);
    free(sig);
    free(tok);
    /* The per-thread verify contexts are per (key, alg): alternating
     * RS256 and PS256 on one key keeps each scheme its own padding. */
    int alternating = 1;
    for (int i = 0; i < 20; i++) {
        struct jwt_claims c;
        char err[128];
        const char *alg = i % 2 ? "PS256" : "RS256";
        char *t = mint(alg, claims(), &rsa);
        char *lie = mint_raw(i % 2 ? "{\"alg\":\"RS256\"}" : "{\"alg\":\"PS256\"}", claims(), alg, &rsa);
        alternating &= jwt_verify(&p, t, strlen(t), NOW, &c, err, sizeof(err)) == 0;
        jwt_claims_clear(&c);
        alternating &= jwt_verify(&p, lie, strlen(lie), NOW, &c, err, sizeof(err)) == -1;
        free(t);
        free(lie);
    }
    ok(alternating, "RS256 and PS256 alternating on one key: each verified with its own padding");
    keystore_free(ks);

    ks = store(ed_only);
    p = policy(ks, ALL_ALGS);
    expect(&p, mint("EdDSA", claims(), &ed2), "bad signature", "EdDSA signed by another Ed25519 key");
    expect(&p, mint("PS256", claims(), &rsa), "no matching key", "PS256 with an Ed25519 key set");
    expect(&p, mint("RS256", claims(), &rsa), "no matching key", "RS256 with an Ed25519 key set");
    expect(&p, mint("ES256", claims(), &ec256), "no matching key", "ES256 with an Ed25519 key set");
    expect(&p, mint("HS256", claims(), &ed_pem_as_secret), "no matching key",
           "key confusion: HS256 signed with the Ed25519 public key PEM");
    tok = mint("EdDSA", claims(), &ed);
    sig = seg_decode(tok, 2, &siglen);
    ok(siglen == 64, "EdDSA signature is 64 bytes");
    sb = util_b64url_encode(sig, 63);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "EdDSA signature one byte short");
    free(sb);
    unsigned char longer[65];
    memcpy(longer, sig, 64);
    longer[64] = 0;
    sb = util_b64url_encode(longer, 65);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "EdDSA signature one byte long");
    free(sb);
    sig[10] ^= 0x01;
    sb = util_b64url_encode(sig, 64);
    expect(&p, replace_seg(tok, 2, sb), "bad signature", "EdDSA signature with one bit flipped");
    free(sb);
    char *pl = b64("{\"sub\":\"mallory\",\"exp\":1700000600}");
    expect(&p, replace_seg(tok, 1, pl), "bad signature", "EdDSA payload tampered after signing");
    free(pl);
    free(sig);
    free(tok);
    p.algs = ALL_ALGS & ~(1u << JWT_EDDSA);
    expect(&p, mint("EdDSA", claims(), &ed), "algorithm not allowed", "EdDSA not in the allow-list");
    keystore_free(ks);

    /* jwks-okp.json: ed1 (EdDSA), ed2, rsa-ps (alg PS256); rsa.pub has no kid */
    ks = store(mixed);
    p = policy(ks, ALL_ALGS);
    expect(&p, mint_kid("EdDSA", "ed1", claims(), &ed), NULL, "EdDSA by kid ed1 (JWKS OKP)");
    expect(&p, mint_kid("EdDSA", "ed2", claims(), &ed2), NULL, "EdDSA by kid ed2 (JWKS OKP)");
    expect(&p, mint_kid("EdDSA", "ed2", claims(), &ed), "bad signature", "EdDSA by ed1's key, kid ed2");
    expect(&p, mint_kid("EdDSA", "rsa-ps", claims(), &ed), "no matching key",
           "alg EdDSA with a kid naming an RSA key");
    expect(&p, mint_kid("PS256", "ed1", claims(), &rsa), "no matching key",
           "alg PS256 with a kid naming an Ed25519 key");
    expect(&p, mint_kid("PS256", "rsa-ps", claims(), &rsa), NULL, "PS256 by kid rsa-ps");
    expect(&p, mint_kid("RS256", "rsa-ps", claims(), &rsa), "no matching key",
           "RS256 with the kid of a key pinned to PS256");
    expect(&p, mint_kid("PS384", "rsa-ps", claims(), &rsa), "no matching key",
           "PS384 with the kid of a key pinned to PS256");
    keystore_free(ks);
}

static void test_format(void)
{
    static const char *files[] = { "rsa.pub", "hmac.secret", NULL };
    struct keystore *ks = store(files);
    struct jwt_policy p = policy(ks, ALL_ALGS);
    char *tok, *t;

    tok = mint("HS256", claims(), &hmac);
    t = malloc(strlen(tok) + 8);
    /* payload with '=' padding inserted */
    char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    sprintf(t, "%.*s==%s", (int)(d2 - tok), tok, d2);
    expect(&p, t, "malformed token", "padding '=' in the payload segment");
    t = malloc(strlen(tok) + 8);
    sprintf(t, "%s=", tok);
    expect(&p, t, "malformed token", "padding '=' after the signature");
    t = malloc(strlen(tok) + 8);
    sprintf(t, "%s.%s", tok, "AAAA");
    expect(&p, t, "malformed token", "four segments");
    t = malloc(strlen(tok) + 8);
    sprintf(t, "%.*s", (int)(d2 - tok), tok);
    expect(&p, t, "malformed token", "two segments");
    t = malloc(strlen(tok) + 8);
    sprintf(t, ".%s", d1 + 1);
    expect(&p, t, "malformed token", "empty header segment");
    t = malloc(strlen(tok) + 8);
    sprintf(t, "%.*s.%s", (int)(d1 - tok), tok, d2);
    expect(&p, t, "malformed token", "empty payload segment");
    t = malloc(strlen(tok) + 8);
    sprintf(t, "%.*s %s", (int)(d1 - tok), tok, d1);
    expect(&p, t, "malformed token", "space inside a segment");
    expect(&p, strdup(""), "malformed token", "empty token");
    expect(&p, strdup("abc"), "malformed token", "one segment");
    expect(&p, strdup(".."), "malformed token", "only dots");
    free(tok);

    expect(&p, mint("HS256", "[\"sub\",\"alice\"]", &hmac), "malformed token", "payload a JSON array");
    expect(&p, mint("HS256", "\"alice\"", &hmac), "malformed token", "payload a JSON string");
    expect(&p, mint("HS256", "{\"sub\":\"a\"", &hmac), "malformed token", "payload not JSON");
    expect(&p, mint("HS256", "{\"sub\":\"a\",\"sub\":\"admin\"}", &hmac), "malformed token",
           "payload with a duplicate claim");
    expect(&p, mint_raw("[\"HS256\"]", claims(), "HS256", &hmac), "malformed token", "header a JSON array");
    expect(&p, mint_raw("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", claims(), "HS256", &hmac),
           "unsupported critical header", "crit header");
    expect(&p, mint_raw("{\"alg\":\"HS256\",\"kid\":7}", claims(), "HS256", &hmac),
           "malformed token", "kid not a string");

    /* 16 KiB limit */
    size_t n = 17 * 1024;
    char *big = malloc(n + 64);
    int off = sprintf(big, "{\"sub\":\"alice\",\"exp\":%lld,\"pad\":\"", NOW + 60);
    memset(big + off, 'x', n - (size_t)off);
    strcpy(big + n, "\"}");
    expect(&p, mint("HS256", big, &hmac), "malformed token", "token longer than 16 KiB");
    big[11 * 1024] = '\0';
    strcat(big, "\"}");
    expect(&p, mint("HS256", big, &hmac), NULL, "token of about 15 KiB");
    free(big);

    keystore_free(ks);
}

static void test_claims(void)
{
    static const char *files[] = { "hmac.secret", NULL };
    struct keystore *ks = store(files);
    struct jwt_policy p = policy(ks, ALL_ALGS);
    char pl[512];
    static char *req_exp[] = { "exp" }, *req_sub_exp[] = { "sub", "exp" };
    static char *auds[] = { "chat", "admin-api" };

#define MINT(...) (snprintf(pl, sizeof(pl), __VA_ARGS__), mint("HS256", pl, &hmac))
    expect(&p, MINT("{\"exp\":%lld}", NOW - 100), "token expired", "expired");
    expect(&p, MINT("{\"exp\":%lld}", NOW - 1), "token expired", "expired by one second");
    expect(&p, MINT("{\"exp\":%lld}", NOW), NULL, "exp equal to now");
    p.leeway = 30;
    expect(&p, MINT("{\"exp\":%lld}", NOW - 10), NULL, "expired but within leeway");
    expect(&p, MINT("{\"exp\":%lld}", NOW - 31), "token expired", "expired beyond leeway");
    p.leeway = 0;
    expect(&p, MINT("{\"nbf\":%lld}", NOW + 100), "token not yet valid", "nbf in the future");
    p.leeway = 30;
    expect(&p, MINT("{\"nbf\":%lld}", NOW + 10), NULL, "nbf within leeway");
    p.leeway = 0;
    expect(&p, MINT("{\"iat\":%lld}", NOW + 100), "token issued in the future", "iat in the future");
    expect(&p, MINT("{\"exp\":%s}", "9223372036854775807"), NULL, "exp at INT64_MAX (no overflow)");
    expect(&p, MINT("{\"exp\":%s}", "1e300"), NULL, "exp 1e300 saturates");
    expect(&p, MINT("{\"exp\":%s}", "-1e300"), "token expired", "exp -1e300 saturates");
    p.leeway = 9223372036854775807LL;
    expect(&p, MINT("{\"exp\":%lld}", NOW - 10), NULL, "huge leeway does not overflow");
    p.leeway = 0;

    expect(&p, MINT("{\"exp\":\"%lld\"}", NOW + 100), "malformed token", "exp a string");
    expect(&p, MINT("{\"nbf\":true}"), "malformed token", "nbf a boolean");
    expect(&p, MINT("{\"iat\":null}"), "malformed token", "iat null");

    p.require_claims = req_exp;
    p.nrequire_claims = 1;
    expect(&p, MINT("{\"sub\":\"alice\"}"), "missing claim exp", "missing exp when required");
    p.require_claims = req_sub_exp;
    p.nrequire_claims = 2;
    expect(&p, MINT("{\"exp\":%lld}", NOW + 100), "missing claim sub", "missing sub when required");
    expect(&p, MINT("{\"sub\":null,\"exp\":%lld}", NOW + 100), "missing claim sub", "null sub when required");
    expect(&p, MINT("{\"sub\":\"a\",\"exp\":%lld}", NOW + 100), NULL, "required claims present");
    p.nrequire_claims = 0;

    p.issuer = "https://auth.example.com/";
    expect(&p, MINT("{\"iss\":\"https://evil.example.com/\"}"), "issuer mismatch", "wrong iss");
    expect(&p, MINT("{\"sub\":\"a\"}"), "issuer mismatch", "missing iss when issuer set");
    expect(&p, MINT("{\"iss\":[\"https://auth.example.com/\"]}"), "issuer mismatch", "iss an array");
    expect(&p, MINT("{\"iss\":\"https://auth.example.com/\"}"), NULL, "right iss");
    p.issuer = NULL;

    p.audiences = auds;
    p.naudiences = 2;
    expect(&p, MINT("{\"aud\":\"billing\"}"), "audience mismatch", "wrong aud string");
    expect(&p, MINT("{\"aud\":\"admin-api\"}"), NULL, "aud string in the list");
    expect(&p, MINT("{\"aud\":[\"billing\",\"chat\"]}"), NULL, "aud array intersecting");
    expect(&p, MINT("{\"aud\":[\"billing\",\"mail\"]}"), "audience mismatch", "aud array not intersecting");
    expect(&p, MINT("{\"aud\":[]}"), "audience mismatch", "aud empty array");
    expect(&p, MINT("{\"aud\":[\"chat\",7]}"), "audience mismatch", "aud array with a non-string");
    expect(&p, MINT("{\"sub\":\"a\"}"), "audience mismatch", "aud missing when audiences set");
    p.naudiences = 0;
#undef MINT
    keystore_free(ks);
}

/* One accepted token: its sub and jti as the verifier gives them. */
static void expect_ids(const struct jwt_policy *pol, const char *payload, const char *sub,
                       const char *jti, const char *name)
{
    struct jwt_claims c;
    char err[128] = "";
    char *tok = mint("HS256", payload, &hmac);
    int rc = jwt_verify(pol, tok, strlen(tok), NOW, &c, err, sizeof(err));
    char *hs = rc == 0 ? jwt_claim_string(&c, "sub") : NULL;
    char *hj = rc == 0 ? jwt_claim_string(&c, "jti") : NULL;
    int good = rc == 0 &&
               (sub ? c.sub && !strcmp(c.sub, sub) && hs && !strcmp(hs, sub) : !c.sub && !hs) &&
               (jti ? c.jti && !strcmp(c.jti, jti) && hj && !strcmp(hj, jti) : !c.jti && !hj);

    ok(good, "%s: sub %s, jti %s (claims and header text)", name, sub ? sub : "none", jti ? jti : "none");
    if (!good)
        printf("#   rc %d err \"%s\" sub %s jti %s header %s/%s\n", rc, err,
               c.sub ? c.sub : "-", c.jti ? c.jti : "-", hs ? hs : "-", hj ? hj : "-");
    free(hs);
    free(hj);
    jwt_claims_clear(&c);
    free(tok);
}

/* Numeric sub and jti are one decimal text everywhere; numbers that name
 * no single integer refuse the token. Dates take any JSON number. */
static void test_numeric(void)
{
    static const char *files[] = { "hmac.secret", NULL };
    struct keystore *ks = store(files);
    struct jwt_policy p = policy(ks, ALL_ALGS);
    const char *bad_sub = "sub must be a string or an integer";
    const char *bad_jti = "jti must be a string or an integer";
    char pl[512];

    expect_ids(&p, "{\"sub\":12345,\"jti\":987654}", "12345", "987654", "integer sub and jti");
    expect_ids(&p, "{\"sub\":\"12345\",\"jti\":\"j\"}", "12345", "j", "string sub \"12345\"");
    expect_ids(&p, "{\"sub\":-42,\"jti\":0}", "-42", "0", "negative and zero");
    expect_ids(&p, "{\"sub\":9223372036854775807,\"jti\":-9223372036854775808}",
               "9223372036854775807", "-9223372036854775808", "int64 limits exactly");
    expect_ids(&p, "{\"sub\":12345.0,\"jti\":1.2345e4}", "12345", "12345", "integral reals as integers");
    expect_ids(&p, "{\"sub\":-0.0}", "0", NULL, "-0.0 is 0");
    expect_ids(&p, "{\"sub\":9007199254740991.0,\"jti\":-9007199254740991e0}", "9007199254740991",
               "-9007199254740991", "integral reals up to 2^53 - 1");
    expect_ids(&p, "{\"sub\":null,\"jti\":null}", NULL, NULL, "null sub and jti are absent");
    expect_ids(&p, "{\"n\":1}", NULL, NULL, "no sub, no jti");

    expect(&p, mint("HS256", "{\"sub\":1.5}", &hmac), bad_sub, "sub 1.5");
    expect(&p, mint("HS256", "{\"sub\":12345.000001}", &hmac), bad_sub, "sub with a tiny fraction");
    expect(&p, mint("HS256", "{\"sub\":1e20}", &hmac), bad_sub, "sub 1e20 (integral, not exact)");
    expect(&p, mint("HS256", "{\"sub\":9007199254740992.0}", &hmac), bad_sub,
           "integral real 2^53 (also what 2^53 + 1 rounds to)");
    expect(&p, mint("HS256", "{\"sub\":\"a\",\"jti\":-9007199254740994.0}", &hmac), bad_jti,
           "integral real below -2^53");
    expect(&p, mint("HS256", "{\"sub\":99999999999999999999}", &hmac), bad_sub, "integer sub beyond int64");
    expect(&p, mint("HS256", "{\"sub\":1e300}", &hmac), bad_sub, "sub 1e300");
    expect(&p, mint("HS256", "{\"sub\":true}", &hmac), bad_sub, "sub a boolean");
    expect(&p, mint("HS256", "{\"sub\":[\"a\"]}", &hmac), bad_sub, "sub an array");
    expect(&p, mint("HS256", "{\"sub\":{\"id\":1}}", &hmac), bad_sub, "sub an object");
    expect(&p, mint("HS256", "{\"sub\":\"a\",\"jti\":0.5}", &hmac), bad_jti, "jti 0.5");
    expect(&p, mint("HS256", "{\"sub\":\"a\",\"jti\":false}", &hmac), bad_jti, "jti a boolean");
    expect(&p, mint("HS256", "{\"sub\":1.5,\"exp\":1}", &hmac), bad_sub,
           "the sub reason comes before expiry");

    /* A number beyond int64 elsewhere makes every number a double: an
     * integer sub next to it keeps its decimal form. */
    expect_ids(&p, "{\"sub\":12345,\"jti\":7,\"exp\":99999999999999999999}", "12345", "7",
               "sub next to an exp beyond int64");
    expect(&p, mint("HS256", "{\"sub\":9007199254740993,\"exp\":99999999999999999999}", &hmac),
           bad_sub, "a sub that only int64 holds, next to an exp beyond it");

#define MINT(...) (snprintf(pl, sizeof(pl), __VA_ARGS__), mint("HS256", pl, &hmac))
    struct jwt_claims c;
    char err[128];
    static const struct { const char *json; int64_t want; } dates[] = {
        { "1e300", INT64_MAX }, { "-1e300", INT64_MIN }, { "99999999999999999999", INT64_MAX },
        { "-99999999999999999999", INT64_MIN }, { "9223372036854775807", INT64_MAX },
        { "9.3e18", INT64_MAX }, { "-9.3e18", INT64_MIN }, { "1e16", 10000000000000000LL },
        { "-1.5", -2 }, { "-1", -1 }, { "2.9999", 2 }, { "1.7976931348623157e308", INT64_MAX },
    };
    for (size_t i = 0; i < sizeof(dates) / sizeof(dates[0]); i++) {
        char *tok = MINT("{\"iat\":%s}", dates[i].json);
        int rc = jwt_verify(&p, tok, strlen(tok), NOW, &c, err, sizeof(err));
        int good = dates[i].want > NOW ? rc == -1 && !strcmp(err, "token issued in the future")
                                       : rc == 0 && c.has_iat && c.iat == dates[i].want;
        ok(good, "iat %s read as %lld", dates[i].json, (long long)dates[i].want);
        if (!good)
            printf("#   rc %d err %s iat %lld\n", rc, err, (long long)c.iat);
        jwt_claims_clear(&c);
        free(tok);
    }
    expect(&p, MINT("{\"exp\":99999999999999999999}"), NULL, "exp beyond int64 admitted");
    expect(&p, MINT("{\"exp\":1e16}"), NULL, "exp 1e16 (exp * 1000 beyond int64) admitted");
    expect(&p, MINT("{\"exp\":-99999999999999999999}"), "token expired", "exp far below int64");
    expect(&p, MINT("{\"exp\":-1}"), "token expired", "negative exp");
    expect(&p, MINT("{\"exp\":%lld.5}", NOW - 1), "token expired", "fractional exp a second ago");
    expect(&p, MINT("{\"exp\":1e400}"), "malformed token", "exp beyond a double's range");
    expect(&p, MINT("{\"nbf\":1e300}"), "token not yet valid", "nbf 1e300");
    expect(&p, MINT("{\"nbf\":-1e300}"), NULL, "nbf -1e300");
    expect(&p, MINT("{\"nbf\":99999999999999999999}"), "token not yet valid", "nbf beyond int64");
    expect(&p, MINT("{\"iat\":-5,\"nbf\":-5,\"exp\":1e300}"), NULL, "negative iat and nbf");
    p.leeway = INT64_MAX;
    expect(&p, MINT("{\"exp\":-1e300,\"nbf\":1e300,\"iat\":1e300}"), "token expired",
           "leeway INT64_MAX: exp INT64_MIN still expired (saturated, not wrapped)");
    expect(&p, MINT("{\"exp\":1,\"nbf\":1e300,\"iat\":1e300}"), NULL,
           "leeway INT64_MAX: nbf and iat at INT64_MAX within it");
    p.leeway = 0;

    /* expiry instant for the session timer */
    char *tok = MINT("{\"exp\":1e300}");
    ok(jwt_verify(&p, tok, strlen(tok), NOW, &c, err, sizeof(err)) == 0 &&
       jwt_expires_at(&c, 30) == INT64_MAX && jwt_expires_at(&c, INT64_MAX) == INT64_MAX,
       "jwt_expires_at saturates for exp 1e300");
    jwt_claims_clear(&c);
    free(tok);
    tok = MINT("{\"exp\":%lld}", NOW + 10);
    ok(jwt_verify(&p, tok, strlen(tok), NOW, &c, err, sizeof(err)) == 0 &&
       jwt_expires_at(&c, 5) == NOW + 15 && jwt_expires_at(&c, -5) == NOW + 10,
       "jwt_expires_at adds a positive leeway only");
    jwt_claims_clear(&c);
    free(tok);
    tok = MINT("{\"sub\":\"a\"}");
    ok(jwt_verify(&p, tok, strlen(tok), NOW, &c, err, sizeof(err)) == 0 &&
       jwt_expires_at(&c, 5) == INT64_MAX && jwt_expires_at(NULL, 0) == INT64_MAX,
       "jwt_expires_at without exp: never");
    jwt_claims_clear(&c);
    free(tok);
#undef MINT
    keystore_free(ks);
}

static void test_kid(void)
{
    static const char *files[] = { "jwks.json", "jwks-rotated.json", "rsa.pub", NULL };
    struct keystore *ks = store(files);
    struct jwt_policy p = policy(ks, ALL_ALGS);

    expect(&p, mint_kid("RS256", "rsa2", claims(), &rsa2), NULL, "kid rsa2 picks the rotated key");
    expect(&p, mint_kid("RS256", "rsa1", claims(), &rsa), NULL, "kid rsa1 picks the JWKS RSA key");
    expect(&p, mint_kid("ES256", "ec1", claims(), &ec256), NULL, "kid ec1 picks the JWKS EC key");
    expect(&p, mint_kid("HS256", "oct1", claims(), &hmac), NULL, "kid oct1 picks the JWKS oct key");
    expect(&p, mint_kid("RS256", "nope", claims(), &rsa), "no matching key", "unknown kid");
    expect(&p, mint_kid("RS256", "rsa1", claims(), &rsa2), "bad signature",
           "kid rsa1 but signed by rsa2: only rsa1 is tried");
    expect(&p, mint_kid("RS256", "oct1", claims(), &rsa), "no matching key",
           "kid of an oct key on an RS256 token");
    expect(&p, mint_kid("RS384", "rsa1", claims(), &rsa), "no matching key",
           "JWK alg RS256 restricts the key: RS384 finds none");
    expect(&p, mint("RS256", claims(), &rsa2), NULL, "no kid in token: every RSA key is tried");
    expect(&p, mint("RS384", claims(), &rsa), NULL, "no kid: key without kid/alg (rsa.pub) serves RS384");
    keystore_free(ks);

    /* a store without any kid ignores the token's kid */
    static const char *nokid[] = { "rsa.pub", NULL };
    ks = store(nokid);
    p = policy(ks, ALL_ALGS);
    expect(&p, mint_kid("RS256", "whatever", claims(), &rsa), NULL, "store without kids ignores token kid");
    keystore_free(ks);

    p = policy(NULL, ALL_ALGS);
    expect(&p, mint("RS256", claims(), &rsa), "no matching key", "policy without a key store");
}

static void test_claim_access(void)
{
    static const char *files[] = { "hmac.secret", NULL };
    struct keystore *ks = store(files);
    struct jwt_policy p = policy(ks, ALL_ALGS);
    struct jwt_claims c;
    char err[128];
    char *tok = mint("HS256",
                     "{\"sub\":\"alice\",\"roles\":[\"chat\",\"admin\",3,true],\"n\":42,\"f\":1.5,"
                     "\"g\":7.0,\"ok\":true,\"no\":false,\"obj\":{\"a\":1},\"nul\":null,"
                     "\"mixed\":[\"a\",{\"b\":1},null,2]}", &hmac);
    char *s;

    is_int(jwt_verify(&p, tok, strlen(tok), NOW, &c, err, sizeof(err)), 0, "claim access token verified");
    ok(jwt_claim_matches(&c, "sub", "alice"), "jwt_claim_matches string equal");
    ok(!jwt_claim_matches(&c, "sub", "alic"), "jwt_claim_matches string prefix is no match");
    ok(jwt_claim_matches(&c, "roles", "admin"), "jwt_claim_matches array contains");
    ok(!jwt_claim_matches(&c, "roles", "root"), "jwt_claim_matches array does not contain");
    ok(jwt_claim_matches(&c, "roles", "3") && jwt_claim_matches(&c, "roles", "true"),
       "jwt_claim_matches array with number and boolean elements");
    ok(jwt_claim_matches(&c, "n", "42"), "jwt_claim_matches number");
    ok(!jwt_claim_matches(&c, "n", "42.0"), "jwt_claim_matches number compares JSON text");
    ok(jwt_claim_matches(&c, "g", "7"), "jwt_claim_matches integral real as integer");
    ok(jwt_claim_matches(&c, "ok", "true") && jwt_claim_matches(&c, "no", "false"),
       "jwt_claim_matches booleans");
    ok(!jwt_claim_matches(&c, "obj", "{\"a\":1}") && !jwt_claim_matches(&c, "nul", "null"),
       "jwt_claim_matches never matches objects or null");
    ok(!jwt_claim_matches(&c, "absent", "x"), "jwt_claim_matches absent claim");

    s = jwt_claim_string(&c, "roles");
    is_str(s, "chat,admin,3,true", "jwt_claim_string joins an array with ','");
    free(s);
    s = jwt_claim_string(&c, "sub");
    is_str(s, "alice", "jwt_claim_string string");
    free(s);
    s = jwt_claim_string(&c, "n");
    is_str(s, "42", "jwt_claim_string number");
    free(s);
    s = jwt_claim_string(&c, "f");
    is_str(s, "1.5", "jwt_claim_string real");
    free(s);
    s = jwt_claim_string(&c, "g");
    is_str(s, "7", "jwt_claim_string integral real");
    free(s);
    s = jwt_claim_string(&c, "ok");
    is_str(s, "true", "jwt_claim_string boolean");
    free(s);
    s = jwt_claim_string(&c, "mixed");
    is_str(s, "a,2", "jwt_claim_string leaves objects and null out of arrays");
    free(s);
    ok(jwt_claim_string(&c, "obj") == NULL && jwt_claim_string(&c, "nul") == NULL &&
       jwt_claim_string(&c, "absent") == NULL, "jwt_claim_string NULL for object, null, absent");
    jwt_claims_clear(&c);
    ok(!jwt_claim_matches(&c, "sub", "alice") && jwt_claim_string(&c, "sub") == NULL,
       "claim access on cleared claims");
    free(tok);
    keystore_free(ks);
}

int main(void)
{
    const char *d = getenv("WSGATE_UNIT_DATA");
    snprintf(datadir, sizeof(datadir), "%s", d && *d ? d : "t");

    load_priv(&rsa, "rsa.key");
    load_priv(&rsa2, "rsa2.key");
    load_priv(&ec256, "ec256.key");
    load_priv(&ec384, "ec384.key");
    load_priv(&ec521, "ec521.key");
    hmac.secret = slurp(fx("hmac.secret"), &hmac.secret_len);
    hmac2.secret = slurp(fx("hmac2.secret"), &hmac2.secret_len);
    rsa_pem_as_secret.secret = slurp(fx("rsa.pub"), &rsa_pem_as_secret.secret_len);
    load_priv(&ed, "ed25519.key");
    load_priv(&ed2, "ed25519b.key");
    ed_pem_as_secret.secret = slurp(fx("ed25519.pub"), &ed_pem_as_secret.secret_len);

    test_names();
    test_valid();
    test_none();
    test_confusion();
    test_signatures();
    test_pss_eddsa();
    test_format();
    test_claims();
    test_numeric();
    test_kid();
    test_claim_access();

    struct signer *all[] = { &rsa, &rsa2, &ec256, &ec384, &ec521, &hmac, &hmac2, &rsa_pem_as_secret,
                             &ed, &ed2, &ed_pem_as_secret };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        EVP_PKEY_free(all[i]->pkey);
        free(all[i]->secret);
    }
    return tap_done();
}
