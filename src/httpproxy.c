/* Plain HTTP/1.1 through the gateway (SPEC §10): the admitted request's
 * head goes upstream built like an upgrade's (forward.c), its body follows
 * by Content-Length or chunked, and the backend's response comes back with
 * only the hop-by-hop headers changed. One request is in flight per client
 * connection: pipelined requests wait, unread, in the client's input
 * buffer and are answered in order. Both framings are read strictly: a
 * body we cannot delimit exactly is a 400 (request) or a 502 (response),
 * never a guess, since a guess is how requests get smuggled. */
#include "httpproxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "cors.h"
#include "forward.h"
#include "http.h"
#include "httpframe.h"
#include "log.h"
#include "relay.h"
#include "session.h"
#include "socketio.h"
#include "upstream.h"
#include "util.h"

#define SET_ERR(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

/* ---- one exchange -------------------------------------------------------- */


struct http_exchange {
    int client_close;               /* this response is the connection's last */
    int reused;                     /* runs on a kept-alive upstream */
    const struct route *up_route;   /* route whose upstream s->upstream is */
    int up_keep;                    /* the upstream may carry the next request */
    int up_eof;                     /* the upstream closed its side */

    enum httpframe_body req_kind;
    uint64_t req_left;
    struct http_chunked req_ch;
    int req_done;
    int req_paused;                 /* client reading off: upstream output full */

    int head_method;                /* HEAD: no response body whatever the headers say */
    size_t scanned;                 /* response head search offset */
    int interim_sent;               /* a 1xx went to the client */
    int final_head;                 /* the final response head went to the client */
    enum httpframe_body resp_kind;
    uint64_t resp_left;
    struct http_chunked resp_ch;
    int resp_paused;                /* upstream reading off: client output full */
    uint64_t resp_bytes;            /* bytes read from the upstream for this request */
    char *open_head;                /* socket.io handshake: the 200 held until its open packet is read */
    size_t open_len;
    uint64_t open_body;
};

static void free_exchange(struct session *s)
{
    free(s->hx->open_head);
    free(s->hx);
    s->hx = NULL;
}

/* A failure before the final response head went out: the client gets our
 * own answer and the connection closes (the upstream is dropped at once:
 * it holds a request we will not finish). After the head went out there
 * is nothing to say but to close. */
static void fail(struct session *s, int status, const char *code, const char *desc,
                 enum outcome cause)
{
    if (!s->end_cause || s->end_cause == OC_PROXIED)
        s->end_cause = cause;
    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    if (!s->hx->final_head) {
        s->status = status;
        http_write_reject(bufferevent_get_output(s->client), status, code, desc, NULL);
    }
    session_end(s, cause);
}

/* Hop-by-hop (RFC 9110 §7.6.1): never forwarded as is. */
static int hop_by_hop(const char *n, size_t len)
{
    return util_strieq(n, len, "Connection") || util_strieq(n, len, "Keep-Alive") ||
           util_strieq(n, len, "Proxy-Connection") || util_strieq(n, len, "TE") ||
           util_strieq(n, len, "Upgrade") || util_strieq(n, len, "Proxy-Authenticate");
}

/* A field the Connection header names is hop-by-hop too, except the ones
 * that carry framing or routing: "Connection: Content-Length" must not
 * make us forward a body without its length. */
static int named_by_connection(const struct http_header *hdrs, size_t n, const struct http_header *h)
{
    if (util_strieq(h->name, h->name_len, "Content-Length") ||
        util_strieq(h->name, h->name_len, "Transfer-Encoding") ||
        util_strieq(h->name, h->name_len, "Host"))
        return 0;
    for (size_t i = 0; i < n; i++) {
        const struct http_header *c = &hdrs[i];
        if (util_strieq(c->name, c->name_len, "Connection")) {
            char name[128];
            if (h->name_len >= sizeof(name))
                continue;
            memcpy(name, h->name, h->name_len);
            name[h->name_len] = '\0';
            if (util_list_has_token(c->value, c->value_len, name))
                return 1;
        }
    }
    return 0;
}

