/* Finding the Redis master through Sentinel, as the Sentinel client
 * guidelines describe: ask one sentinel after another with SENTINEL
 * get-master-addr-by-name until one names the master, and stay subscribed
 * to +switch-master on that sentinel, so a failover is known the moment
 * Sentinel decides it. hiredis 0.14 has no timeouts: a query has its own
 * timer, and a sentinel that does not answer is dropped for the next. */
#include "sentinel.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "config.h"
#include "log.h"
#include "util.h"

#define QUERY_TIMEOUT_MS 1000
#define RETRY_MIN_MS 200
#define RETRY_MAX_MS 2000         /* sentinels all failing: a line every 2 s at most */

struct sentinel {
    struct event_base *base;
    int worker_id;
    char **hosts;
    int *ports;
    size_t n, cur;                  /* the sentinel in use */
    char *master_name;
    sentinel_master_cb master;
    void *arg;
    redisAsyncContext *cmd, *sub;
    int querying;
    struct event *query_timer;      /* an answer is owed */
    struct event *retry;            /* next sentinel, a little later */
    int64_t retry_ms;               /* doubles while they fail, reset by an answer */
};

static void connect_sentinel(struct sentinel *s);

static void drop(struct sentinel *s)
{
    /* Pending callbacks run with NULL replies and data NULL: ignored. */
    if (s->cmd) {
        s->cmd->data = NULL;
        redisAsyncFree(s->cmd);
        s->cmd = NULL;
    }
    if (s->sub) {
        s->sub->data = NULL;
        redisAsyncFree(s->sub);
        s->sub = NULL;
    }
    s->querying = 0;
    evtimer_del(s->query_timer);
}

/* This sentinel failed us: the next one, after a short pause. */
static void next_sentinel(struct sentinel *s, const char *why)
{
    struct timeval tv = { (time_t)(s->retry_ms / 1000), (suseconds_t)((s->retry_ms % 1000) * 1000) };

    log_info("redis sentinel %s:%d (worker %d): %s", s->hosts[s->cur], s->ports[s->cur],
             s->worker_id, why ? why : "unavailable");
    drop(s);
    s->cur = (s->cur + 1) % s->n;
    if (!evtimer_pending(s->retry, NULL)) {
        evtimer_add(s->retry, &tv);
        s->retry_ms = s->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->retry_ms * 2;
    }
}

static void on_master_addr(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sentinel *s = priv;
    redisReply *rep = reply;
    char *end;
    long port;

    if (!ac->data || !rep)
        return;
    s->querying = 0;
    evtimer_del(s->query_timer);
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING || rep->element[1]->type != REDIS_REPLY_STRING) {
        next_sentinel(s, "does not know the master");
        return;
    }
    port = strtol(rep->element[1]->str, &end, 10);
    if (*end || port < 1 || port > 65535) {
        next_sentinel(s, "answered a bad port");
        return;
    }
    s->retry_ms = RETRY_MIN_MS;
    s->master(s->arg, rep->element[0]->str, (int)port);
}

static void query(struct sentinel *s)
{
    struct timeval tv = { QUERY_TIMEOUT_MS / 1000, (QUERY_TIMEOUT_MS % 1000) * 1000 };

    if (!s->cmd || s->querying)
        return;
    if (redisAsyncCommand(s->cmd, on_master_addr, s, "SENTINEL get-master-addr-by-name %s",
                          s->master_name) != REDIS_OK) {
        next_sentinel(s, "cannot send the query");
        return;
    }
    s->querying = 1;
    evtimer_add(s->query_timer, &tv);
}

/* "+switch-master <name> <old-ip> <old-port> <new-ip> <new-port>" */
static void on_switch(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sentinel *s = priv;
    redisReply *rep = reply;
    char name[256], ip[64];
    int port;

    if (!ac->data || !rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(rep->element[0]->str, "subscribe") == 0) {
        /* A failover during the query's round trip is not lost: ask
         * again now that every later one will be heard. */
        query(s);
        return;
    }
    if (strcmp(rep->element[0]->str, "message") != 0 || rep->element[2]->type != REDIS_REPLY_STRING)
        return;
    if (sscanf(rep->element[2]->str, "%255s %*s %*s %63s %d", name, ip, &port) != 3 ||
        strcmp(name, s->master_name) != 0 || port < 1 || port > 65535)
        return;
    log_notice("redis sentinel: master %s switched to %s:%d (worker %d)", name, ip, port,
               s->worker_id);
    s->master(s->arg, ip, port);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sentinel *s = ac->data;

    (void)status;
    if (!s)
        return;
    if (ac == s->cmd)
        s->cmd = NULL;
    else if (ac == s->sub)
        s->sub = NULL;
    next_sentinel(s, ac->errstr[0] ? ac->errstr : "connection lost");
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct sentinel *s = ac->data;

    if (!s || status == REDIS_OK)
        return;
    /* hiredis frees ac after this callback. */
    if (ac == s->cmd)
        s->cmd = NULL;
    else if (ac == s->sub)
        s->sub = NULL;
    next_sentinel(s, ac->errstr);
}

static redisAsyncContext *open_ctx(struct sentinel *s)
{
    redisAsyncContext *ac = redisAsyncConnect(s->hosts[s->cur], s->ports[s->cur]);

    if (!ac)
        return NULL;
    if (ac->err) {
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = s;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void connect_sentinel(struct sentinel *s)
{
    s->cmd = open_ctx(s);
    s->sub = s->cmd ? open_ctx(s) : NULL;
    if (!s->cmd || !s->sub) {
        next_sentinel(s, "cannot connect");
        return;
    }
    /* The query is sent once the subscription is confirmed (on_switch). */
    redisAsyncCommand(s->sub, on_switch, s, "SUBSCRIBE +switch-master");
}

static void on_query_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    next_sentinel(arg, "no answer in time");
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel *s = arg;

    (void)fd;
    (void)what;
    if (!s->cmd)
        connect_sentinel(s);
}

struct sentinel *sentinel_new(struct event_base *base, const struct config *cfg, int worker_id,
                              sentinel_master_cb master, void *arg)
{
    struct sentinel *s = util_xcalloc(1, sizeof(*s));

    s->base = base;
    s->worker_id = worker_id;
    s->n = cfg->redis_nsentinels;
    s->hosts = util_xcalloc(s->n, sizeof(*s->hosts));
    s->ports = util_xcalloc(s->n, sizeof(*s->ports));
    for (size_t i = 0; i < s->n; i++) {
        s->hosts[i] = util_xstrdup(cfg->redis_sentinel_hosts[i]);
        s->ports[i] = cfg->redis_sentinel_ports[i];
    }
    s->master_name = util_xstrdup(cfg->redis_master_name);
    s->master = master;
    s->arg = arg;
    s->query_timer = evtimer_new(base, on_query_timeout, s);
    s->retry = evtimer_new(base, on_retry, s);
    s->retry_ms = RETRY_MIN_MS;
    connect_sentinel(s);
    return s;
}

void sentinel_refresh(struct sentinel *s)
{
    if (!s)
        return;
    if (s->cmd)
        query(s);
    else if (!evtimer_pending(s->retry, NULL))
        connect_sentinel(s);
}

void sentinel_free(struct sentinel *s)
{
    if (!s)
        return;
    drop(s);
    event_free(s->query_timer);
    event_free(s->retry);
    for (size_t i = 0; i < s->n; i++)
        free(s->hosts[i]);
    free(s->hosts);
    free(s->ports);
    free(s->master_name);
    free(s);
}
