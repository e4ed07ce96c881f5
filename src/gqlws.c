/* graphql-ws first-message tokens (gqlws.h). GraphQL subscription clients
 * (graphql-ws, Apollo) cannot set headers from a browser and send their
 * token in the first message instead:
 *   {"type":"connection_init","payload":{"Authorization":"Bearer <jwt>"}}
 * No backend may see a client before its token is checked, so the order is:
 *   1. our own 101 to the client, with the graphql subprotocol it offered;
 *   2. S_GQL_INIT: one masked, unfragmented text frame within
 *      handshake_timeout (GQLWS_MAX_INIT at most; pings and pongs before
 *      it are dropped), read as connection_init;
 *   3. its token through §3.6-3.8 (verify, require_claim, the per-subject
 *      limit, revocation in S_CHECK);
 *   4. upstream: the client's upgrade replayed with identity headers and
 *      no extension offered (ours did not negotiate one); the backend's
 *      101 must accept the same key and choose the same subprotocol, and
 *      is not relayed (the client has its 101);
 *   5. connection_init replayed as one masked frame (without the token's
 *      key under strip_credentials), then the relay.
 * Refusals are close frames: 4401 "Unauthorized", 4403 "Forbidden", 4408
 * "Connection initialisation timeout", and 1014 "bad gateway" for an
 * upstream that is unreachable or declines (session_reject maps the HTTP
 * statuses of later stages, own_101 set). Frames the client sends after
 * connection_init wait in its input buffer (reading is off) until the
 * relay starts. */
#include "gqlws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/sha.h>

#include "config.h"
#include "connlimit.h"
#include "forward.h"
#include "http.h"
#include "httpframe.h"
#include "jwks.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "reauth.h"
#include "relay.h"
#include "revoke.h"
#include "session.h"
#include "socketio.h"
#include "upstream.h"
#include "util.h"
#include "ws.h"

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

struct gqlws {
    const char *proto;              /* the subprotocol we chose (static text) */
    char accept[32];                /* Sec-WebSocket-Accept for the client's key */
    char *init;                     /* connection_init as replayed */
    size_t init_len;
};

static const struct session_ops init_ops, check_ops, head_ops;

static void free_gql(struct session *s)
{
    if (!s->gql)
        return;
    free(s->gql->init);
    free(s->gql);
    s->gql = NULL;
}

/* A refusal before any upstream exists: our close frame, then the end. */
static void refuse(struct session *s, int code, const char *reason, enum outcome why)
{
    slog(LOG_INFO, s, "graphql-ws refused: %d %s (%s)", code, reason, outcome_name(why));
    s->close_code = code;
    if (!s->end_cause)
        s->end_cause = why;
    metrics_reject(s->env->m, s->end_cause);
    ws_write_close(bufferevent_get_output(s->client), code, reason, 0);
    session_end(s, s->end_cause);
}

static int accept_key(const struct http_request *req, char *out, size_t cap)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    const struct http_header *h = http_request_header(req, "Sec-WebSocket-Key");
    unsigned char md[SHA_DIGEST_LENGTH];
    char buf[128];
    char *b;

    if (!h || h->value_len + sizeof(guid) > sizeof(buf))
        return -1;
    memcpy(buf, h->value, h->value_len);
    memcpy(buf + h->value_len, guid, sizeof(guid) - 1);
    SHA1((const unsigned char *)buf, h->value_len + sizeof(guid) - 1, md);
    b = util_b64_encode(md, sizeof(md));
    if (!b || strlen(b) >= cap) {
        free(b);
        return -1;
    }
    snprintf(out, cap, "%s", b);
    free(b);
    return 0;
}

/* graphql-transport-ws when offered (graphql-ws's own preference), else
 * the legacy graphql-ws. */
static const char *choose_protocol(const struct http_request *req)
{
    int modern = 0, legacy = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!util_strieq(h->name, h->name_len, "Sec-WebSocket-Protocol"))
            continue;
        modern |= util_list_has_token(h->value, h->value_len, "graphql-transport-ws");
        legacy |= util_list_has_token(h->value, h->value_len, "graphql-ws");
    }
    return modern ? "graphql-transport-ws" : legacy ? "graphql-ws" : NULL;
}

