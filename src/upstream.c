/* Connecting upstream: round-robin choice, then one upstream after the
 * other (upstream_connect_timeout each, TLS verified for tls://) until one
 * answers; 502 or 504 when none does. The handler that asked gets the
 * connected session. */
#include "upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
#include "log.h"
#include "session.h"
#include "tls.h"

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

static void upstream_try(struct session *s);
static void upstream_connected(struct session *s);

unsigned upstream_first(struct route *r)
{
    return __atomic_fetch_add(&r->rr_next, 1, __ATOMIC_RELAXED);
}

const struct sockaddr_text *upstream_nth(const struct route *r, unsigned first, unsigned attempt)
{
    return &r->upstreams[(first + attempt) % r->nupstreams];
}

/* ---- connecting (S_CONNECTING) --------------------------------------------- */

/* why: the TLS or socket error text, or NULL. */
static void upstream_failed_why(struct session *s, int timed_out, const char *why)
{
    const struct sockaddr_text *a = upstream_nth(s->adm.route, s->up_first, s->up_attempt);

    slog(LOG_WARNING, s, "upstream %s %s%s%s", a->text,
         timed_out ? "connect timed out" : "connect failed", why ? ": " : "", why ? why : "");
    if (timed_out)
        s->up_timed_out = 1;
    session_drop_upstream(s);
    s->up_attempt++;
    if (s->up_attempt < s->adm.route->nupstreams) {
        upstream_try(s);
        return;
    }
    if (s->up_timed_out)
        session_reject(s, OC_GATEWAY_TIMEOUT, 504, "gateway_timeout", "upstream connect timed out", NULL);
    else
        session_reject(s, OC_BAD_GATEWAY, 502, "bad_gateway", "no upstream available", NULL);
}

static void upstream_failed(struct session *s, int timed_out)
{
    upstream_failed_why(s, timed_out, NULL);
}

/* A plain upstream: our own non-blocking connect, watched by the core
 * (session_watch_upstream_connect), which asks the socket for its error
 * only when the connect did not simply complete (bufferevent_socket_connect
 * asks every time: a getsockopt per connection). */
static void plain_connect(struct session *s, const struct sockaddr_text *a)
{
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        upstream_failed_why(s, 0, strerror(errno));
        return;
    }
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        upstream_failed_why(s, 0, strerror(e));
        return;
    }
    s->upstream = bufferevent_socket_new(s->env->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!s->upstream) {
        close(fd);
        upstream_failed(s, 0);
        return;
    }
    /* A new bufferevent has EV_WRITE on: the request added to its output
     * would be watched for, though the connected handler writes it at
     * once; the handlers enable what they need. */
    bufferevent_disable(s->upstream, EV_WRITE);
    session_attach_upstream(s, s->upstream);
    if (session_watch_upstream_connect(s) < 0) {
        upstream_failed(s, 0);
        return;
    }
    session_arm(s, s->cfg->upstream_connect_timeout_ms);
}

static void upstream_try(struct session *s)
{
    const struct sockaddr_text *a = upstream_nth(s->adm.route, s->up_first, s->up_attempt);

    if (a->tls) {
        /* BEV_EVENT_CONNECTED comes once the certificate is verified, so
         * upstream_connect_timeout covers the TLS handshake too, and a
         * refused certificate is a failed connect: next upstream, then 502. */
        SSL *ssl = s->adm.route->tls_ctx ? tls_client_ssl_new(s->adm.route->tls_ctx, a->host)
                                         : NULL;
        s->upstream = ssl ? bufferevent_openssl_socket_new(s->env->base, -1, ssl,
                                                           BUFFEREVENT_SSL_CONNECTING,
                                                           BEV_OPT_CLOSE_ON_FREE)
                          : NULL;
        if (s->upstream)
            bufferevent_openssl_set_allow_dirty_shutdown(s->upstream, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        plain_connect(s, a);
        return;
    }
    if (!s->upstream) {
        upstream_failed(s, 0);
        return;
    }
    session_attach_upstream(s, s->upstream);
    session_arm(s, s->cfg->upstream_connect_timeout_ms);
    if (bufferevent_socket_connect(s->upstream, (const struct sockaddr *)&a->ss, (int)a->len) < 0) {
        /* Immediate failure: the event callback may not run. */
        evtimer_del(s->timer);
        upstream_failed(s, 0);
    }
}

/* S_CONNECTING: one upstream after the other, upstream_connect_timeout each. */
static void connect_up_event(struct session *s, short what)
{
    struct bufferevent *bev = s->upstream;

    if (what & BEV_EVENT_CONNECTED) {
        char d[96];
        evtimer_del(s->timer);
        if (bufferevent_openssl_get_ssl(bev))
            slog(LOG_DEBUG, s, "upstream TLS: %s", tls_describe(bev, d, sizeof(d)));
        upstream_connected(s);
    } else if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        char why[256];
        evtimer_del(s->timer);
        if (bufferevent_openssl_get_ssl(bev)) {
            tls_error_text(bev, what, why, sizeof(why));
            upstream_failed_why(s, 0, why);
        } else {
            upstream_failed(s, 0);
        }
    }
}

static void connect_timeout(struct session *s)
{
    upstream_failed(s, 1);
}

static const struct session_ops connect_ops = {
    .up_event = connect_up_event,
    .timeout = connect_timeout,
    .expired = session_expired_reject,
    .revoked = session_revoked_reject,
};

static void upstream_connected(struct session *s)
{
    int one = 1;

    setsockopt(bufferevent_getfd(s->upstream), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&s->fwd, 0, sizeof(s->fwd));
    s->fwd.client_ip = s->peer_ip;
    s->fwd.tls = s->tls;
    s->connected(s);
}

void upstream_connect(struct session *s, void (*connected)(struct session *s))
{
    session_drop_upstream(s);
    s->connected = connected;
    session_enter(s, S_CONNECTING, &connect_ops);
    s->up_first = upstream_first(s->adm.route);
    s->up_attempt = 0;
    upstream_try(s);
}