static int conn_has(const struct http_header *hdrs, size_t n, const char *tok)
{
    for (size_t i = 0; i < n; i++)
        if (util_strieq(hdrs[i].name, hdrs[i].name_len, "Connection") &&
            util_list_has_token(hdrs[i].value, hdrs[i].value_len, tok))
            return 1;
    return 0;
}

/* http.c already insisted on 1-18 plain digits. */
static uint64_t parse_length(const struct http_header *h)
{
    uint64_t v = 0;

    httpframe_content_length(h->value, h->value_len, &v);
    return v;
}

static struct evbuffer *c_in(struct session *s) { return bufferevent_get_input(s->client); }
static struct evbuffer *c_out(struct session *s) { return bufferevent_get_output(s->client); }
static struct evbuffer *u_in(struct session *s) { return bufferevent_get_input(s->upstream); }
static struct evbuffer *u_out(struct session *s) { return bufferevent_get_output(s->upstream); }

static int can_reuse(const struct session *s)
{
    const struct http_exchange *hx = s->hx;

    return hx && s->upstream && hx->up_keep && !hx->up_eof && hx->up_route == s->adm.route &&
           evbuffer_get_length(bufferevent_get_input(s->upstream)) == 0;
}

static void pump_request(struct session *s);
static void connected(struct session *s);
static void pump_response(struct session *s);
static void read_response_head(struct session *s);
static const struct session_ops head_ops, response_ops;

static void start(struct session *s, int reused)
{
    struct http_exchange *hx;
    const struct http_request *req = s->req;
    const struct http_header *te, *cl;
    struct http_request *fw;
    struct evbuffer *sio_body;
    char clbuf[24];
    size_t n = 0;
    int rc;

    if (!s->hx) {
        s->hx = util_xcalloc(1, sizeof(*s->hx));
        session_on_free(s, free_exchange);
    }
    hx = s->hx;
    free(hx->open_head);
    memset(hx, 0, sizeof(*hx));
    hx->reused = reused;
    hx->up_route = s->adm.route;
    hx->up_keep = 1;
    hx->client_close = req->version_minor == 0 || conn_has(req->headers, req->nheaders, "close") ||
                       s->cfg->keepalive_timeout_ms == 0;
    hx->head_method = util_strieq(req->method, req->method_len, "HEAD");

    te = http_request_header(req, "Transfer-Encoding");
    cl = http_request_header(req, "Content-Length");
    sio_body = socketio_post_body(s);
    if (sio_body) {
        /* Read and checked already (socketio.c); it goes with the head and
         * is never sent twice, so no retry on a fresh connection. */
        hx->req_kind = HTTPFRAME_LENGTH;
        hx->req_left = 0;
        hx->req_done = 1;
        snprintf(clbuf, sizeof(clbuf), "%zu", evbuffer_get_length(sio_body));
    } else if (te) {
        hx->req_kind = HTTPFRAME_CHUNKED;        /* http.c admits "chunked" alone */
        http_chunked_init(&hx->req_ch, 0, s->cfg->max_header_size);
    } else if (cl && (hx->req_left = parse_length(cl)) > 0) {
        hx->req_kind = HTTPFRAME_LENGTH;
    } else {
        hx->req_kind = HTTPFRAME_NONE;
        hx->req_done = 1;
    }

    /* The head as the backend gets it: hop-by-hop fields dropped, ours
     * said instead. forward.c does the rest, as for an upgrade. */
    fw = util_xmalloc(sizeof(*fw));
    *fw = *req;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (hop_by_hop(h->name, h->name_len) || named_by_connection(req->headers, req->nheaders, h))
            continue;
        fw->headers[n++] = *h;
        if (sio_body && util_strieq(h->name, h->name_len, "Content-Length")) {
            fw->headers[n - 1].value = clbuf;
            fw->headers[n - 1].value_len = strlen(clbuf);
        }
    }
    if (hx->client_close && n < HTTP_MAX_HEADERS) {
        fw->headers[n].name = "Connection";
        fw->headers[n].name_len = 10;
        fw->headers[n].value = "close";
        fw->headers[n].value_len = 5;
        n++;
    }
    fw->nheaders = n;
    rc = forward_build_head(u_out(s), fw, s->cfg, s->adm.route,
                            s->adm.have_claims ? &s->adm.claims : NULL, &s->fwd);
    free(fw);
    if (rc < 0) {
        fail(s, 500, "internal_error", "cannot build upstream request", OC_INTERNAL_ERROR);
        return;
    }
    if (sio_body) {
        evbuffer_add_buffer(u_out(s), sio_body);
        socketio_request_done(s);
    }
    s->c2u.bytes = evbuffer_get_length(u_out(s));
    session_enter(s, S_HTTP_UPSTREAM_HEAD, &head_ops);
    s->last_activity_ms = util_now_ms();
    bufferevent_setwatermark(s->upstream, EV_READ, 0, s->cfg->max_header_size + 1);
    bufferevent_setwatermark(s->upstream, EV_WRITE, RELAY_LOW_WATER, 0);
    bufferevent_setwatermark(s->client, EV_WRITE, RELAY_LOW_WATER, 0);
    bufferevent_enable(s->upstream, EV_READ | EV_WRITE);
    evtimer_del(s->timer);
    session_arm(s, s->cfg->upstream_read_timeout_ms);
    slog(LOG_DEBUG, s, "http %.*s %s upstream, route %s", (int)req->method_len, req->method,
         reused ? "on a kept-alive" : "on a new", s->adm.route->prefix);
    pump_request(s);
    if (s->state == S_HTTP_UPSTREAM_HEAD && evbuffer_get_length(u_in(s)))
        read_response_head(s);
}

