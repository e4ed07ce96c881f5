/* The session core: one client connection and its upstream, the one
 * deadline, flush, linger and free, the reply writer and the one exit.
 * Its libevent callbacks call the current handler (struct session_ops);
 * the handlers (intake.c, upstream.c, upgrade.c, relay.c, httpproxy.c,
 * socketio.c) use this file and never the other way round. */
#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "accesslog.h"
#include "config.h"
#include "log.h"
#include "revoke.h"
#include "tls.h"
#include "connlimit.h"
#include "metrics.h"
#include "realip.h"
#include "util.h"
#include "ws.h"

#define FLUSH_WAIT_MS 5000      /* how long the last bytes may take to leave */
#define LINGER_MS 1000          /* reading after our half-close, to avoid RSTs */
#define EXPIRY_HORIZON_S (100LL * 366 * 86400)  /* farther expiries are not armed */

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_client_read(struct bufferevent *bev, void *arg);
static void on_client_write(struct bufferevent *bev, void *arg);
static void on_client_event(struct bufferevent *bev, short what, void *arg);
static void on_up_read(struct bufferevent *bev, void *arg);
static void on_up_write(struct bufferevent *bev, void *arg);
static void on_up_event(struct bufferevent *bev, short what, void *arg);
static void session_finish(struct session *s);
static const struct session_ops flush_ops, dead_ops;

void session_arm(struct session *s, int64_t ms)
{
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };
    evtimer_add(s->timer, &tv);
}

static void format_peer(struct session *s, const struct sockaddr *sa)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        port = ntohs(in->sin_port);
        snprintf(s->peer, sizeof(s->peer), "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        port = ntohs(in6->sin6_port);
        snprintf(s->peer, sizeof(s->peer), "[%s]:%d", ip, port);
    } else {
        snprintf(s->peer, sizeof(s->peer), "unix");
    }
    snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", ip);
    snprintf(s->conn_ip, sizeof(s->conn_ip), "%s", ip);
}

int session_set_client(struct session *s, const char *ip)
{
    if (s->ip_counted && strcmp(ip, s->peer_ip) == 0)
        return 0;
    if (s->ip_counted)
        countmap_release(limits_per_ip, s->peer_ip);
    s->ip_counted = 0;
    /* The port is the proxy's, not the client's: the address alone. */
    snprintf(s->peer_ip, sizeof(s->peer_ip), "%s", ip);
    snprintf(s->peer, sizeof(s->peer), strchr(ip, ':') ? "[%s]" : "%s", ip);
    if (s->cfg->max_connections_per_ip > 0) {
        if (!countmap_take(limits_per_ip, s->peer_ip, s->cfg->max_connections_per_ip))
            return -1;
        s->ip_counted = 1;
    }
    return 0;
}

