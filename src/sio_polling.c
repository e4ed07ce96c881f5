/* socket.io's polling transport on "socketio on" routes: a POST body
 * (Content-Length, at most SIO_MAX_POST) is read whole before anything
 * goes upstream; its CONNECT packets are checked (socketio.c) and
 * rewritten, and a refused one fails the whole POST with wsgate's own
 * 401/403, since socket.io answers only in GET polls. */
#include "socketio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "connlimit.h"
#include "cors.h"
#include "http.h"
#include "httpframe.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "session.h"
#include "sio_internal.h"
#include "siosid.h"
#include "util.h"

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

static const struct session_ops post_ops;

/* The request's sid, NULL when it has none. */
static const char *request_sid(const struct session *s, size_t *len)
{
    struct sio_query q;
    char err[128];

    if (!s->adm.route || !s->adm.route->socketio ||
        socketio_parse_query(s->req->query, s->req->query_len, &q, err, sizeof(err)) != 0)
        return NULL;
    *len = q.sid_len;
    return q.sid;
}

int socketio_wants_post(const struct session *s)
{
    return s->sio && s->adm.plain_http && s->adm.route->socketio &&
           util_strieq(s->req->method, s->req->method_len, "POST");
}

/* The POST is refused. The first refusals are answered on the kept-alive
 * connection (the body was read whole); the third is a 401 with
 * Connection: close, and the connection ends. */
static void post_refused(struct session *s, const char *nsp, const struct verdict *v)
{
    char extra[320] = "";
    const char *extras[2] = { extra, NULL };
    int last = sio_count_refusal(s, nsp, v);
    int status = last ? 401 : v->status;
    const struct http_header *conn;

    s->sio->post_reading = 0;
    evtimer_del(s->timer);
    if (status == 401)
        snprintf(extra, sizeof(extra),
                 "WWW-Authenticate: Bearer realm=\"wsgate\"%s%s%s%s",
                 strcmp(v->code, "missing_token") ? ", error=\"invalid_token\"" : "",
                 strcmp(v->code, "missing_token") ? ", error_description=\"" : "",
                 strcmp(v->code, "missing_token") ? v->desc : "",
                 strcmp(v->code, "missing_token") ? "\"" : "");
    s->status = status;
    s->end_cause = v->why;
    metrics_reject(s->env->m, v->why);
    conn = http_request_header(s->req, "Connection");
    if (last || s->req->version_minor == 0 ||
        (conn && util_list_has_token(conn->value, conn->value_len, "close"))) {
        if (s->upstream) {
            bufferevent_free(s->upstream);
            s->upstream = NULL;
        }
        http_write_reject(bufferevent_get_output(s->client), status, v->code, v->desc,
                          extra[0] ? extras : NULL);
        session_end(s, v->why);
        return;
    }
    http_write_error(bufferevent_get_output(s->client), status, v->code, v->desc,
                     extra[0] ? extras : NULL, 0);
    socketio_request_done(s);
    session_log_access(s);
    session_next_request(s);
}

/* The body could not be read (chunked, too large, too slow): no CONNECT
 * was refused, and the connection cannot go on. */
static void post_fail(struct session *s, enum outcome why, int status, const char *code,
                      const char *desc)
{
    slog(LOG_INFO, s, "socket.io POST refused %d: %s", status, desc);
    s->sio->post_reading = 0;
    s->status = status;
    s->end_cause = why;
    metrics_reject(s->env->m, why);
    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    http_write_reject(bufferevent_get_output(s->client), status, code, desc, NULL);
    session_end(s, why);
}

void socketio_post_start(struct session *s)
{
    struct sio_session *x = s->sio;
    const struct http_header *cl = http_request_header(s->req, "Content-Length");
    uint64_t len = 0;

    if (http_request_header(s->req, "Transfer-Encoding")) {
        post_fail(s, OC_BAD_REQUEST, 400, "bad_request", "chunked bodies are not read on socketio routes");
        return;
    }
    if (cl)
        httpframe_content_length(cl->value, cl->value_len, &len);   /* http.c checked it */
    if (len > SIO_MAX_POST) {
        post_fail(s, OC_CONTENT_TOO_LARGE, 413, "content_too_large", "socket.io payload too large");
        return;
    }
    evbuffer_drain(x->post_in, evbuffer_get_length(x->post_in));
    evbuffer_drain(x->post_out, evbuffer_get_length(x->post_out));
    x->post_ready = 0;
    x->post_pos = 0;
    x->post_left = len;
    x->post_reading = 1;
    session_enter(s, S_SIO_BODY, &post_ops);
    session_arm(s, s->cfg->handshake_timeout_ms);
    bufferevent_setwatermark(s->client, EV_READ, 0, RELAY_HIGH_WATER);
    bufferevent_enable(s->client, EV_READ);
    socketio_post_read(s);
}

