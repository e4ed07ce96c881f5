/* Revocation through Redis, per worker. A command context answers the
 * handshake lookups (jti and sub keys pipelined in one round trip) and the
 * sweep (SCAN over <prefix>revoked:*, so its cost follows the number of
 * revocations, not of sessions); a subscription context hears keyspace
 * notifications so live sessions close within milliseconds when Redis has
 * them on. hiredis 0.14 has no timeouts: every wait here has our own timer,
 * and every callback accepts a NULL reply (context gone). */
#include "revoke.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "config.h"
#include "jwt.h"
#include "log.h"
#include "sentinel.h"
#include "util.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 2000

/* Live entries by key (jti or sub), chained through entry->next[slot]. */
struct sidx {
    struct revoke_entry **b;
    size_t nb, n;
    int slot;
};

struct revoke {
    struct event_base *base;
    int worker_id;
    char *host;
    int port;
    char *unix_path;
    char *prefix_base;              /* redis_prefix */
    char *prefix;                   /* "<redis_prefix>revoked:" */
    size_t prefix_len;
    char *match;                    /* glob-escaped prefix + "*" */
    char *channel;                  /* revocation_channel, or NULL */
    struct sentinel *sentinel;      /* redis sentinel://: host and port follow it */
    int64_t malformed_logged_s;     /* one log line per second for bad messages */
    unsigned long malformed_quiet;
    int64_t sweep_ms, timeout_ms;

    redisAsyncContext *cmd, *sub;
    int cmd_up, sub_up;
    int logged_down;                /* the loss was logged; log the return once */
    int64_t retry_ms;
    struct event *retry;
    struct event *sweep_timer;
    int sweeping;
    int sweep_again;                /* a sweep was asked for while one ran */

    struct sidx by_jti, by_sub;
    struct revoke_stats st;
};

struct revoke_check {
    struct revoke *r;
    void (*done)(void *arg, int result);
    void *arg;
    int pending;                    /* replies still owed by hiredis */
    int revoked, failed;
    int has_iat;
    int64_t iat;
    struct event *timer;
};

static void connect_all(struct revoke *r);
static void sweep_start(struct revoke *r);
static void on_cmd_role(redisAsyncContext *ac, void *reply, void *priv);

/* ---- session index -------------------------------------------------- */

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static const char *entry_key(const struct revoke_entry *e, int slot)
{
    return slot == 0 ? e->jti : e->sub;
}

static void sidx_grow(struct sidx *ix)
{
    size_t nb = ix->nb ? ix->nb * 2 : 64;
    struct revoke_entry **b = util_xcalloc(nb, sizeof(*b));

    for (size_t i = 0; i < ix->nb; i++) {
        struct revoke_entry *s = ix->b[i], *next;
        for (; s; s = next) {
            next = s->next[ix->slot];
            size_t j = hash_key(entry_key(s, ix->slot)) & (nb - 1);
            s->next[ix->slot] = b[j];
            b[j] = s;
        }
    }
    free(ix->b);
    ix->b = b;
    ix->nb = nb;
}

static void sidx_add(struct sidx *ix, struct revoke_entry *s)
{
    if (ix->n + 1 > ix->nb)
        sidx_grow(ix);
    size_t j = hash_key(entry_key(s, ix->slot)) & (ix->nb - 1);
    s->next[ix->slot] = ix->b[j];
    ix->b[j] = s;
    ix->n++;
}

static void sidx_remove(struct sidx *ix, struct revoke_entry *s)
{
    if (!ix->nb)
        return;
    struct revoke_entry **pp = &ix->b[hash_key(entry_key(s, ix->slot)) & (ix->nb - 1)];
    for (; *pp; pp = &(*pp)->next[ix->slot]) {
        if (*pp == s) {
            *pp = s->next[ix->slot];
            s->next[ix->slot] = NULL;
            ix->n--;
            return;
        }
    }
}

static int sidx_has(const struct sidx *ix, const char *key)
{
    if (!ix->nb)
        return 0;
    for (struct revoke_entry *s = ix->b[hash_key(key) & (ix->nb - 1)]; s; s = s->next[ix->slot])
        if (strcmp(entry_key(s, ix->slot), key) == 0)
            return 1;
    return 0;
}

