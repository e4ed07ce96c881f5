/* In-band re-authentication (reauth.h). The check runs the route's
 * admission on the new token (verify, require_claim, a fresh revocation
 * lookup), then requires the session's sub; a refusal changes nothing. At
 * most one re-auth per second per session is checked at all, so a client
 * cannot make the gateway verify signatures without bound.
 *
 * On plain WebSocket routes, the layer here holds each client text message
 * (siohold.c) until its first bytes show it is no re-auth: the message
 * {"type":"wsgate.reauth","token":"<jwt>"} as JSON.stringify writes it,
 * however fragmented. A held message that is not exactly that is relayed
 * as it came. Compression is not negotiated on these routes (upgrade.c
 * strips Sec-WebSocket-Extensions, an RSV1 frame is 1002): a compressed
 * message could not be recognised without inflating every message. */
#include "reauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "config.h"
#include "jwks.h"
#include "jwt.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "revoke.h"
#include "session.h"
#include "siohold.h"
#include "sioparse.h"
#include "util.h"
#include "ws.h"

#define REAUTH_MIN_INTERVAL_MS 1000 /* more than one re-auth a second: rate_limited */

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

struct reauth {
    int64_t last_ms;                /* the last re-auth checked, 0 before any */
    struct revoke_check *check;     /* the lookup under way */
    struct jwt_claims pending;      /* the new token's claims while it runs */
    struct session *s;
    reauth_done done;
};

struct reauth *reauth_new(void)
{
    return util_xcalloc(1, sizeof(struct reauth));
}

void reauth_free(struct reauth *r)
{
    if (!r)
        return;
    revoke_check_cancel(r->check);
    jwt_claims_clear(&r->pending);
    free(r);
}

static void refuse(struct reauth_answer *a, enum reauth_result res, const char *desc)
{
    a->result = res;
    snprintf(a->desc, sizeof(a->desc), "%s", desc);
}

/* Counted and logged once per checked re-auth (rate-limited to 1/s). */
static void answered(struct session *s, const struct reauth_answer *a)
{
    metrics_add(s->env->m->reauth[a->result], 1);
    if (a->result == REAUTH_OK)
        slog(LOG_INFO, s, "re-authenticated, exp %lld", (long long)a->exp);
    else
        slog(LOG_INFO, s, "re-auth refused: %s (%s)", reauth_result_name(a->result), a->desc);
}

static void adopt(struct reauth *r, struct session *s, struct reauth_answer *a)
{
    a->result = REAUTH_OK;
    a->has_exp = r->pending.has_exp;
    a->exp = r->pending.exp;
    session_replace_claims(s, &r->pending);
}

static void on_lookup(void *arg, int result)
{
    struct reauth *r = arg;
    struct session *s = r->s;
    struct reauth_answer a;

    r->check = NULL;
    memset(&a, 0, sizeof(a));
    if (s->state == S_DEAD || s->state == S_FLUSH) {
        jwt_claims_clear(&r->pending);
        return;
    }
    if (result == REVOKE_REVOKED) {
        refuse(&a, REAUTH_INVALID_TOKEN, "token revoked");
    } else if (result == REVOKE_UNAVAILABLE && !s->cfg->redis_failure_allow) {
        refuse(&a, REAUTH_SERVICE_UNAVAILABLE, "revocation service unavailable");
    } else {
        if (result == REVOKE_UNAVAILABLE)
            revoke_count_allowed(s->env->rv);
        adopt(r, s, &a);
    }
    jwt_claims_clear(&r->pending);
    answered(s, &a);
    r->done(s, &a);
}

