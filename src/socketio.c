/* socket.io CONNECT authentication on "socketio on" routes. A socket.io
 * client may send its token in the CONNECT packet (io(url, {auth: {token}})
 * -> 40{"token":"..."} or 40/ns,{"token":"..."}) rather than in any HTTP
 * request. Such requests were admitted without a token (admit.c:
 * sio_pending); here every CONNECT packet of every client on the route is
 * checked before the backend sees it, whatever carried the token:
 *   - websocket transport: siohold.c holds each client text message until
 *     its first two payload bytes are known, across fragments; one that
 *     socket.io could read as a CONNECT is held whole (at most
 *     SIO_MAX_CONNECT bytes), checked, and forwarded as one frame with its
 *     auth object rewritten, or dropped and answered with a CONNECT_ERROR
 *     packet (44...) injected toward the client at a frame boundary;
 *   - polling transport: a POST body (Content-Length, at most SIO_MAX_POST)
 *     is read whole before anything goes upstream, its CONNECT packets are
 *     checked and rewritten, and a refused one fails the whole POST with
 *     wsgate's own 401/403 (no channel back to the client exists on a POST:
 *     socket.io answers only in GET polls).
 * Every decision is fresh: each CONNECT token is looked up in Redis, and
 * nothing of an earlier lookup is kept. The third refusal on a connection
 * ends it, so what a client that never reads can make us hold, and log,
 * stays bounded.
 * The rewritten auth object loses "token" (strip_credentials) and every
 * key starting with "x-auth-", and gains the identity_header values under
 * their lower-cased header names, so the backend can read
 * client.handshake.auth["x-auth-sub"] exactly like the header. */
#include "socketio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>

#include "config.h"
#include "connlimit.h"
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
#include "siohold.h"
#include "sioparse.h"
#include "sio_internal.h"
#include "siosid.h"
#include "util.h"
#include "ws.h"

/* Held client messages: what socket.io could read as a CONNECT, and on
 * reauth routes the reserved event too. */
static void upgrade_packet(struct session *s);

static int hold_kind(void *arg, const unsigned char *p, size_t n, int complete)
{
    struct sio_session *x = arg;

    /* Engine.IO's upgrade packet: the sid moves to this websocket now. */
    if (complete && n == 1 && p[0] == '5' && x->upgrade_due)
        upgrade_packet(x->s);
    return socketio_hold_kind(x->reauth_on ? x : NULL, p, n, complete);
}

struct sio_session *socketio_session_new(void)
{
    struct sio_session *x = util_xcalloc(1, sizeof(*x));

    x->inject = evbuffer_new();
    x->post_in = evbuffer_new();
    x->post_out = evbuffer_new();
    x->hold = siohold_new(hold_kind, x);
    x->ra = reauth_new();
    if (!x->inject || !x->post_in || !x->post_out || !x->hold) {
        socketio_session_free(x);
        return NULL;
    }
    return x;
}

static void free_layer(struct session *s)
{
    socketio_session_free(s->sio);
    s->sio = NULL;
}

static int client_frame(struct session *s, const struct ws_frame *f, struct evbuffer *in);
static void client_drained(struct session *s);
static void inject(struct session *s, struct evbuffer *client_out);
static void relay_started(struct session *s);

/* What the relay calls on a socketio route's WebSocket. */
static const struct relay_layer layer = {
    .client_frame = client_frame,
    .inject = inject,
    .client_drained = client_drained,
    .started = relay_started,
};

int socketio_attach(struct session *s)
{
    if (s->sio)
        return 0;
    if (!(s->sio = socketio_session_new()))
        return -1;
    session_on_free(s, free_layer);
    s->sio->s = s;
    s->sio->reauth_on = s->adm.route->reauth;
    s->layer = &layer;
    return 0;
}

void socketio_session_free(struct sio_session *x)
{
    if (!x)
        return;
    revoke_check_cancel(x->check);
    sio_learn_clear(x);
    siohold_free(x->hold);
    reauth_free(x->ra);
    if (x->connect_timer)
        event_free(x->connect_timer);
    if (x->inject)
        evbuffer_free(x->inject);
    if (x->post_in)
        evbuffer_free(x->post_in);
    if (x->post_out)
        evbuffer_free(x->post_out);
    free(x);
}

