/* The status listener (status_listen): /healthz, /metrics (Prometheus text
 * format) and /sessions (JSON), served from the main thread. Counters are
 * summed from the workers at scrape time; the session list is gathered by
 * asking each worker for a snapshot built in its own thread. */
#include "status.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "config.h"
#include "connlimit.h"
#include "log.h"
#include "metrics.h"
#include "revoke.h"
#include "siosid.h"
#include "tokcache.h"
#include "util.h"
#include "worker.h"

struct status {
    struct evhttp *http;
    struct worker *workers;
    int nworkers;
    const int *draining;
    struct config *(*current)(void);
};

static int redis_ok(const struct status *st, const struct config *cfg)
{
    if (!cfg->redis)
        return 1;
    for (int i = 0; i < st->nworkers; i++)
        if (!revoke_is_up(st->workers[i].rv))
            return 0;
    return 1;
}

static void reply_text(struct evhttp_request *req, int code, const char *reason,
                       const char *ctype, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    evhttp_send_reply(req, code, reason, body);
}

static void on_healthz(struct status *st, struct evhttp_request *req, struct evbuffer *b)
{
    struct config *cfg = worker_config_acquire();

    if (*st->draining) {
        evbuffer_add_printf(b, "draining");
        reply_text(req, 503, "Service Unavailable", "text/plain", b);
    } else if (cfg->redis && !cfg->redis_failure_allow && !redis_ok(st, cfg)) {
        evbuffer_add_printf(b, "redis unavailable");
        reply_text(req, 503, "Service Unavailable", "text/plain", b);
    } else {
        evbuffer_add_printf(b, "ok");
        reply_text(req, 200, "OK", "text/plain", b);
    }
    config_unref(cfg);
}

