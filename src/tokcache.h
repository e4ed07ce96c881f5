/* Verified-token cache: a reconnect storm presents the same tokens again,
 * and verifying an RS256 or ES256 signature costs tens of microseconds.
 * Each thread keeps the claims of tokens it verified, keyed by a SHA-256
 * of the whole token and by what they were verified against (the
 * configuration and the remote key set), honoured only until exp +
 * leeway. Only the signature and claim checks are saved: revocation is
 * looked up for every handshake as before. Bounded: a fixed number of
 * entries per thread, tokens of at most TOKCACHE_MAX_TOKEN bytes. */
#ifndef WSGATE_TOKCACHE_H
#define WSGATE_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

struct jwt_claims;

#define TOKCACHE_MAX_TOKEN 4096

/* What a cached verification holds for: the configuration and the remote
 * key set generations (a reload or a new JWKS makes every entry miss). */
struct tokcache_key {
    uint64_t cfg_gen, keys_gen;
};

/* 1 with a copy of the cached claims in out (to free with
 * jwt_claims_clear), 0 on a miss. entries: the configured size (0: off). */
int tokcache_get(size_t entries, const struct tokcache_key *k, const char *token, size_t len,
                 int64_t now, struct jwt_claims *out);
/* Remembers claims (copied) of a token just verified, until expires_at. */
void tokcache_put(size_t entries, const struct tokcache_key *k, const char *token, size_t len,
                  int64_t expires_at, const struct jwt_claims *c);

/* Sums over every thread's cache, for /metrics. */
struct tokcache_stats {
    uint64_t hits, misses, entries, bytes;
};
void tokcache_stats(struct tokcache_stats *out);
/* Frees the calling thread's cache (at thread exit; tests). */
void tokcache_thread_free(void);

#endif