/* Tells every matching entry. Its owner only changes state in the
 * callback (a session's free is deferred), so the chain stays walkable;
 * an entry is dropped from the index before it is told, so it is told
 * once. */
static void sidx_revoke(struct revoke *r, struct sidx *ix, const char *key,
                        const char *cutoff, size_t cutoff_len)
{
    if (!ix->nb)
        return;
    struct revoke_entry **pp = &ix->b[hash_key(key) & (ix->nb - 1)];
    while (*pp) {
        struct revoke_entry *s = *pp;
        if (strcmp(entry_key(s, ix->slot), key) == 0 &&
            (!cutoff || revoke_sub_cutoff_applies(cutoff, cutoff_len, s->has_iat, s->iat))) {
            revoke_untrack(r, s);   /* unlinks s from *pp too */
            __atomic_add_fetch(&r->st.live_closed, 1, __ATOMIC_RELAXED);
            s->revoked(s);
            continue;
        }
        pp = &s->next[ix->slot];
    }
}

void revoke_track(struct revoke *r, struct revoke_entry *e)
{
    if (!r || e->tracked)
        return;
    e->tracked = 1;
    if (e->jti)
        sidx_add(&r->by_jti, e);
    if (e->sub)
        sidx_add(&r->by_sub, e);
}

void revoke_untrack(struct revoke *r, struct revoke_entry *e)
{
    if (!r || !e->tracked)
        return;
    e->tracked = 0;
    if (e->jti)
        sidx_remove(&r->by_jti, e);
    if (e->sub)
        sidx_remove(&r->by_sub, e);
}

int revoke_sub_cutoff_applies(const char *value, size_t len, int has_iat, int64_t iat)
{
    char tmp[32];
    char *end;
    long long cutoff;

    if (len == 0 || len >= sizeof(tmp))
        return 0;
    memcpy(tmp, value, len);
    tmp[len] = '\0';
    errno = 0;
    cutoff = strtoll(tmp, &end, 10);
    if (errno || *end != '\0')
        return 0;   /* not a unix time: nothing an operator meant */
    if (!has_iat)
        return 1;
    return cutoff >= iat;
}

/* ---- connection management -------------------------------------------- */

static void note_down(struct revoke *r, const char *why)
{
    if (!r->logged_down) {
        log_err("redis: connection lost (worker %d): %s", r->worker_id, why ? why : "disconnected");
        r->logged_down = 1;
    }
}

static void note_up(struct revoke *r)
{
    if (r->cmd_up && r->sub_up && r->logged_down) {
        log_notice("redis: connection restored (worker %d)", r->worker_id);
        r->logged_down = 0;
    }
}

static void schedule_retry(struct revoke *r)
{
    struct timeval tv;

    if (evtimer_pending(r->retry, NULL))
        return;
    tv.tv_sec = (time_t)(r->retry_ms / 1000);
    tv.tv_usec = (suseconds_t)((r->retry_ms % 1000) * 1000);
    evtimer_add(r->retry, &tv);
    r->retry_ms = r->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : r->retry_ms * 2;
}

/* Both contexts go, without their disconnect callbacks: the master moved
 * or is not one. Their pending callbacks see NULL replies. */
static void drop_contexts(struct revoke *r)
{
    __atomic_store_n(&r->cmd_up, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&r->sub_up, 0, __ATOMIC_RELAXED);
    r->sweeping = 0;
    if (r->cmd) {
        r->cmd->data = NULL;
        redisAsyncFree(r->cmd);
        r->cmd = NULL;
    }
    if (r->sub) {
        r->sub->data = NULL;
        redisAsyncFree(r->sub);
        r->sub = NULL;
    }
}