/* ---- connection_init ---------------------------------------------------- */

/* The token of a connection_init payload, and the key it came under. */
static const char *payload_token(json_t *payload, const char **key, size_t *len)
{
    static const char *const keys[] = { "Authorization", "authorization", "authToken", "token" };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(payload, keys[i]);
        const char *t;
        size_t n;
        if (!json_is_string(v))
            continue;
        t = json_string_value(v);
        n = json_string_length(v);
        if (i < 2 && n > 7 && strncasecmp(t, "Bearer ", 7) == 0) {
            t += 7;
            n -= 7;
        }
        while (n && *t == ' ') {
            t++;
            n--;
        }
        if (!n)
            continue;
        *key = keys[i];
        *len = n;
        return t;
    }
    return NULL;
}

static void on_checked(void *arg, int result);
static void connect_upstream(struct session *s);
static void offer_only(struct http_request *req, const char *proto);

static void got_init(struct session *s, const unsigned char *msg, size_t n)
{
    struct gqlws *g = s->gql;
    const struct route *r = s->adm.route;
    json_t *o = json_loadb((const char *)msg, n, JSON_REJECT_DUPLICATES, NULL);
    json_t *type = json_object_get(o, "type"), *payload = json_object_get(o, "payload");
    const char *tok, *key = NULL;
    size_t len = 0;
    char why[160];
    int vr;

    if (!json_is_object(o) || !json_is_string(type) ||
        strcmp(json_string_value(type), "connection_init") != 0 || !json_is_object(payload) ||
        !(tok = payload_token(payload, &key, &len))) {
        json_decref(o);
        refuse(s, 4401, "Unauthorized", OC_MISSING_TOKEN);
        return;
    }
    vr = jwks_verify(s->cfg, tok, len, util_wall_s(), &s->adm.claims, why, sizeof(why));
    if (vr != 0) {
        json_decref(o);
        slog(LOG_INFO, s, "graphql-ws token refused: %s", why);
        refuse(s, vr == -2 ? 1013 : 4401, vr == -2 ? "try again later" : "Unauthorized",
               vr == -2 ? OC_KEYS_UNAVAILABLE : OC_INVALID_TOKEN);
        return;
    }
    s->adm.have_claims = 1;
    for (size_t i = 0; i < r->nrequire; i++)
        if (!jwt_claim_matches(&s->adm.claims, r->require[i].claim, r->require[i].value)) {
            json_decref(o);
            slog(LOG_INFO, s, "graphql-ws token refused: claim %s does not match", r->require[i].claim);
            refuse(s, 4403, "Forbidden", OC_INSUFFICIENT_SCOPE);
            return;
        }
    if (s->cfg->max_sessions_per_subject > 0 && s->adm.claims.sub) {
        if (!countmap_take(limits_per_subject, s->adm.claims.sub, s->cfg->max_sessions_per_subject)) {
            json_decref(o);
            refuse(s, 1013, "too many sessions", OC_TOO_MANY_SESSIONS_PER_SUBJECT);
            return;
        }
        s->sub_counted = 1;
    }
    if (r->strip_credentials)
        json_object_del(payload, key);
    g->init = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!g->init) {
        refuse(s, 1011, "internal error", OC_INTERNAL_ERROR);
        return;
    }
    g->init_len = strlen(g->init);
    /* What the client sends next waits for the relay. */
    bufferevent_disable(s->client, EV_READ);
    evtimer_del(s->timer);
    if (s->env->rv && s->cfg->redis) {
        session_enter(s, S_CHECK, &check_ops);
        s->check = revoke_check_start(s->env->rv, &s->adm.claims, on_checked, s);
        if (!s->check)
            on_checked(s, REVOKE_UNAVAILABLE);
        return;
    }
    connect_upstream(s);
}

