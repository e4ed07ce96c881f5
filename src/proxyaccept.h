/* Connections accepted on a "proxy_protocol" listener: the PROXY header is
 * read from the raw socket (before TLS, before any session exists), then
 * the connection is handed on with the client address it carried. */
#ifndef WSGATE_PROXYACCEPT_H
#define WSGATE_PROXYACCEPT_H

#include <stdint.h>
#include <sys/socket.h>

#include "outcome.h"

struct event_base;
struct proxyaccept;

/* Runs once per connection. ok: fd (the header consumed, nothing more)
 * and sa (the header's source, or the real peer for LOCAL/UNKNOWN) are
 * the caller's. !ok: fd is already closed; why is the reason code. */
typedef void (*proxyaccept_done)(void *arg, int ok, int fd, const struct sockaddr *sa,
                                 socklen_t salen, enum outcome why, void *user, int tag);

/* Starts reading the header of fd within timeout_ms. list is the owner's
 * list of waiting connections (for proxyaccept_drop_all). user and tag
 * travel to done untouched. Returns -1 (fd not taken) when out of resources. */
int proxyaccept_start(struct event_base *base, struct proxyaccept **list, int fd,
                      const struct sockaddr *sa, socklen_t salen, int64_t timeout_ms,
                      proxyaccept_done done, void *arg, void *user, int tag);
/* Closes every connection still waiting for its header; done runs for
 * each with !ok and why "shutdown". */
void proxyaccept_drop_all(struct proxyaccept **list);

#endif