/* The sentinels name the master (again, or a new one after a failover). */
static void on_master(void *arg, const char *host, int port)
{
    struct revoke *r = arg;

    if (r->host && strcmp(r->host, host) == 0 && r->port == port) {
        connect_all(r);     /* whatever is missing, to the same master */
        return;
    }
    log_notice("redis: master is %s:%d (worker %d)%s", host, port, r->worker_id,
               r->host ? ", moving there" : "");
    drop_contexts(r);
    free(r->host);
    r->host = util_xstrdup(host);
    r->port = port;
    r->retry_ms = RETRY_MIN_MS;
    /* Once both contexts are back, the sweep reads what was revoked on
     * the new master meanwhile, as after an outage. */
    connect_all(r);
}

static void on_cmd_ping(redisAsyncContext *ac, void *reply, void *priv)
{
    struct revoke *r = priv;
    redisReply *rep = reply;

    (void)ac;
    if (!rep || rep->type == REDIS_REPLY_ERROR || !r->cmd)
        return;
    __atomic_store_n(&r->cmd_up, 1, __ATOMIC_RELAXED);
    r->retry_ms = RETRY_MIN_MS;
    note_up(r);
    /* Revocations made while we were away apply at once. */
    sweep_start(r);
}

static void on_cmd_role(redisAsyncContext *ac, void *reply, void *priv)
{
    struct revoke *r = priv;
    redisReply *rep = reply;

    if (!rep || !r->cmd)
        return;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "master") == 0) {
        on_cmd_ping(ac, reply, priv);
        return;
    }
    note_down(r, "not the master any more");
    drop_contexts(r);
    sentinel_refresh(r->sentinel);
    schedule_retry(r);
}

static void on_cmd_connect(const redisAsyncContext *ac, int status)
{
    struct revoke *r = ac->data;

    if (status != REDIS_OK) {
        note_down(r, ac->errstr);
        r->cmd = NULL;      /* hiredis frees it after this callback */
        __atomic_store_n(&r->cmd_up, 0, __ATOMIC_RELAXED);
        schedule_retry(r);
        return;
    }
    /* TCP is up; Redis is up once it answers, and under Sentinel only
     * if it is the master (a demoted one may still be reachable). */
    if (r->sentinel)
        redisAsyncCommand(r->cmd, on_cmd_role, r, "ROLE");
    else
        redisAsyncCommand(r->cmd, on_cmd_ping, r, "PING");
}

static void on_cmd_disconnect(const redisAsyncContext *ac, int status)
{
    struct revoke *r = ac->data;

    (void)status;
    if (!r)
        return;
    note_down(r, ac->errstr);
    r->cmd = NULL;
    __atomic_store_n(&r->cmd_up, 0, __ATOMIC_RELAXED);
    r->sweeping = 0;
    sentinel_refresh(r->sentinel);
    schedule_retry(r);
}

static void on_keyspace(redisAsyncContext *ac, void *reply, void *priv);
static void on_channel(redisAsyncContext *ac, void *reply, void *priv);

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
    struct revoke *r = ac->data;

    if (status != REDIS_OK) {
        note_down(r, ac->errstr);
        r->sub = NULL;
        __atomic_store_n(&r->sub_up, 0, __ATOMIC_RELAXED);
        schedule_retry(r);
        return;
    }
    /* Up once the PSUBSCRIBE is confirmed (on_keyspace). */
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
    struct revoke *r = ac->data;

    (void)status;
    if (!r)
        return;
    note_down(r, ac->errstr);
    r->sub = NULL;
    __atomic_store_n(&r->sub_up, 0, __ATOMIC_RELAXED);
    schedule_retry(r);
}

