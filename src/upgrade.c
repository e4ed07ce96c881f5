/* The WebSocket upgrade exchange: the admitted request goes to the backend
 * with identity headers (forward.c), and its answer decides: a 101 starts
 * the relay (relay.c), anything else is relayed and the connection closed. */
#include "upgrade.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "forward.h"
#include "http.h"
#include "httpframe.h"
#include "log.h"
#include "metrics.h"
#include "reauth.h"
#include "relay.h"
#include "session.h"
#include "socketio.h"
#include "upstream.h"
#include "util.h"

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

static const struct session_ops upgrade_head_ops;
static void read_upstream_head(struct session *s);

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
        session_reject(s, OC_BAD_GATEWAY, 502, "bad_gateway", "invalid response from upstream", NULL);
        return;
    }
    evtimer_del(s->timer);
    if (resp.status == 101 && (s->sio || s->adm.route->reauth) &&
        http_response_header(&resp, "Sec-WebSocket-Extensions")) {
        /* None was offered (socketio_upstream_request). */
        slog(LOG_WARNING, s, "upstream chose a WebSocket extension that was not offered");
        session_reject(s, OC_BAD_GATEWAY, 502, "bad_gateway", "invalid response from upstream", NULL);
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
        s->end_cause = OC_UPSTREAM_DECLINED;
        metrics_reject(s->env->m, s->end_cause);
        session_enter(s, S_RESPONSE, &relay_response_ops);
        s->resp_left = response_body_length(&resp);
        bufferevent_setwatermark(s->upstream, EV_READ, 0, RELAY_HIGH_WATER);
        session_release_upstream_read(s);
        bufferevent_enable(s->upstream, EV_READ);
        session_arm(s, s->cfg->handshake_timeout_ms);
        relay_response(s);
        return;
    }
    slog(LOG_DEBUG, s, "relaying, route %s", s->adm.route->prefix);
    metrics_accept(s->env->m, util_now_us() - s->started_us);
    metrics_add(s->env->m->sessions_active, 1);
    s->counted_active = 1;
    /* reauth on a plain WebSocket route: client messages are looked at
     * for re-auths (socketio routes have their own layer). */
    if (!s->sio && s->adm.route->reauth && reauth_attach(s) < 0) {
        session_end(s, OC_INTERNAL_ERROR);
        return;
    }
    relay_start(s);
}

static void read_upstream_head(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->upstream);
    size_t len;
    char *head;
    int r = httpframe_take_head(in, &s->head_scanned, s->cfg->max_header_size, &head, &len);

    if (r == 0)
        return;
    if (r < 0) {
        session_reject(s, OC_BAD_GATEWAY, 502, "bad_gateway", "upstream response head too large", NULL);
        return;
    }
    upstream_head_received(s, head, len);
    free(head);
}

/* S_UPSTREAM_HEAD: the backend's answer to the upgrade. */
static void upgrade_head_up_event(struct session *s, short what)
{
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    slog(LOG_WARNING, s, "upstream closed before its response head");
    s->end_cause = OC_UPSTREAM_CLOSED;
    session_reject(s, OC_BAD_GATEWAY, 502, "bad_gateway", "upstream closed the connection", NULL);
}

static void upgrade_head_timeout(struct session *s)
{
    slog(LOG_WARNING, s, "upstream sent no response head in time");
    s->end_cause = OC_UPSTREAM_TIMEOUT;
    session_reject(s, OC_GATEWAY_TIMEOUT, 504, "gateway_timeout", "upstream did not answer in time", NULL);
}

static const struct session_ops upgrade_head_ops = {
    .up_read = read_upstream_head,
    .up_event = upgrade_head_up_event,
    .timeout = upgrade_head_timeout,
    .expired = session_expired_reject,
    .revoked = session_revoked_reject,
};

/* Connected: the upgrade request goes out. */
static void upgrade_connected(struct session *s)
{
    struct evbuffer *out = bufferevent_get_output(s->upstream);

    if (s->sio || s->adm.route->reauth)
        socketio_upstream_request(s->req);
    if (forward_build_head(out, s->req, s->cfg, s->adm.route,
                           s->adm.have_claims ? &s->adm.claims : NULL, &s->fwd) < 0) {
        session_reject(s, OC_INTERNAL_ERROR, 500, "internal_error", "cannot build upstream request", NULL);
        return;
    }
    session_enter(s, S_UPSTREAM_HEAD, &upgrade_head_ops);
    s->head_scanned = 0;
    bufferevent_setwatermark(s->upstream, EV_READ, 0, s->cfg->max_header_size + 1);
    session_arm(s, s->cfg->handshake_timeout_ms);
    if (session_watch_upstream(s) < 0) {
        bufferevent_enable(s->upstream, EV_READ | EV_WRITE);
        return;
    }
    /* A plain upstream's answer is read without FIONREAD (the core's
     * event), and the request goes out now, the socket having just said
     * it is writable; the bufferevent writes (and reports a write error)
     * only if it did not all go. A socket bufferevent keeps the start of
     * its output frozen between its own writes: thawed for ours. */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, bufferevent_getfd(s->upstream));
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out))
        bufferevent_enable(s->upstream, EV_WRITE);
}

void upgrade_proceed(struct session *s)
{
    upstream_connect(s, upgrade_connected);
}