/* Client -> upstream: the request body, exactly as framed. After it the
 * client is read only up to a head's worth (the next pipelined request
 * waits there) so that its close is still noticed. */
static void pump_request(struct session *s)
{
    struct http_exchange *hx = s->hx;
    struct evbuffer *in, *out;
    uint64_t moved = 0;

    if (hx->req_done || !s->upstream)
        return;
    in = c_in(s);
    out = u_out(s);
    if (hx->req_kind == HTTPFRAME_LENGTH) {
        while (hx->req_left) {
            size_t avail = evbuffer_get_length(in), have = evbuffer_get_length(out), k;
            if (avail == 0 || have >= RELAY_HIGH_WATER)
                break;
            k = avail < RELAY_HIGH_WATER - have ? avail : RELAY_HIGH_WATER - have;
            if (k > hx->req_left)
                k = (size_t)hx->req_left;
            evbuffer_remove_buffer(in, out, k);
            hx->req_left -= k;
            moved += k;
        }
        if (hx->req_left == 0)
            hx->req_done = 1;
    } else {
        char err[96];
        int r = http_chunked_pump(&hx->req_ch, in, out, RELAY_HIGH_WATER, &moved,
                                       err, sizeof(err));
        if (r < 0) {
            slog(LOG_INFO, s, "rejected 400: request body: %s", err);
            fail(s, 400, "bad_request", err, OC_BAD_REQUEST);
            return;
        }
        if (r == 1)
            hx->req_done = 1;
    }
    if (moved) {
        s->c2u.bytes += moved;
        s->last_activity_ms = util_now_ms();
    }
    if (hx->req_done) {
        hx->req_paused = 0;
        bufferevent_setwatermark(s->client, EV_READ, 0, s->cfg->max_header_size + 1);
        bufferevent_enable(s->client, EV_READ);
    } else if (evbuffer_get_length(out) >= RELAY_HIGH_WATER) {
        hx->req_paused = 1;
        bufferevent_disable(s->client, EV_READ);
    } else {
        bufferevent_setwatermark(s->client, EV_READ, 0, RELAY_HIGH_WATER);
        bufferevent_enable(s->client, EV_READ);
    }
}

/* The exchange is over. Keep-alive goes on only when both messages ended
 * exactly where their framing said and nobody asked to close. */
