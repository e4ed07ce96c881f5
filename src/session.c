/* The life of one client connection, as an explicit state machine. Each
 * state hands the session to the next or ends it with a response; nothing
 * reaches back. Admission is decided before any upstream socket exists. */
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
#include "relay.h"
#include "revoke.h"
#include "tls.h"
#include "connlimit.h"
#include "httpframe.h"
#include "httpproxy.h"
#include "socketio.h"
#include "metrics.h"
#include "upstream.h"
#include "util.h"

#define FLUSH_WAIT_MS 5000      /* how long the last bytes may take to leave */
#define LINGER_MS 1000          /* reading after our half-close, to avoid RSTs */

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

static void on_timer(evutil_socket_t fd, short what, void *arg);
static void on_client_read(struct bufferevent *bev, void *arg);
static void on_client_write(struct bufferevent *bev, void *arg);
static void on_client_event(struct bufferevent *bev, short what, void *arg);
static void on_up_read(struct bufferevent *bev, void *arg);
static void on_up_write(struct bufferevent *bev, void *arg);
static void on_up_event(struct bufferevent *bev, short what, void *arg);
static void upstream_try(struct session *s);
static void session_finish(struct session *s);
static const struct session_ops head_ops, check_ops, idle_ops, connect_ops, upgrade_head_ops,
    flush_ops, dead_ops;
static void admitted(struct session *s);
static void on_check_done(void *arg, int result);

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
}

static struct session *session_create(struct session_env *env, struct config *cfg, int fd,
                                      const struct sockaddr *sa, int salen, int tls)
{
    struct session *s = util_xcalloc(1, sizeof(*s));
    int one = 1;

    (void)salen;
    s->env = env;
    s->cfg = cfg;
    static unsigned long next_id;
    s->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    session_enter(s, S_HEAD, &head_ops);
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
    bufferevent_enable(s->client, EV_READ);
    session_arm(s, cfg->handshake_timeout_ms);
    /* Limits answer at once; the request, if any, is read and dropped. */
    if (__atomic_load_n(&connlimit_open, __ATOMIC_RELAXED) > cfg->max_connections) {
        s->end_cause = "too_many_connections";
        session_reject(s, 503, "service_unavailable", "too many connections", NULL);
    } else if (cfg->max_connections_per_ip > 0) {
        if (countmap_take(limits_per_ip, s->peer_ip, cfg->max_connections_per_ip)) {
            s->ip_counted = 1;
        } else {
            s->end_cause = "too_many_connections_per_ip";
            session_reject(s, 429, "too_many_requests", "too many connections from this address",
                           NULL);
        }
    }
    return s;
}

struct session *session_new(struct session_env *env, struct config *cfg, int fd,
                            const struct sockaddr *sa, int salen)
{
    return session_create(env, cfg, fd, sa, salen, 0);
}

struct session *session_new_tls(struct session_env *env, struct config *cfg, int fd,
                                const struct sockaddr *sa, int salen)
{
    return session_create(env, cfg, fd, sa, salen, 1);
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
    if (s->client)
        bufferevent_free(s->client);
    if (s->upstream)
        bufferevent_free(s->upstream);
    event_free(s->timer);
    admission_clear(&s->adm);
    free(s->head);
    httpproxy_free(s->hx);
    socketio_session_free(s->sio);
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
    session_log_access(s);
    evtimer_del(s->timer);
    session_arm(s, 0);
}

