/* Admission of an upgrade request: route, upgrade check, Origin, token,
 * verification, route claims — a pure decision, testable without sockets. */
#ifndef WSGATE_ADMIT_H
#define WSGATE_ADMIT_H

#include <stdint.h>
#include "jwt.h"
#include "outcome.h"
#include "token.h"

struct config;
struct route;
struct http_request;

struct admission {
    int status;                     /* 0 admitted, else the HTTP status to answer */
    const char *code;               /* JSON "error" */
    char desc[160];                 /* JSON "error_description", never token text */
    char www_auth[256];             /* WWW-Authenticate value, "" when none */
    enum outcome reason;            /* for logs and metrics */
    struct route *route;
    struct token_found token;
    struct jwt_claims claims;
    int have_claims;
    int plain_http;                 /* admitted as a plain HTTP request (SPEC §10), not an upgrade */
    int sio_pending;                /* socketio route, no HTTP-level token: CONNECT decides */
    int preflight;                  /* cors route: a CORS preflight, Origin allowed, no token asked */
    int gql_pending;                /* graphql_ws source, no HTTP-level token: connection_init decides */
    int sid_bound;                  /* socketio polling: claims are the sid's (siosid.c), whose slot counts */
};

/* Runs SPEC §3 steps 2-7 on a parsed request whose path went through
 * http_request_normalize() (else 400: routes match normalised paths). Returns 0 when admitted,
 * else the status also stored in a->status. On a route with plain_http
 * on, a request whose Upgrade header does not name "websocket" skips the
 * upgrade check (step 3) and, when admitted, has a->plain_http set. On a
 * route with socketio on, a request without any token is admitted with
 * a->sio_pending set and no claims (route claims wait for the CONNECT).
 * On a route with cors on, a CORS preflight whose Origin is allowed is
 * admitted after the Origin check with a->preflight set: no token. */
int admit_request(const struct config *cfg, const struct http_request *req,
                  int64_t now, struct admission *a);
/* The same decision, reporting each step to trace as it is taken (explain
 * mode, wsgate -x): route, origin, token, then jwt.c's steps, then each
 * route claim. NULL trace: admit_request. */
int admit_request_trace(const struct config *cfg, const struct http_request *req,
                        int64_t now, struct admission *a, const struct jwt_trace *trace);
void admission_clear(struct admission *a);

#endif
