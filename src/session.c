/* The life of one client connection, as an explicit state machine. Each
 * state hands the session to the next or ends it with a response; nothing
 * reaches back. Admission is decided before any upstream socket exists. */
#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include "httpproxy.h"
#include "socketio.h"
#include "metrics.h"
#include "upstream.h"
#include "util.h"
#include "worker.h"

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
static void session_reject(struct session *s, int status, const char *code,
                           const char *desc, const char *extra);
static void admitted(struct session *s);
static void on_check_done(void *arg, int result);

static void arm_timer(struct session *s, int64_t ms)
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

static struct session *session_create(struct worker *w, struct config *cfg, int fd,
                                      const struct sockaddr *sa, int salen, int tls)
{
    struct session *s = util_xcalloc(1, sizeof(*s));
    int one = 1;

    (void)salen;
    s->w = w;
    s->cfg = cfg;
    static unsigned long next_id;
    s->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
    s->state = S_HEAD;
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
        else if ((s->client = bufferevent_openssl_socket_new(w->base, fd, ssl,
                                                             BUFFEREVENT_SSL_ACCEPTING,
                                                             BEV_OPT_CLOSE_ON_FREE)))
            bufferevent_openssl_set_allow_dirty_shutdown(s->client, 1);
        /* else libevent may or may not have freed ssl and closed fd:
         * leaking them beats a double close on a threaded process. */
    } else {
        s->client = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    s->timer = evtimer_new(w->base, on_timer, s);
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
    worker_session_added(w, s);
    /* Stop reading once a head longer than allowed is buffered: 431. */
    bufferevent_setwatermark(s->client, EV_READ, 0, cfg->max_header_size + 1);
    bufferevent_setcb(s->client, on_client_read, on_client_write, on_client_event, s);
    bufferevent_enable(s->client, EV_READ);
    arm_timer(s, cfg->handshake_timeout_ms);
    /* Limits answer at once; the request, if any, is read and dropped. */
    if (__atomic_load_n(&worker_connections, __ATOMIC_RELAXED) > cfg->max_connections) {
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

struct session *session_new(struct worker *w, struct config *cfg, int fd,
                            const struct sockaddr *sa, int salen)
{
    return session_create(w, cfg, fd, sa, salen, 0);
}

struct session *session_new_tls(struct worker *w, struct config *cfg, int fd,
                                const struct sockaddr *sa, int salen)
{
    return session_create(w, cfg, fd, sa, salen, 1);
}

static void session_free(struct session *s)
{
    if (s->ip_counted)
        countmap_release(limits_per_ip, s->peer_ip);
    if (s->sub_counted)
        countmap_release(limits_per_subject, s->adm.claims.sub);
    revoke_check_cancel(s->check);
    revoke_untrack(s->w->rv, s);
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
    worker_session_removed(s->w, s);
    config_unref(s->cfg);
    free(s);
}

/* Every path out goes through here: callbacks off, log once, free at the
 * next loop turn from the session's own timer, never inside a callback
 * another callback of this session may still touch. */
static void session_kill(struct session *s)
{
    if (s->state == S_DEAD)
        return;
    s->state = S_DEAD;
    revoke_check_cancel(s->check);
    s->check = NULL;
    revoke_untrack(s->w->rv, s);
    if (s->expiry)
        evtimer_del(s->expiry);
    if (s->counted_active) {
        metrics_add(s->w->m.sessions_active, -1);
        metrics_close(&s->w->m, s->end_cause);
        s->counted_active = 0;
    }
    if (s->client)
        bufferevent_disable(s->client, EV_READ | EV_WRITE);
    if (s->upstream)
        bufferevent_disable(s->upstream, EV_READ | EV_WRITE);
    accesslog_session(s);
    evtimer_del(s->timer);
    arm_timer(s, 0);
}

void session_abort(struct session *s)
{
    if (!s->end_cause)
        s->end_cause = "shutdown";
    session_kill(s);
}

/* A rejection: the answer, then close. No upstream exists at this point,
 * except for a failed upstream head, which is dropped first. */
static void session_reject(struct session *s, int status, const char *code,
                           const char *desc, const char *extra)
{
    const char *extras[2] = { extra, NULL };

    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    s->status = status;
    if (!s->end_cause)
        s->end_cause = code;
    metrics_reject(&s->w->m, s->end_cause);
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
    if (s->adm.have_claims && s->w->rv && s->cfg->redis) {
        s->state = S_CHECK;
        s->check = revoke_check_start(s->w->rv, &s->adm.claims, on_check_done, s);
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
        revoke_count_allowed(s->w->rv);
        slog(LOG_DEBUG, s, "revocation store unavailable, admitted (redis_failure allow)");
    }
    admitted(s);
}

static void on_expiry(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    switch (s->state) {
    case S_RELAY:
        relay_close(s, 4401, "token expired", "token_expired");
        break;
    case S_CHECK:
    case S_CONNECTING:
    case S_UPSTREAM_HEAD:
    case S_HTTP_UPSTREAM_HEAD:
        s->end_cause = "token_expired";
        session_reject(s, 401, "invalid_token", "token expired",
                       "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", "
                       "error_description=\"token expired\"");
        break;
    case S_HTTP_RESPONSE:
        session_end(s, "token_expired");
        break;
    default:
        break;
    }
}

/* The decision holds for the life of the socket: index the session for
 * revocations and arm its expiry, then go upstream. */
void session_track(struct session *s)
{
    if (s->adm.have_claims) {
        revoke_track(s->w->rv, s);
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
                s->expiry = evtimer_new(s->w->base, on_expiry, s);
            if (s->expiry)
                evtimer_add(s->expiry, &tv);
        }
    }
}

static void admitted(struct session *s)
{
    session_track(s);
    if (s->adm.route->socketio && !s->sio && !(s->sio = socketio_session_new())) {
        session_reject(s, 500, "internal_error", "out of memory", NULL);
        return;
    }
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
    s->state = S_CONNECTING;
    s->up_first = upstream_first(s->adm.route);
    s->up_attempt = 0;
    upstream_try(s);
}

void session_revoked(struct session *s)
{
    switch (s->state) {
    case S_RELAY:
        relay_close(s, 4403, "token revoked", "token_revoked");
        break;
    case S_CONNECTING:
    case S_UPSTREAM_HEAD:
    case S_HTTP_UPSTREAM_HEAD:
        s->end_cause = "token_revoked";
        session_reject(s, 401, "invalid_token", "token revoked",
                       "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", "
                       "error_description=\"token revoked\"");
        break;
    case S_RESPONSE:
    case S_HTTP_RESPONSE:
        session_end(s, "token_revoked");
        break;
    default:
        break;
    }
}

static void read_head(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->client);
    size_t len = evbuffer_get_length(in);
    struct evbuffer_ptr start, found;
    size_t from = s->head_scanned > 3 ? s->head_scanned - 3 : 0;

    evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET);
    found = evbuffer_search(in, "\r\n\r\n", 4, &start);
    if (found.pos < 0) {
        if (len > s->cfg->max_header_size) {
            slog(LOG_INFO, s, "rejected 431: request head over %zu bytes", s->cfg->max_header_size);
            session_reject(s, 431, "request_header_fields_too_large",
                           "request head too large", NULL);
            return;
        }
        s->head_scanned = len;
        return;
    }
    s->head_len = (size_t)found.pos + 4;
    if (s->head_len > s->cfg->max_header_size) {
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
        s->upstream = ssl ? bufferevent_openssl_socket_new(s->w->base, -1, ssl,
                                                           BUFFEREVENT_SSL_CONNECTING,
                                                           BEV_OPT_CLOSE_ON_FREE)
                          : NULL;
        if (s->upstream)
            bufferevent_openssl_set_allow_dirty_shutdown(s->upstream, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        s->upstream = bufferevent_socket_new(s->w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!s->upstream) {
        upstream_failed(s, 0);
        return;
    }
    bufferevent_setcb(s->upstream, on_up_read, on_up_write, on_up_event, s);
    arm_timer(s, s->cfg->upstream_connect_timeout_ms);
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
    if (s->sio)
        socketio_upstream_request(&s->req);
    if (forward_build_head(out, &s->req, s->cfg, s->adm.route,
                           s->adm.have_claims ? &s->adm.claims : NULL, &s->fwd) < 0) {
        session_reject(s, 500, "internal_error", "cannot build upstream request", NULL);
        return;
    }
    s->state = S_UPSTREAM_HEAD;
    s->head_scanned = 0;
    bufferevent_setwatermark(s->upstream, EV_READ, 0, s->cfg->max_header_size + 1);
    bufferevent_enable(s->upstream, EV_READ | EV_WRITE);
    arm_timer(s, s->cfg->handshake_timeout_ms);
}

/* ---- S_UPSTREAM_HEAD -------------------------------------------------- */

static int64_t response_body_length(const struct http_response *r)
{
    const struct http_header *h;

    if ((r->status >= 100 && r->status < 200) || r->status == 204 || r->status == 304)
        return 0;
    if (http_response_header(r, "Transfer-Encoding"))
        return -1;
    h = http_response_header(r, "Content-Length");
    if (h) {
        char tmp[24];
        size_t n = h->value_len < sizeof(tmp) - 1 ? h->value_len : sizeof(tmp) - 1;
        memcpy(tmp, h->value, n);
        tmp[n] = '\0';
        return strtoll(tmp, NULL, 10);
    }
    return -1;
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
    if (resp.status == 101 && s->sio && http_response_header(&resp, "Sec-WebSocket-Extensions")) {
        /* None was offered (socketio_upstream_request). */
        slog(LOG_WARNING, s, "upstream chose a WebSocket extension that was not offered");
        session_reject(s, 502, "bad_gateway", "invalid response from upstream", NULL);
        return;
    }
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
        metrics_reject(&s->w->m, s->end_cause);
        s->state = S_RESPONSE;
        s->resp_left = response_body_length(&resp);
        bufferevent_setwatermark(s->upstream, EV_READ, 0, RELAY_HIGH_WATER);
        arm_timer(s, s->cfg->handshake_timeout_ms);
        relay_response(s);
        return;
    }
    slog(LOG_DEBUG, s, "relaying, route %s", s->adm.route->prefix);
    metrics_accept(&s->w->m, util_now_us() - s->started_us);
    metrics_add(s->w->m.sessions_active, 1);
    s->counted_active = 1;
    relay_start(s);
}

