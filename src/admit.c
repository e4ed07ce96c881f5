/* Admission of an upgrade request (SPEC §3 steps 2-7), in order, as one
 * pure function: the session only acts on the verdict. */
#include "admit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "cors.h"
#include "http.h"
#include "jwks.h"
#include "origin.h"
#include "sioparse.h"
#include "util.h"

static int reject(struct admission *a, int status, const char *code,
                  enum outcome reason, const char *desc)
{
    a->status = status;
    a->code = code;
    a->reason = reason;
    snprintf(a->desc, sizeof(a->desc), "%s", desc);
    return status;
}

__attribute__((format(printf, 3, 4)))
static void trace(const struct jwt_trace *t, const char *step, const char *fmt, ...)
{
    char buf[320];
    va_list ap;

    if (!t)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    t->step(t->arg, step, buf);
}

static const char *source_kind(const struct token_source *src)
{
    switch (src->kind) {
    case TS_AUTHORIZATION: return "header";
    case TS_HEADER: return "header";
    case TS_COOKIE: return "cookie";
    case TS_QUERY: return "query";
    case TS_SUBPROTOCOL: return "subprotocol";
    case TS_GRAPHQL_WS: return "graphql_ws";
    }
    return "?";
}

/* SPEC §3 step 3: a WebSocket opening handshake, and nothing that could
 * smuggle a body in front of the frames. */
static int check_upgrade(const struct http_request *req, struct admission *a)
{
    const struct http_header *h;
    unsigned char key[32];

    if (!util_strieq(req->method, req->method_len, "GET") || req->method_len != 3 ||
        memcmp(req->method, "GET", 3) != 0)
        return reject(a, 400, "bad_request", OC_NOT_WEBSOCKET, "websocket upgrade requires GET");
    if (req->version_minor != 1)
        return reject(a, 400, "bad_request", OC_NOT_WEBSOCKET, "websocket upgrade requires HTTP/1.1");
    h = http_request_header(req, "Upgrade");
    if (!h || !util_list_has_token(h->value, h->value_len, "websocket"))
        return reject(a, 400, "bad_request", OC_NOT_WEBSOCKET, "missing Upgrade: websocket");
    h = http_request_header(req, "Connection");
    if (!h || !util_list_has_token(h->value, h->value_len, "upgrade"))
        return reject(a, 400, "bad_request", OC_NOT_WEBSOCKET, "missing Connection: upgrade");
    if (http_request_header(req, "Transfer-Encoding"))
        return reject(a, 400, "bad_request", OC_BODY_ON_UPGRADE, "upgrade request with a body");
    h = http_request_header(req, "Content-Length");
    if (h && !(h->value_len == 1 && h->value[0] == '0'))
        return reject(a, 400, "bad_request", OC_BODY_ON_UPGRADE, "upgrade request with a body");
    h = http_request_header(req, "Sec-WebSocket-Key");
    if (!h || http_request_header_count(req, "Sec-WebSocket-Key") != 1 ||
        util_b64_decode(h->value, h->value_len, key, sizeof(key)) != 16)
        return reject(a, 400, "bad_request", OC_BAD_WEBSOCKET_KEY, "invalid Sec-WebSocket-Key");
    h = http_request_header(req, "Sec-WebSocket-Version");
    if (!h || http_request_header_count(req, "Sec-WebSocket-Version") != 1 ||
        !(h->value_len == 2 && memcmp(h->value, "13", 2) == 0))
        return reject(a, 426, "upgrade_required", OC_BAD_WEBSOCKET_VERSION,
                      "unsupported Sec-WebSocket-Version, use 13");
    return 0;
}

/* Whether the client asks for a WebSocket at all. Anything else on a
 * plain_http route is an ordinary request (its Upgrade header, say h2c,
 * is dropped before forwarding); an attempt at a WebSocket goes through
 * the full upgrade check, so a botched handshake is still a 400. */
static int wants_websocket(const struct http_request *req)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (util_strieq(h->name, h->name_len, "Upgrade") &&
            util_list_has_token(h->value, h->value_len, "websocket"))
            return 1;
    }
    return 0;
}

/* token_sources has graphql_ws and the upgrade offers one of its
 * subprotocols (SPEC §12). */
static int offers_graphql_ws(const struct config *cfg, const struct http_request *req)
{
    int src = 0;

    for (size_t i = 0; i < cfg->nsources; i++)
        if (cfg->sources[i].kind == TS_GRAPHQL_WS)
            src = 1;
    if (!src)
        return 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (util_strieq(h->name, h->name_len, "Sec-WebSocket-Protocol") &&
            (util_list_has_token(h->value, h->value_len, "graphql-transport-ws") ||
             util_list_has_token(h->value, h->value_len, "graphql-ws")))
            return 1;
    }
    return 0;
}

static int claims_hold(const struct route *r, const struct jwt_claims *c, const char **failed,
                       const struct jwt_trace *t)
{
    for (size_t i = 0; i < r->nrequire; i++) {
        if (!jwt_claim_matches(c, r->require[i].claim, r->require[i].value)) {
            *failed = r->require[i].claim;
            trace(t, "route claims", "claim %s does not match (require_claim %s %s)",
                  r->require[i].claim, r->require[i].claim, r->require[i].value);
            return 0;
        }
    }
    trace(t, "route claims", r->nrequire ? "ok (%zu require_claim)" : "ok (none required)", r->nrequire);
    return 1;
}