/* ---- the check ------------------------------------------------------------ */

void sio_refuse(struct verdict *v, enum outcome why, int status, const char *code,
                const char *desc)
{
    v->why = why;
    v->status = status;
    v->code = code;
    snprintf(v->desc, sizeof(v->desc), "%s", desc);
}

/* Same rule as forward.c: a claim holding "\u0000" would be truncated by
 * jwt_claim_string, so it is no identity at all. */
static int json_has_nul(const json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v) != strlen(json_string_value(v));
    if (json_is_array(v))
        for (size_t i = 0; i < json_array_size(v); i++)
            if (json_has_nul(json_array_get(v, i)))
                return 1;
    return 0;
}

static void lower(char *d, const char *s, size_t cap)
{
    size_t i = 0;

    for (; s[i] && i + 1 < cap; i++)
        d[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] | 0x20) : s[i];
    d[i] = '\0';
}

/* The auth object the backend gets. */
static json_t *rewrite_auth(const struct route *r, json_t *auth, const struct jwt_claims *c)
{
    json_t *out = json_object();
    const char *key;
    json_t *val;

    json_object_foreach(auth, key, val) {
        if (strncasecmp(key, "x-auth-", 7) == 0)
            continue;
        if (r->strip_credentials && strcmp(key, "token") == 0)
            continue;
        json_object_set(out, key, val);
    }
    for (size_t i = 0; c && i < r->nidh; i++) {
        char name[128];
        char *v;
        if (c->payload && json_has_nul(json_object_get(c->payload, r->idh[i].claim)))
            continue;
        v = jwt_claim_string(c, r->idh[i].claim);
        lower(name, r->idh[i].header, sizeof(name));
        if (v && *v)
            json_object_set_new(out, name, json_string(v));
        free(v);
    }
    if (c && r->claims_header && c->payload_raw) {
        char name[128];
        char *b = util_b64url_encode((const unsigned char *)c->payload_raw, c->payload_raw_len);
        lower(name, r->claims_header, sizeof(name));
        json_object_set_new(out, name, json_string(b));
        free(b);
    }
    return out;
}

static int claims_hold(const struct route *r, const char *nsp, const struct jwt_claims *c,
                       char *why, size_t whylen)
{
    for (size_t i = 0; i < r->nrequire; i++)
        if (!jwt_claim_matches(c, r->require[i].claim, r->require[i].value)) {
            snprintf(why, whylen, "claim %s does not match", r->require[i].claim);
            return 0;
        }
    for (size_t i = 0; i < r->nnsp_require; i++)
        if (strcmp(r->nsp_require[i].nsp, nsp) == 0 &&
            !jwt_claim_matches(c, r->nsp_require[i].claim, r->nsp_require[i].value)) {
            snprintf(why, whylen, "claim %s does not match for namespace %s",
                     r->nsp_require[i].claim, nsp);
            return 0;
        }
    return 1;
}

static void on_lookup(void *arg, int result);

/* The Redis verdict on a CONNECT token: 1 known (in *result), 0 lookup
 * started (the caller waits and checks the same packet again). The answer
 * serves only the check that asked for it: it is taken here once and never
 * kept, so a token revoked since, or Redis back since, is seen. */
static int lookup(struct session *s, const struct jwt_claims *c, int *result)
{
    struct sio_session *x = s->sio;

    if (x->have_result) {
        x->have_result = 0;
        *result = x->result;
        return 1;
    }
    x->s = s;
    x->check = revoke_check_start(s->env->rv, c, on_lookup, x);
    if (!x->check) {
        *result = REVOKE_UNAVAILABLE;
        return 1;
    }
    return 0;
}

/* A max_sessions_per_subject slot for a subject first authenticated by a
 * CONNECT token. websocket: the session's own slot (released with it);
 * polling: the Engine.IO session's, which its sid holds (siosid_bind,
 * from sio_polling.c). 0 when full. */
static int take_slot(struct session *s, const char *sub)
{
    long max = s->cfg->max_sessions_per_subject;

    if (max <= 0 || !sub)
        return 1;
    if (!countmap_take(limits_per_subject, sub, max))
        return 0;
    if (s->adm.plain_http)
        s->sio->post_slot = 1;
    return 1;
}

