/* wsgate: command line, signals, reload and shutdown. The main thread owns
 * signals and configuration loading; workers own connections. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>

#include "config.h"
#include "connlimit.h"
#include "explain.h"
#include "jwks.h"
#include "jwks_fetch.h"
#include "log.h"
#include "siosid.h"
#include "status.h"
#include "util.h"
#include "worker.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

#define DEFAULT_CONFIG SYSCONFDIR "/wsgate/wsgate.conf"

struct mainctx {
    struct event_base *base;
    const char *path;
    struct worker *workers;
    int nworkers;
    struct config *cfg;         /* the main thread's view: what was installed last */
    int stopping;
    int64_t stop_deadline_ms;
    struct event *poll;
    struct status *status;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: wsgate [-c FILE] [-t] [-V] [-h]\n"
            "       wsgate [-c FILE] -x PATH [-o ORIGIN] < TOKEN\n"
            "  -c FILE  configuration file (default %s)\n"
            "  -t       check the configuration and key files, then exit\n"
            "  -x PATH  explain the decision on a WebSocket upgrade to PATH with the\n"
            "           token on standard input, step by step; exit 0 if admitted\n"
            "  -o ORIGIN  with -x: the request's Origin header\n"
            "  -V       print the version and exit\n"
            "  -h       print this help and exit\n",
            DEFAULT_CONFIG);
}

/* Logging settings of cfg take effect; returns -1 with err on failure. */
static int apply_logging(const struct config *cfg, char *err, size_t errlen)
{
    if (log_open(cfg->error_log == LOGT_FILE ? cfg->error_log_path : NULL, err, errlen) < 0)
        return -1;
    if (log_access_open(cfg->access_log, cfg->access_log_path, err, errlen) < 0)
        return -1;
    __atomic_store_n(&log_level, cfg->error_level, __ATOMIC_RELAXED);
    return 0;
}