void session_log_access(const struct session *s)
{
    struct access_record a = {
        .peer = s->peer,
        .req = s->have_req ? &s->req : NULL,
        .route = s->adm.route ? s->adm.route->prefix : NULL,
        .status = s->status,
        .reason = s->end_cause,
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
        s->end_cause = "shutdown";
    session_kill(s);
}

/* A rejection: the answer, then close. No upstream exists at this point,
 * except for a failed upstream head, which is dropped first. */
void session_reject(struct session *s, int status, const char *code, const char *desc,
                    const char *extra)
{
    const char *extras[2] = { extra, NULL };

    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    s->status = status;
    if (!s->end_cause)
        s->end_cause = code;
    metrics_reject(s->env->m, s->end_cause);
    http_write_reject(bufferevent_get_output(s->client), status, code, desc,
                      extra && *extra ? extras : NULL);
    session_finish(s);
}

static void reject_from_admission(struct session *s)
{
    char extra[320] = "";
    struct admission *a = &s->adm;

    if (a->www_auth[0])
        snprintf(extra, sizeof(extra), "WWW-Authenticate: %s", a->www_auth);
    else if (a->status == 426)
        snprintf(extra, sizeof(extra), "Sec-WebSocket-Version: 13");
    s->end_cause = a->reason;
    session_reject(s, a->status, a->code, a->desc, extra);
}

/* ---- S_HEAD ---------------------------------------------------------- */

static void head_received(struct session *s)
{
    char err[160];
    int st;

    s->have_req = 0;
    st = http_parse_request(s->head, s->head_len, &s->req, err, sizeof(err));
    if (st) {
        slog(LOG_INFO, s, "rejected %d: %s", st, err);
        s->end_cause = "bad_request";
        session_reject(s, st, st == 431 ? "request_header_fields_too_large" : "bad_request",
                       err, NULL);
        return;
    }
    s->have_req = 1;
    if (admit_request(s->cfg, &s->req, util_wall_s(), &s->adm)) {
        slog(LOG_INFO, s, "rejected %d %s: %s", s->adm.status, s->adm.reason, s->adm.desc);
        reject_from_admission(s);
        return;
    }
    if (s->cfg->max_sessions_per_subject > 0 && s->adm.have_claims && s->adm.claims.sub) {
        if (!countmap_take(limits_per_subject, s->adm.claims.sub, s->cfg->max_sessions_per_subject)) {
            slog(LOG_INFO, s, "rejected 429: too many sessions for sub %s", s->adm.claims.sub);
            s->end_cause = "too_many_sessions_per_subject";
            session_reject(s, 429, "too_many_requests", "too many sessions for this subject", NULL);
            return;
        }
        s->sub_counted = 1;
    }
    /* Bytes the client sent after its head stay buffered until the 101. */
    bufferevent_disable(s->client, EV_READ);
    if (s->adm.have_claims && s->env->rv && s->cfg->redis) {
        session_enter(s, S_CHECK, &check_ops);
        s->check = revoke_check_start(s->env->rv, &s->adm.claims, on_check_done, s);
        if (!s->check)
            on_check_done(s, REVOKE_UNAVAILABLE);
        return;
    }
    admitted(s);
}

static void on_check_done(void *arg, int result)
{
    struct session *s = arg;

    s->check = NULL;
    if (result == REVOKE_REVOKED) {
        slog(LOG_INFO, s, "rejected 401: token revoked");
        s->end_cause = "token_revoked";
        session_reject(s, 401, "invalid_token", "token revoked",
                       "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", "
                       "error_description=\"token revoked\"");
        return;
    }
    if (result == REVOKE_UNAVAILABLE) {
        if (!s->cfg->redis_failure_allow) {
            slog(LOG_INFO, s, "rejected 503: revocation store unavailable");
            s->end_cause = "redis_unavailable";
            session_reject(s, 503, "service_unavailable", "revocation service unavailable", NULL);
            return;
        }
        revoke_count_allowed(s->env->rv);
        slog(LOG_DEBUG, s, "revocation store unavailable, admitted (redis_failure allow)");
    }
    admitted(s);
}

static void on_expiry(evutil_socket_t fd, short what, void *arg);
static void on_revoked(struct revoke_entry *e);

/* The decision holds for the life of the socket: index the session for
 * revocations and arm its expiry, then go upstream. */
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
            int64_t at_ms = (s->adm.claims.exp + s->cfg->policy.leeway) * 1000, wait_ms;
            gettimeofday(&now, NULL);
            wait_ms = at_ms - ((int64_t)now.tv_sec * 1000 + now.tv_usec / 1000);
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

static void admitted(struct session *s)
{
    session_track(s);
    if (s->adm.route->socketio && !s->sio)
        s->sio = socketio_session_new();
    if (socketio_wants_post(s)) {
        socketio_post_start(s);
        return;
    }
    session_go_upstream(s);
}

void session_go_upstream(struct session *s)
{
    if (s->upstream) {
        /* Kept alive by the previous plain request of this connection. */
        if (s->adm.plain_http && httpproxy_can_reuse(s)) {
            httpproxy_start(s, 1);
            return;
        }
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    session_enter(s, S_CONNECTING, &connect_ops);
    s->up_first = upstream_first(s->adm.route);
    s->up_attempt = 0;
    upstream_try(s);
}

static void read_head(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->client);
    int r = httpframe_find_head(in, &s->head_scanned, s->cfg->max_header_size, &s->head_len);

    if (r == 0)
        return;
    if (r < 0) {
        slog(LOG_INFO, s, "rejected 431: request head over %zu bytes", s->cfg->max_header_size);
        session_reject(s, 431, "request_header_fields_too_large", "request head too large", NULL);
        return;
    }
    s->head = util_xmalloc(s->head_len + 1);
    evbuffer_remove(in, s->head, s->head_len);
    s->head[s->head_len] = '\0';
    evtimer_del(s->timer);
    head_received(s);
}

/* ---- S_CONNECTING ----------------------------------------------------- */

/* why: the TLS or socket error text, or NULL. */
static void upstream_failed_why(struct session *s, int timed_out, const char *why)
{
    const struct sockaddr_text *a = upstream_nth(s->adm.route, s->up_first, s->up_attempt);

    slog(LOG_WARNING, s, "upstream %s %s%s%s", a->text,
         timed_out ? "connect timed out" : "connect failed", why ? ": " : "", why ? why : "");
    if (timed_out)
        s->up_timed_out = 1;
    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    s->up_attempt++;
    if (s->up_attempt < s->adm.route->nupstreams) {
        upstream_try(s);
        return;
    }
    if (s->up_timed_out)
        session_reject(s, 504, "gateway_timeout", "upstream connect timed out", NULL);
    else
        session_reject(s, 502, "bad_gateway", "no upstream available", NULL);
}

static void upstream_failed(struct session *s, int timed_out)
{
    upstream_failed_why(s, timed_out, NULL);
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
        s->upstream = bufferevent_socket_new(s->env->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!s->upstream) {
        upstream_failed(s, 0);
        return;
    }
    bufferevent_setcb(s->upstream, on_up_read, on_up_write, on_up_event, s);
    session_arm(s, s->cfg->upstream_connect_timeout_ms);
    if (bufferevent_socket_connect(s->upstream, (const struct sockaddr *)&a->ss, (int)a->len) < 0) {
        /* Immediate failure: the event callback may not run. */
        evtimer_del(s->timer);
        upstream_failed(s, 0);
    }
}

static void upstream_connected(struct session *s)
{
    struct evbuffer *out = bufferevent_get_output(s->upstream);
    int one = 1;

    setsockopt(bufferevent_getfd(s->upstream), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&s->fwd, 0, sizeof(s->fwd));
    s->fwd.client_ip = s->peer_ip;
    s->fwd.tls = s->tls;
    if (s->adm.plain_http) {
        httpproxy_start(s, 0);
        return;
    }
    if (forward_build_head(out, &s->req, s->cfg, s->adm.route,
                           s->adm.have_claims ? &s->adm.claims : NULL, &s->fwd) < 0) {
        session_reject(s, 500, "internal_error", "cannot build upstream request", NULL);
        return;
    }
    session_enter(s, S_UPSTREAM_HEAD, &upgrade_head_ops);
    s->head_scanned = 0;
    bufferevent_setwatermark(s->upstream, EV_READ, 0, s->cfg->max_header_size + 1);
    bufferevent_enable(s->upstream, EV_READ | EV_WRITE);
    session_arm(s, s->cfg->handshake_timeout_ms);
}

/* ---- S_UPSTREAM_HEAD -------------------------------------------------- */

/* S_RESPONSE relays the declined answer's body: its length, or -1 when
 * it runs until the backend closes (chunked or unframed). */
static int64_t response_body_length(const struct http_response *r)
{
    uint64_t n;

    switch (httpframe_response_body(r, 0, &n)) {
    case HTTPFRAME_NONE:
        return 0;
    case HTTPFRAME_LENGTH:
        return (int64_t)n;
    default:
        return -1;
    }
}

static void upstream_head_received(struct session *s, char *head, size_t len)
{
    struct http_response resp;
    char err[160];
    struct evbuffer *cout = bufferevent_get_output(s->client);

    if (http_parse_response(head, len, &resp, err, sizeof(err)) != 0) {
        slog(LOG_WARNING, s, "invalid response head from upstream: %s", err);
        session_reject(s, 502, "bad_gateway", "invalid response from upstream", NULL);
        return;
    }
    evtimer_del(s->timer);
    s->status = resp.status;
    if (resp.status == 101 && s->fwd.only_credential_protocols &&
        !http_response_header(&resp, "Sec-WebSocket-Protocol")) {
        /* Browsers fail a handshake that offered protocols and got none back. */
        evbuffer_add(cout, head, len - 2);
        evbuffer_add_printf(cout, "Sec-WebSocket-Protocol: bearer\r\n\r\n");
    } else {
        evbuffer_add(cout, head, len);
    }
    if (resp.status != 101) {
        slog(LOG_INFO, s, "upstream answered %d, closing", resp.status);
        s->end_cause = "upstream_declined";
        metrics_reject(s->env->m, s->end_cause);
        session_enter(s, S_RESPONSE, &relay_response_ops);
        s->resp_left = response_body_length(&resp);
        bufferevent_setwatermark(s->upstream, EV_READ, 0, RELAY_HIGH_WATER);
        session_arm(s, s->cfg->handshake_timeout_ms);
        relay_response(s);
        return;
    }
    slog(LOG_DEBUG, s, "relaying, route %s", s->adm.route->prefix);
    metrics_accept(s->env->m, util_now_us() - s->started_us);
    metrics_add(s->env->m->sessions_active, 1);
    s->counted_active = 1;
    relay_start(s);
}

static void read_upstream_head(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->upstream);
    size_t len;
    char *head;
    int r = httpframe_find_head(in, &s->head_scanned, s->cfg->max_header_size, &len);

    if (r == 0)
        return;
    if (r < 0) {
        session_reject(s, 502, "bad_gateway", "upstream response head too large", NULL);
        return;
    }
    head = util_xmalloc(len + 1);
    evbuffer_remove(in, head, len);
    head[len] = '\0';
    upstream_head_received(s, head, len);
    free(head);
}

