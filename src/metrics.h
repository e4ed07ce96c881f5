/* Per-worker counters. Each worker writes only its own struct (relaxed
 * atomic adds, no locks on the hot path); the status listener sums all
 * workers at scrape time. */
#ifndef WSGATE_METRICS_H
#define WSGATE_METRICS_H

#include <stdint.h>

#include "outcome.h"

struct evbuffer;

#define METRICS_LATENCY_BUCKETS 12

struct metrics {
    uint64_t accepted;                          /* handshakes that got a 101 */
    uint64_t rejected[OC_COUNT];                /* by outcome with OC_REJECT, else OC_OTHER */
    uint64_t closes[OC_COUNT];                  /* by outcome with OC_CLOSE, else OC_OTHER */
    uint64_t bytes_c2u, bytes_u2c;
    uint64_t latency[METRICS_LATENCY_BUCKETS];  /* cumulative later; raw counts here */
    uint64_t latency_count;
    uint64_t latency_sum_us;
    int64_t sessions_active;                    /* relaying now */
    uint64_t reauth[REAUTH_NRESULTS];           /* in-band re-auths by result */
};

/* Upper bounds of the handshake latency buckets, in seconds. */
extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS];


#define metrics_add(field, n) __atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define metrics_get(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

void metrics_reject(struct metrics *m, enum outcome reason);
void metrics_accept(struct metrics *m, int64_t latency_us);
void metrics_close(struct metrics *m, enum outcome cause);

/* Sums n per-worker structs into out. */
void metrics_sum(struct metrics *out, struct metrics *const *each, int n);

#endif