/* An admitted CONNECT for nsp: c is the identity it brought (a CONNECT
 * token adopted), or NULL for the request's own. The slot take_slot()
 * took for c goes to the sid. -1: the sid belongs to another subject. */
static int bind_sid(struct session *s, const struct jwt_claims *c, const char *nsp)
{
    struct sio_session *x = s->sio;
    const char *slot = x->post_slot && c ? c->sub : NULL;
    size_t len = 0;
    const char *sid = request_sid(s, &len);
    int rc = 0;

    x->post_slot = 0;
    if (!c && s->adm.have_claims)
        c = &s->adm.claims;
    if (sid) {
        char k[SIOSID_MAX_LEN + 1] = "";
        if (len < sizeof(k))
            memcpy(k, sid, len);
        rc = siosid_bind(sid, len, c, nsp, x->learn_due ? NULL : slot);
        if (rc == 0)
            slog(LOG_DEBUG, s, "socket.io sid %s bound, namespace %s", k, nsp);
        if (rc == -2 && !x->learn_due) {
            /* Not seen opened here: the backend's answer says whether
             * the sid is real (socketio_poll_response). */
            x->learn_due = 1;
            x->learn_have_claims = c && jwt_claims_copy(&x->learn_claims, c) == 0;
            snprintf(x->learn_nsp, sizeof(x->learn_nsp), "%s", nsp);
            x->learn_slot = slot ? util_xstrdup(slot) : NULL;
            rc = 0;
        } else if (rc == -2) {
            if (slot)
                countmap_release(limits_per_subject, slot);
            rc = 0;             /* a further CONNECT of the same POST */
        }
    } else if (slot) {
        countmap_release(limits_per_subject, slot);  /* no session to hold it */
    }
    return rc;
}

static void post_check(struct session *s);

static void post_reauth_done(struct session *s, const struct reauth_answer *a)
{
    struct sio_session *x = s->sio;

    x->reauth_busy = 0;
    x->post_reauth = *a;
    x->post_reauth_have = 1;
    post_check(s);
}

/* A "wsgate:reauth" event in a POST of a bound sid (SPEC §11): the same
 * checks as on the websocket, one per second per sid; the new token
 * becomes the sid's, and the acknowledgement is queued for the sid's next
 * GET poll. 0 while the revocation lookup runs. */
static int poll_reauth(struct session *s, const char *p, size_t n)
{
    struct sio_session *x = s->sio;
    struct reauth_answer a;
    size_t sl = 0;
    const char *sid = request_sid(s, &sl);
    const char *data;
    size_t dlen;

    memset(&a, 0, sizeof(a));
    if (x->post_reauth_have) {
        a = x->post_reauth;
        x->post_reauth_have = 0;
    } else {
        if (socketio_parse_event(p, n, x->reauth_nsp, sizeof(x->reauth_nsp), &x->reauth_ack,
                                 &data, &dlen) != 0)
            return 1;               /* cannot happen: the classifier matched it */
        if (!sid || !s->adm.sid_bound) {
            a.result = REAUTH_SUB_MISMATCH;
            snprintf(a.desc, sizeof(a.desc), "the session has no identity to extend");
            metrics_add(s->env->m->reauth[a.result], 1);
        } else if (!siosid_reauth_allowed(sid, sl)) {
            a.result = REAUTH_RATE_LIMITED;
            snprintf(a.desc, sizeof(a.desc), "more than one re-auth per second");
            metrics_add(s->env->m->reauth[a.result], 1);
        } else if (!sio_reauth_event(s, data, dlen, post_reauth_done, &a)) {
            x->reauth_busy = 1;
            return 0;
        }
    }
    if (a.result == REAUTH_OK && sid && siosid_set_claims(sid, sl, &s->adm.claims) == 0)
        slog(LOG_INFO, s, "socket.io sid re-authenticated, exp %lld", (long long)a.exp);
    if (x->reauth_ack >= 0 && sid) {
        struct evbuffer *pkt = evbuffer_new();
        if (pkt) {
            sio_reauth_packet(pkt, x->reauth_nsp, x->reauth_ack, &a);
            if (siosid_queue(sid, sl, (const char *)evbuffer_pullup(pkt, -1), evbuffer_get_length(pkt)) < 0)
                slog(LOG_INFO, s, "socket.io re-auth answer dropped: too much waits for the client");
            evbuffer_free(pkt);
        }
    }
    return 1;
}

