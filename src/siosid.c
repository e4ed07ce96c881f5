/* The process-wide table of socket.io polling sids (siosid.h) and the
 * small thread that keeps it: every SWEEP_MS it ends the sids whose
 * deadline passed and forgets the idle ones, and it POSTs the backend
 * the close packet of every sid that ended (eioclose.c), at most
 * MAX_CLOSING at a time. Workers only take the lock, read or change an
 * entry, and wake the thread when a close is due. */
#include "siosid.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "config.h"
#include "connlimit.h"
#include "eioclose.h"
#include "log.h"
#include "util.h"

#define NBUCKETS 4096               /* a power of two */
#define SWEEP_MS 200
#define MAX_CLOSING 64              /* backend POSTs in flight */

struct entry {
    struct entry *next;             /* bucket chain */
    char sid[SIOSID_MAX_LEN + 1];
    size_t sid_len;
    enum siosid_state state;
    enum outcome end_cause;
    int have_claims;
    struct jwt_claims claims;
    char *slot_sub;                 /* a max_sessions_per_subject slot the sid holds */
    char *nsps[SIOSID_MAX_NSPS];
    size_t nnsps;
    struct config *cfg;
    const struct route *route;
    unsigned upstream;
    char *path;
    int64_t last_seen_ms, idle_ms, connect_deadline_ms, ended_ms;
    int64_t expires_at;             /* unix seconds (exp + leeway), INT64_MAX for none */
    int64_t last_reauth_ms;
    char *queued;                   /* packets due to the client, 0x1e-separated */
    size_t queued_len;
};

/* A close due to a backend, queued for the thread. */
struct close_job {
    struct close_job *next;
    struct config *cfg;
    const struct route *route;
    unsigned upstream;
    char *path;
    char sid[SIOSID_MAX_LEN + 1];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *buckets[NBUCKETS];
static size_t nentries, nended;
static struct close_job *jobs, **jobs_tail = &jobs;
static size_t njobs;                /* queued, at most SIOSID_MAX_ENTRIES */
static unsigned closing;
static struct siosid_stats stats;
static size_t siosid_max_entries = SIOSID_MAX_ENTRIES;

static pthread_t thread;
static int started, stopping;
static struct event_base *base;
static struct event *sweeper, *kick;

int siosid_valid(const char *sid, size_t len)
{
    if (!sid || len == 0 || len > SIOSID_MAX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)sid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '~'))
            return 0;
    }
    return 1;
}

static size_t bucket_of(const char *sid, size_t len)
{
    uint64_t h = 1469598103934665603ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)sid[i];
        h *= 1099511628211ULL;
    }
    return (size_t)(h & (NBUCKETS - 1));
}

static struct entry **find(const char *sid, size_t len)
{
    struct entry **pp = &buckets[bucket_of(sid, len)];

    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->sid_len == len && memcmp((*pp)->sid, sid, len) == 0)
            return pp;
    return pp;
}

static void release_slot(struct entry *e)
{
    if (e->slot_sub) {
        countmap_release(limits_per_subject, e->slot_sub);
        free(e->slot_sub);
        e->slot_sub = NULL;
    }
}

static void free_entry(struct entry *e)
{
    release_slot(e);
    jwt_claims_clear(&e->claims);
    for (size_t i = 0; i < e->nnsps; i++)
        free(e->nsps[i]);
    free(e->path);
    free(e->queued);
    config_unref(e->cfg);
    free(e);
}

/* Under the lock: unlinks *pp and frees it. */
static void remove_at(struct entry **pp)
{
    struct entry *e = *pp;

    *pp = e->next;
    nentries--;
    if (e->state == SIOSID_ENDED)
        nended--;
    free_entry(e);
}

/* ---- the thread ------------------------------------------------------------ */

static void start_closes(void);

static void close_done(void *arg, int ok)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    closing--;
    if (ok)
        stats.closes_sent++;
    else
        stats.closes_failed++;
    pthread_mutex_unlock(&lock);
    start_closes();
}