static void read_upstream_head(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->upstream);
    size_t len = evbuffer_get_length(in);
    struct evbuffer_ptr start, found;
    size_t from = s->head_scanned > 3 ? s->head_scanned - 3 : 0;
    char *head;

    evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET);
    found = evbuffer_search(in, "\r\n\r\n", 4, &start);
    if (found.pos < 0) {
        if (len > s->cfg->max_header_size) {
            session_reject(s, 502, "bad_gateway", "upstream response head too large", NULL);
            return;
        }
        s->head_scanned = len;
        return;
    }
    len = (size_t)found.pos + 4;
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
        arm_timer(s, LINGER_MS);
    }
}

/* Stop relaying; let what is queued reach each side, then close both. */
static void session_finish(struct session *s)
{
    if (s->state == S_DEAD || s->state == S_FLUSH)
        return;
    s->state = S_FLUSH;
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
    arm_timer(s, FLUSH_WAIT_MS);
    finish_check(s);
}

void session_end(struct session *s, const char *cause)
{
    if (!s->end_cause)
        s->end_cause = cause;
    session_finish(s);
}

void session_shutdown(struct session *s, int code, const char *reason)
{
    switch (s->state) {
    case S_RELAY:
        relay_close(s, code, reason, "shutdown");
        break;
    case S_CLOSING:
    case S_FLUSH:
    case S_DEAD:
        break;
    case S_HTTP_UPSTREAM_HEAD:
    case S_HTTP_RESPONSE:
        httpproxy_last_response(s);
        break;
    case S_HTTP_IDLE:
        session_end(s, "shutdown");
        break;
    default:
        s->end_cause = "shutdown";
        session_kill(s);
    }
}

