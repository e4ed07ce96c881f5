/* jwtmint: mints JWTs for the demo, the black-box tests and operators'
 * experiments. Normal tokens are signed by libjwt, an implementation
 * independent of src/jwt.c, so the tests cross-check our verifier; what
 * libjwt cannot express (alg "none", a header "alg" that lies about the
 * signature, and the PS* and EdDSA algorithms libjwt 1.10 does not have) is
 * built by hand with OpenSSL.
 *
 *   jwtmint -a ALG [-k KEYFILE] [-K KID] [-H HEADER_JSON] [-c CLAIMS_JSON]
 *           [-e EXP_IN_SECONDS] [-i] [-n COUNT]
 *
 * -a  HS256/384/512 (KEYFILE: raw secret bytes, exactly as stored, so
 *     "-a HS256 -k rsa.pub" makes the key-confusion forgery), RS256/384/512
 *     ES256/384/512, PS256/384/512 (RSA) and EdDSA (Ed25519) (KEYFILE: PEM
 *     private key), or none (no key, empty signature segment).
 * -K  header "kid".   -c  claims object (default {}).
 * -e  N: "exp" = now + N (N may be negative).   -i  "iat" = now.
 * -H  JSON object merged into the header last. It may even set "alg": the
 *     token is still signed as -a says, so -a RS256 -H '{"alg":"HS256"}'
 *     crafts a header/signature mismatch.
 * -n  N tokens, one per line, each with its own random "jti" (for the
 *     benchmarks' never-seen tokens, without a process per token).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "util.h"

/* libjwt 1.10's header is also called jwt.h, and the build puts src/ (with
 * wsgate's own jwt.h) first on the include path, so the few libjwt
 * functions used here are declared by hand, as in libjwt 1.10.2's jwt.h
 * (jwt_alg_t is an enum, passed and returned as int). */
typedef struct jwt jwt_t;
int jwt_new(jwt_t **jwt);
void jwt_free(jwt_t *jwt);
int jwt_add_grants_json(jwt_t *jwt, const char *json);
int jwt_add_headers_json(jwt_t *jwt, const char *json);
int jwt_set_alg(jwt_t *jwt, int alg, const unsigned char *key, int len);
int jwt_str_alg(const char *alg);
char *jwt_encode_str(jwt_t *jwt);

enum family { FAM_NONE, FAM_HS, FAM_RS, FAM_ES, FAM_PS, FAM_ED };

struct alg {
    const char *name;
    enum family fam;
    size_t coord;           /* ES: bytes of r and of s */
    const EVP_MD *(*md)(void);
};

static const struct alg algs[] = {
    { "none", FAM_NONE, 0, NULL },
    { "HS256", FAM_HS, 0, EVP_sha256 }, { "HS384", FAM_HS, 0, EVP_sha384 },
    { "HS512", FAM_HS, 0, EVP_sha512 },
    { "RS256", FAM_RS, 0, EVP_sha256 }, { "RS384", FAM_RS, 0, EVP_sha384 },
    { "RS512", FAM_RS, 0, EVP_sha512 },
    { "ES256", FAM_ES, 32, EVP_sha256 }, { "ES384", FAM_ES, 48, EVP_sha384 },
    { "ES512", FAM_ES, 66, EVP_sha512 },
    { "PS256", FAM_PS, 0, EVP_sha256 }, { "PS384", FAM_PS, 0, EVP_sha384 },
    { "PS512", FAM_PS, 0, EVP_sha512 },
    { "EdDSA", FAM_ED, 0, NULL },
};

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("jwtmint: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void usage(FILE *f)
{
    fputs("usage: jwtmint -a ALG [-k KEYFILE] [-K KID] [-H HEADER_JSON] [-c CLAIMS_JSON]\n"
          "               [-e EXP_IN_SECONDS] [-i] [-n COUNT]\n"
          "  ALG: HS256 HS384 HS512 (KEYFILE = raw secret), RS256 RS384 RS512,\n"
          "       ES256 ES384 ES512, PS256 PS384 PS512, EdDSA (Ed25519)\n"
          "       (KEYFILE = PEM private key), none (no key)\n"
          "  -K KID header kid; -c claims object (default {}); -e N: exp = now + N\n"
          "  (N may be negative); -i: iat = now; -H object merged into the header\n"
          "  last: it may set \"alg\" to lie about the signature, which is still\n"
          "  made as -a says (for crafting attack tokens); -n N: N tokens, one per\n"
          "  line, each with its own random jti\n", f);
}

static unsigned char *read_all(const char *path, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        die("%s: %s", path, strerror(errno));
    do {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20))
                die("%s: file too large", path);
            buf = util_xrealloc(buf, cap);
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (ferror(f))
        die("%s: read error", path);
    fclose(f);
    *lenp = len;
    return buf;
}