static void read_init(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->client);

    for (;;) {
        unsigned char hb[WS_MAX_HEADER];
        size_t avail = evbuffer_get_length(in), n = avail < sizeof(hb) ? avail : sizeof(hb);
        struct ws_frame f;
        int r;

        if (avail == 0)
            return;
        evbuffer_copyout(in, hb, n);
        r = ws_parse_header(hb, n, &f);
        if (r == 0)
            return;
        if (r < 0 || !f.masked || f.rsv) {
            refuse(s, 1002, "protocol error", OC_PROTOCOL_ERROR);
            return;
        }
        if (f.opcode == WS_OP_CLOSE) {
            session_end(s, OC_CLIENT_CLOSED);
            return;
        }
        if (f.opcode >= 0x8) {
            /* Pings and pongs before connection_init: dropped. */
            if (f.payload_len > 125) {
                refuse(s, 1002, "protocol error", OC_PROTOCOL_ERROR);
                return;
            }
            if (avail < f.header_len + f.payload_len)
                return;
            evbuffer_drain(in, f.header_len + (size_t)f.payload_len);
            continue;
        }
        if (f.opcode != WS_OP_TEXT || !f.fin || f.payload_len > GQLWS_MAX_INIT) {
            refuse(s, 4401, "Unauthorized", OC_MISSING_TOKEN);
            return;
        }
        if (avail < f.header_len + f.payload_len)
            return;
        {
            size_t pl = (size_t)f.payload_len;
            unsigned char *m = util_xmalloc(pl ? pl : 1);
            unsigned char key[4];

            evbuffer_drain(in, f.header_len - 4);
            evbuffer_remove(in, key, 4);
            evbuffer_remove(in, m, pl);
            for (size_t i = 0; i < pl; i++)
                m[i] ^= key[i & 3];
            s->c2u.bytes += f.header_len + pl;
            got_init(s, m, pl);
            free(m);
        }
        return;
    }
}

static void on_checked(void *arg, int result)
{
    struct session *s = arg;

    s->check = NULL;
    if (result == REVOKE_REVOKED) {
        refuse(s, 4401, "Unauthorized", OC_TOKEN_REVOKED);
        return;
    }
    if (result == REVOKE_UNAVAILABLE) {
        if (!s->cfg->redis_failure_allow) {
            refuse(s, 1013, "try again later", OC_REDIS_UNAVAILABLE);
            return;
        }
        revoke_count_allowed(s->env->rv);
    }
    connect_upstream(s);
}

/* ---- upstream ------------------------------------------------------------- */

static void upstream_connected(struct session *s)
{
    struct evbuffer *out = bufferevent_get_output(s->upstream);

    /* Our 101 negotiated no extension: the backend is offered none; and
     * it is offered only the subprotocol our 101 chose. */
    socketio_upstream_request(s->req);
    offer_only(s->req, s->gql->proto);
    if (forward_build_head(out, s->req, s->cfg, s->adm.route, &s->adm.claims, &s->fwd) < 0) {
        session_reject(s, OC_INTERNAL_ERROR, 500, "internal_error", "cannot build upstream request", NULL);
        return;
    }
    session_enter(s, S_UPSTREAM_HEAD, &head_ops);
    s->head_scanned = 0;
    bufferevent_setwatermark(s->upstream, EV_READ, 0, s->cfg->max_header_size + 1);
    bufferevent_enable(s->upstream, EV_READ | EV_WRITE);
    session_arm(s, s->cfg->handshake_timeout_ms);
}

static void offer_only(struct http_request *req, const char *proto)
{
    size_t o = 0;
    int kept = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        struct http_header *h = &req->headers[i];
        if (util_strieq(h->name, h->name_len, "Sec-WebSocket-Protocol")) {
            if (kept)
                continue;
            kept = 1;
            h->value = proto;
            h->value_len = strlen(proto);
        }
        req->headers[o++] = *h;
    }
    req->nheaders = o;
}

static void connect_upstream(struct session *s)
{
    session_track(s);
    upstream_connect(s, upstream_connected);
}

static int header_is(const struct http_response *r, const char *name, const char *want)
{
    const struct http_header *h = http_response_header(r, name);

    return h && h->value_len == strlen(want) && memcmp(h->value, want, h->value_len) == 0;
}