static void exchange_done(struct session *s)
{
    struct http_exchange *hx = s->hx;

    if (!hx->req_done)
        hx->client_close = 1;
    if (!s->end_cause)
        s->end_cause = OC_PROXIED;
    if (hx->client_close) {
        session_end(s, OC_PROXIED);
        return;
    }
    if (s->upstream && (!hx->up_keep || hx->up_eof)) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    session_log_access(s);
    session_next_request(s);
}

/* The final response head, re-written only where hop-by-hop: the
 * backend's Connection and Keep-Alive are its own business with us. On a
 * cors route, a request from an allowed Origin gets our CORS headers in
 * place of the backend's (SPEC §10). */
static void send_head(struct session *s, const char *head, size_t len,
                      const struct http_response *r, size_t prepend)
{
    struct evbuffer *out = c_out(s);
    const char *eol = memchr(head, '\r', len);
    size_t before = evbuffer_get_length(out), olen;
    int cors = s->adm.route->cors && cors_origin(s->req, &olen);

    evbuffer_add(out, head, (size_t)(eol - head) + 2);
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (hop_by_hop(h->name, h->name_len) || named_by_connection(r->headers, r->nheaders, h))
            continue;
        if (cors && cors_replaces(h->name, h->name_len))
            continue;
        if (prepend && util_strieq(h->name, h->name_len, "Content-Length")) {
            evbuffer_add_printf(out, "Content-Length: %llu\r\n",
                                (unsigned long long)(s->hx->resp_left + prepend));
            continue;
        }
        evbuffer_add(out, h->name, h->name_len);
        evbuffer_add(out, ": ", 2);
        evbuffer_add(out, h->value, h->value_len);
        evbuffer_add(out, "\r\n", 2);
    }
    if (cors)
        cors_write_response(out, s->req, r);
    if (s->hx->client_close)
        evbuffer_add(out, "Connection: close\r\n", 19);
    evbuffer_add(out, "\r\n", 2);
    s->u2c.bytes += evbuffer_get_length(out) - before;
}

/* Returns 0 when the head was taken (interim or final), -1 when the
 * session ended. */
static int response_head(struct session *s, char *head, size_t len)
{
    struct http_exchange *hx = s->hx;
    struct evbuffer *pre = NULL;
    struct http_response r;
    char err[160];

    if (http_parse_response(head, len, &r, err, sizeof(err)) != 0) {
        slog(LOG_WARNING, s, "invalid response head from upstream: %s", err);
        fail(s, 502, "bad_gateway", "invalid response from upstream", OC_UPSTREAM_BAD_RESPONSE);
        return -1;
    }
    if (r.status == 101) {
        slog(LOG_WARNING, s, "upstream switched protocols on a plain request");
        fail(s, 502, "bad_gateway", "invalid response from upstream", OC_UPSTREAM_BAD_RESPONSE);
        return -1;
    }
    if (r.status < 200) {
        /* 100 Continue and friends: relayed, the final head follows. An
         * HTTP/1.0 client knows no interim responses (RFC 9110 §15.2). */
        if (s->req->version_minor == 1) {
            evbuffer_add(c_out(s), head, len);
            s->u2c.bytes += len;
            hx->interim_sent = 1;
        }
        return 0;
    }
    hx->resp_kind = httpframe_response_body(&r, hx->head_method, &hx->resp_left);
    if (hx->resp_kind == HTTPFRAME_CHUNKED)
        http_chunked_init(&hx->resp_ch, 1, s->cfg->max_header_size);
    if (hx->resp_kind == HTTPFRAME_CLOSE)
        hx->client_close = 1;
    if (r.version_minor == 0 || conn_has(r.headers, r.nheaders, "close") ||
        hx->resp_kind == HTTPFRAME_CLOSE)
        hx->up_keep = 0;
    /* A body still coming from the client when the answer is already
     * here: we cannot tell where the next request would start. */
    if (!hx->req_done)
        hx->client_close = 1;
    s->status = r.status;
    hx->final_head = 1;
    /* socket.io: packets of ours for the client go ahead of the
     * backend's, in an answer we can lengthen exactly. */
    if (s->adm.route->socketio && r.status == 200 && hx->resp_kind == HTTPFRAME_LENGTH &&
        !http_response_header(&r, "Content-Encoding"))
        pre = socketio_poll_prepend(s, hx->resp_left);
    send_head(s, head, len, &r, pre ? evbuffer_get_length(pre) : 0);
    if (pre) {
        s->u2c.bytes += evbuffer_get_length(pre);
        evbuffer_add_buffer(c_out(s), pre);
        evbuffer_free(pre);
    }
    session_enter(s, S_HTTP_RESPONSE, &response_ops);
    bufferevent_setwatermark(s->upstream, EV_READ, 0, RELAY_HIGH_WATER);
    return 0;
}