/* Whole body here: every packet checked, CONNECTs rewritten, the way
 * engine.io-parser splits a payload (at 0x1e) and socket.io types a packet.
 * Resumable: a Redis lookup stops it at a packet, and the same packet is
 * checked again when the answer is in. */
static void post_check(struct session *s)
{
    struct sio_session *x = s->sio;
    size_t len = evbuffer_get_length(x->post_in);
    const char *body = len ? (const char *)evbuffer_pullup(x->post_in, -1) : "";
    size_t pos = x->post_pos;

    while (pos < len) {
        const char *sep = memchr(body + pos, 0x1e, len - pos);
        size_t end = sep ? (size_t)(sep - body) : len;
        const char *p = body + pos;
        size_t n = end - pos;
        int kind = socketio_hold_kind(x->reauth_on ? x : NULL, (const unsigned char *)p, n, 1);

        if (kind == SIO_KIND_REAUTH) {
            /* The reserved event is never the backend's: it becomes an
             * Engine.IO noop (ignored by engine.io), and its answer
             * waits for the sid's next GET poll. */
            if (x->reauth_on && !poll_reauth(s, p, n)) {
                x->post_pos = pos;
                return;             /* post_reauth_done runs us again, from this packet */
            }
            if (pos)
                evbuffer_add(x->post_out, "\x1e", 1);
            evbuffer_add(x->post_out, "6", 1);
        } else if (kind != SIO_KIND_OTHER) {
            char nsp[256] = "/";
            struct verdict v;
            struct jwt_claims adopted;
            int adopt = 0, rc = -1;
            struct evbuffer *one = evbuffer_new();

            memset(&v, 0, sizeof(v));
            if (!one)
                sio_refuse(&v, OC_INTERNAL_ERROR, 500, "internal_error", "out of memory");
            else if (kind != SIO_KIND_CONNECT)
                sio_refuse(&v, OC_BAD_REQUEST, 400, "bad_request", "malformed CONNECT packet");
            else
                rc = sio_check_connect(s, p, n, one, nsp, sizeof(nsp), &v, &adopted, &adopt);
            if (rc == 0) {
                evbuffer_free(one);
                x->post_pos = pos;
                return;             /* on_lookup runs us again, from this packet */
            }
            if (rc < 0) {
                if (one)
                    evbuffer_free(one);
                post_refused(s, nsp, &v);
                return;
            }
            /* The sid is bound to who connected (SPEC §10): its polls
             * carry that identity from now on, and the sid holds the
             * subject's slot. */
            if (bind_sid(s, adopt ? &adopted : NULL, nsp) < 0) {
                evbuffer_free(one);
                if (adopt)
                    jwt_claims_clear(&adopted);
                sio_refuse(&v, OC_INSUFFICIENT_SCOPE, 403, "insufficient_scope",
                           "token for another subject than the socket.io session's");
                post_refused(s, nsp, &v);
                return;
            }
            if (pos)
                evbuffer_add(x->post_out, "\x1e", 1);
            evbuffer_add_buffer(x->post_out, one);
            evbuffer_free(one);
            /* A poll is one request: the claims end with it. */
            if (adopt)
                jwt_claims_clear(&adopted);
        } else {
            if (n == 1 && p[0] == '1')
                x->post_close = 1;  /* the client closes its session */
            if (pos)
                evbuffer_add(x->post_out, "\x1e", 1);
            evbuffer_add(x->post_out, p, n);
        }
        pos = end + 1;
        if (!sep)
            break;
        if (pos == len)
            evbuffer_add(x->post_out, "\x1e", 1); /* a trailing separator, as sent */
    }
    if (x->post_close) {
        size_t sl = 0;
        const char *sid = request_sid(s, &sl);
        if (sid)
            siosid_forget(sid, sl);
        x->post_close = 0;
    }
    x->post_pos = 0;
    x->post_reading = 0;
    x->post_ready = 1;
    evtimer_del(s->timer);
    bufferevent_disable(s->client, EV_READ);
    s->proceed(s);
}