/* ---- ending ------------------------------------------------------------ */

static int side_flushed(struct bufferevent *bev)
{
    return !bev || evbuffer_get_length(bufferevent_get_output(bev)) == 0;
}

/* Output written: half-close and keep reading (and dropping) until the
 * peer closes, so unread input never turns our last bytes into an RST.
 * Over TLS the half-close is a close_notify. */
static void side_linger(struct session *s, struct bufferevent *bev, int *done)
{
    if (*done || !bev)
        return;
    if (!side_flushed(bev))
        return;
    if (!tls_close_notify(bev))
        shutdown(bufferevent_getfd(bev), SHUT_WR);
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    bufferevent_enable(bev, EV_READ);
    (void)s;
}

static void finish_check(struct session *s)
{
    if (s->state != S_FLUSH)
        return;
    if (!s->client)
        s->client_done = 1;
    if (!s->upstream)
        s->upstream_done = 1;
    if (s->client_done && s->upstream_done) {
        session_kill(s);
        return;
    }
    side_linger(s, s->client, &s->client_done);
    side_linger(s, s->upstream, &s->upstream_done);
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
    if (s->client) {
        bufferevent_disable(s->client, EV_READ);
        bufferevent_setwatermark(s->client, EV_WRITE, 0, 0);
        bufferevent_setwatermark(s->client, EV_READ, 0, 0);
        bufferevent_enable(s->client, EV_WRITE);
    }
    if (s->upstream) {
        bufferevent_disable(s->upstream, EV_READ);
        bufferevent_setwatermark(s->upstream, EV_WRITE, 0, 0);
        bufferevent_setwatermark(s->upstream, EV_READ, 0, 0);
        bufferevent_enable(s->upstream, EV_WRITE);
    }
    session_arm(s, FLUSH_WAIT_MS);
    finish_check(s);
}

