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

#include "config.h"
#include "http.h"
#include "httpframe.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "session.h"
#include "sio_internal.h"
#include "util.h"

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

static const struct session_ops post_ops;

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
            /* The reserved event is never the backend's, and a POST has
             * no way back for its answer: it becomes an Engine.IO noop
             * (ignored by engine.io), and is counted unanswered. */
            if (pos)
                evbuffer_add(x->post_out, "\x1e", 1);
            evbuffer_add(x->post_out, "6", 1);
            slog(LOG_DEBUG, s, "socket.io re-auth event in a polling POST dropped (websocket transport only)");
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
            if (pos)
                evbuffer_add(x->post_out, "\x1e", 1);
            evbuffer_add_buffer(x->post_out, one);
            evbuffer_free(one);
            /* A poll is one request: the claims end with it. */
            if (adopt)
                jwt_claims_clear(&adopted);
        } else {
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

    if (!x->post_reading || x->check)
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