static struct session *session_create(struct session_env *env, struct config *cfg, int fd,
                                      const struct sockaddr *sa, int salen, int tls,
                                      const struct session_ops *intake)
{
    struct session *s = util_xcalloc(1, sizeof(*s));
    int one = 1;

    s->req = util_xcalloc(1, sizeof(*s->req));

    (void)salen;
    s->env = env;
    s->cfg = cfg;
    static unsigned long next_id;
    s->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    s->intake = intake;
    session_enter(s, S_HEAD, intake);
    s->started_ms = s->last_activity_ms = util_now_ms();
    s->started_us = util_now_us();
    s->started_wall = util_wall_s();
    format_peer(s, sa);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    if (tls) {
        /* The handshake runs first, under handshake_timeout like the head. */
        SSL *ssl = cfg->tls_ctx ? SSL_new(cfg->tls_ctx) : NULL;
        s->tls = 1;
        if (!ssl)
            close(fd);
        else if ((s->client = bufferevent_openssl_socket_new(env->base, fd, ssl,
                                                             BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE)))
            bufferevent_openssl_set_allow_dirty_shutdown(s->client, 1);
        /* else libevent may or may not have freed ssl and closed fd:
         * leaking them beats a double close on a threaded process. */
    } else {
        s->client = bufferevent_socket_new(env->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    s->timer = evtimer_new(env->base, on_timer, s);
    if (!s->client || !s->timer) {
        if (s->client)
            bufferevent_free(s->client);
        else if (!tls)
            close(fd);
        if (s->timer)
            event_free(s->timer);
        config_unref(cfg);
        free(s->req);
        free(s);
        return NULL;
    }
    s->next = env->sessions;
    if (env->sessions)
        env->sessions->prev = s;
    env->sessions = s;
    env->nsessions++;
    /* Stop reading once a head longer than allowed is buffered: 431. */
    bufferevent_setwatermark(s->client, EV_READ, 0, cfg->max_header_size + 1);
    bufferevent_setcb(s->client, on_client_read, on_client_write, on_client_event, s);
    /* A plain client's head is read by our own event, without the
     * bufferevent's ioctl(FIONREAD) per read; the event then stays on
     * through the upstream connect (parked), so that the socket's epoll
     * interest does not change before the relay's event takes over. */
    if (tls || session_watch_client(s) < 0)
        bufferevent_enable(s->client, EV_READ);
    session_arm(s, cfg->handshake_timeout_ms);
    /* Limits answer at once; the request, if any, is read and dropped. */
    if (__atomic_load_n(&connlimit_open, __ATOMIC_RELAXED) > cfg->max_connections) {
        s->end_cause = OC_TOO_MANY_CONNECTIONS;
        session_reject(s, OC_SERVICE_UNAVAILABLE, 503, "service_unavailable", "too many connections", NULL);
    } else if (cfg->max_connections_per_ip > 0
               && !realip_trusted(cfg->real_ip_from, cfg->nreal_ip_from, s->peer_ip)) {
        /* A trusted proxy's connections are counted by the client
         * address its header gives (intake.c, session_set_client). */
        if (countmap_take(limits_per_ip, s->peer_ip, cfg->max_connections_per_ip)) {
            s->ip_counted = 1;
        } else {
            s->end_cause = OC_TOO_MANY_CONNECTIONS_PER_IP;
            session_reject(s, OC_OTHER, 429, "too_many_requests", "too many connections from this address",
                           NULL);
        }
    }
    return s;
}

struct session *session_new(struct session_env *env, struct config *cfg, int fd,
                            const struct sockaddr *sa, int salen,
                            const struct session_ops *intake)
{
    return session_create(env, cfg, fd, sa, salen, 0, intake);
}

struct session *session_new_tls(struct session_env *env, struct config *cfg, int fd,
                                const struct sockaddr *sa, int salen,
                                const struct session_ops *intake)
{
    return session_create(env, cfg, fd, sa, salen, 1, intake);
}

static void session_free(struct session *s)
{
    if (s->ip_counted)
        countmap_release(limits_per_ip, s->peer_ip);
    if (s->sub_counted)
        countmap_release(limits_per_subject, s->adm.claims.sub);
    revoke_check_cancel(s->check);
    revoke_untrack(s->env->rv, &s->rv);
    if (s->expiry)
        event_free(s->expiry);
    /* The core's and the relay's own read events, before their sockets close. */
    if (s->crd)
        event_free(s->crd);
    if (s->urd)
        event_free(s->urd);
    if (s->c2u.rd)
        event_free(s->c2u.rd);
    if (s->u2c.rd)
        event_free(s->u2c.rd);
    if (s->client)
        bufferevent_free(s->client);
    if (s->upstream)
        bufferevent_free(s->upstream);
    event_free(s->timer);
    admission_clear(&s->adm);
    free(s->head);
    free(s->npath);
    free(s->req);
    free(s->kept);
    for (int i = s->ncleanups - 1; i >= 0; i--)
        s->cleanups[i](s);
    if (s->prev)
        s->prev->next = s->next;
    else
        s->env->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->env->nsessions--;
    config_unref(s->cfg);
    s->env->released(s->env);
    free(s);
}

/* Every path out goes through here: callbacks off, log once, free at the
 * next loop turn from the session's own timer, never inside a callback
 * another callback of this session may still touch. */
static void session_kill(struct session *s)
{
    if (s->state == S_DEAD)
        return;
    session_enter(s, S_DEAD, &dead_ops);
    revoke_check_cancel(s->check);
    s->check = NULL;
    revoke_untrack(s->env->rv, &s->rv);
    if (s->expiry)
        evtimer_del(s->expiry);
    if (s->counted_active) {
        metrics_add(s->env->m->sessions_active, -1);
        metrics_close(s->env->m, s->end_cause);
        s->counted_active = 0;
    }
    if (s->client)
        bufferevent_disable(s->client, EV_READ | EV_WRITE);
    if (s->upstream)
        bufferevent_disable(s->upstream, EV_READ | EV_WRITE);
    if (s->crd)
        event_del(s->crd);
    if (s->urd)
        event_del(s->urd);
    if (s->c2u.rd)
        event_del(s->c2u.rd);
    if (s->u2c.rd)
        event_del(s->u2c.rd);
    session_log_access(s);
    evtimer_del(s->timer);
    session_arm(s, 0);
}

/* The request's method, path and query, kept in one block once the head
 * is gone (session_forget_request). */
struct session_kept {
    size_t method_len, path_len, query_len;
    int has_query;
    char text[];                    /* method, path, query, each NUL-terminated */
};

static const char *kept_method(const struct session_kept *k) { return k->text; }
static const char *kept_path(const struct session_kept *k) { return k->text + k->method_len + 1; }
static const char *kept_query(const struct session_kept *k)
{
    return k->has_query ? k->text + k->method_len + k->path_len + 2 : NULL;
}

void session_forget_request(struct session *s)
{
    const struct http_request *r = s->req;
    struct session_kept *k;
    char *p;

    if (!r || !s->have_req)
        return;
    if (s->adm.have_claims) {
        /* The revocation index holds the claims' sub and jti: it lets go
         * of them while they move. */
        int tracked = s->rv.tracked;
        int shrunk;

        revoke_untrack(s->env->rv, &s->rv);
        shrunk = jwt_claims_shrink(&s->adm.claims);
        s->rv.jti = s->adm.claims.jti;
        s->rv.sub = s->adm.claims.sub;
        if (tracked)
            revoke_track(s->env->rv, &s->rv);
        if (shrunk < 0)
            return;
    }
    k = malloc(sizeof(*k) + r->method_len + r->path_len + (r->query ? r->query_len : 0) + 3);
    if (!k)
        return;
    k->method_len = r->method_len;
    k->path_len = r->path_len;
    k->has_query = r->query != NULL;
    k->query_len = r->query ? r->query_len : 0;
    p = k->text;
    memcpy(p, r->method, r->method_len);
    p[r->method_len] = 0;
    p += r->method_len + 1;
    memcpy(p, r->path, r->path_len);
    p[r->path_len] = 0;
    p += r->path_len + 1;
    if (r->query)
        memcpy(p, r->query, r->query_len);
    p[k->query_len] = 0;
    s->kept = k;
    free(s->req);
    s->req = NULL;
    free(s->head);
    s->head = NULL;
    s->head_len = 0;
    free(s->npath);
    s->npath = NULL;
    token_found_clear(&s->adm.token);
}

void session_log_access(const struct session *s)
{
    struct http_request kr;
    const struct http_request *req = s->have_req ? s->req : NULL;

    if (s->have_req && !req && s->kept) {
        memset(&kr, 0, sizeof(kr));
        kr.method = kept_method(s->kept);
        kr.method_len = s->kept->method_len;
        kr.path = kept_path(s->kept);
        kr.path_len = s->kept->path_len;
        kr.query = kept_query(s->kept);
        kr.query_len = s->kept->query_len;
        req = &kr;
    }
    struct access_record a = {
        .peer = s->peer,
        .req = req,
        .route = s->adm.route ? s->adm.route->prefix : NULL,
        .status = s->status,
        .reason = outcome_name(s->end_cause),
        .sub = s->adm.have_claims ? s->adm.claims.sub : NULL,
        .jti = s->adm.have_claims ? s->adm.claims.jti : NULL,
        .duration_ms = util_now_ms() - s->started_ms,
        .bytes_in = s->c2u.bytes,
        .bytes_out = s->u2c.bytes,
        .close_code = s->close_code,
    };

    accesslog_write(s->cfg, &a);
}

void session_abort(struct session *s)
{
    if (!s->end_cause)
        s->end_cause = OC_SHUTDOWN;
    session_kill(s);
}

/* A rejection: the answer, then close. No upstream exists at this point,
 * except for a failed upstream head, which is dropped first. */
void session_reject(struct session *s, enum outcome why, int status, const char *code,
                    const char *desc, const char *extra)
{
    const char *extras[2] = { extra, NULL };

    /* With the core's own event on it (a connect or an answer being
     * read), which must go before its socket closes. */
    session_drop_upstream(s);
    s->status = status;
    if (!s->end_cause)
        s->end_cause = why;
    metrics_reject(s->env->m, s->end_cause);
    if (s->own_101) {
        /* The client already has a WebSocket (graphql-ws, gqlws.c): the
         * refusal is a close frame with SPEC §12's codes. */
        int wc = status == 401 ? 4401 : status == 403 ? 4403 : 1014;
        s->close_code = wc;
        ws_write_close(bufferevent_get_output(s->client), wc,
                       wc == 4401 ? "Unauthorized" : wc == 4403 ? "Forbidden" : "bad gateway", 0);
    } else {
        http_write_reject(bufferevent_get_output(s->client), status, code, desc,
                          extra && *extra ? extras : NULL);
    }
    session_finish(s);
}

static void on_expiry(evutil_socket_t fd, short what, void *arg);
static void on_revoked(struct revoke_entry *e);

/* ---- the decision holds ------------------------------------------------ */

/* Index the session for revocations and arm its expiry. */
void session_track(struct session *s)
{
    if (s->adm.have_claims) {
        s->rv.jti = s->adm.claims.jti;
        s->rv.sub = s->adm.claims.sub;
        s->rv.has_iat = s->adm.claims.has_iat;
        s->rv.iat = s->adm.claims.iat;
        s->rv.revoked = on_revoked;
        revoke_track(s->env->rv, &s->rv);
        if (s->cfg->on_expiry_close && s->adm.claims.has_exp) {
            struct timeval now, tv;
            int64_t at = jwt_expires_at(&s->adm.claims, s->cfg->policy.leeway), wait_ms;
            gettimeofday(&now, NULL);
            /* exp may be any JSON number (1e300 saturates to INT64_MAX):
             * an expiry beyond EXPIRY_HORIZON_S is not armed, it never
             * comes in this process, and the arithmetic stays small. */
            if (at > (int64_t)now.tv_sec + EXPIRY_HORIZON_S)
                return;
            if (at < (int64_t)now.tv_sec)
                wait_ms = 0;
            else
                wait_ms = at * 1000 - ((int64_t)now.tv_sec * 1000 + now.tv_usec / 1000);
            if (wait_ms < 0)
                wait_ms = 0;
            tv.tv_sec = (time_t)(wait_ms / 1000);
            tv.tv_usec = (suseconds_t)((wait_ms % 1000) * 1000);
            /* Plain HTTP admits every request of a connection anew. */
            if (!s->expiry)
                s->expiry = evtimer_new(s->env->base, on_expiry, s);
            if (s->expiry)
                evtimer_add(s->expiry, &tv);
        }
    }
}

/* A re-auth (reauth.c): the session's token is now c's. Revocation and
 * expiry follow the new claims; the old ones are freed only once nothing
 * points into them (the revocation index held their jti and sub). The sub
 * is the same, so a max_sessions_per_subject slot carries over. */
void session_replace_claims(struct session *s, struct jwt_claims *c)
{
    revoke_untrack(s->env->rv, &s->rv);
    if (s->expiry)
        evtimer_del(s->expiry);
    if (s->adm.have_claims)
        jwt_claims_clear(&s->adm.claims);
    s->adm.claims = *c;
    s->adm.have_claims = 1;
    memset(c, 0, sizeof(*c));
    session_track(s);
}

/* ---- ending ------------------------------------------------------------ */

static int side_flushed(struct bufferevent *bev)
{
    return !bev || evbuffer_get_length(bufferevent_get_output(bev)) == 0;
}

/* Output written: half-close (once) and keep reading (and dropping)
 * until the peer closes, so unread input never turns our last bytes into
 * an RST. A plain peer whose end of file was already read has nothing
 * more to send: that side is done once half-closed. Over TLS the
 * half-close is a close_notify. */
static void side_linger(struct session *s, struct bufferevent *bev, int *done,
                        unsigned char *shut, int eof)
{
    if (*done || !bev)
        return;
    if (!side_flushed(bev))
        return;
    if (!*shut) {
        *shut = 1;
        if (!tls_close_notify(bev)) {
            shutdown(bufferevent_getfd(bev), SHUT_WR);
            if (eof) {
                *done = 1;
                return;
            }
        }
    }
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    /* A plain socket lingers on our own event (no FIONREAD per read). */
    if (session_watch_linger(s, bev) == 0)
        return;
    bufferevent_enable(bev, EV_READ);
}

static void finish_check(struct session *s)
{
    if (s->state != S_FLUSH)
        return;
    /* A plain upstream whose end of file was read has nothing more to
     * send: once its output is out it is closed at once, the close
     * sending the FIN a half-close would (one call instead of two). */
    if (s->upstream && s->upstream_eof && !s->upstream_shut && side_flushed(s->upstream) &&
        !bufferevent_openssl_get_ssl(s->upstream)) {
        session_drop_upstream(s);
        s->upstream_done = 1;
    }
    if (!s->client)
        s->client_done = 1;
    if (!s->upstream)
        s->upstream_done = 1;
    side_linger(s, s->client, &s->client_done, &s->client_shut, s->client_eof);
    side_linger(s, s->upstream, &s->upstream_done, &s->upstream_shut, s->upstream_eof);
    if (s->client_done && s->upstream_done) {
        session_kill(s);
        return;
    }
    if (!s->lingering && side_flushed(s->client) && side_flushed(s->upstream)) {
        /* Everything is out; the peers get a short while to close. */
        s->lingering = 1;
        session_arm(s, LINGER_MS);
    }
}

/* Stop relaying; let what is queued reach each side, then close both. */
static void session_finish(struct session *s)
{
    if (s->state == S_DEAD || s->state == S_FLUSH)
        return;
    session_enter(s, S_FLUSH, &flush_ops);
    /* A side with nothing queued is not watched for writability: it is
     * half-closed at once (finish_check). */
    if (s->client) {
        bufferevent_disable(s->client, EV_READ);
        bufferevent_setwatermark(s->client, EV_WRITE, 0, 0);
        bufferevent_setwatermark(s->client, EV_READ, 0, 0);
        if (!side_flushed(s->client))
            bufferevent_enable(s->client, EV_WRITE);
    }
    if (s->upstream) {
        bufferevent_disable(s->upstream, EV_READ);
        bufferevent_setwatermark(s->upstream, EV_WRITE, 0, 0);
        bufferevent_setwatermark(s->upstream, EV_READ, 0, 0);
        if (!side_flushed(s->upstream))
            bufferevent_enable(s->upstream, EV_WRITE);
    }
    session_arm(s, FLUSH_WAIT_MS);
    finish_check(s);
}

void session_end(struct session *s, enum outcome cause)
{
    if (!s->end_cause)
        s->end_cause = cause;
    session_finish(s);
}

void session_next_request(struct session *s)
{
    revoke_untrack(s->env->rv, &s->rv);
    if (s->expiry)
        evtimer_del(s->expiry);
    if (s->sub_counted) {
        countmap_release(limits_per_subject, s->adm.claims.sub);
        s->sub_counted = 0;
    }
    admission_clear(&s->adm);
    memset(&s->adm, 0, sizeof(s->adm));
    if (!s->req)
        s->req = util_xcalloc(1, sizeof(*s->req));
    free(s->kept);
    s->kept = NULL;
    free(s->head);
    s->head = NULL;
    free(s->npath);
    s->npath = NULL;
    s->head_len = s->head_scanned = 0;
    s->have_req = 0;
    s->status = 0;
    s->end_cause = OC_NONE;
    s->c2u.bytes = s->u2c.bytes = 0;
    s->started_ms = util_now_ms();
    session_enter(s, S_HTTP_IDLE, s->intake);
    bufferevent_setwatermark(s->client, EV_READ, 0, s->cfg->max_header_size + 1);
    bufferevent_enable(s->client, EV_READ);
    session_arm(s, s->cfg->keepalive_timeout_ms);
    /* A pipelined request is already here. */
    if (evbuffer_get_length(bufferevent_get_input(s->client)))
        s->intake->client_read(s);
}

void session_drop_upstream(struct session *s)
{
    /* Every event on the socket goes before it closes. */
    session_release_upstream_read(s);
    if (s->u2c.rd) {
        event_free(s->u2c.rd);
        s->u2c.rd = NULL;
    }
    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
}

/* ---- the core's own handlers and the API handlers share ------------------ */

void session_enter(struct session *s, enum session_state st, const struct session_ops *ops)
{
    s->state = st;
    s->ops = ops;
}

void session_reject_token(struct session *s, const char *desc, enum outcome cause)
{
    char extra[200];

    snprintf(extra, sizeof(extra),
             "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", "
             "error_description=\"%s\"", desc);
    s->end_cause = cause;
    session_reject(s, OC_INVALID_TOKEN, 401, "invalid_token", desc, extra);
}

void session_expired_reject(struct session *s)
{
    session_reject_token(s, "token expired", OC_TOKEN_EXPIRED);
}

void session_revoked_reject(struct session *s)
{
    session_reject_token(s, "token revoked", OC_TOKEN_REVOKED);
}

void session_attach_upstream(struct session *s, struct bufferevent *bev)
{
    s->upstream = bev;
    s->upstream_eof = 0;
    bufferevent_setcb(bev, on_up_read, on_up_write, on_up_event, s);
}

void session_on_free(struct session *s, void (*cleanup)(struct session *s))
{
    if (s->ncleanups < SESSION_MAX_CLEANUPS)
        s->cleanups[s->ncleanups++] = cleanup;
}

void session_idle_up_event(struct session *s, short what)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        session_drop_upstream(s);
}

/* S_FLUSH: what is queued leaves, then both sides close (FLUSH_WAIT_MS). */
static void drain_client(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->client);

    evbuffer_drain(in, evbuffer_get_length(in));
}