static void on_metrics(struct status *st, struct evhttp_request *req, struct evbuffer *b)
{
    struct metrics sum, *each[64];
    struct revoke_stats rs, tot;
    struct config *cfg = worker_config_acquire();
    int n = st->nworkers < 64 ? st->nworkers : 64;
    uint64_t cum = 0;
    long open = __atomic_load_n(&connlimit_open, __ATOMIC_RELAXED);

    for (int i = 0; i < n; i++)
        each[i] = &st->workers[i].m;
    metrics_sum(&sum, each, n);
    memset(&tot, 0, sizeof(tot));
    for (int i = 0; i < n; i++) {
        revoke_get_stats(st->workers[i].rv, &rs);
        tot.checks += rs.checks;
        tot.revoked += rs.revoked;
        tot.unavailable += rs.unavailable;
        tot.allowed_while_down += rs.allowed_while_down;
        tot.live_closed += rs.live_closed;
        tot.sweeps += rs.sweeps;
    }

    evbuffer_add_printf(b,
        "# HELP wsgate_sessions_active WebSocket sessions relaying now.\n"
        "# TYPE wsgate_sessions_active gauge\n"
        "wsgate_sessions_active %lld\n"
        "# HELP wsgate_connections_open Client connections open, in any state.\n"
        "# TYPE wsgate_connections_open gauge\n"
        "wsgate_connections_open %ld\n",
        (long long)sum.sessions_active, open);

    {
        struct tokcache_stats tc;
        tokcache_stats(&tc);
        evbuffer_add_printf(b,
            "# HELP wsgate_token_cache_lookups_total Verified-token cache lookups, by result.\n"
            "# TYPE wsgate_token_cache_lookups_total counter\n"
            "wsgate_token_cache_lookups_total{result=\"hit\"} %llu\n"
            "wsgate_token_cache_lookups_total{result=\"miss\"} %llu\n"
            "# HELP wsgate_token_cache_entries Tokens held in the verified-token caches.\n"
            "# TYPE wsgate_token_cache_entries gauge\n"
            "wsgate_token_cache_entries %llu\n"
            "# HELP wsgate_token_cache_bytes Memory the verified-token caches hold.\n"
            "# TYPE wsgate_token_cache_bytes gauge\n"
            "wsgate_token_cache_bytes %llu\n",
            (unsigned long long)tc.hits, (unsigned long long)tc.misses,
            (unsigned long long)tc.entries, (unsigned long long)tc.bytes);
    }

    evbuffer_add_printf(b,
        "# HELP wsgate_handshakes_total Upgrade requests by outcome and rejection reason.\n"
        "# TYPE wsgate_handshakes_total counter\n"
        "wsgate_handshakes_total{result=\"accepted\",reason=\"\"} %llu\n",
        (unsigned long long)sum.accepted);
    for (int i = 1; i < OC_COUNT; i++)
        if (outcome_labels((enum outcome)i) & OC_REJECT)
            evbuffer_add_printf(b, "wsgate_handshakes_total{result=\"rejected\",reason=\"%s\"} %llu\n",
                                outcome_name((enum outcome)i), (unsigned long long)sum.rejected[i]);

    evbuffer_add_printf(b,
        "# HELP wsgate_closes_total Relayed sessions ended, by cause.\n"
        "# TYPE wsgate_closes_total counter\n");
    for (int i = 1; i < OC_COUNT; i++)
        if (outcome_labels((enum outcome)i) & OC_CLOSE)
            evbuffer_add_printf(b, "wsgate_closes_total{cause=\"%s\"} %llu\n",
                                outcome_name((enum outcome)i), (unsigned long long)sum.closes[i]);

    evbuffer_add_printf(b,
        "# HELP wsgate_reauth_total In-band re-authentications, by result.\n"
        "# TYPE wsgate_reauth_total counter\n");
    for (int i = 0; i < REAUTH_NRESULTS; i++)
        evbuffer_add_printf(b, "wsgate_reauth_total{result=\"%s\"} %llu\n",
                            reauth_result_name((enum reauth_result)i), (unsigned long long)sum.reauth[i]);

    {
        struct siosid_stats ss;
        siosid_get_stats(&ss);
        evbuffer_add_printf(b,
            "# HELP wsgate_socketio_sids socket.io polling sessions the gateway follows, by state.\n"
            "# TYPE wsgate_socketio_sids gauge\n"
            "wsgate_socketio_sids{state=\"live\"} %lu\n"
            "wsgate_socketio_sids{state=\"ended\"} %lu\n"
            "# HELP wsgate_socketio_sids_refused_total Handshakes refused because the sid table was full.\n"
            "# TYPE wsgate_socketio_sids_refused_total counter\n"
            "wsgate_socketio_sids_refused_total %lu\n"
            "# HELP wsgate_socketio_backend_closes_total Close packets POSTed to backends for ended sids, by result.\n"
            "# TYPE wsgate_socketio_backend_closes_total counter\n"
            "wsgate_socketio_backend_closes_total{result=\"sent\"} %lu\n"
            "wsgate_socketio_backend_closes_total{result=\"failed\"} %lu\n",
            ss.live, ss.ended, ss.full, ss.closes_sent, ss.closes_failed);
    }

    evbuffer_add_printf(b,
        "# HELP wsgate_bytes_total Bytes relayed after the handshake, by direction.\n"
        "# TYPE wsgate_bytes_total counter\n"
        "wsgate_bytes_total{direction=\"client_to_upstream\"} %llu\n"
        "wsgate_bytes_total{direction=\"upstream_to_client\"} %llu\n",
        (unsigned long long)sum.bytes_c2u, (unsigned long long)sum.bytes_u2c);

    evbuffer_add_printf(b,
        "# HELP wsgate_handshake_duration_seconds From accept to the 101 reaching the client.\n"
        "# TYPE wsgate_handshake_duration_seconds histogram\n");
    for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++) {
        cum += sum.latency[i];
        evbuffer_add_printf(b, "wsgate_handshake_duration_seconds_bucket{le=\"%g\"} %llu\n",
                            metrics_latency_bounds[i], (unsigned long long)cum);
    }
    evbuffer_add_printf(b,
        "wsgate_handshake_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
        "wsgate_handshake_duration_seconds_sum %.6f\n"
        "wsgate_handshake_duration_seconds_count %llu\n",
        (unsigned long long)sum.latency_count, (double)sum.latency_sum_us / 1e6,
        (unsigned long long)sum.latency_count);

    if (cfg->redis) {
        evbuffer_add_printf(b,
            "# HELP wsgate_redis_up 1 when every worker is connected to Redis.\n"
            "# TYPE wsgate_redis_up gauge\n"
            "wsgate_redis_up %d\n"
            "# HELP wsgate_redis_checks_total Handshake revocation lookups.\n"
            "# TYPE wsgate_redis_checks_total counter\n"
            "wsgate_redis_checks_total %lu\n"
            "# HELP wsgate_redis_unavailable_total Lookups that found Redis unavailable.\n"
            "# TYPE wsgate_redis_unavailable_total counter\n"
            "wsgate_redis_unavailable_total %lu\n"
            "# HELP wsgate_redis_allowed_while_down_total Handshakes admitted without a lookup (redis_failure allow).\n"
            "# TYPE wsgate_redis_allowed_while_down_total counter\n"
            "wsgate_redis_allowed_while_down_total %lu\n"
            "# HELP wsgate_revoked_handshakes_total Handshakes refused because the token was revoked.\n"
            "# TYPE wsgate_revoked_handshakes_total counter\n"
            "wsgate_revoked_handshakes_total %lu\n"
            "# HELP wsgate_revoked_sessions_total Live sessions closed because their token was revoked.\n"
            "# TYPE wsgate_revoked_sessions_total counter\n"
            "wsgate_revoked_sessions_total %lu\n"
            "# HELP wsgate_revocation_sweeps_total Completed sweeps of the revoked keys.\n"
            "# TYPE wsgate_revocation_sweeps_total counter\n"
            "wsgate_revocation_sweeps_total %lu\n",
            redis_ok(st, cfg), tot.checks, tot.unavailable, tot.allowed_while_down, tot.revoked,
            tot.live_closed, tot.sweeps);
    }
    config_unref(cfg);
    reply_text(req, 200, "OK", "text/plain; version=0.0.4", b);
}

