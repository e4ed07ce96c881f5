/* JWT verification: algorithm policy pinned to key type, signature checked
 * on pre-parsed keys, registered claims checked. Pure: no I/O, no logging. */
#ifndef WSGATE_JWT_H
#define WSGATE_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct keystore;

enum jwt_alg {
    JWT_HS256, JWT_HS384, JWT_HS512,
    JWT_RS256, JWT_RS384, JWT_RS512,
    JWT_ES256, JWT_ES384, JWT_ES512,
    JWT_PS256, JWT_PS384, JWT_PS512,
    JWT_EDDSA,
    JWT_ALG_COUNT
};

/* -1 for an unknown name; "none" is unknown on purpose. */
int jwt_alg_from_name(const char *name);
const char *jwt_alg_name(int alg);

/* Explain mode (wsgate -x): every verification step as it is decided,
 * in order; result is "ok", "ok (detail)" or the reason, and never holds
 * token or key bytes. */
struct jwt_trace {
    void (*step)(void *arg, const char *step, const char *result);
    void *arg;
};

struct jwt_policy {
    unsigned algs;                  /* bit (1u << enum jwt_alg) per allowed alg */
    const struct keystore *keys;
    const char *issuer;             /* NULL: not checked */
    char **audiences;               /* token aud must intersect when naudiences > 0 */
    size_t naudiences;
    int64_t leeway;                 /* seconds */
    char **require_claims;          /* claims that must be present */
    size_t nrequire_claims;
    const struct keystore *remote;  /* a second set searched together with keys (the
                                     * current remote JWKS, jwks.h); NULL when none */
    const struct jwt_trace *trace;  /* NULL except in explain mode */
};

struct jwt_claims {
    json_t *payload;                /* verified payload object, owned */
    char *payload_raw;              /* decoded payload bytes as signed, owned, NUL-terminated */
    size_t payload_raw_len;
    /* sub and jti in their one textual form, used for Redis keys, limits,
     * logs, /sessions and identity headers alike: a string claim as is
     * (borrowed from payload), an integer claim as its decimal ("12345",
     * also for 12345.0 or 1.2345e4; the text is owned in *_num). NULL when
     * absent or null. Any other type, a fraction, or an integer beyond
     * what the token's JSON number holds exactly refuses the token. */
    const char *sub;
    const char *jti;
    char *sub_num, *jti_num;        /* owned decimal text, or NULL */
    int64_t exp, nbf, iat;          /* floored, saturated to int64 (1e300: INT64_MAX) */
    int has_exp, has_nbf, has_iat;
};

/* Verifies token (len bytes, compact serialisation) at time now (unix
 * seconds). On success fills out and returns 0. On failure returns -1,
 * leaves out zeroed (jwt_claims_clear is harmless on it) and puts a short,
 * token-free reason into err, suitable for the error_description of a 401.
 * The reasons, in the order the checks run:
 *   "malformed token"              not 3 segments, empty header/payload,
 *                                  base64url, JSON, > 16 KiB, claim types
 *                                  (an empty signature is well-formed: alg
 *                                  none gets the next reason); a number
 *                                  beyond a double's range (1e400)
 *   "algorithm not allowed"        none, unknown, or not in pol->algs
 *   "unsupported critical header"  any crit
 *   "no matching key"              no key of the alg's family (and kid)
 *   "bad signature"
 *   "missing claim NAME"           from pol->require_claims
 *   "sub must be a string or an integer"  (and the same for jti)
 *   "token expired" "token not yet valid" "token issued in the future"
 *   "issuer mismatch" "audience mismatch" */
int jwt_verify(const struct jwt_policy *pol, const char *token, size_t len,
               int64_t now, struct jwt_claims *out, char *err, size_t errlen);
void jwt_claims_clear(struct jwt_claims *c);
/* A deep copy of src (its own payload and strings), for state that outlives
 * the request that verified it. 0, or -1 out of memory (dst zeroed). */
int jwt_claims_copy(struct jwt_claims *dst, const struct jwt_claims *src);

/* Unix second after which c is expired: exp + leeway, saturated;
 * INT64_MAX without exp (never). */
/* A live session keeps only sub, jti and the times: sub and jti become
 * owned copies and the payload (JSON and raw text) is freed. -1 when out
 * of memory (the claims stay whole). */
int jwt_claims_shrink(struct jwt_claims *c);
int64_t jwt_expires_at(const struct jwt_claims *c, int64_t leeway);

/* Route claim test: the claim equals value (string; numbers and booleans
 * compared through their JSON text) or is an array containing it. */
int jwt_claim_matches(const struct jwt_claims *c, const char *claim, const char *value);
/* Claim rendered for an identity header: strings as is, numbers and
 * booleans as JSON text (integral numbers without a fraction; sub and jti
 * exactly as c->sub and c->jti), arrays of
 * those joined with ',' (object/null/array elements left out). malloc'd;
 * NULL if absent or of a type that cannot be rendered (object, null). */
char *jwt_claim_string(const struct jwt_claims *c, const char *claim);

#endif
