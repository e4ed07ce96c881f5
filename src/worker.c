/* Workers: one event_base per thread, SO_REUSEPORT listeners each, and a
 * session list of their own. The main thread only talks to a worker by
 * setting a flag and activating its wake event. */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "config.h"
#include "connlimit.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "proxyaccept.h"
#include "revoke.h"
#include "session.h"
#include "tokcache.h"
#include "util.h"

long worker_max_connections = 10000;    /* of the installed config, atomic */

/* Every worker, so one that frees a slot can wake the paused ones. */
static struct worker *all_workers;
static int nall_workers;
static int any_paused;

static pthread_mutex_t current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct config *current;
static int workers_running;

struct config *worker_config_acquire(void)
{
    struct config *c;

    pthread_mutex_lock(&current_lock);
    c = config_ref(current);
    pthread_mutex_unlock(&current_lock);
    return c;
}

void worker_config_install(struct config *c)
{
    struct config *old;

    pthread_mutex_lock(&current_lock);
    old = current;
    current = c;
    if (c)
        __atomic_store_n(&worker_max_connections, c->max_connections, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&current_lock);
    if (old)
        config_unref(old);
}

static void maybe_done(struct worker *w)
{
    if (w->draining && w->env.nsessions == 0)
        event_base_loopexit(w->base, NULL);
}

/* A session of this worker is gone (session_env.released). */
static void session_released(struct session_env *env)
{
    struct worker *w = (struct worker *)((char *)env - offsetof(struct worker, env));
    long n = __atomic_sub_fetch(&connlimit_open, 1, __ATOMIC_RELAXED);

    if (__atomic_load_n(&any_paused, __ATOMIC_RELAXED) &&
        n < __atomic_load_n(&worker_max_connections, __ATOMIC_RELAXED)) {
        __atomic_store_n(&any_paused, 0, __ATOMIC_RELAXED);
        for (int i = 0; i < nall_workers; i++)
            event_active(all_workers[i].wake, EV_READ, 0);
    }
    maybe_done(w);
}

static void set_listening(struct worker *w, int on)
{
    for (size_t i = 0; i < w->nlisteners; i++) {
        if (!w->listeners[i])
            continue;
        if (on)
            evconnlistener_enable(w->listeners[i]);
        else
            evconnlistener_disable(w->listeners[i]);
    }
    w->paused = !on;
}

static void start_session(struct worker *w, struct config *cfg, int fd,
                          const struct sockaddr *sa, int salen, int tls)
{
    if (!(tls ? session_new_tls : session_new)(&w->env, cfg, fd, sa, salen, &intake_ops)) {
        __atomic_sub_fetch(&connlimit_open, 1, __ATOMIC_RELAXED);
        log_err("cannot allocate a session");
    }
}

/* The PROXY header was read (its source is sa), or the connection is gone. */
static void proxy_header_read(void *arg, int ok, int fd, const struct sockaddr *sa,
                              socklen_t salen, enum outcome why, void *user, int tls)
{
    struct worker *w = arg;
    struct config *cfg = user;

    if (ok) {
        start_session(w, cfg, fd, sa, (int)salen, tls);
        return;
    }
    metrics_reject(&w->m, why);
    config_unref(cfg);
    /* As a session that ends: frees its slot, may resume paused
     * listeners, may finish the drain. */
    session_released(&w->env);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct worker *w = arg;
    struct config *cfg = worker_config_acquire();
    long n = __atomic_add_fetch(&connlimit_open, 1, __ATOMIC_RELAXED);
    int tls = 0, proxy = 0;

    /* Listeners are bound at start; a reload cannot change which are TLS. */
    for (size_t j = 0; j < w->nlisteners; j++)
        if (w->listeners[j] == l) {
            tls = w->listen_tls[j];
            proxy = w->listen_proxy[j];
        }
    /* A little over max_connections still gets a 503 (session_new); far
     * over it, stop accepting until connections end, so a flood cannot
     * exhaust file descriptors. */
    if (n > cfg->max_connections + cfg->max_connections / 10 + 16) {
        close(fd);
        __atomic_sub_fetch(&connlimit_open, 1, __ATOMIC_RELAXED);
        config_unref(cfg);
        if (!w->paused) {
            log_warn("worker %d: over max_connections, not accepting until connections end", w->id);
            set_listening(w, 0);
            __atomic_store_n(&any_paused, 1, __ATOMIC_RELAXED);
        }
        return;
    }
    /* Already non-blocking: without LEV_OPT_LEAVE_SOCKETS_BLOCKING the
     * listener accepts with SOCK_NONBLOCK (or sets it itself where
     * accept4 is missing); asking again cost an fcntl per connection. */
    if (tls && !cfg->tls_ctx) {
        /* The reloaded configuration has no certificate for this listener. */
        log_err("no tls_certificate in the running configuration for a tls listener, "
                "connection refused");
        close(fd);
        __atomic_sub_fetch(&connlimit_open, 1, __ATOMIC_RELAXED);
        config_unref(cfg);
        return;
    }
    if (proxy) {
        /* The session starts once the header names the client. */
        if (proxyaccept_start(w->base, &w->proxy_waiting, fd, sa, (socklen_t)salen,
                              cfg->handshake_timeout_ms, proxy_header_read, w, cfg, tls) < 0) {
            close(fd);
            __atomic_sub_fetch(&connlimit_open, 1, __ATOMIC_RELAXED);
            config_unref(cfg);
            log_err("cannot allocate a connection");
        }
        return;
    }
    start_session(w, cfg, fd, sa, salen, tls);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();

    (void)l;
    (void)arg;
    /* EMFILE and friends: keep running, the next accept may succeed. */
    log_err("accept: %s", evutil_socket_error_to_string(err));
}