void session_next_request(struct session *s)
{
    revoke_untrack(s->w->rv, s);
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
    s->state = S_HTTP_IDLE;
    evtimer_del(s->timer);
    bufferevent_setwatermark(s->client, EV_READ, 0, s->cfg->max_header_size + 1);
    bufferevent_enable(s->client, EV_READ);
    if (evbuffer_get_length(bufferevent_get_input(s->client)) == 0) {
        arm_timer(s, s->cfg->keepalive_timeout_ms);
        return;
    }
    /* A pipelined request is already here. */
    s->state = S_HEAD;
    arm_timer(s, s->cfg->handshake_timeout_ms);
    read_head(s);
}

/* A kept-alive upstream spoke or closed between two requests: whatever it
 * said answers nothing, so it cannot carry the next one. */
static void drop_idle_upstream(struct session *s)
{
    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
}

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
    switch (s->state) {
    case S_HEAD:
        if (s->tls && !s->tls_ready) {
            /* No TLS yet: nobody could read a 408. */
            slog(LOG_INFO, s, "TLS handshake not complete in time");
            s->end_cause = "tls_handshake_timeout";
            metrics_reject(&s->w->m, s->end_cause);
            session_kill(s);
            break;
        }
        slog(LOG_INFO, s, "rejected 408: request head not complete in time");
        s->end_cause = "request_timeout";
        session_reject(s, 408, "request_timeout", "request head not received in time", NULL);
        break;
    case S_CHECK:
        break;
    case S_CONNECTING:
        upstream_failed(s, 1);
        break;
    case S_UPSTREAM_HEAD:
        slog(LOG_WARNING, s, "upstream sent no response head in time");
        s->end_cause = "upstream_timeout";
        session_reject(s, 504, "gateway_timeout", "upstream did not answer in time", NULL);
        break;
    case S_RESPONSE:
        session_end(s, "upstream_timeout");
        break;
    case S_RELAY:
        relay_idle_check(s);
        break;
    case S_CLOSING:
        session_end(s, s->end_cause);
        break;
    case S_FLUSH:
        session_kill(s);
        break;
    case S_DEAD:
        session_free(s);
        break;
    case S_HTTP_UPSTREAM_HEAD:
    case S_HTTP_RESPONSE:
        httpproxy_timer(s);
        break;
    case S_HTTP_IDLE:
        session_end(s, "keepalive_timeout");
        break;
    case S_SIO_BODY:
        socketio_post_timer(s);
        break;
    }
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    switch (s->state) {
    case S_HEAD:
        read_head(s);
        break;
    case S_RELAY:
    case S_CLOSING:
        relay_pump(s, &s->c2u);
        break;
    case S_FLUSH:
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        break;
    case S_HTTP_UPSTREAM_HEAD:
    case S_HTTP_RESPONSE:
        httpproxy_client_read(s);
        break;
    case S_SIO_BODY:
        socketio_post_read(s);
        break;
    case S_HTTP_IDLE:
        /* The next request begins: its head has handshake_timeout. */
        s->state = S_HEAD;
        evtimer_del(s->timer);
        arm_timer(s, s->cfg->handshake_timeout_ms);
        read_head(s);
        break;
    default:
        break;
    }
    tls_kick(s);
}

