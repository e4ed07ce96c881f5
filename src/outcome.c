/* The outcome name table (outcome.h). */
#include "outcome.h"

#include <stddef.h>

static const struct {
    const char *name;
    unsigned labels;
} table[OC_COUNT] = {
    [OC_NONE] = { NULL, 0 },
#define OUTCOME_ROW(e, n, k) [OC_##e] = { n, k },
    OUTCOMES(OUTCOME_ROW)
#undef OUTCOME_ROW
};

const char *outcome_name(enum outcome o)
{
    return (unsigned)o < OC_COUNT ? table[o].name : NULL;
}

unsigned outcome_labels(enum outcome o)
{
    return (unsigned)o < OC_COUNT ? table[o].labels : 0;
}

static const char *const result_names[] = {
#define REAUTH_NAME(e, n) n,
    REAUTH_RESULTS(REAUTH_NAME)
#undef REAUTH_NAME
};

const char *reauth_result_name(enum reauth_result r)
{
    return (unsigned)r < REAUTH_NRESULTS ? result_names[r] : "?";
}