static void drain_upstream(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->upstream);

    evbuffer_drain(in, evbuffer_get_length(in));
}

static void flush_client_event(struct session *s, short what)
{
    (void)what;
    s->client_done = 1;
    finish_check(s);
}

static void flush_up_event(struct session *s, short what)
{
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    s->upstream_done = 1;
    finish_check(s);
}

static void nothing_on_shutdown(struct session *s, int code, const char *reason)
{
    (void)s;
    (void)code;
    (void)reason;
}

static const struct session_ops flush_ops = {
    .client_read = drain_client,
    .client_write = finish_check,
    .client_event = flush_client_event,
    .up_read = drain_upstream,
    .up_write = finish_check,
    .up_event = flush_up_event,
    .timeout = session_kill,
    .shutdown = nothing_on_shutdown,
};

/* S_DEAD: callbacks are off; the timer frees the session at the next turn. */
static void dead_event(struct session *s, short what)
{
    (void)s;
    (void)what;
}

static const struct session_ops dead_ops = {
    .client_event = dead_event,
    .up_event = dead_event,
    .timeout = session_free,
    .shutdown = nothing_on_shutdown,
};

/* ---- callbacks --------------------------------------------------------- */

/* After a read or write callback, which may have drained input or resumed
 * reading: see tls_read_pending(). */