void socketio_post_read(struct session *s)
{
    struct sio_session *x = s->sio;
    struct evbuffer *in = bufferevent_get_input(s->client);

    if (!x->post_reading || x->check || x->reauth_busy)
        return;
    if (x->post_left) {
        size_t avail = evbuffer_get_length(in);
        size_t k = avail < x->post_left ? avail : (size_t)x->post_left;
        evbuffer_remove_buffer(in, x->post_in, k);
        x->post_left -= k;
        if (x->post_left)
            return;
    }
    post_check(s);
}

void socketio_post_timer(struct session *s)
{
    post_fail(s, OC_REQUEST_TIMEOUT, 408, "request_timeout", "request body not received in time");
}

struct evbuffer *socketio_post_body(struct session *s)
{
    return s->sio && s->sio->post_ready ? s->sio->post_out : NULL;
}

void sio_learn_clear(struct sio_session *x)
{
    if (x->learn_slot)
        countmap_release(limits_per_subject, x->learn_slot);
    free(x->learn_slot);
    x->learn_slot = NULL;
    jwt_claims_clear(&x->learn_claims);
    x->learn_have_claims = 0;
    x->learn_due = 0;
}

void socketio_request_done(struct session *s)
{
    if (!s->sio)
        return;
    s->sio->post_ready = 0;
    s->sio->post_reading = 0;
    s->sio->post_pos = 0;
    evbuffer_drain(s->sio->post_in, evbuffer_get_length(s->sio->post_in));
    evbuffer_drain(s->sio->post_out, evbuffer_get_length(s->sio->post_out));
}


/* S_SIO_BODY: a polling POST body is read whole (handshake_timeout)
 * before anything goes upstream. */
static const struct session_ops post_ops = {
    .client_read = socketio_post_read,
    .up_read = session_drop_upstream,
    .up_event = session_idle_up_event,
    .timeout = socketio_post_timer,
};

/* ---- polling sessions bound to their sid (SPEC §10) ------------------------ */

static const char *ended_desc(enum outcome why)
{
    switch (why) {
    case OC_TOKEN_REVOKED:
        return "token revoked";
    case OC_TOKEN_EXPIRED:
        return "token expired";
    case OC_AUTH_TIMEOUT:
        return "authentication timeout";
    default:
        return "session ended";
    }
}

/* An ended sid's request. A GET poll gets what socket.io and engine.io
 * send a client they close: a DISCONNECT for each namespace it joined,
 * then the close packet; anything else gets 401. The upstream, if any,
 * is dropped (it holds a poll nobody will read). */
static void answer_ended(struct session *s, const struct siosid_info *info)
{
    struct evbuffer *out = bufferevent_get_output(s->client);
    char extra[200];

    if (!util_strieq(s->req->method, s->req->method_len, "GET") || !s->adm.plain_http) {
        snprintf(extra, sizeof(extra),
                 "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", "
                 "error_description=\"%s\"", ended_desc(info->end_cause));
        s->end_cause = info->end_cause;
        session_reject(s, OC_INVALID_TOKEN, 401, "invalid_token", ended_desc(info->end_cause), extra);
        return;
    }
    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                        "Content-Length: %zu\r\nCache-Control: no-store\r\n", info->goodbye_len);
    if (s->adm.route->cors) {
        struct http_response none;
        memset(&none, 0, sizeof(none));
        cors_write_response(out, s->req, &none);
    }
    evbuffer_add_printf(out, "Connection: close\r\n\r\n");
    evbuffer_add(out, info->goodbye, info->goodbye_len);
    s->status = 200;
    s->end_cause = info->end_cause;
    session_end(s, info->end_cause);
}

