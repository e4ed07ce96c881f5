/* Measures what DESIGN.md decided on: wsgate's jwt_verify() on keys parsed
 * once, against libjwt 1.10's jwt_decode(), which re-parses the PEM key on
 * every call. Run through jwt-verify-bench.sh after make.
 *
 *   jwt-verify-bench KEYDIR [N]
 *
 * Tokens are minted by libjwt (so every one is also an interoperability
 * check: the run fails if wsgate rejects any of them); up to 1000 distinct
 * tokens per algorithm are verified round-robin N times in all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jwt.h"
#include "keys.h"

/* libjwt's header is also named jwt.h and src/ comes first on the include
 * path: declare the few functions used, as in libjwt 1.10.2's jwt.h
 * (jwt_alg_t is an enum, passed as int). */
typedef struct jwt jwt_t;
int jwt_new(jwt_t **jwt);
void jwt_free(jwt_t *jwt);
int jwt_add_grants_json(jwt_t *jwt, const char *json);
int jwt_set_alg(jwt_t *jwt, int alg, const unsigned char *key, int len);
int jwt_str_alg(const char *alg);
char *jwt_encode_str(jwt_t *jwt);
int jwt_decode(jwt_t **jwt, const char *token, const unsigned char *key, int key_len);

#define DISTINCT 1000

static const char *keydir;

static unsigned char *slurp(const char *name, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", keydir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    unsigned char *b = malloc(1 << 16);
    *len = fread(b, 1, (1 << 16) - 1, f);
    b[*len] = '\0';
    fclose(f);
    return b;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static char **mint(const char *alg, const char *keyfile, size_t n)
{
    size_t klen;
    unsigned char *key = slurp(keyfile, &klen);
    char **toks = calloc(n, sizeof(char *)), claims[256];

    for (size_t i = 0; i < n; i++) {
        jwt_t *j = NULL;
        snprintf(claims, sizeof(claims),
                 "{\"sub\":\"user-%zu\",\"jti\":\"bench-%zu\",\"iss\":\"https://auth.example.com/\","
                 "\"aud\":\"chat\",\"iat\":%lld,\"exp\":%lld}",
                 i, i, (long long)time(NULL), (long long)time(NULL) + 3600);
        if (jwt_new(&j) || jwt_add_grants_json(j, claims) ||
            jwt_set_alg(j, jwt_str_alg(alg), key, (int)klen) || !(toks[i] = jwt_encode_str(j))) {
            fprintf(stderr, "libjwt cannot mint %s\n", alg);
            exit(1);
        }
        jwt_free(j);
    }
    free(key);
    return toks;
}

static void bench_wsgate(const char *label, const struct jwt_policy *pol, char **toks,
                         size_t ntok, size_t n)
{
    struct jwt_claims c;
    char err[128];
    size_t bad = 0;
    double t0 = now_us();

    for (size_t i = 0; i < n; i++) {
        const char *t = toks[i % ntok];
        if (jwt_verify(pol, t, strlen(t), (int64_t)time(NULL), &c, err, sizeof(err)) != 0)
            bad++;
        else
            jwt_claims_clear(&c);
    }
    double us = (now_us() - t0) / (double)n;
    if (bad) {
        fprintf(stderr, "%s: wsgate rejected %zu libjwt tokens (%s)\n", label, bad, err);
        exit(1);
    }
    printf("%s wsgate_jwt_verify_us_per_token %.1f\n", label, us);
}

static void bench_libjwt(const char *label, const char *keyfile, char **toks, size_t ntok, size_t n)
{
    size_t klen, bad = 0;
    unsigned char *key = slurp(keyfile, &klen);
    double t0 = now_us();

    for (size_t i = 0; i < n; i++) {
        jwt_t *j = NULL;
        if (jwt_decode(&j, toks[i % ntok], key, (int)klen) != 0)
            bad++;
        jwt_free(j);
    }
    double us = (now_us() - t0) / (double)n;
    free(key);
    if (bad) {
        fprintf(stderr, "%s: libjwt rejected %zu of its own tokens\n", label, bad);
        exit(1);
    }
    printf("%s libjwt_jwt_decode_us_per_token %.1f\n", label, us);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: jwt-verify-bench KEYDIR [N]\n");
        return 1;
    }
    keydir = argv[1];
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 20000;
    size_t ntok = n < DISTINCT ? n : DISTINCT;
    if (n == 0)
        return 1;

    struct keystore *ks = keystore_new();
    char err[512], path[4096];
    static const char *files[] = { "rsa.pub", "ec256.pub" };
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", keydir, files[i]);
        if (keystore_add_key_file(ks, path, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    snprintf(path, sizeof(path), "%s/hmac.secret", keydir);
    if (keystore_add_secret_file(ks, path, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    static char *aud[] = { "chat" };
    static char *req[] = { "sub", "exp" };
    struct jwt_policy pol = {
        .algs = (1u << JWT_RS256) | (1u << JWT_ES256) | (1u << JWT_HS256),
        .keys = ks, .issuer = "https://auth.example.com/", .audiences = aud, .naudiences = 1,
        .leeway = 30, .require_claims = req, .nrequire_claims = 2,
    };

    printf("# N=%zu verifications per line, %zu distinct tokens each, keys parsed once (wsgate)\n",
           n, ntok);
    char **rs = mint("RS256", "rsa.key", ntok);
    bench_wsgate("rs256", &pol, rs, ntok, n);
    bench_libjwt("rs256", "rsa.pub", rs, ntok, n);
    char **es = mint("ES256", "ec256.key", ntok);
    bench_wsgate("es256", &pol, es, ntok, n);
    char **hs = mint("HS256", "hmac.secret", ntok);
    bench_wsgate("hs256", &pol, hs, ntok, n);

    for (size_t i = 0; i < ntok; i++) {
        free(rs[i]);
        free(es[i]);
        free(hs[i]);
    }
    free(rs);
    free(es);
    free(hs);
    keystore_free(ks);
    return 0;
}
