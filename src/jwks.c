/* Remote JWKS, the published key set: lock-free for the workers that
 * verify with it, replaced by the fetcher (jwks_fetch.c) on the main
 * thread. A replaced set is freed once no reader can still hold it. */
#include "jwks.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "jwt.h"
#include "keys.h"
#include "tokcache.h"
#include "util.h"

/* A key set may be shared by the holder of the old and of the new
 * configuration across a reload, hence its own count. */
struct jwks_set {
    int refs;                       /* atomic */
    struct keystore *ks;
};

struct retired {
    struct jwks_set *set;
    struct retired *next;
};

struct jwks {
    int refs;                       /* atomic: configurations and the fetcher */
    struct jwks_set *current;       /* atomic pointer, NULL until the first fetch */
    long readers;                   /* atomic: verifications between acquire and release */
    struct retired *retired;        /* main thread: replaced sets a reader may still hold */
    int kick_pending;               /* atomic: a kick is on its way to the fetcher */
    uint64_t generation;            /* atomic: raised after each publication */
    pthread_mutex_t kick_lock;      /* kick_ev against the fetcher going away */
    struct event *kick_ev;
};

static void set_unref(struct jwks_set *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        keystore_free(s->ks);
        free(s);
    }
}

struct jwks *jwks_new(void)
{
    struct jwks *j = util_xcalloc(1, sizeof(*j));

    j->refs = 1;
    pthread_mutex_init(&j->kick_lock, NULL);
    return j;
}

struct jwks *jwks_ref(struct jwks *j)
{
    if (j)
        __atomic_add_fetch(&j->refs, 1, __ATOMIC_RELAXED);
    return j;
}

void jwks_unref(struct jwks *j)
{
    if (!j || __atomic_sub_fetch(&j->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    /* The last holder: no configuration, so no reader, is left. */
    set_unref(j->current);
    while (j->retired) {
        struct retired *r = j->retired;
        j->retired = r->next;
        set_unref(r->set);
        free(r);
    }
    pthread_mutex_destroy(&j->kick_lock);
    free(j);
}

const struct keystore *jwks_acquire(struct jwks *j)
{
    struct jwks_set *s;

    if (!j)
        return NULL;
    /* Announce first, then load: a writer that swaps after our load sees
     * us in readers and keeps the old set (sequentially consistent pair). */
    __atomic_add_fetch(&j->readers, 1, __ATOMIC_SEQ_CST);
    s = __atomic_load_n(&j->current, __ATOMIC_SEQ_CST);
    return s ? s->ks : NULL;
}

void jwks_release(struct jwks *j)
{
    if (j)
        __atomic_sub_fetch(&j->readers, 1, __ATOMIC_SEQ_CST);
}

int jwks_ready(struct jwks *j)
{
    return j && __atomic_load_n(&j->current, __ATOMIC_ACQUIRE) != NULL;
}

size_t jwks_reclaim(struct jwks *j)
{
    size_t left = 0;

    if (!j || !j->retired)
        return 0;
    /* Zero readers now means every reader that could have loaded a retired
     * pointer (all loaded it before its swap) has released it. */
    if (__atomic_load_n(&j->readers, __ATOMIC_SEQ_CST) == 0) {
        while (j->retired) {
            struct retired *r = j->retired;
            j->retired = r->next;
            set_unref(r->set);
            free(r);
        }
    }
    for (struct retired *r = j->retired; r; r = r->next)
        left++;
    return left;
}

static void publish_set(struct jwks *j, struct jwks_set *s)
{
    struct jwks_set *old = __atomic_exchange_n(&j->current, s, __ATOMIC_SEQ_CST);

    /* After the swap: a reader that sees the new generation sees the new
     * set, so no token verified with an old set is cached as verified
     * with the new one. */
    __atomic_add_fetch(&j->generation, 1, __ATOMIC_SEQ_CST);

    if (old) {
        struct retired *r = util_xmalloc(sizeof(*r));
        r->set = old;
        r->next = j->retired;
        j->retired = r;
    }
    jwks_reclaim(j);
}

void jwks_publish(struct jwks *j, struct keystore *ks)
{
    struct jwks_set *s = util_xmalloc(sizeof(*s));

    s->refs = 1;
    s->ks = ks;
    publish_set(j, s);
}

void jwks_kick(struct jwks *j)
{
    /* Only the first of a burst pays for the lock and the wakeup. */
    if (!j || __atomic_exchange_n(&j->kick_pending, 1, __ATOMIC_ACQ_REL))
        return;
    pthread_mutex_lock(&j->kick_lock);
    if (j->kick_ev)
        event_active(j->kick_ev, EV_READ, 0);
    pthread_mutex_unlock(&j->kick_lock);
}

int jwks_verify(const struct config *cfg, const char *token, size_t len, int64_t now,
                struct jwt_claims *out, char *err, size_t errlen)
{
    return jwks_verify_trace(cfg, token, len, now, out, err, errlen, NULL);
}

int jwks_verify_trace(const struct config *cfg, const char *token, size_t len, int64_t now,
                      struct jwt_claims *out, char *err, size_t errlen,
                      const struct jwt_trace *trace)
{
    struct jwt_policy pol;
    struct tokcache_key key = { cfg->generation, 0 };
    size_t cache = (size_t)cfg->token_cache;
    int rc;

    /* The generation is read before the set: see publish_set. */
    if (cfg->jwks)
        key.keys_gen = __atomic_load_n(&cfg->jwks->generation, __ATOMIC_SEQ_CST);
    /* Explain mode traces every step, so it never takes a cached verdict. */
    if (!trace && tokcache_get(cache, &key, token, len, now, out))
        return 0;
    /* A copy of the policy on the stack: the configuration stays immutable. */
    pol = cfg->policy;
    pol.trace = trace;
    if (!cfg->jwks) {
        rc = jwt_verify(&pol, token, len, now, out, err, errlen);
        if (rc == 0 && !trace)
            tokcache_put(cache, &key, token, len, jwt_expires_at(out, cfg->policy.leeway), out);
        return rc;
    }
    pol.remote = jwks_acquire(cfg->jwks);
    rc = jwt_verify(&pol, token, len, now, out, err, errlen);
    jwks_release(cfg->jwks);
    if (rc == 0 && !trace)
        tokcache_put(cache, &key, token, len, jwt_expires_at(out, cfg->policy.leeway), out);
    if (rc != 0 && err && strcmp(err, "no matching key") == 0) {
        jwks_kick(cfg->jwks);
        if (!pol.remote) {
            util_fail(err, errlen, "signing keys not available yet");
            return -2;
        }
    }
    return rc;
}

void jwks_set_kick_event(struct jwks *j, struct event *ev)
{
    pthread_mutex_lock(&j->kick_lock);
    j->kick_ev = ev;
    pthread_mutex_unlock(&j->kick_lock);
}

void jwks_kick_taken(struct jwks *j)
{
    __atomic_store_n(&j->kick_pending, 0, __ATOMIC_RELEASE);
}

void jwks_share(struct jwks *to, struct jwks *from)
{
    struct jwks_set *s = from ? from->current : NULL;

    if (s) {
        __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
        publish_set(to, s);
    }
}