static int same_listeners(const struct config *a, const struct config *b)
{
    if (a->nlistens != b->nlistens)
        return 0;
    for (size_t i = 0; i < a->nlistens; i++)
        if (strcmp(a->listens[i].addr.text, b->listens[i].addr.text) != 0 ||
            a->listens[i].tls != b->listens[i].tls)
            return 0;
    return 1;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The Redis connections are made once per worker at start-up. */
static int same_redis(const struct config *a, const struct config *b)
{
    if (!a->redis && !b->redis)
        return 1;
    return a->redis == b->redis && same_str(a->redis_host, b->redis_host) &&
           a->redis_port == b->redis_port && same_str(a->redis_unix, b->redis_unix) &&
           same_str(a->redis_sentinel, b->redis_sentinel) &&
           same_str(a->revocation_channel, b->revocation_channel) &&
           same_str(a->redis_prefix, b->redis_prefix) && a->redis_timeout_ms == b->redis_timeout_ms &&
           a->revocation_sweep_ms == b->revocation_sweep_ms;
}

static void reload(struct mainctx *m)
{
    char err[1024];
    struct config *c = config_load(m->path, err, sizeof(err));

    if (!c) {
        log_err("reload failed, keeping the running configuration: %s", err);
        return;
    }
    if (apply_logging(c, err, sizeof(err)) < 0) {
        log_err("reload failed, keeping the running configuration: %s", err);
        config_unref(c);
        return;
    }
    if (jwks_attach(m->base, c, err, sizeof(err)) < 0) {
        log_err("reload failed, keeping the running configuration: %s", err);
        config_unref(c);
        return;
    }
    if (!same_listeners(m->cfg, c))
        log_warn("reload: listen addresses changed; they take effect at the next restart");
    if (c->status_listen != m->cfg->status_listen ||
        (c->status_listen && strcmp(c->status_addr.text, m->cfg->status_addr.text) != 0))
        log_warn("reload: status_listen changed; it takes effect at the next restart");
    if (c->workers != m->cfg->workers)
        log_warn("reload: workers changed; it takes effect at the next restart");
    if (!same_redis(m->cfg, c))
        log_warn("reload: redis, redis_prefix, redis_timeout or revocation_sweep changed; "
                 "they take effect at the next restart");
    config_unref(m->cfg);
    m->cfg = config_ref(c);
    worker_config_install(c);
    log_notice("configuration %s reloaded", m->path);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct mainctx *m = arg;

    (void)fd;
    (void)what;
    if (workers_all_done()) {
        event_base_loopexit(m->base, NULL);
        return;
    }
    if (util_now_ms() >= m->stop_deadline_ms && m->stopping == 1) {
        log_warn("shutdown_timeout reached, dropping the remaining sessions");
        m->stopping = 2;
        workers_request_stop(m->workers, m->nworkers, 1);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct mainctx *m = arg;
    struct timeval tv = { 0, 20 * 1000 };

    (void)what;
    if (sig == SIGHUP) {
        if (!m->stopping)
            reload(m);
        return;
    }
    if (sig == SIGUSR1) {
        log_reopen();
        return;
    }
    if (m->stopping) {
        /* A second signal: do not wait any longer. */
        if (m->stopping == 1) {
            m->stopping = 2;
            workers_request_stop(m->workers, m->nworkers, 1);
        }
        return;
    }
    log_notice("shutting down: closing live sessions");
    m->stopping = 1;
    m->stop_deadline_ms = util_now_ms() + m->cfg->shutdown_timeout_ms;
    workers_request_stop(m->workers, m->nworkers, 0);
    m->poll = event_new(m->base, -1, EV_PERSIST, on_poll, m);
    event_add(m->poll, &tv);
}

int main(int argc, char **argv)
{
    const char *path = DEFAULT_CONFIG;
    int test_only = 0, opt;
    const char *explain_path = NULL, *explain_origin = NULL;
    char err[1024];
    struct mainctx m;
    struct event *sigs[5];
    static const int signums[5] = { SIGHUP, SIGTERM, SIGINT, SIGUSR1, 0 };

    while ((opt = getopt(argc, argv, "c:tx:o:Vh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 't':
            test_only = 1;
            break;
        case 'x':
            explain_path = optarg;
            break;
        case 'o':
            explain_origin = optarg;
            break;
        case 'V':
            printf("wsgate %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "wsgate: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    if (explain_origin && !explain_path) {
        fprintf(stderr, "wsgate: -o goes with -x\n");
        usage(stderr);
        return 2;
    }
    if (explain_path)
        return explain_run(path, explain_path, explain_origin, stdin, stdout);

    memset(&m, 0, sizeof(m));
    m.path = path;
    m.cfg = config_load(path, err, sizeof(err));
    if (!m.cfg) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 1;
    }
    if (test_only) {
        printf("wsgate: configuration %s is ok\n", path);
        config_unref(m.cfg);
        return 0;
    }
    if (apply_logging(m.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        config_unref(m.cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    limits_init();
    /* Workers wake the JWKS fetcher on this base from their threads, so
     * locking is on before it exists; serving starts once the first key
     * set is in, or jwks_startup_wait has passed. */
    evthread_use_pthreads();
    m.base = event_base_new();
    if (jwks_attach(m.base, m.cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 1;
    }
    jwks_wait_ready(m.base, m.cfg);
    worker_config_install(config_ref(m.cfg));
    m.nworkers = m.cfg->workers;
    m.workers = workers_start(m.cfg, m.nworkers, err, sizeof(err));
    if (!m.workers) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 1;
    }
    if (m.cfg->status_listen) {
        m.status = status_start(m.base, m.cfg, m.workers, m.nworkers, &m.stopping, err, sizeof(err));
        if (!m.status) {
            fprintf(stderr, "wsgate: %s\n", err);
            workers_request_stop(m.workers, m.nworkers, 1);
            workers_join(m.workers, m.nworkers);
            return 1;
        }
    }
    for (int i = 0; signums[i]; i++) {
        sigs[i] = evsignal_new(m.base, signums[i], on_signal, &m);
        event_add(sigs[i], NULL);
    }
    for (size_t i = 0; i < m.cfg->nlistens; i++)
        log_notice("listening on %s%s", m.cfg->listens[i].addr.text,
                   m.cfg->listens[i].tls ? " (tls)" : "");
    log_notice("wsgate %s started with %d worker%s", PACKAGE_VERSION, m.nworkers,
               m.nworkers == 1 ? "" : "s");

    event_base_dispatch(m.base);

    workers_join(m.workers, m.nworkers);
    status_stop(m.status);
    siosid_shutdown();
    limits_shutdown();
    for (int i = 0; signums[i]; i++)
        event_free(sigs[i]);
    if (m.poll)
        event_free(m.poll);
    jwks_shutdown();
    event_base_free(m.base);
    worker_config_install(NULL);
    config_unref(m.cfg);
    log_notice("stopped");
    return 0;
}