static redisAsyncContext *open_ctx(struct revoke *r, redisConnectCallback *on_conn,
                                   redisDisconnectCallback *on_disc)
{
    redisAsyncContext *ac = r->unix_path ? redisAsyncConnectUnix(r->unix_path)
                                         : redisAsyncConnect(r->host, r->port);
    if (!ac)
        return NULL;
    if (ac->err) {
        note_down(r, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = r;
    redisLibeventAttach(ac, r->base);
    redisAsyncSetConnectCallback(ac, on_conn);
    redisAsyncSetDisconnectCallback(ac, on_disc);
    return ac;
}

static void connect_all(struct revoke *r)
{
    if (!r->host && !r->unix_path)
        return;     /* Sentinel has not named the master yet */
    if (!r->cmd) {
        r->cmd = open_ctx(r, on_cmd_connect, on_cmd_disconnect);
        if (!r->cmd)
            schedule_retry(r);
    }
    if (!r->sub) {
        r->sub = open_ctx(r, on_sub_connect, on_sub_disconnect);
        if (!r->sub) {
            schedule_retry(r);
        } else {
            /* Queued until connected; keyspace events for our keys only. */
            redisAsyncCommand(r->sub, on_keyspace, r, "PSUBSCRIBE __keyspace@*__:%s*", r->match);
            if (r->channel)
                redisAsyncCommand(r->sub, on_channel, r, "SUBSCRIBE %s", r->channel);
        }
    }
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct revoke *r = arg;

    (void)fd;
    (void)what;
    if (!r->cmd_up)
        sentinel_refresh(r->sentinel);
    connect_all(r);
}

/* ---- keyspace notifications ------------------------------------------- */

struct sub_lookup {
    struct revoke *r;
    char *sub;
};

static void on_sub_value(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sub_lookup *l = priv;
    redisReply *rep = reply;

    (void)ac;
    if (rep && rep->type == REDIS_REPLY_STRING && l->r)
        sidx_revoke(l->r, &l->r->by_sub, l->sub, rep->str, rep->len);
    free(l->sub);
    free(l);
}

/* A revoked:* key: jti keys close by presence, sub keys by their value. */
static void key_revoked(struct revoke *r, const char *key, size_t len)
{
    if (len <= r->prefix_len || memcmp(key, r->prefix, r->prefix_len) != 0)
        return;
    key += r->prefix_len;
    len -= r->prefix_len;
    if (len > 4 && memcmp(key, "jti:", 4) == 0) {
        char *jti = util_strndup(key + 4, len - 4);
        sidx_revoke(r, &r->by_jti, jti, NULL, 0);
        free(jti);
    } else if (len > 4 && memcmp(key, "sub:", 4) == 0 && r->cmd_up) {
        char *sub = util_strndup(key + 4, len - 4);
        if (!sidx_has(&r->by_sub, sub)) {
            free(sub);
            return;
        }
        struct sub_lookup *l = util_xcalloc(1, sizeof(*l));
        l->r = r;
        l->sub = sub;
        if (redisAsyncCommand(r->cmd, on_sub_value, l, "GET %ssub:%s", r->prefix, sub) != REDIS_OK) {
            free(l->sub);
            free(l);
        }
    }
}

static void on_keyspace(redisAsyncContext *ac, void *reply, void *priv)
{
    struct revoke *r = priv;
    redisReply *rep = reply;
    const char *chan, *key;

    (void)ac;
    if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[0]->type == REDIS_REPLY_STRING &&
        strcmp(rep->element[0]->str, "psubscribe") == 0) {
        __atomic_store_n(&r->sub_up, 1, __ATOMIC_RELAXED);
        note_up(r);
        /* Revocations made before the subscription took hold sent their
         * notifications to nobody: read them now (the sweep on PING covers
         * only those made before the command connection came back). */
        sweep_start(r);
        return;
    }
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 4)
        return;
    if (strcmp(rep->element[0]->str, "pmessage") != 0 ||
        rep->element[2]->type != REDIS_REPLY_STRING || rep->element[3]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(rep->element[3]->str, "set") != 0)
        return;
    chan = rep->element[2]->str;
    key = strstr(chan, "__:");
    if (!key)
        return;
    key += 3;
    key_revoked(r, key, rep->element[2]->len - (size_t)(key - chan));
}

/* ---- revocation_channel ------------------------------------------------ */

static int all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 19)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