/* On the thread: starts queued closes while fewer than MAX_CLOSING run. */
static void start_closes(void)
{
    for (;;) {
        struct close_job *j;

        pthread_mutex_lock(&lock);
        j = closing < MAX_CLOSING ? jobs : NULL;
        if (j) {
            jobs = j->next;
            if (!jobs)
                jobs_tail = &jobs;
            njobs--;
            closing++;
        }
        pthread_mutex_unlock(&lock);
        if (!j)
            return;
        if (eioclose_send(base, j->cfg, j->route, j->upstream, j->path, j->sid, close_done,
                          NULL) < 0) {
            pthread_mutex_lock(&lock);
            closing--;
            stats.closes_failed++;
            pthread_mutex_unlock(&lock);
        }
        config_unref(j->cfg);
        free(j->path);
        free(j);
    }
}

/* Under the lock: e ends for why, its slot is freed, and a close for the
 * backend is queued (unless SIOSID_MAX_ENTRIES already wait). Returns 1
 * when this call ended it (the thread is woken then). */
static int end_locked(struct entry *e, enum outcome why)
{
    struct close_job *j;

    if (e->state == SIOSID_ENDED)
        return 0;
    e->state = SIOSID_ENDED;
    e->end_cause = why;
    e->ended_ms = util_now_ms();
    nended++;
    release_slot(e);
    jwt_claims_clear(&e->claims);   /* an ended sid answers without them */
    e->have_claims = 0;
    free(e->queued);
    e->queued = NULL;
    e->queued_len = 0;
    if (njobs >= SIOSID_MAX_ENTRIES) {
        /* A backend that takes no closes cannot make us queue without
         * end: this one is not sent (its ping timeout ends the sid). */
        stats.closes_failed++;
        return 1;
    }
    j = util_xcalloc(1, sizeof(*j));
    j->cfg = config_ref(e->cfg);
    j->route = e->route;
    j->upstream = e->upstream;
    j->path = util_xstrdup(e->path);
    memcpy(j->sid, e->sid, e->sid_len + 1);
    *jobs_tail = j;
    jobs_tail = &j->next;
    njobs++;
    return 1;
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    start_closes();
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    int64_t now = util_now_ms(), wall = util_wall_s();
    int any = 0;

    (void)fd;
    (void)what;
    (void)arg;
    pthread_mutex_lock(&lock);
    for (size_t b = 0; b < NBUCKETS && nentries; b++) {
        struct entry **pp = &buckets[b];
        while (*pp) {
            struct entry *e = *pp;
            if (e->state == SIOSID_ENDED ? now - e->ended_ms > SIOSID_KEEP_ENDED_MS
                                         : now - e->last_seen_ms > e->idle_ms) {
                /* The backend forgot an idle sid by now (its ping timeout). */
                remove_at(pp);
                continue;
            }
            if (e->state == SIOSID_PENDING && now >= e->connect_deadline_ms) {
                log_msg(LOG_INFO, "socket.io sid %s: no CONNECT admitted in time", e->sid);
                any |= end_locked(e, OC_AUTH_TIMEOUT);
            } else if (e->state == SIOSID_BOUND && e->cfg->on_expiry_close && e->expires_at <= wall) {
                log_msg(LOG_INFO, "socket.io sid %s: token expired", e->sid);
                any |= end_locked(e, OC_TOKEN_EXPIRED);
            }
            pp = &e->next;
        }
    }
    pthread_mutex_unlock(&lock);
    if (any)
        start_closes();
}

static void *thread_main(void *arg)
{
    (void)arg;
    event_base_dispatch(base);
    return NULL;
}

