/* benchecho: the RFC 6455 echo backend of wsgate-bench --serve. */
#ifndef BENCHECHO_H
#define BENCHECHO_H

#include <stddef.h>

struct event_base;
struct bench_echo;

/* Listens on addr ("host:port") and echoes every frame of every session,
 * unmasked, while the base's loop runs. Returns the server, or NULL with
 * err filled when it cannot listen. */
struct bench_echo *bench_echo_new(struct event_base *base, const char *addr, char *err,
                                  size_t errlen);
/* Closes the listener and every connection. NULL is fine. */
void bench_echo_free(struct bench_echo *e);

#endif
