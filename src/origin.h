/* Origin allow-list: exact scheme://host[:port], "*." wildcard for any
 * subdomain depth (never the apex), "null" only when listed. */
#ifndef WSGATE_ORIGIN_H
#define WSGATE_ORIGIN_H

#include <stddef.h>

struct route;

/* Validates and normalises a pattern from the config (lower-case scheme
 * and host, default port 80/443 dropped). Returns malloc'd text or NULL
 * with err. */
char *origin_pattern_normalize(const char *pattern, char *err, size_t errlen);
/* 1 when the Origin header value is allowed by the route, else 0. */
int origin_allowed(const struct route *r, const char *origin, size_t len);
/* 1 when the Origin header value is a well-formed origin ("null", or
 * scheme://host[:port] as browsers send it), whatever the route allows. */
int origin_serialized(const char *origin, size_t len);

#endif
