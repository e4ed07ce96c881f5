/* socket.io CONNECT authentication on "socketio on" routes. A socket.io
 * client may send its token in the CONNECT packet (io(url, {auth: {token}})
 * -> 40{"token":"..."} or 40/ns,{"token":"..."}) rather than in any HTTP
 * request. Such requests were admitted without a token (admit.c:
 * sio_pending); here every CONNECT packet of every client on the route is
 * checked before the backend sees it, whatever carried the token:
 *   - websocket transport: the relay hands us each client text frame that
 *     starts no fragmented message; we unmask two payload bytes to see
 *     whether it is a CONNECT ("40"), and only a CONNECT frame (at most
 *     SIO_MAX_CONNECT bytes) is unmasked whole, checked, and forwarded
 *     re-masked with its auth object rewritten, or dropped and answered
 *     with a CONNECT_ERROR packet (44...) injected toward the client at a
 *     frame boundary;
 *   - polling transport: a POST body (Content-Length, at most SIO_MAX_POST)
 *     is read whole before anything goes upstream, its CONNECT packets are
 *     checked and rewritten, and a refused one fails the whole POST with
 *     wsgate's own 401/403 (no channel back to the client exists on a POST:
 *     socket.io answers only in GET polls).
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
#include "http.h"
#include "jwks.h"
#include "jwt.h"
#include "log.h"
#include "relay.h"
#include "revoke.h"
#include "session.h"
#include "util.h"
#include "ws.h"

#define SIO_MAX_LOOKUPS 8           /* distinct CONNECT tokens looked up in Redis per connection */

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

struct rv_entry {
    char *token;
    int result;                     /* enum revoke_result */
};

struct sio_session {
    struct session *s;              /* for the revocation callback */
    struct evbuffer *inject;        /* CONNECT_ERROR frames due to the client */
    struct revoke_check *check;     /* Redis lookup of a CONNECT token under way */
    struct rv_entry rv[SIO_MAX_LOOKUPS];
    size_t nrv;

    int post_reading;               /* S_SIO_BODY */
    uint64_t post_left;
    struct evbuffer *post_in;       /* the body as the client sent it */
    struct evbuffer *post_out;      /* checked and rewritten, for httpproxy */
    int post_ready;
};

/* The verdict on one CONNECT. */
struct verdict {
    int status;                     /* HTTP status for a polling refusal */
    const char *code;               /* "invalid_token", "insufficient_scope", ... */
    char desc[160];
};

struct sio_session *socketio_session_new(void)
{
    struct sio_session *x = util_xcalloc(1, sizeof(*x));