static json_t *parse_object(const char *what, const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);

    if (!j || !json_is_object(j))
        die("%s: not a JSON object (%s)", what, j ? "wrong type" : je.text);
    return j;
}

static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s)
        die("out of memory");
    return s;
}

static char *b64url(const void *p, size_t n)
{
    return util_b64url_encode(p, n);
}

/* Signature over input by hand, for the cases libjwt cannot build. */
static unsigned char *sign(const struct alg *a, const unsigned char *key, size_t keylen,
                           const char *input, size_t *siglen)
{
    unsigned char *sig;

    if (a->fam == FAM_HS) {
        unsigned int n = 0;
        sig = util_xmalloc(EVP_MAX_MD_SIZE);
        if (!HMAC(a->md(), key, (int)keylen, (const unsigned char *)input, strlen(input), sig, &n))
            die("HMAC failed");
        *siglen = n;
        return sig;
    }

    BIO *bio = BIO_new_mem_buf(key, (int)keylen);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t n = 0;
    BIO_free(bio);
    if (!pkey)
        die("key file does not hold a PEM private key");
    /* The key must be of the family the name says: OpenSSL would sign PS*
     * with an EC key's own scheme without a word. */
    if ((a->fam == FAM_RS || a->fam == FAM_PS) ? !EVP_PKEY_is_a(pkey, "RSA")
        : a->fam == FAM_ES ? !EVP_PKEY_is_a(pkey, "EC")
        : a->fam == FAM_ED ? !EVP_PKEY_is_a(pkey, "ED25519") : 0)
        die("the key does not fit %s", a->name);
    /* EdDSA signs the input itself: no digest. PS*: RFC 7518 §3.5, MGF1
     * with the same hash and a salt as long as the hash. */
    if (!ctx || EVP_DigestSignInit(ctx, &pctx, a->md ? a->md() : NULL, NULL, pkey) != 1 ||
        (a->fam == FAM_PS &&
         (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
          EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, a->md()) != 1 ||
          EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)) ||
        EVP_DigestSign(ctx, NULL, &n, (const unsigned char *)input, strlen(input)) != 1)
        die("signing failed (does the key fit %s?)", a->name);
    sig = util_xmalloc(n);
    if (EVP_DigestSign(ctx, sig, &n, (const unsigned char *)input, strlen(input)) != 1)
        die("signing failed (does the key fit %s?)", a->name);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);

    if (a->fam == FAM_ES) {
        /* DER ECDSA-Sig-Value -> the fixed-size r||s of RFC 7518 §3.4 */
        const unsigned char *p = sig;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
        unsigned char *raw = util_xcalloc(1, 2 * a->coord);
        if (!es || BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)a->coord) < 0 ||
            BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + a->coord, (int)a->coord) < 0)
            die("signing failed (does the key fit %s?)", a->name);
        ECDSA_SIG_free(es);
        free(sig);
        sig = raw;
        n = 2 * a->coord;
    }
    *siglen = n;
    return sig;
}

static char *mint_by_hand(const struct alg *a, const unsigned char *key, size_t keylen,
                          const json_t *extra_hdr, const json_t *claims)
{
    json_t *hdr = json_object();
    char *h, *p, *hb, *pb, *input, *sb, *tok;
    size_t n, siglen = 0;

    json_object_set_new(hdr, "alg", json_string(a->name));
    json_object_set_new(hdr, "typ", json_string("JWT"));
    json_object_update(hdr, (json_t *)extra_hdr);
    h = dump(hdr);
    p = dump(claims);
    hb = b64url(h, strlen(h));
    pb = b64url(p, strlen(p));
    n = strlen(hb) + strlen(pb) + 2;
    input = util_xmalloc(n);
    snprintf(input, n, "%s.%s", hb, pb);
    if (a->fam == FAM_NONE) {
        sb = util_xstrdup("");
    } else {
        unsigned char *sig = sign(a, key, keylen, input, &siglen);
        sb = b64url(sig, siglen);
        free(sig);
    }
    n = strlen(input) + strlen(sb) + 2;
    tok = util_xmalloc(n);
    snprintf(tok, n, "%s.%s", input, sb);
    free(h);
    free(p);
    free(hb);
    free(pb);
    free(input);
    free(sb);
    json_decref(hdr);
    return tok;
}

