/* benchhist: log-linear latency histogram for wsgate-bench. */
#include <math.h>

#include "benchhist.h"

static unsigned bucket_of(uint64_t v)
{
    unsigned e;

    if (v < BHIST_SUB)
        return (unsigned)v;
    e = 63 - (unsigned)__builtin_clzll(v);            /* >= 6 */
    unsigned b = BHIST_SUB + (e - 6) * BHIST_SUB +
                 (unsigned)((v >> (e - 6)) & (BHIST_SUB - 1));
    return b < BHIST_BUCKETS ? b : BHIST_BUCKETS - 1;
}

/* The middle of bucket b's range. */
static uint64_t value_of(unsigned b)
{
    unsigned e, sub;

    if (b < BHIST_SUB)
        return b;
    e = (b - BHIST_SUB) / BHIST_SUB + 6;
    sub = (b - BHIST_SUB) % BHIST_SUB;
    return ((uint64_t)(BHIST_SUB + sub) << (e - 6)) + ((1ull << (e - 6)) >> 1);
}

void bhist_add(struct bhist *h, uint64_t ns)
{
    h->b[bucket_of(ns)]++;
    h->count++;
    h->sum += ns;
    if (ns > h->max)
        h->max = ns;
}

uint64_t bhist_quantile(const struct bhist *h, double q)
{
    uint64_t rank, seen = 0;

    if (!h->count)
        return 0;
    rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    if (rank >= h->count)
        return h->max;          /* exact, and past the last bucket's range too */
    for (unsigned b = 0; b < BHIST_BUCKETS; b++) {
        seen += h->b[b];
        if (seen >= rank) {
            uint64_t v = b == BHIST_BUCKETS - 1 ? h->max : value_of(b);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}