int admit_request(const struct config *cfg, const struct http_request *req,
                  int64_t now, struct admission *a)
{
    return admit_request_trace(cfg, req, now, a, NULL);
}

int admit_request_trace(const struct config *cfg, const struct http_request *req,
                        int64_t now, struct admission *a, const struct jwt_trace *t)
{
    const struct http_header *h;
    char why[128];
    const char *failed = NULL;

    memset(a, 0, sizeof(*a));
    /* Routing on a path as sent would let "/%61dmin" past "/admin"'s
     * checks (SPEC §3a): a caller that skipped normalising gets nothing. */
    if (!req->path_normalized)
        return reject(a, 400, "bad_request", OC_BAD_REQUEST, "request path not normalised");
    a->route = config_route(cfg, req->path, req->path_len);
    if (!a->route) {
        trace(t, "route", "no route for this path");
        return reject(a, 404, "not_found", OC_NO_ROUTE, "no route for this path");
    }
    trace(t, "route", "ok (route %s, line %d)", a->route->prefix, a->route->line);
    if (a->route->plain_http && !wants_websocket(req))
        a->plain_http = 1;
    else if (check_upgrade(req, a)) {
        trace(t, "upgrade", "%s", a->desc);
        return a->status;
    }
    if (a->route->socketio) {
        /* Every request of a socketio route is Engine.IO 4, its parameters
         * read as engine.io reads them: earlier protocols join "/" without
         * a CONNECT and read namespaces as URLs, and JSONP bodies are
         * form-encoded (SPEC §10). */
        struct sio_query q;
        if (socketio_parse_query(req->query, req->query_len, &q, why, sizeof(why)) != 0) {
            trace(t, "engine.io query", "%s", why);
            return reject(a, 400, "bad_request", OC_BAD_ENGINEIO, why);
        }
    }

    h = http_request_header(req, "Origin");
    if (h && (http_request_header_count(req, "Origin") != 1 ||
              !origin_allowed(a->route, h->value, h->value_len))) {
        trace(t, "origin", "origin not allowed (not in the route's origins)");
        return reject(a, 403, "origin_not_allowed", OC_ORIGIN_NOT_ALLOWED, "origin not allowed");
    }
    trace(t, "origin", h ? "ok" : "ok (no Origin: a non-browser client)");
    /* A preflight carries no credentials by design (SPEC §10): on a cors
     * route the intake answers it itself, nothing goes upstream. */
    if (a->route->cors && a->plain_http && cors_is_preflight(req)) {
        size_t olen;
        if (!cors_origin(req, &olen))
            return reject(a, 403, "origin_not_allowed", OC_ORIGIN_NOT_ALLOWED, "origin not allowed");
        a->preflight = 1;
        return 0;
    }

    if (!a->route->auth) {
        trace(t, "token", "ok (not required: auth off)");
        return 0;
    }

    if (!token_find(cfg->sources, cfg->nsources, req, &a->token)) {
        /* socket.io clients may send the token in their CONNECT packet
         * instead: the request goes on, and socketio.c lets nothing reach
         * a namespace before a CONNECT passes the same checks. */
        if (a->route->socketio) {
            trace(t, "token", "ok (none here: the socket.io CONNECT must carry one)");
            a->sio_pending = 1;
            return 0;
        }
        /* graphql-ws clients send theirs in connection_init, after the
         * 101: gqlws.c answers the upgrade itself and decides on that. */
        if (!a->plain_http && offers_graphql_ws(cfg, req)) {
            a->gql_pending = 1;
            return 0;
        }
        trace(t, "token", "no token (in none of the token_sources)");
        snprintf(a->www_auth, sizeof(a->www_auth), "Bearer realm=\"wsgate\"");
        return reject(a, 401, "missing_token", OC_MISSING_TOKEN, "no token");
    }
    trace(t, "token", "ok (%s%s%s, %zu bytes)", source_kind(a->token.src),
          a->token.src->name ? ":" : "", a->token.src->name ? a->token.src->name : "", a->token.len);
    int vr = jwks_verify_trace(cfg, a->token.token, a->token.len, now, &a->claims, why,
                               sizeof(why), t);
    if (vr == -2) {
        trace(t, "keys", "%s (the remote key set has not been fetched)", why);
        return reject(a, 503, "service_unavailable", OC_KEYS_UNAVAILABLE, why);
    }
    if (vr != 0) {
        snprintf(a->www_auth, sizeof(a->www_auth),
                 "Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"%s\"", why);
        return reject(a, 401, "invalid_token", OC_INVALID_TOKEN, why);
    }
    a->have_claims = 1;
    if (!claims_hold(a->route, &a->claims, &failed, t)) {
        snprintf(why, sizeof(why), "claim %s does not match", failed);
        snprintf(a->www_auth, sizeof(a->www_auth),
                 "Bearer realm=\"wsgate\", error=\"insufficient_scope\", error_description=\"%s\"", why);
        return reject(a, 403, "insufficient_scope", OC_INSUFFICIENT_SCOPE, why);
    }
    return 0;
}

void admission_clear(struct admission *a)
{
    if (!a)
        return;
    token_found_clear(&a->token);
    if (a->have_claims)
        jwt_claims_clear(&a->claims);
    a->have_claims = 0;
}
