/* Per-worker counters; their labels are the outcomes (outcome.h). */
#include "metrics.h"

#include <string.h>

const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
};

void metrics_reject(struct metrics *m, enum outcome reason)
{
    metrics_add(m->rejected[outcome_labels(reason) & OC_REJECT ? reason : OC_OTHER], 1);
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

void metrics_close(struct metrics *m, enum outcome cause)
{
    metrics_add(m->closes[outcome_labels(cause) & OC_CLOSE ? cause : OC_OTHER], 1);
}

void metrics_sum(struct metrics *out, struct metrics *const *each, int n)
{
    memset(out, 0, sizeof(*out));
    for (int w = 0; w < n; w++) {
        struct metrics *m = each[w];
        out->accepted += metrics_get(m->accepted);
        for (int i = 0; i < OC_COUNT; i++)
            out->rejected[i] += metrics_get(m->rejected[i]);
        for (int i = 0; i < OC_COUNT; i++)
            out->closes[i] += metrics_get(m->closes[i]);
        out->bytes_c2u += metrics_get(m->bytes_c2u);
        out->bytes_u2c += metrics_get(m->bytes_u2c);
        for (int i = 0; i < METRICS_LATENCY_BUCKETS; i++)
            out->latency[i] += metrics_get(m->latency[i]);
        out->latency_count += metrics_get(m->latency_count);
        out->latency_sum_us += metrics_get(m->latency_sum_us);
        out->sessions_active += metrics_get(m->sessions_active);
        for (int i = 0; i < REAUTH_NRESULTS; i++)
            out->reauth[i] += metrics_get(m->reauth[i]);
    }
}