/* Checks one CONNECT packet p/n. Returns 1 with the forwarded packet
 * appended to out, 0 when a Redis lookup must finish first, -1 refused
 * (v filled, nsp set). *adopt is set when the session should take claims
 * from a CONNECT token as its identity (moved into *adopted). */
int sio_check_connect(struct session *s, const char *p, size_t n, struct evbuffer *out,
                      char *nsp, size_t nspcap, struct verdict *v,
                      struct jwt_claims *adopted, int *adopt)
{
    const struct route *r = s->adm.route;
    const char *data;
    size_t dlen;
    json_t *auth = NULL, *fw;
    struct jwt_claims own;
    const struct jwt_claims *c = NULL;
    int have_own = 0, rc = -1;
    char why[160];

    memset(&own, 0, sizeof(own));
    *adopt = 0;
    if (socketio_parse_connect(p, n, nsp, nspcap, &data, &dlen) != 0) {
        snprintf(nsp, nspcap, "/");
        sio_refuse(v, OC_BAD_REQUEST, 400, "bad_request", "malformed CONNECT packet");
        return -1;
    }
    if (data) {
        json_error_t jerr;
        auth = json_loadb(data, dlen, JSON_REJECT_DUPLICATES, &jerr);
        if (!auth || !json_is_object(auth)) {
            sio_refuse(v, OC_BAD_REQUEST, 400, "bad_request", "malformed CONNECT packet");
            goto out;
        }
    } else {
        auth = json_object();
    }

    if (!r->auth) {
        c = NULL;                   /* a public route: no identity to add */
    } else if (s->adm.have_claims && !s->adm.sio_pending) {
        c = &s->adm.claims;         /* the HTTP-level token wins */
    } else {
        json_t *t = json_object_get(auth, "token");
        const char *tok = json_is_string(t) ? json_string_value(t) : NULL;
        if (!tok || !*tok) {
            if (s->adm.have_claims) {
                c = &s->adm.claims; /* adopted from an earlier CONNECT */
            } else {
                sio_refuse(v, OC_MISSING_TOKEN, 401, "missing_token", "no token");
                goto out;
            }
        } else {
            int vr = jwks_verify(s->cfg, tok, strlen(tok), util_wall_s(), &own, why, sizeof(why));
            if (vr == -2) {
                sio_refuse(v, OC_SERVICE_UNAVAILABLE, 503, "service_unavailable", why);
                goto out;
            }
            if (vr != 0) {
                sio_refuse(v, OC_INVALID_TOKEN, 401, "invalid_token", why);
                goto out;
            }
            have_own = 1;
            if (s->adm.have_claims && (!s->adm.claims.sub || !own.sub ||
                                       strcmp(s->adm.claims.sub, own.sub) != 0)) {
                sio_refuse(v, OC_INSUFFICIENT_SCOPE, 403, "insufficient_scope", "token for another subject");
                goto out;
            }
            if (s->cfg->redis && s->env->rv) {
                int res = REVOKE_OK;
                if (!lookup(s, &own, &res)) {
                    rc = 0;
                    goto out;
                }
                if (res == REVOKE_REVOKED) {
                    sio_refuse(v, OC_INVALID_TOKEN, 401, "invalid_token", "token revoked");
                    goto out;
                }
                if (res == REVOKE_UNAVAILABLE && !s->cfg->redis_failure_allow) {
                    sio_refuse(v, OC_SERVICE_UNAVAILABLE, 503, "service_unavailable", "revocation service unavailable");
                    goto out;
                }
                if (res == REVOKE_UNAVAILABLE)
                    revoke_count_allowed(s->env->rv);
            }
            c = &own;
        }
    }
    if (c && !claims_hold(r, nsp, c, why, sizeof(why))) {
        sio_refuse(v, OC_INSUFFICIENT_SCOPE, 403, "insufficient_scope", why);
        goto out;
    }

