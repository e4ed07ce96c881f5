/* benchhist: a log-linear latency histogram (64 steps per power of two, so
 * every reported percentile is within 1.6 % of the true value) with
 * nearest-rank percentiles. Fixed size: recording never allocates. */
#ifndef BENCHHIST_H
#define BENCHHIST_H

#include <stdint.h>

#define BHIST_SUB 64
#define BHIST_BUCKETS (BHIST_SUB * 40)

struct bhist {
    uint64_t count;
    uint64_t sum;           /* ns */
    uint64_t max;           /* ns */
    uint64_t b[BHIST_BUCKETS];
};

void bhist_add(struct bhist *h, uint64_t ns);
/* The value (ns) at quantile q (0 < q <= 1), nearest rank; 0 when empty. */
uint64_t bhist_quantile(const struct bhist *h, double q);

#endif