void session_end(struct session *s, const char *cause)
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
    free(s->head);
    s->head = NULL;
    s->head_len = s->head_scanned = 0;
    s->have_req = 0;
    s->status = 0;
    s->end_cause = NULL;
    s->c2u.bytes = s->u2c.bytes = 0;
    s->started_ms = util_now_ms();
    session_enter(s, S_HTTP_IDLE, &idle_ops);
    evtimer_del(s->timer);
    bufferevent_setwatermark(s->client, EV_READ, 0, s->cfg->max_header_size + 1);
    bufferevent_enable(s->client, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(s->client)) == 0) {
        session_arm(s, s->cfg->keepalive_timeout_ms);
        return;
    }
    /* A pipelined request is already here. */
    session_enter(s, S_HEAD, &head_ops);
    session_arm(s, s->cfg->handshake_timeout_ms);
    read_head(s);
}

void session_drop_upstream(struct session *s)
{
    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
}

/* ---- handlers of the core and the intake --------------------------------- */

void session_enter(struct session *s, enum session_state st, const struct session_ops *ops)
{
    s->state = st;
    s->ops = ops;
}

void session_reject_token(struct session *s, const char *desc, const char *cause)
{
    char extra[200];

    snprintf(extra, sizeof(extra),
             "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", "
             "error_description=\"%s\"", desc);
    s->end_cause = cause;
    session_reject(s, 401, "invalid_token", desc, extra);
}

