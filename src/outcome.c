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
