/* The status listener: /healthz, /metrics, /sessions. */
#ifndef WSGATE_STATUS_H
#define WSGATE_STATUS_H

#include <stddef.h>

struct event_base;
struct config;
struct worker;
struct status;

/* NULL without status_listen in cfg, or on error (err filled; check
 * cfg->status_listen to tell them apart). draining points at the main
 * thread's shutdown flag: /healthz answers 503 while it is set. */
struct status *status_start(struct event_base *base, const struct config *cfg,
                            struct worker *workers, int nworkers, const int *draining,
                            char *err, size_t errlen);
void status_stop(struct status *st);

#endif
