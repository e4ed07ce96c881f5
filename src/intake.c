/* The intake: a connection's request head, strictly parsed; admission
 * (route, Origin, token, claims: admit.c); the per-subject limit and the
 * revocation lookup; then the handler for the request takes over
 * (upgrade.c or httpproxy.c, behind the socket.io layer on socketio
 * routes). Also the keep-alive wait between two plain requests. */
#include "intake.h"

#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "connlimit.h"
#include "cors.h"
#include "http.h"
#include "httpframe.h"
#include "gqlws.h"
#include "httpproxy.h"
#include "log.h"
#include "metrics.h"
#include "realip.h"
#include "revoke.h"
#include "session.h"
#include "socketio.h"
#include "upgrade.h"
#include "util.h"

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

static const struct session_ops check_ops;
static void admitted(struct session *s);
static void on_check_done(void *arg, int result);
static void read_head(struct session *s);

static void reject_from_admission(struct session *s)
{
    char extra[320] = "";
    struct admission *a = &s->adm;

    if (a->www_auth[0])
        snprintf(extra, sizeof(extra), "WWW-Authenticate: %s", a->www_auth);
    else if (a->status == 426)
        snprintf(extra, sizeof(extra), "Sec-WebSocket-Version: 13");
    s->end_cause = a->reason;
    session_reject(s, a->reason, a->status, a->code, a->desc, extra);
}

/* A CORS preflight on a cors route, its Origin allowed (SPEC §10): the
 * answer is ours, before any token or upstream. The connection stays
 * open only for a client that reads its answers as they come: no body,
 * nothing pipelined behind, earlier answers gone out. So a client that
 * never reads makes us hold at most a head's worth, and the next request
 * starts from its own read, never from inside this one. */
static void answer_preflight(struct session *s)
{
    struct evbuffer *out = bufferevent_get_output(s->client);
    const struct http_header *cl = http_request_header(s->req, "Content-Length");
    int keep = s->req->version_minor == 1 && s->cfg->keepalive_timeout_ms > 0 &&
               !http_request_header(s->req, "Transfer-Encoding") &&
               (!cl || (cl->value_len == 1 && cl->value[0] == '0')) &&
               evbuffer_get_length(bufferevent_get_input(s->client)) == 0 &&
               evbuffer_get_length(out) <= s->cfg->max_header_size;

    for (size_t i = 0; keep && i < s->req->nheaders; i++)
        if (util_strieq(s->req->headers[i].name, s->req->headers[i].name_len, "Connection") &&
            util_list_has_token(s->req->headers[i].value, s->req->headers[i].value_len, "close"))
            keep = 0;
    s->status = 204;
    s->end_cause = OC_CORS_PREFLIGHT;
    if (cors_write_preflight(out, s->req, !keep) < 0)
        keep = 0;
    slog(LOG_DEBUG, s, "cors preflight answered, route %s", s->adm.route->prefix);
    if (!keep) {
        session_end(s, OC_CORS_PREFLIGHT);
        return;
    }
    session_log_access(s);
    session_next_request(s);
}

/* real_ip_from (SPEC §13): a trusted proxy's header names the client,
 * anew for every request of a connection. */
static int client_from_header(struct session *s)
{
    char ip[64];

    if (!realip_trusted(s->cfg->real_ip_from, s->cfg->nreal_ip_from, s->conn_ip))
        return 0;
    if (!realip_resolve(s->cfg->real_ip_from, s->cfg->nreal_ip_from, s->conn_ip, s->req,
                        s->cfg->real_ip_header, ip, sizeof(ip)))
        snprintf(ip, sizeof(ip), "%s", s->conn_ip);
    if (session_set_client(s, ip) < 0) {
        slog(LOG_INFO, s, "rejected 429: too many connections from this address");
        s->end_cause = OC_TOO_MANY_CONNECTIONS_PER_IP;
        session_reject(s, OC_TOO_MANY_CONNECTIONS_PER_IP, 429, "too_many_requests",
                       "too many connections from this address", NULL);
        return -1;
    }
    return 0;
}