    fw = rewrite_auth(r, auth, c);
    char *js = json_dumps(fw, JSON_COMPACT);
    json_decref(fw);
    if (!js) {
        sio_refuse(v, OC_INTERNAL_ERROR, 500, "internal_error", "cannot rewrite CONNECT packet");
        goto out;
    }
    /* The last check: a slot taken is kept by the session. */
    if (have_own && !s->adm.have_claims && !take_slot(s, own.sub)) {
        free(js);
        sio_refuse(v, OC_TOO_MANY_SESSIONS, 429, "too_many_sessions", "too many sessions for this subject");
        goto out;
    }
    evbuffer_add(out, "40", 2);
    if (strcmp(nsp, "/") != 0)
        evbuffer_add_printf(out, "%s,", nsp);
    evbuffer_add(out, js, strlen(js));
    free(js);
    if (have_own && !s->adm.have_claims) {
        *adopted = own;
        have_own = 0;
        *adopt = 1;
    }
    rc = 1;
out:
    /* A lookup answer serves the one check that asked for it. */
    if (rc != 0)
        s->sio->have_result = 0;
    json_decref(auth);
    if (have_own)
        jwt_claims_clear(&own);
    return rc;
}

static void log_refusal(struct session *s, const char *nsp, const struct verdict *v)
{
    slog(LOG_INFO, s, "socket.io CONNECT to %s refused: %s (%s)", nsp, v->code, v->desc);
}

/* ---- websocket transport ---------------------------------------------------- */

