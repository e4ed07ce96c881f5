/* Workers: shared-nothing event-loop threads, each with its own
 * event_base, SO_REUSEPORT listeners and session list. */
#ifndef WSGATE_WORKER_H
#define WSGATE_WORKER_H

#include <pthread.h>
#include <stddef.h>

#include "metrics.h"
#include "session.h"

struct config;
struct event_base;
struct event;
struct evconnlistener;
struct session;
struct revoke;
struct proxyaccept;

struct worker {
    int id;
    pthread_t thread;
    struct event_base *base;
    struct evconnlistener **listeners;
    size_t nlisteners;
    int *listen_tls;                /* per listener: connections start with a TLS handshake */
    int *listen_proxy;              /* per listener: a PROXY header comes before all */
    struct proxyaccept *proxy_waiting; /* accepted, their PROXY header not read yet */
    struct event *wake;             /* main thread -> worker: look at flags */
    int stop_requested;             /* set by main, read on wake */
    int force_requested;
    int draining;                   /* listeners gone, waiting for sessions */
    struct revoke *rv;              /* Redis revocation for this worker, NULL without redis */
    struct metrics m;               /* written by this worker only */
    int paused;                     /* listeners disabled: over the connection cap */
    pthread_mutex_t snap_lock;      /* /sessions: main thread asks, worker answers */
    pthread_cond_t snap_cond;
    int snap_requested, snap_done;
    char *snap;
    int finished;                   /* event loop has returned */
    struct session_env env;         /* lent to this worker's sessions: base, m, rv, the list */
};

/* The configuration new connections use; the caller owns a reference. */
struct config *worker_config_acquire(void);
/* Installs c (takes the caller's reference) for new connections. */
void worker_config_install(struct config *c);

/* Creates n workers bound to cfg's listen addresses. Returns NULL with err
 * when any listener cannot be bound. */
struct worker *workers_start(struct config *cfg, int n, char *err, size_t errlen);
/* Stop accepting and close every session with 1001; force: drop at once. */
void workers_request_stop(struct worker *w, int n, int force);
/* Joins the threads once they have finished; frees them. */
void workers_join(struct worker *w, int n);
int workers_all_done(void);

/* JSON objects (comma-separated) for the worker's live sessions, built in
 * the worker's own thread; malloc'd, "" when none, NULL when the worker
 * did not answer within a second. Called from the main thread. */
char *worker_snapshot(struct worker *w);

extern long worker_max_connections; /* atomic: max_connections in force */

#endif