int revoke_parse_message(const char *msg, size_t len, struct revoke_msg *out)
{
    memset(out, 0, sizeof(*out));
    /* Keys are C strings everywhere else: a NUL can name nothing. */
    if (memchr(msg, '\0', len))
        return 0;
    if (len > 4 && memcmp(msg, "jti:", 4) == 0) {
        out->key = msg + 4;
        out->key_len = len - 4;
        return 'j';
    }
    if (len > 4 && memcmp(msg, "sub:", 4) == 0) {
        const char *p = msg + 4, *end = msg + len, *colon = NULL;
        for (const char *q = p; q < end; q++)
            if (*q == ':')
                colon = q;
        if (!colon || colon == p || !all_digits(colon + 1, (size_t)(end - colon - 1)))
            return 0;
        out->key = p;
        out->key_len = (size_t)(colon - p);
        out->cutoff = colon + 1;
        out->cutoff_len = (size_t)(end - colon - 1);
        return 's';
    }
    return 0;
}

/* Anyone who may PUBLISH can send junk: one line per second at most,
 * for the whole process (every worker hears every message). */
static void log_malformed(struct revoke *r)
{
    static int64_t logged_s;
    static unsigned long quiet;
    int64_t now = util_now_ms() / 1000, prev = __atomic_load_n(&logged_s, __ATOMIC_RELAXED);

    __atomic_add_fetch(&r->st.channel_malformed, 1, __ATOMIC_RELAXED);
    if (now == prev || !__atomic_compare_exchange_n(&logged_s, &prev, now, 0, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&quiet, 1, __ATOMIC_RELAXED);
        return;
    }
    log_warn("redis: ignored a malformed message on %s; %lu more not logged", r->channel,
             __atomic_exchange_n(&quiet, 0, __ATOMIC_RELAXED));
}

static void on_channel(redisAsyncContext *ac, void *reply, void *priv)
{
    struct revoke *r = priv;
    redisReply *rep = reply;
    struct revoke_msg m;
    char *key;
    int kind;

    (void)ac;
    if (!rep || !r || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        strcmp(rep->element[0]->str, "message") != 0 ||
        rep->element[2]->type != REDIS_REPLY_STRING)
        return;     /* the subscribe confirmation, or the context going away */
    __atomic_add_fetch(&r->st.channel_messages, 1, __ATOMIC_RELAXED);
    kind = revoke_parse_message(rep->element[2]->str, rep->element[2]->len, &m);
    if (!kind) {
        log_malformed(r);
        return;
    }
    key = util_strndup(m.key, m.key_len);
    if (kind == 'j')
        sidx_revoke(r, &r->by_jti, key, NULL, 0);
    else
        sidx_revoke(r, &r->by_sub, key, m.cutoff, m.cutoff_len);
    free(key);
}

/* ---- sweep -------------------------------------------------------------- */

static void on_scan(redisAsyncContext *ac, void *reply, void *priv)
{
    struct revoke *r = priv;
    redisReply *rep = reply;

    (void)ac;
    if (!rep || !r->cmd_up || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_ARRAY) {
        r->sweeping = 0;
        return;
    }
    redisReply *keys = rep->element[1];
    for (size_t i = 0; i < keys->elements; i++)
        if (keys->element[i]->type == REDIS_REPLY_STRING)
            key_revoked(r, keys->element[i]->str, keys->element[i]->len);
    if (strcmp(rep->element[0]->str, "0") == 0) {
        r->sweeping = 0;
        __atomic_add_fetch(&r->st.sweeps, 1, __ATOMIC_RELAXED);
        if (r->sweep_again) {
            r->sweep_again = 0;
            sweep_start(r);
        }
        return;
    }
    redisAsyncCommand(r->cmd, on_scan, r, "SCAN %s MATCH %s* COUNT 1000", rep->element[0]->str,
                      r->match);
}

static void sweep_start(struct revoke *r)
{
    if (!r->cmd_up)
        return;
    if (r->sweeping) {
        r->sweep_again = 1;
        return;
    }
    if (r->by_jti.n == 0 && r->by_sub.n == 0)
        return;     /* nothing live to close */
    r->sweeping = 1;
    if (redisAsyncCommand(r->cmd, on_scan, r, "SCAN 0 MATCH %s* COUNT 1000", r->match) != REDIS_OK)
        r->sweeping = 0;
}