static void add_frame(struct evbuffer *out, const unsigned char *payload, size_t n,
                      const unsigned char *mask)
{
    unsigned char h[10];
    size_t hl = 0;

    h[hl++] = 0x81;                 /* FIN, text */
    if (n < 126) {
        h[hl++] = (unsigned char)((mask ? 0x80 : 0) | n);
    } else if (n < 65536) {
        h[hl++] = (unsigned char)((mask ? 0x80 : 0) | 126);
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        h[hl++] = (unsigned char)((mask ? 0x80 : 0) | 127);
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    evbuffer_add(out, h, hl);
    if (!mask) {
        evbuffer_add(out, payload, n);
        return;
    }
    evbuffer_add(out, mask, 4);
    unsigned char *m = util_xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        m[i] = payload[i] ^ mask[i & 3];
    evbuffer_add(out, m, n);
    free(m);
}

/* A CONNECT_ERROR packet, in socket.io's format, as JSON. */
static void connect_error(struct evbuffer *out, const char *nsp, const struct verdict *v)
{
    json_t *o = json_pack("{s:s, s:{s:s, s:s}}", "message", v->code, "data",
                          "error", v->code, "error_description", v->desc);
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;

    evbuffer_add(out, "44", 2);
    if (strcmp(nsp, "/") != 0)
        evbuffer_add_printf(out, "%s,", nsp);
    if (js)
        evbuffer_add(out, js, strlen(js));
    free(js);
    json_decref(o);
}

static int ws_decide(struct session *s);

static void on_lookup(void *arg, int result)
{
    struct sio_session *x = arg;
    struct session *s = x->s;

    x->check = NULL;
    if (s->state == S_DEAD || s->state == S_FLUSH)
        return;
    x->result = result;
    x->have_result = 1;
    if (x->post_reading) {
        socketio_post_read(s);
    } else if (s->state == S_RELAY || s->state == S_CLOSING) {
        if (ws_decide(s) && (s->state == S_RELAY || s->state == S_CLOSING))
            relay_pump(s, &s->c2u);
    }
}

/* A refused CONNECT: counted, logged, answered once; the third ends the
 * connection, so a client cannot make us answer (or log) without end.
 * Returns 1 when the connection is being closed. */
int sio_count_refusal(struct session *s, const char *nsp, const struct verdict *v)
{
    struct sio_session *x = s->sio;

    x->refusals++;
    if (x->refusals <= SIO_MAX_REFUSALS)
        log_refusal(s, nsp, v);
    return x->refusals >= SIO_MAX_REFUSALS;
}

/* ---- the reserved "wsgate:reauth" event (SPEC §11) ---------------------- */

int sio_nsp_claims(struct session *s, const struct jwt_claims *c, char *why, size_t whylen)
{
    return claims_hold(s->adm.route, s->sio->reauth_nsp, c, why, whylen);
}

void sio_reauth_packet(struct evbuffer *pkt, const char *nsp, long long ack,
                       const struct reauth_answer *a)
{
    json_t *o;
    char *js;

    if (a->result == REAUTH_OK)
        o = a->has_exp ? json_pack("[{s:b, s:I}]", "ok", 1, "exp", (json_int_t)a->exp)
                       : json_pack("[{s:b, s:n}]", "ok", 1, "exp");
    else
        o = json_pack("[{s:b, s:s, s:s}]", "ok", 0, "error", reauth_result_name(a->result),
                      "error_description", a->desc);
    js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    evbuffer_add(pkt, "43", 2);
    if (strcmp(nsp, "/") != 0)
        evbuffer_add_printf(pkt, "%s,", nsp);
    evbuffer_add_printf(pkt, "%lld", ack);
    if (js)
        evbuffer_add(pkt, js, strlen(js));
    free(js);
    json_decref(o);
}

int sio_reauth_event(struct session *s, const char *data, size_t dlen, reauth_done done,
                     struct reauth_answer *a)
{
    json_t *arr = json_loadb(data, dlen, JSON_REJECT_DUPLICATES, NULL);
    json_t *tok = json_array_get(arr, 1);
    int rc = 1;

    memset(a, 0, sizeof(*a));
    if (!json_is_array(arr) || json_array_size(arr) != 2 || !json_is_string(tok)) {
        a->result = REAUTH_INVALID_TOKEN;
        snprintf(a->desc, sizeof(a->desc), "malformed re-auth event");
        metrics_add(s->env->m->reauth[a->result], 1);
    } else {
        rc = reauth_check(s->sio->ra, s, json_string_value(tok), json_string_length(tok),
                          sio_nsp_claims, done, a);
    }
    json_decref(arr);
    return rc;
}

/* 43[/nsp,]<ack>[{...}]: the acknowledgement emitWithAck resolves with. */
static void reauth_answer(struct session *s, const struct reauth_answer *a)
{
    struct sio_session *x = s->sio;
    struct evbuffer *pkt;

    if (x->reauth_ack < 0 || !(pkt = evbuffer_new()))
        return;
    sio_reauth_packet(pkt, x->reauth_nsp, x->reauth_ack, a);
    size_t len = evbuffer_get_length(pkt);
    ws_write_text(x->inject, evbuffer_pullup(pkt, -1), len, 0);
    evbuffer_free(pkt);
}

static void sio_reauth_done(struct session *s, const struct reauth_answer *a)
{
    struct sio_session *x = s->sio;

    x->reauth_busy = 0;
    siohold_done(x->hold);
    reauth_answer(s, a);
    if (s->state == S_RELAY || s->state == S_CLOSING)
        relay_pump(s, &s->u2c);
    if (s->state == S_RELAY || s->state == S_CLOSING)
        relay_pump(s, &s->c2u);
}

/* The held message is the reserved event: it is consumed (the backend
 * never sees it) and answered when it has an ack id. 0 while the
 * revocation lookup runs. */
static int reauth_decide(struct session *s, const unsigned char *msg, size_t n)
{
    struct sio_session *x = s->sio;
    struct reauth_answer a;
    const char *data;
    size_t dlen;
    int done;

    if (x->reauth_busy)
        return 0;
    s->last_activity_ms = util_now_ms();
    memset(&a, 0, sizeof(a));
    if (socketio_parse_event((const char *)msg, n, x->reauth_nsp, sizeof(x->reauth_nsp),
                             &x->reauth_ack, &data, &dlen) != 0) {
        siohold_done(x->hold);      /* cannot happen: the classifier matched it */
        return 1;
    }
    done = sio_reauth_event(s, data, dlen, sio_reauth_done, &a);
    if (!done) {
        x->reauth_busy = 1;
        return 0;
    }
    siohold_done(x->hold);
    reauth_answer(s, &a);
    relay_pump(s, &s->u2c);
    return 1;
}

/* The held message is complete: forward it rewritten as one frame, or
 * answer a CONNECT_ERROR. Returns 0 while a Redis lookup is under way. */
static int ws_decide(struct session *s)
{
    struct sio_session *x = s->sio;
    unsigned char key[4];
    size_t n;
    int kind, adopt = 0, rc;
    const unsigned char *msg = siohold_message(x->hold, &n, &kind, key);
    char nsp[256] = "/";
    struct verdict v;
    struct jwt_claims adopted;
    struct evbuffer *fwd;

    if (!msg)
        return 1;
    if (kind == SIO_KIND_REAUTH)
        return reauth_decide(s, msg, n);
    fwd = evbuffer_new();
    memset(&v, 0, sizeof(v));
    if (!fwd) {
        sio_refuse(&v, OC_INTERNAL_ERROR, 500, "internal_error", "out of memory");
        rc = -1;
    } else if (kind != SIO_KIND_CONNECT) {
        /* "4", "4 {...}", "4\u00a0/admin,..." : a CONNECT to socket.io */
        sio_refuse(&v, OC_BAD_REQUEST, 400, "bad_request", "malformed CONNECT packet");
        rc = -1;
    } else {
        rc = sio_check_connect(s, (const char *)msg, n, fwd, nsp, sizeof(nsp), &v, &adopted, &adopt);
    }
    if (rc == 0) {
        evbuffer_free(fwd);
        return 0;
    }
    siohold_done(x->hold);
    s->last_activity_ms = util_now_ms();
    if (rc == 1) {
        size_t len = evbuffer_get_length(fwd);
        if (x->connect_timer)
            evtimer_del(x->connect_timer);  /* a CONNECT was admitted: no squatter */
        unsigned char *pl = evbuffer_pullup(fwd, -1);
        add_frame(bufferevent_get_output(s->upstream), pl, len, key);
        s->c2u.bytes += len;
        evbuffer_free(fwd);
        if (adopt) {
            s->adm.claims = adopted;
            s->adm.have_claims = 1;
            if (s->cfg->max_sessions_per_subject > 0 && adopted.sub)
                s->sub_counted = 1; /* take_slot took it; session_free gives it back */
            slog(LOG_INFO, s, "socket.io CONNECT authenticated sub %s",
                 adopted.sub ? adopted.sub : "-");
            session_track(s);
        }
        return 1;
    }
    if (fwd)
        evbuffer_free(fwd);
    {
        struct evbuffer *pkt = evbuffer_new();
        if (pkt) {
            connect_error(pkt, nsp, &v);
            size_t len = evbuffer_get_length(pkt);
            add_frame(x->inject, evbuffer_pullup(pkt, -1), len, NULL);
            evbuffer_free(pkt);
        }
    }
    if (sio_count_refusal(s, nsp, &v)) {
        /* After its CONNECT_ERROR (injected first at the boundary). */
        relay_close(s, 1008, "policy violation", OC_CONNECT_REFUSED);
        return 1;
    }
    relay_pump(s, &s->u2c);
    return 1;
}

/* Our answers have left for the client (the CONNECT_ERRORs wait for a
 * frame boundary of the backend's stream), and its output is below the
 * relay's high mark. */
static int drained(struct session *s)
{
    return evbuffer_get_length(s->sio->inject) == 0 &&
           evbuffer_get_length(bufferevent_get_output(s->client)) < RELAY_HIGH_WATER;
}

static int decide(void *arg)
{
    return ws_decide(arg);
}

static int client_frame(struct session *s, const struct ws_frame *f, struct evbuffer *in)
{
    struct sio_session *x = s->sio;

    /* A client that does not read what it is sent gets nothing more read:
     * its refusals, like the backend's frames, wait in a bounded buffer. */
    if (!drained(s)) {
        x->read_paused = 1;
        bufferevent_disable(s->client, EV_READ);
        return PUMP_HOLD;
    }
    return siohold_pump_frame(x->hold, &s->c2u.t, f, in, bufferevent_get_output(s->upstream),
                              decide, s);
}

static void client_drained(struct session *s)
{
    struct sio_session *x = s->sio;

    if (!x || !x->read_paused || !drained(s))
        return;
    x->read_paused = 0;
    bufferevent_enable(s->client, EV_READ);
    relay_pump(s, &s->c2u);
}

static void inject(struct session *s, struct evbuffer *client_out)
{
    if (s->sio && evbuffer_get_length(s->sio->inject))
        evbuffer_add_buffer(client_out, s->sio->inject);
}

/* No unauthenticated squatters (SPEC §10): an Engine.IO session begun on
 * the websocket transport that has no admitted CONNECT within
 * socketio_connect_timeout is closed with 4401. A websocket that carries a
 * sid is the upgrade of a polling session, whose CONNECT came by POST (and
 * the backend refuses a sid it does not know): it is not timed here. */
static void connect_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    if (s->state != S_RELAY)
        return;
    slog(LOG_INFO, s, "no socket.io CONNECT admitted within %lld ms",
         (long long)s->adm.route->socketio_connect_timeout_ms);
    relay_close(s, 4401, "authentication timeout", OC_AUTH_TIMEOUT);
}

