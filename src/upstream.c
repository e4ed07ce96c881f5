/* Round-robin upstream choice. The connect itself is a bufferevent owned by
 * the session; this file only decides where it goes. */
#include "upstream.h"

#include "config.h"

unsigned upstream_first(struct route *r)
{
    return __atomic_fetch_add(&r->rr_next, 1, __ATOMIC_RELAXED);
}

const struct sockaddr_text *upstream_nth(const struct route *r, unsigned first, unsigned attempt)
{
    return &r->upstreams[(first + attempt) % r->nupstreams];
}