int socketio_poll_admit(struct session *s)
{
    struct siosid_info info;
    enum siosid_state st;
    size_t len = 0;
    const char *sid = request_sid(s, &len);

    if (!sid)
        return 0;
    st = siosid_get(sid, len, &info, 1);
    if (st == SIOSID_UNKNOWN && s->adm.plain_http &&
        util_strieq(s->req->method, s->req->method_len, "POST"))
        return 0;   /* its CONNECTs are checked; one the backend accepts enters the sid */
    if (st == SIOSID_UNKNOWN) {
        /* Not opened through this gateway, or forgotten: nothing here
         * could enforce it, so it gets no data (GET) and no upgrade.
         * engine.io answers a sid it does not know with 400 too; the
         * client then opens a new session. */
        slog(LOG_INFO, s, "rejected 400: unknown socket.io sid");
        s->end_cause = OC_UNKNOWN_SID;
        session_reject(s, OC_UNKNOWN_SID, 400, "bad_request", "unknown socket.io session", NULL);
        return -1;
    }
    if (st == SIOSID_PENDING && util_now_ms() >= info.connect_deadline_ms)
        info.end_cause = OC_AUTH_TIMEOUT;
    else if (st == SIOSID_BOUND && info.have_claims && s->cfg->on_expiry_close &&
             jwt_expires_at(&info.claims, s->cfg->policy.leeway) < util_wall_s())
        info.end_cause = OC_TOKEN_EXPIRED;
    if (info.end_cause && st != SIOSID_ENDED) {
        if (siosid_end(sid, len, info.end_cause))
            slog(LOG_INFO, s, "socket.io sid ended: %s", ended_desc(info.end_cause));
        st = SIOSID_ENDED;
    }
    if (st == SIOSID_ENDED) {
        slog(LOG_INFO, s, "socket.io sid is over (%s)", ended_desc(info.end_cause));
        jwt_claims_clear(&info.claims);
        answer_ended(s, &info);
        return -1;
    }
    if (!info.have_claims)
        return 0;
    /* The sid's identity is the request's: its expiry and revocation are
     * watched while the request lasts, and looked up in Redis anew. */
    if (s->adm.have_claims && !s->adm.sio_pending &&
        (!s->adm.claims.sub || !info.claims.sub || strcmp(s->adm.claims.sub, info.claims.sub) != 0)) {
        jwt_claims_clear(&info.claims);
        slog(LOG_INFO, s, "rejected 403: token for another subject than the socket.io session's");
        s->end_cause = OC_INSUFFICIENT_SCOPE;
        session_reject(s, OC_INSUFFICIENT_SCOPE, 403, "insufficient_scope",
                       "token for another subject", NULL);
        return -1;
    }
    jwt_claims_clear(&s->adm.claims);
    s->adm.claims = info.claims;
    s->adm.have_claims = 1;
    s->adm.sio_pending = 1;         /* a CONNECT's token, not the request's */
    s->adm.sid_bound = 1;
    return 0;
}

int socketio_poll_cut(struct session *s, enum outcome why, int head_sent)
{
    struct siosid_info info;
    size_t len = 0;
    const char *sid;

    if (!s->adm.sid_bound || !(sid = request_sid(s, &len)))
        return 0;
    if (siosid_end(sid, len, why))
        slog(LOG_INFO, s, "socket.io sid ended: %s", ended_desc(why));
    if (head_sent) {
        session_end(s, why);
        return 1;
    }
    if (siosid_get(sid, len, &info, 0) != SIOSID_ENDED) {
        /* Forgotten meanwhile: the root namespace's goodbye. */
        memset(&info, 0, sizeof(info));
        memcpy(info.goodbye, "41\x1e" "1", 5);
        info.goodbye_len = 4;
    }
    info.end_cause = why;
    answer_ended(s, &info);
    return 1;
}