static void tls_kick(struct session *s)
{
    if (s->state == S_DEAD)
        return;
    tls_read_pending(s->client);
    tls_read_pending(s->upstream);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    if (s->ops->timeout)
        s->ops->timeout(s);
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->ops->client_read)
        s->ops->client_read(s);
    tls_kick(s);
}

static void on_up_read(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->ops->up_read)
        s->ops->up_read(s);
    tls_kick(s);
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->ops->client_write)
        s->ops->client_write(s);
    tls_kick(s);
}

static void on_up_write(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->ops->up_write)
        s->ops->up_write(s);
    tls_kick(s);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    if (s->tls && !s->tls_ready) {
        char why[256];
        if (what & BEV_EVENT_CONNECTED) {
            s->tls_ready = 1;
            slog(LOG_DEBUG, s, "TLS: %s", tls_describe(bev, why, sizeof(why)));
            return;
        }
        if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && s->state != S_DEAD) {
            /* Never reached admission; OpenSSL's reason names no secret. */
            tls_error_text(bev, what, why, sizeof(why));
            slog(LOG_INFO, s, "TLS handshake failed: %s", why);
            if (!s->end_cause)
                s->end_cause = OC_TLS_HANDSHAKE_FAILED;
            metrics_reject(s->env->m, OC_TLS_HANDSHAKE_FAILED);
            session_kill(s);
            return;
        }
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (what & BEV_EVENT_EOF)
        s->client_eof = 1;
    if (s->ops->client_event) {
        s->ops->client_event(s, what);
        return;
    }
    if (!s->end_cause)
        s->end_cause = OC_CLIENT_CLOSED;
    session_kill(s);
}