/* A socket.io handshake's 200 (socketio routes): its open packet names
 * the sid, which is opened (siosid.c) before the client learns it. The
 * head waits for a body of at most SIO_MAX_OPEN bytes. An answer we
 * cannot read (no open packet: no engine.io behind) passes as it is.
 * 1: the head is held. */
#define SIO_MAX_OPEN 4096

static int hold_open(struct session *s, char *head, size_t len)
{
    struct http_exchange *hx = s->hx;
    struct http_response r;
    uint64_t left = 0;
    char err[160];

    if (!s->adm.route->socketio || !socketio_poll_opening(s) ||
        http_parse_response(head, len, &r, err, sizeof(err)) != 0 || r.status != 200)
        return 0;
    if (httpframe_response_body(&r, 0, &left) != HTTPFRAME_LENGTH || left > SIO_MAX_OPEN ||
        http_response_header(&r, "Content-Encoding")) {
        /* No open packet we could read: no sid to enter (its polls
         * would be refused as unknown unless a CONNECT enters it). */
        slog(LOG_DEBUG, s, "socket.io handshake answer without a readable open packet");
        return 0;
    }
    hx->open_head = head;
    hx->open_len = len;
    hx->open_body = left;
    return 1;
}

/* The held head goes out once its body is all here. 1 when it did. */
static int release_open(struct session *s)
{
    struct http_exchange *hx = s->hx;
    char *head = hx->open_head;
    int rc;

    if (evbuffer_get_length(u_in(s)) < hx->open_body)
        return 0;
    hx->open_head = NULL;
    rc = socketio_poll_opened(s, (const char *)evbuffer_pullup(u_in(s), (ev_ssize_t)hx->open_body),
                              (size_t)hx->open_body);
    if (rc == -2) {
        free(head);
        fail(s, 503, "service_unavailable", "too many socket.io sessions", OC_SERVICE_UNAVAILABLE);
        return 1;
    }
    rc = response_head(s, head, hx->open_len);
    free(head);
    return rc == 0;
}

static void read_response_head(struct session *s)
{
    struct http_exchange *hx = s->hx;

    if (hx->open_head && s->upstream && !release_open(s))
        return;
    while (s->state == S_HTTP_UPSTREAM_HEAD && s->upstream) {
        struct evbuffer *in = u_in(s);
        size_t len;
        char *head;
        int r = httpframe_take_head(in, &hx->scanned, s->cfg->max_header_size, &head, &len);

        if (r == 0)
            return;
        if (r < 0) {
            slog(LOG_WARNING, s, "upstream response head too large");
            fail(s, 502, "bad_gateway", "upstream response head too large", OC_UPSTREAM_BAD_RESPONSE);
            return;
        }
        hx->resp_bytes += len;
        s->last_activity_ms = util_now_ms();
        if (s->adm.route->socketio && len > 12 && head[9] != '1') {
            /* A poll of a sid that ended meanwhile gets the goodbye,
             * not what the backend answered. */
            if (socketio_poll_response(s, atoi(head + 9))) {
                free(head);
                return;
            }
            if (hold_open(s, head, len)) {
                if (s->state == S_HTTP_UPSTREAM_HEAD && !release_open(s))
                    return;
                break;
            }
        }
        if (response_head(s, head, len) < 0) {
            free(head);
            return;
        }
        free(head);
    }
    if (s->state == S_HTTP_RESPONSE)
        pump_response(s);
}