/* The client's upgrade packet on a websocket with a sid: engine.io moves
 * the session here, so this session enforces it from now on, with the
 * identity its CONNECT (by POST) bound to the sid and the slot the sid
 * held. A sid that ended meanwhile closes the websocket. */
static void upgrade_packet(struct session *s)
{
    struct sio_session *x = s->sio;
    struct sio_query q;
    struct siosid_info info;
    enum siosid_state st;
    char err[128], *slot = NULL;

    x->upgrade_due = 0;
    if (socketio_parse_query(s->req->query, s->req->query_len, &q, err, sizeof(err)) != 0 || !q.sid)
        return;
    st = siosid_get(q.sid, q.sid_len, &info, !s->adm.have_claims);
    if (st == SIOSID_ENDED) {
        slog(LOG_INFO, s, "socket.io sid ended before its upgrade");
        relay_close(s, info.end_cause == OC_TOKEN_REVOKED ? 4403 : 4401,
                    info.end_cause == OC_TOKEN_REVOKED ? "token revoked" :
                    info.end_cause == OC_TOKEN_EXPIRED ? "token expired" : "authentication timeout",
                    info.end_cause);
        return;
    }
    siosid_upgraded(q.sid, q.sid_len, &slot);
    if (st == SIOSID_BOUND && info.have_claims) {
        s->adm.claims = info.claims;
        s->adm.have_claims = 1;
        s->adm.sio_pending = 1;
        s->adm.sid_bound = 1;
        session_track(s);
        slog(LOG_DEBUG, s, "socket.io sid upgraded, sub %s", s->adm.claims.sub ? s->adm.claims.sub : "-");
    } else {
        jwt_claims_clear(&info.claims);
    }
    if (st == SIOSID_BOUND && x->connect_timer)
        evtimer_del(x->connect_timer);  /* its CONNECT was admitted by POST */
    if (slot) {
        if (s->adm.sid_bound && !s->sub_counted && s->adm.claims.sub &&
            strcmp(slot, s->adm.claims.sub) == 0)
            s->sub_counted = 1;
        else
            countmap_release(limits_per_subject, slot);
        free(slot);
    }
}