static void on_sweep_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sweep_start(arg);
}

/* ---- handshake check ---------------------------------------------------- */

static void check_free(struct revoke_check *chk)
{
    event_free(chk->timer);
    free(chk);
}

static void check_finish(struct revoke_check *chk)
{
    void (*done)(void *, int) = chk->done;
    int result = chk->failed ? REVOKE_UNAVAILABLE : chk->revoked ? REVOKE_REVOKED : REVOKE_OK;

    chk->done = NULL;
    if (done) {
        if (result == REVOKE_REVOKED)
            __atomic_add_fetch(&chk->r->st.revoked, 1, __ATOMIC_RELAXED);
        else if (result == REVOKE_UNAVAILABLE)
            __atomic_add_fetch(&chk->r->st.unavailable, 1, __ATOMIC_RELAXED);
        done(chk->arg, result);
    }
}

static void on_check_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct revoke_check *chk = arg;

    (void)fd;
    (void)what;
    if (chk->pending > 0)
        chk->failed = 1;
    check_finish(chk);
    if (chk->pending == 0)
        check_free(chk);
}

static void check_reply(struct revoke_check *chk, redisReply *rep, int is_sub)
{
    chk->pending--;
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        chk->failed = 1;
    } else if (!is_sub) {
        if (rep->type == REDIS_REPLY_INTEGER && rep->integer > 0)
            chk->revoked = 1;
    } else if (rep->type == REDIS_REPLY_STRING &&
               revoke_sub_cutoff_applies(rep->str, rep->len, chk->has_iat, chk->iat)) {
        chk->revoked = 1;
    }
    if (chk->pending == 0) {
        if (!chk->done) {
            /* Cancelled, or already answered by the timeout. */
            evtimer_del(chk->timer);
            check_free(chk);
            return;
        }
        evtimer_del(chk->timer);
        check_finish(chk);
        check_free(chk);
    }
}

static void on_jti_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    check_reply(priv, reply, 0);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    check_reply(priv, reply, 1);
}

struct revoke_check *revoke_check_start(struct revoke *r, const struct jwt_claims *c,
                                        void (*done)(void *arg, int result), void *arg)
{
    struct revoke_check *chk;
    struct timeval tv;

    __atomic_add_fetch(&r->st.checks, 1, __ATOMIC_RELAXED);
    if (!r->cmd_up)
        return NULL;
    chk = util_xcalloc(1, sizeof(*chk));
    chk->r = r;
    chk->done = done;
    chk->arg = arg;
    chk->has_iat = c->has_iat;
    chk->iat = c->iat;
    chk->timer = evtimer_new(r->base, on_check_timeout, chk);
    /* Both lookups leave in one write: one round trip. */
    if (c->jti) {
        if (redisAsyncCommand(r->cmd, on_jti_reply, chk, "EXISTS %srevoked:jti:%s",
                              r->prefix_base, c->jti) == REDIS_OK)
            chk->pending++;
        else
            chk->failed = 1;
    }
    if (c->sub) {
        if (redisAsyncCommand(r->cmd, on_sub_reply, chk, "GET %srevoked:sub:%s",
                              r->prefix_base, c->sub) == REDIS_OK)
            chk->pending++;
        else
            chk->failed = 1;
    }
    if (chk->pending == 0) {
        /* Nothing to ask (or nothing could be sent): answer at the next turn. */
        tv.tv_sec = 0;
        tv.tv_usec = 0;
    } else {
        tv.tv_sec = (time_t)(r->timeout_ms / 1000);
        tv.tv_usec = (suseconds_t)((r->timeout_ms % 1000) * 1000);
    }
    evtimer_add(chk->timer, &tv);
    return chk;
}

void revoke_check_cancel(struct revoke_check *chk)
{
    if (!chk)
        return;
    chk->done = NULL;
    if (chk->pending == 0) {
        evtimer_del(chk->timer);
        check_free(chk);
    }
}

/* ---- lifecycle ------------------------------------------------------------ */