/* Upstream -> client: the response body, exactly as framed. */
static void pump_response(struct session *s)
{
    struct http_exchange *hx = s->hx;
    struct evbuffer *in, *out;
    uint64_t moved = 0;
    int done = 0;

    if (s->state != S_HTTP_RESPONSE)
        return;
    if (hx->resp_kind == HTTPFRAME_NONE) {
        exchange_done(s);
        return;
    }
    if (!s->upstream)
        return;
    in = u_in(s);
    out = c_out(s);
    if (hx->resp_kind == HTTPFRAME_CHUNKED) {
        char err[96];
        int r = http_chunked_pump(&hx->resp_ch, in, out, RELAY_HIGH_WATER, &moved,
                                       err, sizeof(err));
        if (r < 0) {
            slog(LOG_WARNING, s, "invalid response body from upstream: %s", err);
            fail(s, 502, "bad_gateway", "invalid response from upstream", OC_UPSTREAM_BAD_RESPONSE);
            return;
        }
        done = r == 1;
    } else {
        for (;;) {
            size_t avail = evbuffer_get_length(in), have = evbuffer_get_length(out), k;
            if (avail == 0 || have >= RELAY_HIGH_WATER)
                break;
            k = avail < RELAY_HIGH_WATER - have ? avail : RELAY_HIGH_WATER - have;
            if (hx->resp_kind == HTTPFRAME_LENGTH && k > hx->resp_left)
                k = (size_t)hx->resp_left;
            evbuffer_remove_buffer(in, out, k);
            moved += k;
            if (hx->resp_kind == HTTPFRAME_LENGTH) {
                hx->resp_left -= k;
                if (hx->resp_left == 0)
                    break;
            }
        }
        if (hx->resp_kind == HTTPFRAME_LENGTH)
            done = hx->resp_left == 0;
        else
            done = hx->up_eof && evbuffer_get_length(in) == 0;
    }
    if (moved) {
        s->u2c.bytes += moved;
        hx->resp_bytes += moved;
        s->last_activity_ms = util_now_ms();
    }
    if (done) {
        /* Bytes past the end of a response belong to no request. */
        if (s->upstream && evbuffer_get_length(u_in(s)))
            hx->up_keep = 0;
        exchange_done(s);
        return;
    }
    if (hx->up_eof && evbuffer_get_length(in) == 0) {
        slog(LOG_WARNING, s, "upstream closed in the middle of a response");
        session_end(s, OC_UPSTREAM_CLOSED);
        return;
    }
    if (evbuffer_get_length(out) >= RELAY_HIGH_WATER) {
        hx->resp_paused = 1;
        bufferevent_disable(s->upstream, EV_READ);
    }
}

static void client_read(struct session *s)
{
    if (!s->hx->req_done)
        pump_request(s);
}

static void up_write(struct session *s)
{
    struct http_exchange *hx = s->hx;

    if (hx->req_paused) {
        hx->req_paused = 0;
        bufferevent_enable(s->client, EV_READ);
    }
    pump_request(s);
}

static void client_write(struct session *s)
{
    struct http_exchange *hx = s->hx;

    if (s->state != S_HTTP_RESPONSE || !hx->resp_paused || !s->upstream)
        return;
    hx->resp_paused = 0;
    if (!hx->up_eof)
        bufferevent_enable(s->upstream, EV_READ);
    pump_response(s);
}

static void up_read(struct session *s)
{
    if (s->state == S_HTTP_UPSTREAM_HEAD)
        read_response_head(s);
    else
        pump_response(s);
}

/* The client went away (or half-closed) with a response due: like nginx
 * we do not finish a request nobody waits for. */
static void client_event(struct session *s, short what)
{
    if (what & BEV_EVENT_ERROR)
        s->client_done = 1;
    session_end(s, what & BEV_EVENT_ERROR ? OC_CLIENT_ERROR : OC_CLIENT_CLOSED);
}