static char *mint_libjwt(const struct alg *a, const unsigned char *key, size_t keylen,
                         const json_t *extra_hdr, const json_t *claims)
{
    jwt_t *jwt = NULL;
    char *c = dump(claims), *tok;

    if (jwt_new(&jwt) != 0)
        die("libjwt: jwt_new failed");
    if (jwt_add_grants_json(jwt, c) != 0)
        die("libjwt: cannot add the claims");
    if (json_object_size(extra_hdr) > 0) {
        char *h = dump(extra_hdr);
        if (jwt_add_headers_json(jwt, h) != 0)
            die("libjwt: cannot add the header fields");
        free(h);
    }
    if (jwt_set_alg(jwt, jwt_str_alg(a->name), key, (int)keylen) != 0)
        die("libjwt: cannot use the key for %s", a->name);
    tok = jwt_encode_str(jwt);
    if (!tok)
        die("libjwt: signing failed (does the key fit %s?)", a->name);
    jwt_free(jwt);
    free(c);
    return tok;
}

int main(int argc, char **argv)
{
    const char *algname = NULL, *keyfile = NULL, *kid = NULL, *hdr_json = NULL;
    const char *claims_json = "{}";
    const struct alg *a = NULL;
    long long exp_in = 0;
    int have_exp = 0, set_iat = 0, opt;
    long count = 1;
    unsigned char *key = NULL;
    size_t keylen = 0;
    char *tok, *end;

    while ((opt = getopt(argc, argv, "a:k:K:H:c:e:in:h")) != -1) {
        switch (opt) {
        case 'a': algname = optarg; break;
        case 'k': keyfile = optarg; break;
        case 'K': kid = optarg; break;
        case 'H': hdr_json = optarg; break;
        case 'c': claims_json = optarg; break;
        case 'e':
            errno = 0;
            exp_in = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end)
                die("-e: not an integer number of seconds: %s", optarg);
            have_exp = 1;
            break;
        case 'i': set_iat = 1; break;
        case 'n':
            errno = 0;
            count = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || count < 1 || count > 10000000)
                die("-n: want a count from 1 to 10000000: %s", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind != argc || !algname) {
        usage(stderr);
        return 1;
    }
    for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
        if (strcmp(algname, algs[i].name) == 0)
            a = &algs[i];
    if (!a)
        die("unknown algorithm %s", algname);
    if (a->fam != FAM_NONE) {
        if (!keyfile)
            die("-a %s needs -k KEYFILE", a->name);
        key = read_all(keyfile, &keylen);
        if (keylen == 0)
            die("%s: empty key file", keyfile);
    }

    json_t *claims = parse_object("-c", claims_json);
    json_t *hdr = json_object();
    long long now = (long long)time(NULL);
    if (have_exp)
        json_object_set_new(claims, "exp", json_integer(now + exp_in));
    if (set_iat)
        json_object_set_new(claims, "iat", json_integer(now));
    if (kid)
        json_object_set_new(hdr, "kid", json_string(kid));
    if (hdr_json) {
        json_t *extra = parse_object("-H", hdr_json);
        json_object_update(hdr, extra);
        json_decref(extra);
    }

    for (long i = 0; i < count; i++) {
        if (count > 1) {
            unsigned char r[12];
            char jti[2 * sizeof r + 1];

            if (RAND_bytes(r, sizeof r) != 1)
                die("RAND_bytes failed");
            for (size_t k = 0; k < sizeof r; k++)
                snprintf(jti + 2 * k, 3, "%02x", r[k]);
            json_object_set_new(claims, "jti", json_string(jti));
        }
        /* libjwt 1.10 has neither PS* nor EdDSA. */
        if (a->fam == FAM_NONE || a->fam == FAM_PS || a->fam == FAM_ED || json_object_get(hdr, "alg"))
            tok = mint_by_hand(a, key, keylen, hdr, claims);
        else
            tok = mint_libjwt(a, key, keylen, hdr, claims);
        printf("%s\n", tok);
        free(tok);
    }
    json_decref(hdr);
    json_decref(claims);
    if (key) {
        OPENSSL_cleanse(key, keylen);
        free(key);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