static void on_sessions(struct status *st, struct evhttp_request *req, struct evbuffer *b)
{
    int first = 1;

    evbuffer_add_printf(b, "[");
    for (int i = 0; i < st->nworkers; i++) {
        char *part = worker_snapshot(&st->workers[i]);
        if (part && *part) {
            evbuffer_add_printf(b, "%s%s", first ? "" : ",", part);
            first = 0;
        }
        free(part);
    }
    evbuffer_add_printf(b, "]\n");
    reply_text(req, 200, "OK", "application/json", b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct status *st = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct evbuffer *b = evbuffer_new();

    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
        evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evbuffer_add_printf(b, "method not allowed\n");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        reply_text(req, 405, "Method Not Allowed", "text/plain", b);
    } else if (path && strcmp(path, "/healthz") == 0) {
        on_healthz(st, req, b);
    } else if (path && strcmp(path, "/metrics") == 0) {
        on_metrics(st, req, b);
    } else if (path && strcmp(path, "/sessions") == 0) {
        on_sessions(st, req, b);
    } else {
        evbuffer_add_printf(b, "not found\n");
        reply_text(req, 404, "Not Found", "text/plain", b);
    }
    evbuffer_free(b);
}

struct status *status_start(struct event_base *base, const struct config *cfg,
                            struct worker *workers, int nworkers, const int *draining,
                            char *err, size_t errlen)
{
    struct status *st;
    struct evconnlistener *l;

    if (!cfg->status_listen)
        return NULL;
    st = util_xcalloc(1, sizeof(*st));
    st->workers = workers;
    st->nworkers = nworkers;
    st->draining = draining;
    st->http = evhttp_new(base);
    l = evconnlistener_new_bind(base, NULL, NULL,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
                                128, (const struct sockaddr *)&cfg->status_addr.ss,
                                (int)cfg->status_addr.len);
    if (!st->http || !l || !evhttp_bind_listener(st->http, l)) {
        snprintf(err, errlen, "cannot listen on %s for status_listen", cfg->status_addr.text);
        if (l && !st->http)
            evconnlistener_free(l);
        status_stop(st);
        return NULL;
    }
    evhttp_set_allowed_methods(st->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_timeout(st->http, 10);
    evhttp_set_max_headers_size(st->http, 8192);
    evhttp_set_max_body_size(st->http, 0);
    evhttp_set_gencb(st->http, on_request, st);
    log_notice("status listener on %s", cfg->status_addr.text);
    return st;
}

void status_stop(struct status *st)
{
    if (!st)
        return;
    if (st->http)
        evhttp_free(st->http);
    free(st);
}