static void token_expired(struct session *s)
{
    session_reject_token(s, "token expired", "token_expired");
}

static void token_revoked(struct session *s)
{
    session_reject_token(s, "token revoked", "token_revoked");
}

static void idle_up_event(struct session *s, short what)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        session_drop_upstream(s);
}

/* S_HEAD: the request head, within handshake_timeout. */
static void head_timeout(struct session *s)
{
    if (s->tls && !s->tls_ready) {
        /* No TLS yet: nobody could read a 408. */
        slog(LOG_INFO, s, "TLS handshake not complete in time");
        s->end_cause = "tls_handshake_timeout";
        metrics_reject(s->env->m, s->end_cause);
        session_kill(s);
        return;
    }
    slog(LOG_INFO, s, "rejected 408: request head not complete in time");
    s->end_cause = "request_timeout";
    session_reject(s, 408, "request_timeout", "request head not received in time", NULL);
}

static const struct session_ops head_ops = {
    .client_read = read_head,
    .up_read = session_drop_upstream,
    .up_event = idle_up_event,
    .timeout = head_timeout,
};

/* S_CHECK: the Redis lookup has its own deadline (redis_timeout). */
static const struct session_ops check_ops = {
    .up_read = session_drop_upstream,
    .up_event = idle_up_event,
    .expired = token_expired,
};