static char *glob_escape(const char *s)
{
    char *out = util_xmalloc(strlen(s) * 2 + 1), *o = out;

    for (; *s; s++) {
        if (strchr("*?[]\\", *s))
            *o++ = '\\';
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

struct revoke *revoke_new(struct event_base *base, const struct config *cfg, int worker_id)
{
    struct revoke *r;
    struct timeval tv;
    char *full;

    if (!cfg->redis)
        return NULL;
    r = util_xcalloc(1, sizeof(*r));
    r->base = base;
    r->worker_id = worker_id;
    if (cfg->redis_unix)
        r->unix_path = util_xstrdup(cfg->redis_unix);
    else if (cfg->redis_host)
        r->host = util_xstrdup(cfg->redis_host);
    r->port = cfg->redis_port;
    r->prefix_base = util_xstrdup(cfg->redis_prefix);
    full = util_xmalloc(strlen(cfg->redis_prefix) + sizeof("revoked:"));
    sprintf(full, "%srevoked:", cfg->redis_prefix);
    r->prefix = full;
    r->prefix_len = strlen(full);
    r->match = glob_escape(full);
    r->sweep_ms = cfg->revocation_sweep_ms;
    if (cfg->revocation_channel)
        r->channel = util_xstrdup(cfg->revocation_channel);
    r->timeout_ms = cfg->redis_timeout_ms;
    r->retry_ms = RETRY_MIN_MS;
    r->by_jti.slot = 0;
    r->by_sub.slot = 1;
    r->retry = evtimer_new(base, on_retry, r);
    r->sweep_timer = event_new(base, -1, EV_PERSIST, on_sweep_timer, r);
    tv.tv_sec = (time_t)(r->sweep_ms / 1000);
    tv.tv_usec = (suseconds_t)((r->sweep_ms % 1000) * 1000);
    evtimer_add(r->sweep_timer, &tv);
    if (cfg->redis_sentinel)
        r->sentinel = sentinel_new(base, cfg, worker_id, on_master, r);
    connect_all(r);
    return r;
}

void revoke_free(struct revoke *r)
{
    if (!r)
        return;
    sentinel_free(r->sentinel);
    event_free(r->retry);
    event_free(r->sweep_timer);
    /* Pending callbacks run now with NULL replies and free what they own. */
    if (r->cmd) {
        r->cmd->data = NULL;
        redisAsyncFree(r->cmd);
    }
    if (r->sub) {
        r->sub->data = NULL;
        redisAsyncFree(r->sub);
    }
    free(r->by_jti.b);
    free(r->by_sub.b);
    free(r->host);
    free(r->unix_path);
    free(r->prefix);
    free(r->prefix_base);
    free(r->match);
    free(r->channel);
    free(r);
}

/* Read from the status listener's thread: relaxed atomic loads. */
int revoke_is_up(const struct revoke *r)
{
    return r && __atomic_load_n(&r->cmd_up, __ATOMIC_RELAXED) &&
           __atomic_load_n(&r->sub_up, __ATOMIC_RELAXED);
}

void revoke_get_stats(const struct revoke *r, struct revoke_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!r)
        return;
    out->checks = __atomic_load_n(&r->st.checks, __ATOMIC_RELAXED);
    out->revoked = __atomic_load_n(&r->st.revoked, __ATOMIC_RELAXED);
    out->unavailable = __atomic_load_n(&r->st.unavailable, __ATOMIC_RELAXED);
    out->allowed_while_down = __atomic_load_n(&r->st.allowed_while_down, __ATOMIC_RELAXED);
    out->live_closed = __atomic_load_n(&r->st.live_closed, __ATOMIC_RELAXED);
    out->sweeps = __atomic_load_n(&r->st.sweeps, __ATOMIC_RELAXED);
    out->channel_messages = __atomic_load_n(&r->st.channel_messages, __ATOMIC_RELAXED);
    out->channel_malformed = __atomic_load_n(&r->st.channel_malformed, __ATOMIC_RELAXED);
}

void revoke_count_allowed(struct revoke *r)
{
    if (r)
        __atomic_add_fetch(&r->st.allowed_while_down, 1, __ATOMIC_RELAXED);
}
