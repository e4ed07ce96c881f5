/* The verified-token cache (tokcache.h). Per thread, so lookups take no
 * lock and the cached payload (a jansson object, whose reference count is
 * not atomic) is only ever shared with sessions of the same thread. The
 * table is set-associative, 4 ways, with the oldest way of a set replaced;
 * the counters are summed across threads with relaxed atomic loads. */
#include "tokcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jwt.h"
#include "util.h"

#define WAYS 4

struct entry {
    unsigned char digest[32];
    struct tokcache_key key;
    int64_t expires_at;
    uint64_t stamp;                 /* 0: free */
    size_t bytes;
    struct jwt_claims claims;
};

struct cache {
    struct entry *e;
    size_t nsets;
    uint64_t clock;
    uint64_t hits, misses, entries, bytes;  /* atomic for readers */
    struct cache *next;             /* all caches, for the stats */
};

static __thread struct cache *mine;
static struct cache *all;
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;

static struct cache *cache_for(size_t entries)
{
    if (mine)
        return mine;
    mine = util_xcalloc(1, sizeof(*mine));
    mine->nsets = (entries + WAYS - 1) / WAYS;
    mine->e = util_xcalloc(mine->nsets * WAYS, sizeof(*mine->e));
    pthread_mutex_lock(&all_lock);
    mine->next = all;
    all = mine;
    pthread_mutex_unlock(&all_lock);
    return mine;
}

static void digest_of(const char *token, size_t len, unsigned char d[32])
{
    unsigned int n = 0;

    if (EVP_Digest(token, len, d, &n, EVP_sha256(), NULL) != 1 || n != 32)
        memset(d, 0, 32);
}

static size_t set_of(const struct cache *c, const unsigned char d[32])
{
    uint64_t h;

    memcpy(&h, d, sizeof(h));
    return (size_t)(h % c->nsets);
}

static void entry_clear(struct cache *c, struct entry *e)
{
    if (!e->stamp)
        return;
    jwt_claims_clear(&e->claims);
    __atomic_sub_fetch(&c->entries, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&c->bytes, e->bytes, __ATOMIC_RELAXED);
    memset(e, 0, sizeof(*e));
}

/* A deep copy; the payload object is shared (same thread only). */
static void claims_copy(struct jwt_claims *dst, const struct jwt_claims *src)
{
    *dst = *src;
    json_incref(src->payload);
    dst->payload_raw = src->payload_raw ? util_xmalloc(src->payload_raw_len + 1) : NULL;
    if (dst->payload_raw) {
        memcpy(dst->payload_raw, src->payload_raw, src->payload_raw_len);
        dst->payload_raw[src->payload_raw_len] = '\0';
    }
    dst->sub_num = src->sub_num ? util_xstrdup(src->sub_num) : NULL;
    dst->jti_num = src->jti_num ? util_xstrdup(src->jti_num) : NULL;
    if (src->sub && src->sub == src->sub_num)
        dst->sub = dst->sub_num;
    if (src->jti && src->jti == src->jti_num)
        dst->jti = dst->jti_num;
}

int tokcache_get(size_t entries, const struct tokcache_key *k, const char *token, size_t len,
                 int64_t now, struct jwt_claims *out)
{
    struct cache *c;
    unsigned char d[32];
    struct entry *set;

    if (!entries || len > TOKCACHE_MAX_TOKEN)
        return 0;
    c = cache_for(entries);
    digest_of(token, len, d);
    set = &c->e[set_of(c, d) * WAYS];
    for (int w = 0; w < WAYS; w++) {
        struct entry *e = &set[w];
        if (!e->stamp || memcmp(e->digest, d, 32) != 0)
            continue;
        if (e->key.cfg_gen != k->cfg_gen || e->key.keys_gen != k->keys_gen || now > e->expires_at) {
            entry_clear(c, e);
            break;
        }
        e->stamp = ++c->clock;
        claims_copy(out, &e->claims);
        __atomic_add_fetch(&c->hits, 1, __ATOMIC_RELAXED);
        return 1;
    }
    __atomic_add_fetch(&c->misses, 1, __ATOMIC_RELAXED);
    return 0;
}

void tokcache_put(size_t entries, const struct tokcache_key *k, const char *token, size_t len,
                  int64_t expires_at, const struct jwt_claims *cl)
{
    struct cache *c;
    unsigned char d[32];
    struct entry *set, *victim = NULL;

    if (!entries || len > TOKCACHE_MAX_TOKEN)
        return;
    c = cache_for(entries);
    digest_of(token, len, d);
    set = &c->e[set_of(c, d) * WAYS];
    for (int w = 0; w < WAYS; w++) {
        struct entry *e = &set[w];
        if (e->stamp && memcmp(e->digest, d, 32) == 0) {
            victim = e;             /* the same token again: refresh it */
            break;
        }
        if (!victim || !e->stamp || (victim->stamp && e->stamp < victim->stamp))
            victim = e;
    }
    entry_clear(c, victim);
    memcpy(victim->digest, d, 32);
    victim->key = *k;
    victim->expires_at = expires_at;
    victim->stamp = ++c->clock;
    victim->bytes = sizeof(*victim) + cl->payload_raw_len * 2 + len;
    claims_copy(&victim->claims, cl);
    __atomic_add_fetch(&c->entries, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->bytes, victim->bytes, __ATOMIC_RELAXED);
}

void tokcache_stats(struct tokcache_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&all_lock);
    for (struct cache *c = all; c; c = c->next) {
        out->hits += __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
        out->misses += __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
        out->entries += __atomic_load_n(&c->entries, __ATOMIC_RELAXED);
        out->bytes += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&all_lock);
}

void tokcache_thread_free(void)
{
    struct cache *c = mine;

    if (!c)
        return;
    pthread_mutex_lock(&all_lock);
    for (struct cache **pp = &all; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_mutex_unlock(&all_lock);
    for (size_t i = 0; i < c->nsets * WAYS; i++)
        entry_clear(c, &c->e[i]);
    free(c->e);
    free(c);
    mine = NULL;
}