static void relay_started(struct session *s)
{
    struct sio_session *x = s->sio;
    struct sio_query q;
    char err[128];
    int64_t ms = s->adm.route->socketio_connect_timeout_ms;
    struct timeval tv;

    if (socketio_parse_query(s->req->query, s->req->query_len, &q, err, sizeof(err)) != 0)
        return;
    if (q.sid) {
        /* The upgrade of a polling session. Bound already: this session
         * carries the sid's identity (socketio_poll_admit) and takes its
         * slot when the client's upgrade packet comes. Not yet: the
         * client may still send its CONNECT by POST while it probes this
         * websocket, so the sid is taken over at the upgrade packet, and
         * until then the rest of the sid's connect deadline runs here. */
        struct siosid_info info;
        enum siosid_state st = siosid_get(q.sid, q.sid_len, &info, 0);

        x->upgrade_due = 1;
        if (st != SIOSID_PENDING)
            return;
        ms = info.connect_deadline_ms - util_now_ms();
        if (ms < 0)
            ms = 0;
    }
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    if (!x->connect_timer)
        x->connect_timer = evtimer_new(s->env->base, connect_timeout, s);
    if (x->connect_timer)
        evtimer_add(x->connect_timer, &tv);
}

/* ---- the upgrade ---------------------------------------------------------- */

void socketio_upstream_request(struct http_request *req)
{
    size_t o = 0;

    /* permessage-deflate would hide client messages behind RSV1: the
     * backend is offered nothing, and a 101 choosing an extension anyway
     * is refused (upgrade.c). */
    for (size_t i = 0; i < req->nheaders; i++)
        if (!util_strieq(req->headers[i].name, req->headers[i].name_len, "Sec-WebSocket-Extensions"))
            req->headers[o++] = req->headers[i];
    req->nheaders = o;
}
