/* Picking an upstream (round-robin, next on failure) and opening a
 * non-blocking connection to it. */
#ifndef WSGATE_UPSTREAM_H
#define WSGATE_UPSTREAM_H

struct route;
struct session;
struct sockaddr_text;

/* Drops a kept-alive upstream the session may hold, then connects to the
 * route's upstreams in turn; connected runs once one is connected. */
void upstream_connect(struct session *s, void (*connected)(struct session *s));

/* Starting index for a new session's attempts: the route's round-robin
 * cursor, advanced atomically (routes are shared by workers). */
unsigned upstream_first(struct route *r);
/* The attempt-th upstream after first. */
const struct sockaddr_text *upstream_nth(const struct route *r, unsigned first, unsigned attempt);

#endif