int reauth_check(struct reauth *r, struct session *s, const char *tok, size_t len,
                 reauth_extra extra, reauth_done done, struct reauth_answer *a)
{
    const struct route *rt = s->adm.route;
    int64_t now = util_now_ms();
    char why[160];
    int vr;

    memset(a, 0, sizeof(*a));
    if (r->check || (r->last_ms && now - r->last_ms < REAUTH_MIN_INTERVAL_MS)) {
        refuse(a, REAUTH_RATE_LIMITED, "more than one re-auth per second");
        goto out;
    }
    r->last_ms = now;
    if (!s->adm.have_claims || !s->adm.claims.sub) {
        /* Nothing to extend (a socket.io connection before its CONNECT):
         * answered without a signature check, and not logged. */
        refuse(a, REAUTH_SUB_MISMATCH, "the session has no identity to extend");
        metrics_add(s->env->m->reauth[a->result], 1);
        return 1;
    }
    jwt_claims_clear(&r->pending);
    vr = jwks_verify(s->cfg, tok, len, util_wall_s(), &r->pending, why, sizeof(why));
    if (vr == -2) {
        refuse(a, REAUTH_SERVICE_UNAVAILABLE, why);
        goto out;
    }
    if (vr != 0) {
        refuse(a, REAUTH_INVALID_TOKEN, why);
        goto out;
    }
    for (size_t i = 0; i < rt->nrequire; i++)
        if (!jwt_claim_matches(&r->pending, rt->require[i].claim, rt->require[i].value)) {
            snprintf(why, sizeof(why), "claim %s does not match", rt->require[i].claim);
            refuse(a, REAUTH_INSUFFICIENT_SCOPE, why);
            goto out;
        }
    if (extra && !extra(s, &r->pending, why, sizeof(why))) {
        refuse(a, REAUTH_INSUFFICIENT_SCOPE, why);
        goto out;
    }
    if (!s->adm.have_claims || !s->adm.claims.sub || !r->pending.sub ||
        strcmp(s->adm.claims.sub, r->pending.sub) != 0) {
        refuse(a, REAUTH_SUB_MISMATCH, "token for another subject");
        goto out;
    }
    if (s->cfg->redis && s->env->rv) {
        r->s = s;
        r->done = done;
        r->check = revoke_check_start(s->env->rv, &r->pending, on_lookup, r);
        if (r->check)
            return 0;
        if (!s->cfg->redis_failure_allow) {
            refuse(a, REAUTH_SERVICE_UNAVAILABLE, "revocation service unavailable");
            goto out;
        }
        revoke_count_allowed(s->env->rv);
    }
    adopt(r, s, a);
out:
    jwt_claims_clear(&r->pending);
    answered(s, a);
    return 1;
}

/* ---- plain WebSocket routes ------------------------------------------------ */

static const char reauth_prefix[] = "{\"type\":\"wsgate.reauth\",\"token\":\"";
#define PREFIX_LEN (sizeof(reauth_prefix) - 1)

struct reauth_ws {
    struct reauth *ra;
    struct sio_hold *hold;          /* the client text message being looked at */
    struct evbuffer *inject;        /* answers due to the client */
    int busy;                       /* a re-auth's lookup is under way */
    int read_paused;
};

/* A message is held whole only once its first bytes are the re-auth's. */
static int classify(void *arg, const unsigned char *p, size_t n, int complete)
{
    size_t k = n < PREFIX_LEN ? n : PREFIX_LEN;

    (void)arg;
    if (memcmp(p, reauth_prefix, k) != 0)
        return SIO_KIND_OTHER;
    if (n < PREFIX_LEN)
        return complete ? SIO_KIND_OTHER : SIO_KIND_MORE;
    return SIO_KIND_REAUTH;
}

/* The token of a message that is exactly the re-auth, else NULL. A JWT
 * has only base64url characters and dots, which JSON.stringify writes as
 * they are. */