/* S_HTTP_IDLE: keep-alive between two plain requests. */
static void idle_client_read(struct session *s)
{
    /* The next request begins: its head has handshake_timeout. */
    session_enter(s, S_HEAD, &head_ops);
    evtimer_del(s->timer);
    session_arm(s, s->cfg->handshake_timeout_ms);
    read_head(s);
}

static void idle_client_event(struct session *s, short what)
{
    /* Earlier responses may still be on their way out. */
    session_end(s, what & BEV_EVENT_ERROR ? "client_error" : "client_closed");
}

static void idle_timeout(struct session *s)
{
    session_end(s, "keepalive_timeout");
}

static void idle_shutdown(struct session *s, int code, const char *reason)
{
    (void)code;
    (void)reason;
    session_end(s, "shutdown");
}

static const struct session_ops idle_ops = {
    .client_read = idle_client_read,
    .client_event = idle_client_event,
    .up_read = session_drop_upstream,
    .up_event = idle_up_event,
    .timeout = idle_timeout,
    .shutdown = idle_shutdown,
};

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
    .expired = token_expired,
    .revoked = token_revoked,
};

/* S_UPSTREAM_HEAD: the backend's answer to the upgrade. */
static void upgrade_head_up_event(struct session *s, short what)
{
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    slog(LOG_WARNING, s, "upstream closed before its response head");
    s->end_cause = "upstream_closed";
    session_reject(s, 502, "bad_gateway", "upstream closed the connection", NULL);
}

static void upgrade_head_timeout(struct session *s)
{
    slog(LOG_WARNING, s, "upstream sent no response head in time");
    s->end_cause = "upstream_timeout";
    session_reject(s, 504, "gateway_timeout", "upstream did not answer in time", NULL);
}

static const struct session_ops upgrade_head_ops = {
    .up_read = read_upstream_head,
    .up_event = upgrade_head_up_event,
    .timeout = upgrade_head_timeout,
    .expired = token_expired,
    .revoked = token_revoked,
};

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
                s->end_cause = "tls_handshake_failed";
            metrics_reject(s->env->m, "tls_handshake_failed");
            session_kill(s);
            return;
        }
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (s->ops->client_event) {
        s->ops->client_event(s, what);
        return;
    }
    if (!s->end_cause)
        s->end_cause = "client_closed";
    session_kill(s);
}

static void on_up_event(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->ops->up_event) {
        s->ops->up_event(s, what);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    if (what & BEV_EVENT_ERROR)
        s->upstream_done = 1;
    session_end(s, what & BEV_EVENT_ERROR ? "upstream_error" : "upstream_closed");
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

void session_shutdown(struct session *s, int code, const char *reason)
{
    if (s->ops->shutdown) {
        s->ops->shutdown(s, code, reason);
        return;
    }
    s->end_cause = "shutdown";
    session_kill(s);
}

static const char *state_name(enum session_state st)
{
    switch (st) {
    case S_HEAD: return "head";
    case S_CHECK: return "check";
    case S_CONNECTING: return "connecting";
    case S_UPSTREAM_HEAD: return "upstream_head";
    case S_RESPONSE: return "response";
    case S_RELAY: return "relay";
    case S_CLOSING: return "closing";
    case S_FLUSH: return "flush";
    case S_DEAD: return "dead";
    case S_HTTP_UPSTREAM_HEAD: return "http_upstream_head";
    case S_HTTP_RESPONSE: return "http_response";
    case S_HTTP_IDLE: return "http_idle";
    case S_SIO_BODY: return "sio_body";
    }
    return "?";
}

void session_describe_json(const struct session *s, struct evbuffer *b)
{
    const struct jwt_claims *c = s->adm.have_claims ? &s->adm.claims : NULL;

    evbuffer_add_printf(b, "{\"id\":%lu,\"state\":\"%s\",\"route\":", s->id, state_name(s->state));
    accesslog_json_string(b, s->adm.route ? s->adm.route->prefix : NULL,
                          s->adm.route ? strlen(s->adm.route->prefix) : 0);
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