static int up_closed(struct session *s, short what)
{
    struct http_exchange *hx = s->hx;

    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return 0;
    hx->up_eof = 1;
    hx->up_keep = 0;
    if (s->state == S_HTTP_UPSTREAM_HEAD) {
        /* A kept-alive connection the backend closed just as we reused
         * it: a request without a body can safely go again. */
        if (hx->reused && hx->resp_bytes == 0 && hx->req_kind == HTTPFRAME_NONE && !hx->interim_sent &&
            evbuffer_get_length(u_in(s)) == 0) {
            slog(LOG_DEBUG, s, "kept-alive upstream closed, sending the request again");
            return 1;
        }
        read_response_head(s);
        if (s->state == S_HTTP_UPSTREAM_HEAD) {
            slog(LOG_WARNING, s, "upstream closed before its response head");
            fail(s, 502, "bad_gateway", "upstream closed the connection", OC_UPSTREAM_CLOSED);
        }
        return 0;
    }
    if (s->state == S_HTTP_RESPONSE)
        pump_response(s);
    return 0;
}

static void timeout(struct session *s)
{
    struct http_exchange *hx = s->hx;
    int64_t limit = s->cfg->upstream_read_timeout_ms;
    int64_t quiet = util_now_ms() - s->last_activity_ms;

    if (quiet < limit) {
        session_arm(s, limit - quiet);
        return;
    }
    if (!hx->final_head && !hx->req_done) {
        slog(LOG_INFO, s, "request body not received in time");
        fail(s, 408, "request_timeout", "request body not received in time", OC_REQUEST_TIMEOUT);
    } else if (!hx->final_head) {
        slog(LOG_WARNING, s, "upstream sent no response in time");
        fail(s, 504, "gateway_timeout", "upstream did not answer in time", OC_UPSTREAM_TIMEOUT);
    } else {
        slog(LOG_WARNING, s, "response stalled for %lld ms", (long long)quiet);
        session_end(s, OC_UPSTREAM_TIMEOUT);
    }
}

static void last_response(struct session *s, int code, const char *reason)
{
    (void)code;
    (void)reason;
    if (s->hx)
        s->hx->client_close = 1;
}

static void up_event(struct session *s, short what)
{
    if (up_closed(s, what)) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
        upstream_connect(s, connected);
    }
}

/* Before the final response head: the client gets our own 401 (a
 * socket.io poll of a bound sid: the sid ends, see socketio_poll_cut). */
static void head_expired(struct session *s)
{
    if (!socketio_poll_cut(s, OC_TOKEN_EXPIRED, 0))
        session_reject_token(s, "token expired", OC_TOKEN_EXPIRED);
}

static void head_revoked(struct session *s)
{
    if (!socketio_poll_cut(s, OC_TOKEN_REVOKED, 0))
        session_reject_token(s, "token revoked", OC_TOKEN_REVOKED);
}

/* After it: the response is cut. */
static void response_expired(struct session *s)
{
    if (!socketio_poll_cut(s, OC_TOKEN_EXPIRED, 1))
        session_end(s, OC_TOKEN_EXPIRED);
}

static void response_revoked(struct session *s)
{
    if (!socketio_poll_cut(s, OC_TOKEN_REVOKED, 1))
        session_end(s, OC_TOKEN_REVOKED);
}

/* S_HTTP_UPSTREAM_HEAD: request head sent, body streaming; the timer is
 * upstream_read_timeout. */
static const struct session_ops head_ops = {
    .client_read = client_read,
    .client_event = client_event,
    .up_read = up_read,
    .up_write = up_write,
    .up_event = up_event,
    .timeout = timeout,
    .expired = head_expired,
    .revoked = head_revoked,
    .shutdown = last_response,
};

/* S_HTTP_RESPONSE: response head relayed, body streaming to the client. */
static const struct session_ops response_ops = {
    .client_read = client_read,
    .client_write = client_write,
    .client_event = client_event,
    .up_read = up_read,
    .up_write = up_write,
    .up_event = up_event,
    .timeout = timeout,
    .expired = response_expired,
    .revoked = response_revoked,
    .shutdown = last_response,
};

static void connected(struct session *s)
{
    start(s, 0);
}

void httpproxy_proceed(struct session *s)
{
    /* Kept alive by the previous plain request of this connection? */
    if (s->upstream && can_reuse(s)) {
        start(s, 1);
        return;
    }
    upstream_connect(s, connected);
}