static const char *exact_token(const unsigned char *m, size_t n, size_t *len)
{
    size_t i;

    if (n < PREFIX_LEN + 2 || memcmp(m, reauth_prefix, PREFIX_LEN) != 0 ||
        m[n - 2] != '"' || m[n - 1] != '}')
        return NULL;
    for (i = PREFIX_LEN; i < n - 2; i++) {
        unsigned char c = m[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return NULL;
    }
    *len = n - 2 - PREFIX_LEN;
    return (const char *)m + PREFIX_LEN;
}

static void ws_answer(struct session *s, const struct reauth_answer *a)
{
    char buf[256];
    int n;

    if (a->result == REAUTH_OK && a->has_exp)
        n = snprintf(buf, sizeof(buf), "{\"type\":\"wsgate.reauth\",\"ok\":true,\"exp\":%lld}",
                     (long long)a->exp);
    else if (a->result == REAUTH_OK)
        n = snprintf(buf, sizeof(buf), "{\"type\":\"wsgate.reauth\",\"ok\":true,\"exp\":null}");
    else
        n = snprintf(buf, sizeof(buf), "{\"type\":\"wsgate.reauth\",\"ok\":false,\"error\":\"%s\"}",
                     reauth_result_name(a->result));
    ws_write_text(s->reauth->inject, buf, (size_t)n, 0);
}

static int relaying(const struct session *s)
{
    return s->state == S_RELAY || s->state == S_CLOSING;
}

static void ws_done(struct session *s, const struct reauth_answer *a)
{
    struct reauth_ws *x = s->reauth;

    x->busy = 0;
    siohold_done(x->hold);
    ws_answer(s, a);
    if (relaying(s))
        relay_pump(s, &s->u2c);
    if (relaying(s))
        relay_pump(s, &s->c2u);
}

/* The held message is complete: a re-auth is consumed and answered,
 * anything else is relayed as it came. 0 while a lookup runs. */
static int ws_decide(struct session *s)
{
    struct reauth_ws *x = s->reauth;
    struct reauth_answer a;
    unsigned char key[4];
    size_t n, toklen;
    int kind;
    const unsigned char *msg = siohold_message(x->hold, &n, &kind, key);
    const char *tok;

    if (!msg)
        return 1;
    if (x->busy)
        return 0;
    s->last_activity_ms = util_now_ms();
    tok = kind == SIO_KIND_REAUTH ? exact_token(msg, n, &toklen) : NULL;
    if (!tok) {
        s->c2u.bytes += siohold_held(x->hold) - n;
        siohold_release(x->hold, bufferevent_get_output(s->upstream));
        return 1;
    }
    if (!reauth_check(x->ra, s, tok, toklen, NULL, ws_done, &a)) {
        x->busy = 1;
        return 0;
    }
    siohold_done(x->hold);
    ws_answer(s, &a);
    relay_pump(s, &s->u2c);
    return 1;
}

/* Answers wait in a bounded buffer: a client that does not read gets
 * nothing more read. */
static int drained(struct session *s)
{
    return evbuffer_get_length(s->reauth->inject) == 0 &&
           evbuffer_get_length(bufferevent_get_output(s->client)) < RELAY_HIGH_WATER;
}

static int decide(void *arg)
{
    return ws_decide(arg);
}

static int client_frame(struct session *s, const struct ws_frame *f, struct evbuffer *in)
{
    struct reauth_ws *x = s->reauth;

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
    struct reauth_ws *x = s->reauth;

    if (!x || !x->read_paused || !drained(s))
        return;
    x->read_paused = 0;
    bufferevent_enable(s->client, EV_READ);
    relay_pump(s, &s->c2u);
}

static void inject(struct session *s, struct evbuffer *client_out)
{
    if (s->reauth && evbuffer_get_length(s->reauth->inject))
        evbuffer_add_buffer(client_out, s->reauth->inject);
}

static const struct relay_layer layer = {
    .client_frame = client_frame,
    .inject = inject,
    .client_drained = client_drained,
};

static void free_ws(struct session *s)
{
    struct reauth_ws *x = s->reauth;

    if (!x)
        return;
    reauth_free(x->ra);
    siohold_free(x->hold);
    if (x->inject)
        evbuffer_free(x->inject);
    free(x);
    s->reauth = NULL;
}

int reauth_attach(struct session *s)
{
    struct reauth_ws *x;

    if (s->reauth)
        return 0;
    x = util_xcalloc(1, sizeof(*x));
    s->reauth = x;
    session_on_free(s, free_ws);
    x->ra = reauth_new();
    x->hold = siohold_new(classify, NULL);
    x->inject = evbuffer_new();
    if (!x->hold || !x->inject)
        return -1;
    s->layer = &layer;
    return 0;
}
