/* benchecho: the RFC 6455 echo backend of wsgate-bench --serve. */
#ifndef BENCHECHO_H
#define BENCHECHO_H

#include <stddef.h>

struct event_base;

/* Listens on addr ("host:port") and echoes every frame of every session,
 * unmasked, until the base's loop ends. Returns 0, or -1 with err filled
 * when it cannot listen. */
int bench_echo_listen(struct event_base *base, const char *addr, char *err, size_t errlen);

#endif