static void stop_listening(struct worker *w)
{
    for (size_t i = 0; i < w->nlisteners; i++)
        if (w->listeners[i])
            evconnlistener_free(w->listeners[i]);
    free(w->listeners);
    w->listeners = NULL;
    free(w->listen_tls);
    w->listen_tls = NULL;
    free(w->listen_proxy);
    w->listen_proxy = NULL;
    w->nlisteners = 0;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    struct session *s, *next;
    int force = __atomic_load_n(&w->force_requested, __ATOMIC_ACQUIRE);

    (void)fd;
    (void)what;
    pthread_mutex_lock(&w->snap_lock);
    if (w->snap_requested) {
        struct evbuffer *b = evbuffer_new();
        int first = 1;
        for (s = w->env.sessions; s && b; s = s->next) {
            if (s->state != S_RELAY && s->state != S_CLOSING)
                continue;
            if (!first)
                evbuffer_add(b, ",", 1);
            first = 0;
            session_describe_json(s, b);
        }
        free(w->snap);
        w->snap = util_xmalloc(b ? evbuffer_get_length(b) + 1 : 1);
        if (b) {
            size_t len = evbuffer_get_length(b);
            evbuffer_remove(b, w->snap, len);
            w->snap[len] = '\0';
            evbuffer_free(b);
        } else {
            w->snap[0] = '\0';
        }
        w->snap_requested = 0;
        w->snap_done = 1;
        pthread_cond_broadcast(&w->snap_cond);
    }
    pthread_mutex_unlock(&w->snap_lock);
    if (w->paused && !w->draining &&
        __atomic_load_n(&connlimit_open, __ATOMIC_RELAXED) <
            __atomic_load_n(&worker_max_connections, __ATOMIC_RELAXED)) {
        log_notice("worker %d: accepting again", w->id);
        set_listening(w, 1);
    }
    if (!__atomic_load_n(&w->stop_requested, __ATOMIC_ACQUIRE))
        return;
    stop_listening(w);
    w->draining = 1;
    proxyaccept_drop_all(&w->proxy_waiting);
    for (s = w->env.sessions; s; s = next) {
        next = s->next;
        if (force)
            session_abort(s);
        else
            session_shutdown(s, 1001, "going away");
    }
    maybe_done(w);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    event_base_dispatch(w->base);
    tokcache_thread_free();
    pthread_mutex_lock(&w->snap_lock);
    w->finished = 1;
    pthread_cond_broadcast(&w->snap_cond);
    pthread_mutex_unlock(&w->snap_lock);
    __atomic_sub_fetch(&workers_running, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* epoll's change list: an interest switched on and off again within one
 * turn of the loop (the bufferevents do this on every handshake) costs no
 * epoll_ctl, and the changes of a turn are applied just before the wait.
 * The sockets are never dup()ed, which is the flag's one caveat. */
static struct event_base *worker_base_new(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *b;

    if (!ec)
        return NULL;
    event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    b = event_base_new_with_config(ec);
    event_config_free(ec);
    return b;
}

struct worker *workers_start(struct config *cfg, int n, char *err, size_t errlen)
{
    struct worker *ws = util_xcalloc((size_t)n, sizeof(*ws));
    sigset_t all, old;

    evthread_use_pthreads();
    for (int i = 0; i < n; i++) {
        struct worker *w = &ws[i];
        w->id = i;
        pthread_mutex_init(&w->snap_lock, NULL);
        pthread_cond_init(&w->snap_cond, NULL);
        w->base = worker_base_new();
        if (!w->base) {
            snprintf(err, errlen, "cannot create an event base");
            return NULL;
        }
        w->rv = revoke_new(w->base, cfg, i);
        w->env.base = w->base;
        w->env.m = &w->m;
        w->env.rv = w->rv;
        w->env.released = session_released;
        w->wake = event_new(w->base, -1, EV_PERSIST, on_wake, w);
        /* A persistent event with no fd only runs when activated. */
        event_add(w->wake, NULL);
        w->listeners = util_xcalloc(cfg->nlistens, sizeof(*w->listeners));
        w->listen_tls = util_xcalloc(cfg->nlistens, sizeof(*w->listen_tls));
        w->listen_proxy = util_xcalloc(cfg->nlistens, sizeof(*w->listen_proxy));
        w->nlisteners = cfg->nlistens;
        for (size_t j = 0; j < cfg->nlistens; j++) {
            const struct listen_conf *lc = &cfg->listens[j];
            w->listen_tls[j] = lc->tls;
            w->listen_proxy[j] = lc->proxy_protocol;
            unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT |
                             LEV_OPT_CLOSE_ON_EXEC;
            w->listeners[j] = evconnlistener_new_bind(w->base, on_accept, w, flags, 4096,
                                                      (const struct sockaddr *)&lc->addr.ss,
                                                      (int)lc->addr.len);
            if (!w->listeners[j]) {
                snprintf(err, errlen, "%s:%d: cannot listen on %s: %s", cfg->path, lc->line,
                         lc->addr.text, strerror(errno));
                return NULL;
            }
            evconnlistener_set_error_cb(w->listeners[j], on_accept_error);
        }
    }
    all_workers = ws;
    nall_workers = n;
    /* Signals belong to the main thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < n; i++) {
        if (pthread_create(&ws[i].thread, NULL, worker_main, &ws[i]) != 0) {
            snprintf(err, errlen, "cannot start worker thread: %s", strerror(errno));
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return NULL;
        }
        __atomic_add_fetch(&workers_running, 1, __ATOMIC_RELAXED);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ws;
}

void workers_request_stop(struct worker *ws, int n, int force)
{
    for (int i = 0; i < n; i++) {
        __atomic_store_n(&ws[i].stop_requested, 1, __ATOMIC_RELEASE);
        if (force)
            __atomic_store_n(&ws[i].force_requested, 1, __ATOMIC_RELEASE);
        event_active(ws[i].wake, EV_READ, 0);
    }
}

void workers_join(struct worker *ws, int n)
{
    if (!ws)
        return;
    for (int i = 0; i < n; i++) {
        pthread_join(ws[i].thread, NULL);
        stop_listening(&ws[i]);
        revoke_free(ws[i].rv);
        free(ws[i].snap);
        pthread_mutex_destroy(&ws[i].snap_lock);
        pthread_cond_destroy(&ws[i].snap_cond);
        event_free(ws[i].wake);
        event_base_free(ws[i].base);
    }
    free(ws);
}

char *worker_snapshot(struct worker *w)
{
    struct timespec dl;
    char *out = NULL;

    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += 1;
    pthread_mutex_lock(&w->snap_lock);
    if (!w->finished) {
        w->snap_requested = 1;
        w->snap_done = 0;
        event_active(w->wake, EV_READ, 0);
        while (!w->snap_done && !w->finished)
            if (pthread_cond_timedwait(&w->snap_cond, &w->snap_lock, &dl) != 0)
                break;
        if (w->snap_done) {
            out = w->snap;
            w->snap = NULL;
        }
        w->snap_requested = 0;
    } else {
        out = util_xstrdup("");
    }
    pthread_mutex_unlock(&w->snap_lock);
    return out;
}

int workers_all_done(void)
{
    return __atomic_load_n(&workers_running, __ATOMIC_ACQUIRE) == 0;
}