static void head_received(struct session *s)
{
    char err[160];
    int st;

    s->have_req = 0;
    st = http_parse_request(s->head, s->head_len, s->req, err, sizeof(err));
    if (st == 0) {
        /* Routing, forwarding and logging all see this one reading. */
        free(s->npath);
        s->npath = util_xmalloc(s->req->path_len + 2);
        st = http_request_normalize(s->req, s->npath, s->req->path_len + 2, err, sizeof(err));
    }
    if (st) {
        slog(LOG_INFO, s, "rejected %d: %s", st, err);
        s->end_cause = OC_BAD_REQUEST;
        session_reject(s, st == 431 ? OC_REQUEST_HEADER_FIELDS_TOO_LARGE : OC_BAD_REQUEST, st, st == 431 ? "request_header_fields_too_large" : "bad_request",
                       err, NULL);
        return;
    }
    s->have_req = 1;
    if (s->cfg->nreal_ip_from && client_from_header(s) < 0)
        return;
    if (admit_request(s->cfg, s->req, util_wall_s(), &s->adm)) {
        slog(LOG_INFO, s, "rejected %d %s: %s", s->adm.status, outcome_name(s->adm.reason), s->adm.desc);
        reject_from_admission(s);
        return;
    }
    /* Only a plain WebSocket upgrade keeps the core's reader of the head
     * (parked until the relay takes the socket over); every other
     * handler reads the client through its bufferevent. */
    if (s->adm.preflight || s->adm.plain_http || s->adm.gql_pending || s->adm.route->socketio)
        session_release_client_read(s);
    if (s->adm.preflight) {
        answer_preflight(s);
        return;
    }
    if (s->adm.route->socketio && socketio_poll_admit(s) < 0)
        return;
    /* A bound sid's requests share the slot the sid holds. */
    if (s->cfg->max_sessions_per_subject > 0 && s->adm.have_claims && s->adm.claims.sub &&
        !s->adm.sid_bound) {
        if (!countmap_take(limits_per_subject, s->adm.claims.sub, s->cfg->max_sessions_per_subject)) {
            slog(LOG_INFO, s, "rejected 429: too many sessions for sub %s", s->adm.claims.sub);
            s->end_cause = OC_TOO_MANY_SESSIONS_PER_SUBJECT;
            session_reject(s, OC_OTHER, 429, "too_many_requests", "too many sessions for this subject", NULL);
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
        if (socketio_poll_cut(s, OC_TOKEN_REVOKED, 0))
            return;
        slog(LOG_INFO, s, "rejected 401: token revoked");
        s->end_cause = OC_TOKEN_REVOKED;
        session_reject(s, OC_INVALID_TOKEN, 401, "invalid_token", "token revoked",
                       "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", "
                       "error_description=\"token revoked\"");
        return;
    }
    if (result == REVOKE_UNAVAILABLE) {
        if (!s->cfg->redis_failure_allow) {
            slog(LOG_INFO, s, "rejected 503: revocation store unavailable");
            s->end_cause = OC_REDIS_UNAVAILABLE;
            session_reject(s, OC_SERVICE_UNAVAILABLE, 503, "service_unavailable", "revocation service unavailable", NULL);
            return;
        }
        revoke_count_allowed(s->env->rv);
        slog(LOG_DEBUG, s, "revocation store unavailable, admitted (redis_failure allow)");
    }
    admitted(s);
}

/* Admitted: the request's handler takes over once the socket.io layer
 * (if any) has read what it must. */
static void admitted(struct session *s)
{
    session_track(s);
    if (s->adm.route->socketio && socketio_attach(s) < 0) {
        session_reject(s, OC_INTERNAL_ERROR, 500, "internal_error", "out of memory", NULL);
        return;
    }
    s->proceed = s->adm.plain_http ? httpproxy_proceed
               : s->adm.gql_pending ? gqlws_proceed : upgrade_proceed;
    if (socketio_wants_post(s)) {
        socketio_post_start(s);
        return;
    }
    s->proceed(s);
}

static void read_head(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->client);
    int r = httpframe_take_head(in, &s->head_scanned, s->cfg->max_header_size, &s->head,
                                &s->head_len);

    if (r == 0)
        return;
    if (r < 0) {
        slog(LOG_INFO, s, "rejected 431: request head over %zu bytes", s->cfg->max_header_size);
        session_reject(s, OC_REQUEST_HEADER_FIELDS_TOO_LARGE, 431, "request_header_fields_too_large", "request head too large", NULL);
        return;
    }
    evtimer_del(s->timer);
    head_received(s);
}

/* S_HEAD: the request head, within handshake_timeout. */
static void head_timeout(struct session *s)
{
    if (s->tls && !s->tls_ready) {
        /* No TLS yet: nobody could read a 408. */
        slog(LOG_INFO, s, "TLS handshake not complete in time");
        s->end_cause = OC_TLS_HANDSHAKE_TIMEOUT;
        metrics_reject(s->env->m, s->end_cause);
        session_abort(s);
        return;
    }
    slog(LOG_INFO, s, "rejected 408: request head not complete in time");
    s->end_cause = OC_REQUEST_TIMEOUT;
    session_reject(s, OC_REQUEST_TIMEOUT, 408, "request_timeout", "request head not received in time", NULL);
}

/* S_CHECK: the Redis lookup has its own deadline (redis_timeout). */
static const struct session_ops check_ops = {
    .up_read = session_drop_upstream,
    .up_event = session_idle_up_event,
    .expired = session_expired_reject,
};

/* S_HTTP_IDLE is keep-alive between two plain requests (the timer is
 * keepalive_timeout); S_HEAD reads a request head (handshake_timeout). */
static void intake_client_read(struct session *s)
{
    if (s->state == S_HTTP_IDLE) {
        /* The next request begins: its head has handshake_timeout. */
        session_enter(s, S_HEAD, &intake_ops);
        session_arm(s, s->cfg->handshake_timeout_ms);
    }
    read_head(s);
}

static void intake_client_event(struct session *s, short what)
{
    if (s->state == S_HTTP_IDLE) {
        /* Earlier responses may still be on their way out. */
        session_end(s, what & BEV_EVENT_ERROR ? OC_CLIENT_ERROR : OC_CLIENT_CLOSED);
        return;
    }
    if (!s->end_cause)
        s->end_cause = OC_CLIENT_CLOSED;
    session_abort(s);
}

static void intake_timeout(struct session *s)
{
    if (s->state == S_HTTP_IDLE)
        session_end(s, OC_KEEPALIVE_TIMEOUT);
    else
        head_timeout(s);
}

static void intake_shutdown(struct session *s, int code, const char *reason)
{
    (void)code;
    (void)reason;
    if (s->state == S_HTTP_IDLE) {
        session_end(s, OC_SHUTDOWN);
        return;
    }
    s->end_cause = OC_SHUTDOWN;
    session_abort(s);
}

const struct session_ops intake_ops = {
    .client_read = intake_client_read,
    .client_event = intake_client_event,
    .up_read = session_drop_upstream,
    .up_event = session_idle_up_event,
    .timeout = intake_timeout,
    .shutdown = intake_shutdown,
};
