/* Redis Sentinel discovery (redis sentinel://HOST:PORT[,...]/MASTER): asks
 * the sentinels for the master's address and follows +switch-master. One
 * per revocation instance (per worker); no I/O of its own beyond that. */
#ifndef WSGATE_SENTINEL_H
#define WSGATE_SENTINEL_H

struct event_base;
struct config;
struct sentinel;

/* master runs with the master's address each time a sentinel names one
 * (the same address again included), host NULL never. */
typedef void (*sentinel_master_cb)(void *arg, const char *host, int port);

struct sentinel *sentinel_new(struct event_base *base, const struct config *cfg, int worker_id,
                              sentinel_master_cb master, void *arg);
void sentinel_free(struct sentinel *s);
/* The master seems gone or wrong: ask again (now, or once connected). */
void sentinel_refresh(struct sentinel *s);

#endif
