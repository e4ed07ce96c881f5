/* The outcome table: every outcome has one name, no two share one, and
 * "other" can take what a metric has no label for. */
#include <string.h>

#include "metrics.h"
#include "outcome.h"
#include "tap.h"

int main(void)
{
    int unique = 1, named = 1;
    struct metrics m;

    ok(outcome_name(OC_NONE) == NULL, "OC_NONE has no name (nothing decided yet)");
    for (int i = 1; i < OC_COUNT; i++) {
        if (!outcome_name((enum outcome)i) || !*outcome_name((enum outcome)i))
            named = 0;
        for (int j = 1; j < i; j++)
            if (outcome_name((enum outcome)i) && outcome_name((enum outcome)j) &&
                strcmp(outcome_name((enum outcome)i), outcome_name((enum outcome)j)) == 0)
                unique = 0;
    }
    ok(named, "every outcome has a name");
    ok(unique, "no two outcomes share a name (a label is one bucket)");
    is_str(outcome_name(OC_TOKEN_REVOKED), "token_revoked", "names are the SPEC's words");
    ok((outcome_labels(OC_OTHER) & (OC_REJECT | OC_CLOSE)) == (OC_REJECT | OC_CLOSE),
       "other is a label of both metrics");
    memset(&m, 0, sizeof(m));
    metrics_reject(&m, OC_PROXIED);
    metrics_close(&m, OC_NO_ROUTE);
    metrics_reject(&m, OC_NO_ROUTE);
    is_int(m.rejected[OC_OTHER], 1, "a rejection without its own label counts under other");
    is_int(m.closes[OC_OTHER], 1, "a close without its own label counts under other");
    is_int(m.rejected[OC_NO_ROUTE], 1, "a rejection with its label counts there");
    return tap_done();
}
