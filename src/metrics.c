/* Per-worker counters and their label tables. */
#include "metrics.h"

#include <string.h>

const char *const metrics_reasons[] = {
    "bad_request", "request_header_fields_too_large", "request_timeout", "no_route",
    "not_websocket", "body_on_upgrade", "bad_websocket_key", "bad_websocket_version",
    "origin_not_allowed", "missing_token", "invalid_token", "insufficient_scope",
    "token_revoked", "token_expired", "redis_unavailable", "keys_unavailable",
    "too_many_connections", "too_many_connections_per_ip", "too_many_sessions_per_subject",
    "bad_gateway", "gateway_timeout", "upstream_declined", "upstream_closed",
    "upstream_timeout", "client_closed", "shutdown", "tls_handshake_failed",
    "tls_handshake_timeout", "internal_error",
    "bad_engineio", "too_many_sessions",
    "bad_proxy_header", "proxy_header_timeout",
    "other",
};
const int metrics_nreasons = (int)(sizeof(metrics_reasons) / sizeof(metrics_reasons[0]));

const char *const metrics_causes[] = {
    "client_closed", "client_error", "upstream_closed", "upstream_error", "token_expired",
    "token_revoked", "idle_timeout", "message_too_big", "protocol_error",
    "upstream_protocol_error", "shutdown",
    "connect_refused", "policy_violation",
    "other",
};
const int metrics_ncauses = (int)(sizeof(metrics_causes) / sizeof(metrics_causes[0]));

const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
};

static int find(const char *const *table, int n, const char *name)
{
    if (name)
        for (int i = 0; i < n; i++)
            if (strcmp(table[i], name) == 0)
                return i;
    return n - 1;   /* "other" is last in both tables */
}

int metrics_reason_index(const char *reason)
{
    return find(metrics_reasons, metrics_nreasons, reason);
}

int metrics_cause_index(const char *cause)
{
    return find(metrics_causes, metrics_ncauses, cause);
}

void metrics_reject(struct metrics *m, const char *reason)
{
    metrics_add(m->rejected[metrics_reason_index(reason)], 1);
}

void metrics_accept(struct metrics *m, int64_t latency_us)
{
    double s = (double)latency_us / 1e6;
    int i;

    metrics_add(m->accepted, 1);
    for (i = 0; i < METRICS_LATENCY_BUCKETS; i++)
        if (s <= metrics_latency_bounds[i])
            break;
    if (i < METRICS_LATENCY_BUCKETS)
        metrics_add(m->latency[i], 1);
    metrics_add(m->latency_count, 1);
    metrics_add(m->latency_sum_us, (uint64_t)(latency_us > 0 ? latency_us : 0));
}

void metrics_close(struct metrics *m, const char *cause)
{
    metrics_add(m->closes[metrics_cause_index(cause)], 1);
}

void metrics_sum(struct metrics *out, struct metrics *const *each, int n)
{
    memset(out, 0, sizeof(*out));
    for (int w = 0; w < n; w++) {
        struct metrics *m = each[w];
        out->accepted += metrics_get(m->accepted);
        for (int i = 0; i < METRICS_MAX_REASONS; i++)
            out->rejected[i] += metrics_get(m->rejected[i]);
        for (int i = 0; i < METRICS_MAX_CAUSES; i++)
            out->closes[i] += metrics_get(m->closes[i]);
        out->bytes_c2u += metrics_get(m->bytes_c2u);
        out->bytes_u2c += metrics_get(m->bytes_u2c);
        for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++)
            out->latency[i] += metrics_get(m->latency[i]);
        out->latency_count += metrics_get(m->latency_count);
        out->latency_sum_us += metrics_get(m->latency_sum_us);
        out->sessions_active += metrics_get(m->sessions_active);
    }
}