static void on_up_read(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    switch (s->state) {
    case S_UPSTREAM_HEAD:
        read_upstream_head(s);
        break;
    case S_RESPONSE:
        relay_response(s);
        break;
    case S_RELAY:
    case S_CLOSING:
        relay_pump(s, &s->u2c);
        break;
    case S_FLUSH:
        evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
        break;
    case S_HTTP_UPSTREAM_HEAD:
    case S_HTTP_RESPONSE:
        httpproxy_up_read(s);
        break;
    case S_HEAD:
    case S_CHECK:
    case S_HTTP_IDLE:
    case S_SIO_BODY:
        drop_idle_upstream(s);
        break;
    default:
        break;
    }
    tls_kick(s);
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->state == S_FLUSH)
        finish_check(s);
    else if (s->state == S_RELAY || s->state == S_CLOSING)
        relay_resume(s, &s->u2c);
    else if (s->state == S_RESPONSE)
        relay_response(s);
    else if (s->state == S_HTTP_RESPONSE)
        httpproxy_client_write(s);
    tls_kick(s);
}

static void on_up_write(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->state == S_FLUSH)
        finish_check(s);
    else if (s->state == S_RELAY || s->state == S_CLOSING)
        relay_resume(s, &s->c2u);
    else if (s->state == S_HTTP_UPSTREAM_HEAD || s->state == S_HTTP_RESPONSE)
        httpproxy_up_write(s);
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
            metrics_reject(&s->w->m, "tls_handshake_failed");
            session_kill(s);
            return;
        }
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    switch (s->state) {
    case S_FLUSH:
        s->client_done = 1;
        finish_check(s);
        break;
    case S_RELAY:
    case S_CLOSING:
        /* Whatever the client still had to say was pumped on read; after
         * an EOF it may still read what is queued for it. */
        if (what & BEV_EVENT_ERROR)
            s->client_done = 1;
        session_end(s, what & BEV_EVENT_ERROR ? "client_error" : "client_closed");
        break;
    case S_HTTP_UPSTREAM_HEAD:
    case S_HTTP_RESPONSE:
        httpproxy_client_event(s, what);
        break;
    case S_HTTP_IDLE:
        /* Earlier responses may still be on their way out. */
        session_end(s, what & BEV_EVENT_ERROR ? "client_error" : "client_closed");
        break;
    default:
        if (!s->end_cause)
            s->end_cause = "client_closed";
        session_kill(s);
        break;
    }
}

static void on_up_event(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;

    (void)bev;
    if (s->state == S_CONNECTING) {
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
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    switch (s->state) {
    case S_UPSTREAM_HEAD:
        slog(LOG_WARNING, s, "upstream closed before its response head");
        s->end_cause = "upstream_closed";
        session_reject(s, 502, "bad_gateway", "upstream closed the connection", NULL);
        break;
    case S_FLUSH:
        s->upstream_done = 1;
        finish_check(s);
        break;
    case S_HTTP_UPSTREAM_HEAD:
    case S_HTTP_RESPONSE:
        if (httpproxy_up_event(s, what)) {
            bufferevent_free(s->upstream);
            s->upstream = NULL;
            s->state = S_CONNECTING;
            s->up_first = upstream_first(s->adm.route);
            s->up_attempt = 0;
            upstream_try(s);
        }
        break;
    case S_HEAD:
    case S_CHECK:
    case S_HTTP_IDLE:
    case S_SIO_BODY:
        drop_idle_upstream(s);
        break;
    default:
        if (what & BEV_EVENT_ERROR)
            s->upstream_done = 1;
        session_end(s, what & BEV_EVENT_ERROR ? "upstream_error" : "upstream_closed");
        break;
    }
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