int socketio_poll_response(struct session *s, int status)
{
    struct sio_session *x = s->sio;
    struct siosid_info info;
    size_t len = 0;
    const char *sid = request_sid(s, &len);

    if (!sid)
        return 0;
    if (siosid_get(sid, len, &info, 0) == SIOSID_ENDED) {
        slog(LOG_INFO, s, "socket.io sid ended during the poll (%s)", ended_desc(info.end_cause));
        answer_ended(s, &info);
        return 1;
    }
    if (x && x->learn_due) {
        if (status >= 200 && status < 300) {
            struct siosid_open o;
            char path[1024];
            int rc = -1;

            memset(&o, 0, sizeof(o));
            if (s->req->path_len < sizeof(path)) {
                memcpy(path, s->req->path, s->req->path_len);
                path[s->req->path_len] = '\0';
                o.cfg = s->cfg;
                o.route = s->adm.route;
                o.upstream = s->adm.route->nupstreams
                             ? (s->up_first + s->up_attempt) % s->adm.route->nupstreams : 0;
                o.path = path;
                o.claims = x->learn_have_claims ? &x->learn_claims : NULL;
                o.idle_ms = 55000;  /* engine.io's default ping interval + timeout, + 10s */
                rc = siosid_learn(sid, len, &o, x->learn_nsp, x->learn_slot);
                free(x->learn_slot);
                x->learn_slot = NULL;   /* the sid's now, or released */
            }
            slog(rc == 0 ? LOG_INFO : LOG_WARNING, s, "socket.io sid not opened through this gateway %s",
                 rc == 0 ? "entered with its CONNECT's identity" : "could not be entered: not enforced");
        }
        sio_learn_clear(x);
    }
    return 0;
}

int socketio_poll_opening(const struct session *s)
{
    struct sio_query q;
    char err[128];

    if (!s->adm.route || !s->adm.route->socketio || !s->adm.plain_http ||
        !util_strieq(s->req->method, s->req->method_len, "GET") ||
        socketio_parse_query(s->req->query, s->req->query_len, &q, err, sizeof(err)) != 0)
        return 0;
    return !q.sid && q.transport && q.transport_len == 7 && memcmp(q.transport, "polling", 7) == 0;
}

static int64_t number_ms(const json_t *o, const char *name, int64_t dflt)
{
    const json_t *v = json_object_get(o, name);

    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 3600000)
        return dflt;
    return (int64_t)json_integer_value(v);
}

int socketio_poll_opened(struct session *s, const char *body, size_t len)
{
    const char *end = memchr(body, 0x1e, len);
    struct siosid_open o;
    json_t *open, *sidv;
    json_error_t jerr;
    char path[1024];
    int rc;

    if (end)
        len = (size_t)(end - body);
    if (len < 2 || body[0] != '0')
        return -1;
    open = json_loadb(body + 1, len - 1, JSON_REJECT_DUPLICATES, &jerr);
    sidv = json_is_object(open) ? json_object_get(open, "sid") : NULL;
    if (!json_is_string(sidv) ||
        !siosid_valid(json_string_value(sidv), json_string_length(sidv)) ||
        s->req->path_len >= sizeof(path)) {
        json_decref(open);
        return -1;
    }
    memcpy(path, s->req->path, s->req->path_len);
    path[s->req->path_len] = '\0';
    memset(&o, 0, sizeof(o));
    o.cfg = s->cfg;
    o.route = s->adm.route;
    o.upstream = s->adm.route->nupstreams ? (s->up_first + s->up_attempt) % s->adm.route->nupstreams : 0;
    o.path = path;
    o.claims = s->adm.have_claims && !s->adm.sio_pending ? &s->adm.claims : NULL;
    o.connect_deadline_ms = util_now_ms() + s->adm.route->socketio_connect_timeout_ms;
    /* engine.io drops a session that answered no ping within
     * pingInterval + pingTimeout; the sid is kept a little longer. */
    o.idle_ms = number_ms(open, "pingInterval", 25000) + number_ms(open, "pingTimeout", 20000) + 10000;
    rc = siosid_open(json_string_value(sidv), json_string_length(sidv), &o);
    if (rc == 0)
        slog(LOG_DEBUG, s, "socket.io sid %s opened", json_string_value(sidv));
    else
        slog(LOG_WARNING, s, "socket.io sid %s not opened: %s", json_string_value(sidv),
             rc == -1 ? "too many open sids" : "already open");
    json_decref(open);
    return rc == -1 ? -2 : rc < 0 ? -1 : 0;
}

struct evbuffer *socketio_poll_prepend(struct session *s, uint64_t body_len)
{
    struct evbuffer *b;
    size_t sl = 0, n = 0;
    const char *sid;
    char *q;

    if (!s->adm.sid_bound || !util_strieq(s->req->method, s->req->method_len, "GET") ||
        !(sid = request_sid(s, &sl)) || !(q = siosid_take_queued(sid, sl, &n)))
        return NULL;
    b = evbuffer_new();
    if (b) {
        evbuffer_add(b, q, n);
        if (body_len)
            evbuffer_add(b, "\x1e", 1);
    }
    free(q);
    return b;
}