static void on_up_event(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (what & BEV_EVENT_EOF)
        s->upstream_eof = 1;
    if (s->ops->up_event) {
        s->ops->up_event(s, what);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (what & BEV_EVENT_ERROR)
        s->upstream_done = 1;
    session_end(s, what & BEV_EVENT_ERROR ? OC_UPSTREAM_ERROR : OC_UPSTREAM_CLOSED);
}

static void on_expiry(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    if (s->ops->expired)
        s->ops->expired(s);
}

/* The session's token was revoked while it was live. */
static void on_revoked(struct revoke_entry *e)
{
    struct session *s = (struct session *)((char *)e - offsetof(struct session, rv));

    if (s->ops->revoked)
        s->ops->revoked(s);
}

void session_report_read(struct session *s, struct bufferevent *bev)
{
    if (bev == s->client)
        on_client_read(bev, s);
    else if (bev == s->upstream)
        on_up_read(bev, s);
}

void session_report_connected(struct session *s, short what)
{
    on_up_event(s->upstream, what, s);
}

void session_report_event(struct session *s, struct bufferevent *bev, short what)
{
    if (bev == s->client)
        on_client_event(bev, what, s);
    else if (bev == s->upstream)
        on_up_event(bev, what, s);
}

void session_shutdown(struct session *s, int code, const char *reason)
{
    if (s->ops->shutdown) {
        s->ops->shutdown(s, code, reason);
        return;
    }
    s->end_cause = OC_SHUTDOWN;
    session_kill(s);
}

/* /sessions' "state" field. */
static const char *const state_names[] = {
    [S_HEAD] = "head", [S_CHECK] = "check", [S_CONNECTING] = "connecting",
    [S_UPSTREAM_HEAD] = "upstream_head", [S_RESPONSE] = "response", [S_RELAY] = "relay",
    [S_CLOSING] = "closing", [S_FLUSH] = "flush", [S_DEAD] = "dead",
    [S_HTTP_UPSTREAM_HEAD] = "http_upstream_head", [S_HTTP_RESPONSE] = "http_response",
    [S_HTTP_IDLE] = "http_idle", [S_SIO_BODY] = "sio_body", [S_GQL_INIT] = "gql_init",
};

static const char *state_name(enum session_state st)
{
    return (size_t)st < sizeof(state_names) / sizeof(state_names[0]) && state_names[st]
               ? state_names[st] : "?";
}

void session_describe_json(const struct session *s, struct evbuffer *b)
{
    const struct jwt_claims *c = s->adm.have_claims ? &s->adm.claims : NULL;

    evbuffer_add_printf(b, "{\"id\":%lu,\"state\":\"%s\",\"route\":", s->id, state_name(s->state));
    accesslog_json_string(b, s->adm.route ? s->adm.route->prefix : NULL,
                          s->adm.route ? strlen(s->adm.route->prefix) : 0);
    /* The normalised path (SPEC §3a), never the query: it may hold a token. */
    evbuffer_add_printf(b, ",\"path\":");
    {
        const char *path = !s->have_req ? NULL : s->req ? s->req->path
                           : s->kept ? kept_path(s->kept) : NULL;
        size_t plen = !path ? 0 : s->req ? s->req->path_len : s->kept->path_len;
        accesslog_json_string(b, path, plen > 1024 ? 1024 : plen);
    }
    evbuffer_add_printf(b, ",\"remote\":");
    accesslog_json_string(b, s->peer, strlen(s->peer));
    evbuffer_add_printf(b, ",\"sub\":");
    accesslog_json_string(b, c ? c->sub : NULL, c && c->sub ? strlen(c->sub) : 0);
    evbuffer_add_printf(b, ",\"jti\":");
    accesslog_json_string(b, c ? c->jti : NULL, c && c->jti ? strlen(c->jti) : 0);
    if (c && c->has_exp)
        evbuffer_add_printf(b, ",\"exp\":%lld", (long long)c->exp);
    else
        evbuffer_add_printf(b, ",\"exp\":null");
    evbuffer_add_printf(b, ",\"started\":%lld,\"bytes\":%llu,\"bytes_in\":%llu,\"bytes_out\":%llu}",
                        (long long)s->started_wall, (unsigned long long)(s->c2u.bytes + s->u2c.bytes),
                        (unsigned long long)s->c2u.bytes, (unsigned long long)s->u2c.bytes);
}