    x->inject = evbuffer_new();
    x->post_in = evbuffer_new();
    x->post_out = evbuffer_new();
    if (!x->inject || !x->post_in || !x->post_out) {
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

int socketio_attach(struct session *s)
{
    if (s->sio)
        return 0;
    if (!(s->sio = socketio_session_new()))
        return -1;
    session_on_free(s, free_layer);
    return 0;
}

void socketio_session_free(struct sio_session *x)
{
    if (!x)
        return;
    revoke_check_cancel(x->check);
    for (size_t i = 0; i < x->nrv; i++)
        free(x->rv[i].token);
    if (x->inject)
        evbuffer_free(x->inject);
    if (x->post_in)
        evbuffer_free(x->post_in);
    if (x->post_out)
        evbuffer_free(x->post_out);
    free(x);
}

/* ---- the packet ------------------------------------------------------------ */

int socketio_parse_connect(const char *p, size_t n, char *nsp, size_t nspcap,
                           const char **data, size_t *datalen)
{
    size_t i = 2;

    if (n < 2 || p[0] != '4' || p[1] != '0')
        return -1;
    *data = NULL;
    *datalen = 0;
    if (i < n && p[i] == '/') {
        size_t start = i;
        while (i < n && p[i] != ',')
            i++;
        if (i - start >= nspcap)
            return -2;
        for (size_t k = start; k < i; k++)
            if ((unsigned char)p[k] <= 0x20 || (unsigned char)p[k] >= 0x7f)
                return -2;
        memcpy(nsp, p + start, i - start);
        nsp[i - start] = '\0';
        if (i < n)
            i++;                    /* the comma */
    } else {
        if (nspcap < 2)
            return -2;
        strcpy(nsp, "/");
    }
    if (i == n)
        return 0;
    /* socket.io's decoder would take digits here as an ack id: a CONNECT
     * has none, and we read nothing we could read differently. */
    if (p[i] != '{')
        return -2;
    *data = p + i;
    *datalen = n - i;
    return 0;
}

static void refuse(struct verdict *v, int status, const char *code, const char *desc)
{
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
static const struct session_ops post_ops;

/* The Redis verdict on a CONNECT token: 1 known (in *result), 0 lookup
 * started or under way (the caller waits), -1 too many lookups. */
static int lookup(struct session *s, const char *tok, const struct jwt_claims *c, int *result)
{
    struct sio_session *x = s->sio;

    for (size_t i = 0; i < x->nrv; i++)
        if (strcmp(x->rv[i].token, tok) == 0) {
            if (x->rv[i].result < 0)
                return 0;           /* this one is being looked up */
            *result = x->rv[i].result;
            return 1;
        }
    if (x->check)
        return 0;                   /* one at a time; ours comes after */
    if (x->nrv == SIO_MAX_LOOKUPS)
        return -1;
    x->rv[x->nrv].token = util_xstrdup(tok);
    x->rv[x->nrv].result = -1;
    x->nrv++;
    x->s = s;
    x->check = revoke_check_start(s->env->rv, c, on_lookup, x);
    if (!x->check) {
        x->rv[x->nrv - 1].result = REVOKE_UNAVAILABLE;
        *result = REVOKE_UNAVAILABLE;
        return 1;
    }
    return 0;
}

/* Checks one CONNECT packet p/n. Returns 1 with the forwarded packet
 * appended to out, 0 when a Redis lookup must finish first, -1 refused
 * (v filled, nsp set). *adopt is set when the session should take claims
 * from a CONNECT token as its identity (moved into *adopted). */
static int check_connect(struct session *s, const char *p, size_t n, struct evbuffer *out,
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
        refuse(v, 400, "bad_request", "malformed CONNECT packet");
        return -1;
    }
    if (data) {
        json_error_t jerr;
        auth = json_loadb(data, dlen, JSON_REJECT_DUPLICATES, &jerr);
        if (!auth || !json_is_object(auth)) {
            refuse(v, 400, "bad_request", "malformed CONNECT packet");
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
                refuse(v, 401, "missing_token", "no token");
                goto out;
            }
        } else {
            int vr = jwks_verify(s->cfg, tok, strlen(tok), util_wall_s(), &own, why, sizeof(why));
            if (vr == -2) {
                refuse(v, 503, "service_unavailable", why);
                goto out;
            }
            if (vr != 0) {
                refuse(v, 401, "invalid_token", why);
                goto out;
            }
            have_own = 1;
            if (s->adm.have_claims && (!s->adm.claims.sub || !own.sub ||
                                       strcmp(s->adm.claims.sub, own.sub) != 0)) {
                refuse(v, 403, "insufficient_scope", "token for another subject");
                goto out;
            }
            if (s->cfg->redis && s->env->rv) {
                int res = REVOKE_OK, lr = lookup(s, tok, &own, &res);
                if (lr == 0) {
                    rc = 0;
                    goto out;
                }
                if (lr < 0) {
                    refuse(v, 400, "bad_request", "too many CONNECT tokens");
                    goto out;
                }
                if (res == REVOKE_REVOKED) {
                    refuse(v, 401, "invalid_token", "token revoked");
                    goto out;
                }
                if (res == REVOKE_UNAVAILABLE && !s->cfg->redis_failure_allow) {
                    refuse(v, 503, "service_unavailable", "revocation service unavailable");
                    goto out;
                }
            }
            c = &own;
        }
    }
    if (c && !claims_hold(r, nsp, c, why, sizeof(why))) {
        refuse(v, 403, "insufficient_scope", why);
        goto out;
    }

    fw = rewrite_auth(r, auth, c);
    char *js = json_dumps(fw, JSON_COMPACT);
    json_decref(fw);
    if (!js) {
        refuse(v, 500, "internal_error", "cannot rewrite CONNECT packet");
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
    unsigned char h[8];
    size_t hl = 0;

    h[hl++] = 0x81;                 /* FIN, text */
    if (n < 126) {
        h[hl++] = (unsigned char)((mask ? 0x80 : 0) | n);
    } else {
        h[hl++] = (unsigned char)((mask ? 0x80 : 0) | 126);
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
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

static void on_lookup(void *arg, int result)
{
    struct sio_session *x = arg;
    struct session *s = x->s;

    x->check = NULL;
    if (s->state == S_DEAD || s->state == S_FLUSH)
        return;
    for (size_t i = 0; i < x->nrv; i++)
        if (x->rv[i].result < 0)
            x->rv[i].result = result;
    if (x->post_reading)
        socketio_post_read(s);
    else if (s->state == S_RELAY || s->state == S_CLOSING)
        relay_pump(s, &s->c2u);
}

int socketio_client_frame(struct session *s, const struct ws_frame *f, struct evbuffer *in)
{
    struct sio_session *x = s->sio;
    unsigned char first[WS_MAX_HEADER + 2];
    const unsigned char *mask;
    size_t need = f->header_len + 2;

    if (!x || !f->masked || f->payload_len < 2)
        return SIO_PASS;
    if (evbuffer_get_length(in) < need)
        return SIO_WAIT;
    evbuffer_copyout(in, first, need);
    mask = first + f->header_len - 4;
    if ((first[f->header_len] ^ mask[0]) != '4' || (first[f->header_len + 1] ^ mask[1]) != '0')
        return SIO_PASS;
    /* A CONNECT. */
    if (!f->fin)
        return 1002;                /* split CONNECTs are not something we read */
    if (f->payload_len > SIO_MAX_CONNECT)
        return 1009;
    if (evbuffer_get_length(in) < f->header_len + f->payload_len)
        return SIO_WAIT;

    size_t n = (size_t)f->payload_len;
    unsigned char *frame = util_xmalloc(f->header_len + n);
    unsigned char key[4];
    char nsp[256];
    struct verdict v;
    struct jwt_claims adopted;
    struct evbuffer *fwd = evbuffer_new();
    int adopt = 0, rc;

    evbuffer_copyout(in, frame, f->header_len + n);
    memcpy(key, frame + f->header_len - 4, 4);
    for (size_t i = 0; i < n; i++)
        frame[f->header_len + i] ^= key[i & 3];
    memset(&v, 0, sizeof(v));
    rc = fwd ? check_connect(s, (const char *)frame + f->header_len, n, fwd, nsp, sizeof(nsp),
                             &v, &adopted, &adopt) : -1;
    if (!fwd)
        refuse(&v, 500, "internal_error", "out of memory");
    if (rc == 0) {
        free(frame);
        evbuffer_free(fwd);
        return SIO_WAIT;
    }
    evbuffer_drain(in, f->header_len + n);
    free(frame);
    s->last_activity_ms = util_now_ms();
    if (rc == 1) {
        size_t len = evbuffer_get_length(fwd);
        unsigned char *pl = evbuffer_pullup(fwd, -1);
        add_frame(bufferevent_get_output(s->upstream), pl, len, key);
        evbuffer_free(fwd);
        if (adopt) {
            s->adm.claims = adopted;
            s->adm.have_claims = 1;
            slog(LOG_INFO, s, "socket.io CONNECT authenticated sub %s",
                 adopted.sub ? adopted.sub : "-");
            session_track(s);
        }
        return SIO_TAKEN;
    }
    evbuffer_free(fwd);
    log_refusal(s, nsp, &v);
    {
        struct evbuffer *pkt = evbuffer_new();
        if (pkt) {
            connect_error(pkt, nsp, &v);
            size_t len = evbuffer_get_length(pkt);
            add_frame(x->inject, evbuffer_pullup(pkt, -1), len, NULL);
            evbuffer_free(pkt);
        }
    }
    relay_pump(s, &s->u2c);
    return SIO_TAKEN;
}

void socketio_inject(struct session *s, struct evbuffer *client_out)
{
    if (s->sio && evbuffer_get_length(s->sio->inject))
        evbuffer_add_buffer(client_out, s->sio->inject);
}

/* ---- polling transport ------------------------------------------------------ */

int socketio_wants_post(const struct session *s)
{
    return s->sio && s->adm.plain_http && s->adm.route->socketio &&
           util_strieq(s->req.method, s->req.method_len, "POST");
}

static void post_refused(struct session *s, const char *nsp, const struct verdict *v)
{
    char extra[320] = "";
    const char *extras[2] = { extra, NULL };

    log_refusal(s, nsp, v);
    s->sio->post_reading = 0;
    if (v->status == 401)
        snprintf(extra, sizeof(extra),
                 "WWW-Authenticate: Bearer realm=\"wsgate\"%s%s%s%s",
                 strcmp(v->code, "missing_token") ? ", error=\"invalid_token\"" : "",
                 strcmp(v->code, "missing_token") ? ", error_description=\"" : "",
                 strcmp(v->code, "missing_token") ? v->desc : "",
                 strcmp(v->code, "missing_token") ? "\"" : "");
    s->status = v->status;
    s->end_cause = v->code;
    if (s->upstream) {
        bufferevent_free(s->upstream);
        s->upstream = NULL;
    }
    http_write_reject(bufferevent_get_output(s->client), v->status, v->code, v->desc,
                      extra[0] ? extras : NULL);
    session_end(s, v->code);
}

static void post_fail(struct session *s, int status, const char *code, const char *desc)
{
    struct verdict v;

    refuse(&v, status, code, desc);
    post_refused(s, "/", &v);
}

void socketio_post_start(struct session *s)
{
    struct sio_session *x = s->sio;
    const struct http_header *cl = http_request_header(&s->req, "Content-Length");
    uint64_t len = 0;

    if (http_request_header(&s->req, "Transfer-Encoding")) {
        post_fail(s, 400, "bad_request", "chunked bodies are not read on socketio routes");
        return;
    }
    for (size_t i = 0; cl && i < cl->value_len; i++)
        len = len * 10 + (uint64_t)(cl->value[i] - '0');
    if (len > SIO_MAX_POST) {
        post_fail(s, 413, "content_too_large", "socket.io payload too large");
        return;
    }
    evbuffer_drain(x->post_in, evbuffer_get_length(x->post_in));
    evbuffer_drain(x->post_out, evbuffer_get_length(x->post_out));
    x->post_ready = 0;
    x->post_left = len;
    x->post_reading = 1;
    session_enter(s, S_SIO_BODY, &post_ops);
    session_arm(s, s->cfg->handshake_timeout_ms);
    bufferevent_setwatermark(s->client, EV_READ, 0, RELAY_HIGH_WATER);
    bufferevent_enable(s->client, EV_READ);
    socketio_post_read(s);
}

/* Whole body here: every packet checked, CONNECTs rewritten. */
static void post_check(struct session *s)
{
    struct sio_session *x = s->sio;
    size_t len = evbuffer_get_length(x->post_in);
    const char *body = len ? (const char *)evbuffer_pullup(x->post_in, -1) : "";
    size_t pos = 0;

    evbuffer_drain(x->post_out, evbuffer_get_length(x->post_out));
    while (pos <= len && len) {
        const char *sep = memchr(body + pos, 0x1e, len - pos);
        size_t end = sep ? (size_t)(sep - body) : len;
        const char *p = body + pos;
        size_t n = end - pos;

        if (pos)
            evbuffer_add(x->post_out, "\x1e", 1);
        if (n >= 2 && p[0] == '4' && p[1] == '0') {
            char nsp[256];
            struct verdict v;
            struct jwt_claims adopted;
            int adopt = 0;
            int rc = check_connect(s, p, n, x->post_out, nsp, sizeof(nsp), &v, &adopted, &adopt);
            if (rc == 0)
                return;             /* on_lookup runs us again */
            if (rc < 0) {
                post_refused(s, nsp, &v);
                return;
            }
            /* A poll is one request: the claims end with it. */
            if (adopt)
                jwt_claims_clear(&adopted);
        } else {
            evbuffer_add(x->post_out, p, n);
        }
        if (!sep)
            break;
        pos = end + 1;
    }
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
    post_fail(s, 408, "request_timeout", "request body not received in time");
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
    evbuffer_drain(s->sio->post_in, evbuffer_get_length(s->sio->post_in));
    evbuffer_drain(s->sio->post_out, evbuffer_get_length(s->sio->post_out));
}

static void post_up_event(struct session *s, short what)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        session_drop_upstream(s);
}

/* S_SIO_BODY: a polling POST body is read whole (handshake_timeout)
 * before anything goes upstream. */
static const struct session_ops post_ops = {
    .client_read = socketio_post_read,
    .up_read = session_drop_upstream,
    .up_event = post_up_event,
    .timeout = socketio_post_timer,
};