/* Under the lock, once: the thread and its events. 0, -1 on failure. */
static int start_locked(void)
{
    struct timeval tv = { .tv_sec = 0, .tv_usec = SWEEP_MS * 1000 };
    sigset_t all, old;

    if (started)
        return stopping ? -1 : 0;
    base = event_base_new();
    if (!base)
        return -1;
    sweeper = event_new(base, -1, EV_PERSIST, on_sweep, NULL);
    kick = event_new(base, -1, EV_PERSIST, on_kick, NULL);
    if (!sweeper || !kick)
        goto fail;
    event_add(sweeper, &tv);
    event_add(kick, NULL);
    /* Signals belong to the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (pthread_create(&thread, NULL, thread_main, NULL) != 0) {
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        goto fail;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    started = 1;
    return 0;
fail:
    if (sweeper)
        event_free(sweeper);
    if (kick)
        event_free(kick);
    sweeper = kick = NULL;
    event_base_free(base);
    base = NULL;
    return -1;
}

/* Under the lock, with the table full: makes room by dropping the entry
 * that matters least, an ended sid (the oldest) or else one that never
 * had a CONNECT (the nearest to its deadline; it is ended, so the
 * backend is told). Sids with an identity are never dropped: a flood of
 * handshakes cannot push out authenticated sessions. 1 when room was
 * made (*wake set when a close was queued). */
static int evict_locked(int *wake)
{
    struct entry **victim = NULL;
    int ended = 0;

    for (size_t b = 0; b < NBUCKETS; b++)
        for (struct entry **pp = &buckets[b]; *pp; pp = &(*pp)->next) {
            struct entry *e = *pp;
            if (e->state == SIOSID_ENDED) {
                if (!ended || e->ended_ms < (*victim)->ended_ms)
                    victim = pp;
                ended = 1;
            } else if (!ended && e->state == SIOSID_PENDING && !e->have_claims &&
                       (!victim || e->connect_deadline_ms < (*victim)->connect_deadline_ms)) {
                victim = pp;
            }
        }
    if (!victim)
        return 0;
    if (!ended) {
        log_msg(LOG_INFO, "socket.io sid %s dropped without a CONNECT: the sid table is full",
                (*victim)->sid);
        *wake |= end_locked(*victim, OC_AUTH_TIMEOUT);
    }
    remove_at(victim);
    return 1;
}

/* ---- what workers call ------------------------------------------------------ */

int siosid_open(const char *sid, size_t len, const struct siosid_open *o)
{
    struct entry **pp, *e;
    int64_t leeway = o->cfg->policy.leeway;

    int wake = 0;

    if (!siosid_valid(sid, len))
        return -2;
    pthread_mutex_lock(&lock);
    if (start_locked() < 0 ||
        (nentries >= siosid_max_entries && !evict_locked(&wake))) {
        stats.full++;
        pthread_mutex_unlock(&lock);
        return -1;
    }
    if (wake)
        event_active(kick, EV_READ, 0);
    pp = find(sid, len);
    if (*pp) {
        pthread_mutex_unlock(&lock);
        return -2;
    }
    e = util_xcalloc(1, sizeof(*e));
    memcpy(e->sid, sid, len);
    e->sid_len = len;
    e->state = SIOSID_PENDING;
    e->cfg = config_ref(o->cfg);
    e->route = o->route;
    e->upstream = o->upstream;
    e->path = util_xstrdup(o->path);
    e->last_seen_ms = util_now_ms();
    e->idle_ms = o->idle_ms;
    e->connect_deadline_ms = o->connect_deadline_ms;
    e->expires_at = INT64_MAX;
    if (o->claims && jwt_claims_copy(&e->claims, o->claims) == 0) {
        e->have_claims = 1;
        e->expires_at = jwt_expires_at(&e->claims, leeway);
    }
    *pp = e;
    nentries++;
    pthread_mutex_unlock(&lock);
    return 0;
}

static void goodbye(const struct entry *e, struct siosid_info *out)
{
    size_t n = 0;

    for (size_t i = 0; i < e->nnsps || (i == 0 && e->nnsps == 0); i++) {
        const char *nsp = e->nnsps ? e->nsps[i] : "/";
        size_t l = strlen(nsp);
        if (n + l + 8 > sizeof(out->goodbye))
            break;
        memcpy(out->goodbye + n, "41", 2);
        n += 2;
        if (strcmp(nsp, "/") != 0) {
            memcpy(out->goodbye + n, nsp, l);
            n += l;
            out->goodbye[n++] = ',';
        }
        out->goodbye[n++] = 0x1e;
    }
    out->goodbye[n++] = '1';
    out->goodbye[n] = '\0';
    out->goodbye_len = n;
}

int siosid_learn(const char *sid, size_t len, const struct siosid_open *o, const char *nsp,
                 const char *slot_sub)
{
    int rc = siosid_open(sid, len, o);

    if (rc == 0 && siosid_bind(sid, len, NULL, nsp, slot_sub) == 0)
        return 0;
    if (rc == 0)
        siosid_forget(sid, len);
    else if (slot_sub)
        countmap_release(limits_per_subject, slot_sub);
    return -1;
}

enum siosid_state siosid_get(const char *sid, size_t len, struct siosid_info *out,
                             int want_claims)
{
    struct entry *e;
    enum siosid_state st = SIOSID_UNKNOWN;

    memset(out, 0, sizeof(*out));
    if (!siosid_valid(sid, len))
        return SIOSID_UNKNOWN;
    pthread_mutex_lock(&lock);
    e = *find(sid, len);
    if (e) {
        st = out->state = e->state;
        out->end_cause = e->end_cause;
        out->connect_deadline_ms = e->connect_deadline_ms;
        e->last_seen_ms = util_now_ms();
        if (want_claims && e->have_claims && jwt_claims_copy(&out->claims, &e->claims) == 0)
            out->have_claims = 1;
        goodbye(e, out);
    }
    pthread_mutex_unlock(&lock);
    return st;
}

int siosid_bind(const char *sid, size_t len, const struct jwt_claims *c, const char *nsp,
                const char *slot_sub)
{
    struct entry *e;
    int rc = -1;

    pthread_mutex_lock(&lock);
    e = siosid_valid(sid, len) ? *find(sid, len) : NULL;
    if (!e)
        rc = -2;
    if (e && (e->state == SIOSID_PENDING || e->state == SIOSID_BOUND)) {
        if (c && e->have_claims &&
            (!c->sub || !e->claims.sub || strcmp(c->sub, e->claims.sub) != 0)) {
            rc = -1;                /* one sid, one subject */
        } else {
            if (c && !e->have_claims && jwt_claims_copy(&e->claims, c) == 0) {
                e->have_claims = 1;
                e->expires_at = jwt_expires_at(&e->claims, e->cfg->policy.leeway);
            }
            if (slot_sub && !e->slot_sub) {
                e->slot_sub = util_xstrdup(slot_sub);
                slot_sub = NULL;
            }
            for (size_t i = 0; i < e->nnsps; i++)
                if (strcmp(e->nsps[i], nsp) == 0)
                    nsp = NULL;
            if (nsp && e->nnsps < SIOSID_MAX_NSPS)
                e->nsps[e->nnsps++] = util_xstrdup(nsp);
            e->state = SIOSID_BOUND;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&lock);
    if (slot_sub)
        countmap_release(limits_per_subject, slot_sub);
    return rc;
}

int siosid_end(const char *sid, size_t len, enum outcome why)
{
    struct entry *e;
    int ended = 0;

    pthread_mutex_lock(&lock);
    e = siosid_valid(sid, len) ? *find(sid, len) : NULL;
    if (e && e->state != SIOSID_UPGRADED)
        ended = end_locked(e, why);
    pthread_mutex_unlock(&lock);
    if (ended)
        event_active(kick, EV_READ, 0);
    return ended;
}

void siosid_upgraded(const char *sid, size_t len, char **slot_sub)
{
    struct entry *e;

    if (slot_sub)
        *slot_sub = NULL;
    pthread_mutex_lock(&lock);
    e = siosid_valid(sid, len) ? *find(sid, len) : NULL;
    if (e && (e->state == SIOSID_PENDING || e->state == SIOSID_BOUND)) {
        e->state = SIOSID_UPGRADED;
        if (slot_sub) {
            *slot_sub = e->slot_sub;
            e->slot_sub = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
}

/* Under the lock: the live entry of sid, or NULL. */
static struct entry *live_entry(const char *sid, size_t len)
{
    struct entry *e = siosid_valid(sid, len) ? *find(sid, len) : NULL;

    return e && (e->state == SIOSID_PENDING || e->state == SIOSID_BOUND) ? e : NULL;
}

int siosid_reauth_allowed(const char *sid, size_t len)
{
    struct entry *e;
    int64_t now = util_now_ms();
    int ok = 0;

    pthread_mutex_lock(&lock);
    e = live_entry(sid, len);
    if (e && (!e->last_reauth_ms || now - e->last_reauth_ms >= 1000)) {
        e->last_reauth_ms = now;
        ok = 1;
    }
    pthread_mutex_unlock(&lock);
    return ok;
}

int siosid_set_claims(const char *sid, size_t len, const struct jwt_claims *c)
{
    struct entry *e;
    struct jwt_claims copy;
    int rc = -1;

    if (jwt_claims_copy(&copy, c) != 0)
        return -1;
    pthread_mutex_lock(&lock);
    e = live_entry(sid, len);
    if (e && e->have_claims && e->claims.sub && copy.sub && strcmp(e->claims.sub, copy.sub) == 0) {
        jwt_claims_clear(&e->claims);
        e->claims = copy;
        memset(&copy, 0, sizeof(copy));
        e->expires_at = jwt_expires_at(&e->claims, e->cfg->policy.leeway);
        rc = 0;
    }
    pthread_mutex_unlock(&lock);
    jwt_claims_clear(&copy);
    return rc;
}

int siosid_queue(const char *sid, size_t len, const char *pkt, size_t plen)
{
    struct entry *e;
    int rc = -1;

    pthread_mutex_lock(&lock);
    e = live_entry(sid, len);
    if (e && e->queued_len + plen + 1 <= SIOSID_MAX_QUEUED) {
        char *q = realloc(e->queued, e->queued_len + plen + 1);
        if (q) {
            if (e->queued_len)
                q[e->queued_len++] = 0x1e;
            memcpy(q + e->queued_len, pkt, plen);
            e->queued_len += plen;
            e->queued = q;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

char *siosid_take_queued(const char *sid, size_t len, size_t *n)
{
    struct entry *e;
    char *q = NULL;

    *n = 0;
    pthread_mutex_lock(&lock);
    e = live_entry(sid, len);
    if (e && e->queued_len) {
        q = e->queued;
        *n = e->queued_len;
        e->queued = NULL;
        e->queued_len = 0;
    }
    pthread_mutex_unlock(&lock);
    return q;
}

void siosid_forget(const char *sid, size_t len)
{
    struct entry **pp;

    if (!siosid_valid(sid, len))
        return;
    pthread_mutex_lock(&lock);
    pp = find(sid, len);
    if (*pp)
        remove_at(pp);
    pthread_mutex_unlock(&lock);
}

void siosid_set_max_entries(size_t n)
{
    pthread_mutex_lock(&lock);
    siosid_max_entries = n ? n : SIOSID_MAX_ENTRIES;
    pthread_mutex_unlock(&lock);
}

void siosid_get_stats(struct siosid_stats *out)
{
    pthread_mutex_lock(&lock);
    *out = stats;
    out->live = nentries - nended;
    out->ended = nended;
    pthread_mutex_unlock(&lock);
}

void siosid_shutdown(void)
{
    struct close_job *j;

    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_mutex_unlock(&lock);
    if (started) {
        event_base_loopbreak(base);
        pthread_join(thread, NULL);
    }
    pthread_mutex_lock(&lock);
    for (size_t b = 0; b < NBUCKETS; b++)
        while (buckets[b])
            remove_at(&buckets[b]);
    while ((j = jobs)) {
        jobs = j->next;
        config_unref(j->cfg);
        free(j->path);
        free(j);
    }
    jobs_tail = &jobs;
    njobs = 0;
    pthread_mutex_unlock(&lock);
    if (started) {
        event_free(sweeper);
        event_free(kick);
        eioclose_abort_all();
        event_base_free(base);
        base = NULL;
        started = 0;
    }
}