static void upstream_head(struct session *s, char *head, size_t len)
{
    struct gqlws *g = s->gql;
    struct http_response resp;
    char err[160];

    if (http_parse_response(head, len, &resp, err, sizeof(err)) != 0 || resp.status != 101 ||
        !header_is(&resp, "Sec-WebSocket-Accept", g->accept) ||
        !header_is(&resp, "Sec-WebSocket-Protocol", g->proto) ||
        http_response_header(&resp, "Sec-WebSocket-Extensions")) {
        slog(LOG_WARNING, s, "graphql-ws: the upstream did not accept the upgrade as offered (status %d)",
             resp.status);
        s->end_cause = OC_UPSTREAM_DECLINED;
        session_reject(s, OC_UPSTREAM_DECLINED, 502, "bad_gateway", "upstream declined", NULL);
        return;
    }
    evtimer_del(s->timer);
    /* The backend's 101 is swallowed: the client has ours. */
    ws_write_text(bufferevent_get_output(s->upstream), g->init, g->init_len, 1);
    slog(LOG_DEBUG, s, "graphql-ws: relaying, route %s", s->adm.route->prefix);
    metrics_accept(s->env->m, util_now_us() - s->started_us);
    metrics_add(s->env->m->sessions_active, 1);
    s->counted_active = 1;
    if (s->adm.route->reauth && reauth_attach(s) < 0) {
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
    upstream_head(s, head, len);
    free(head);
}

static void head_up_event(struct session *s, short what)
{
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    s->end_cause = OC_UPSTREAM_CLOSED;
    session_reject(s, OC_BAD_GATEWAY, 502, "bad_gateway", "upstream closed the connection", NULL);
}

static void head_timeout(struct session *s)
{
    s->end_cause = OC_UPSTREAM_TIMEOUT;
    session_reject(s, OC_GATEWAY_TIMEOUT, 504, "gateway_timeout", "upstream did not answer in time", NULL);
}

/* ---- the 101 -------------------------------------------------------------- */

void gqlws_proceed(struct session *s)
{
    struct gqlws *g = util_xcalloc(1, sizeof(*g));

    s->gql = g;
    session_on_free(s, free_gql);
    g->proto = choose_protocol(s->req);
    if (!g->proto || accept_key(s->req, g->accept, sizeof(g->accept)) < 0) {
        session_reject(s, OC_BAD_REQUEST, 400, "bad_request", "invalid graphql-ws upgrade", NULL);
        return;
    }
    evbuffer_add_printf(bufferevent_get_output(s->client),
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
                        "Sec-WebSocket-Protocol: %s\r\n\r\n", g->accept, g->proto);
    s->own_101 = 1;
    s->status = 101;
    session_enter(s, S_GQL_INIT, &init_ops);
    session_arm(s, s->cfg->handshake_timeout_ms);
    /* Enough for connection_init and a few control frames, no more. */
    bufferevent_setwatermark(s->client, EV_READ, 0, GQLWS_MAX_INIT + 1024);
    bufferevent_enable(s->client, EV_READ | EV_WRITE);
    read_init(s);
}

static void init_timeout(struct session *s)
{
    refuse(s, 4408, "Connection initialisation timeout", OC_REQUEST_TIMEOUT);
}

/* S_GQL_INIT: our 101 is out; connection_init within handshake_timeout. */
static const struct session_ops init_ops = {
    .client_read = read_init,
    .up_read = session_drop_upstream,
    .up_event = session_idle_up_event,
    .timeout = init_timeout,
};

/* S_CHECK: the revocation lookup of the connection_init token. */
static const struct session_ops check_ops = {
    .expired = session_expired_reject,
};

/* S_UPSTREAM_HEAD: the backend's answer to the replayed upgrade. */
static const struct session_ops head_ops = {
    .up_read = read_upstream_head,
    .up_event = head_up_event,
    .timeout = head_timeout,
    .expired = session_expired_reject,
    .revoked = session_revoked_reject,
};
