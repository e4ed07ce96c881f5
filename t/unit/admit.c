/* Admission as a pure decision: route, upgrade check, Origin, token,
 * verification and route claims, in SPEC order, without sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "admit.h"
#include "config.h"
#include "http.h"
#include "tap.h"
#include "util.h"

static struct config *cfg;
static char head[8192];
static struct http_request req;
static struct admission adm;
static char npath[4096];

static char *hs256(const char *secret_path, const char *payload)
{
    unsigned char secret[256], mac[64];
    unsigned maclen = 0;
    FILE *f = fopen(secret_path, "rb");
    size_t slen = f ? fread(secret, 1, sizeof(secret), f) : 0;
    const char *hdr = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *h64 = util_b64url_encode((const unsigned char *)hdr, strlen(hdr));
    char *p64 = util_b64url_encode((const unsigned char *)payload, strlen(payload));
    char *signing = malloc(strlen(h64) + strlen(p64) + 2);
    char *s64, *tok;

    if (f)
        fclose(f);
    sprintf(signing, "%s.%s", h64, p64);
    HMAC(EVP_sha256(), secret, (int)slen, (unsigned char *)signing, strlen(signing), mac, &maclen);
    s64 = util_b64url_encode(mac, maclen);
    tok = malloc(strlen(signing) + strlen(s64) + 2);
    sprintf(tok, "%s.%s", signing, s64);
    free(h64);
    free(p64);
    free(signing);
    free(s64);
    return tok;
}

/* Parses a head built from a path and extra header lines, then admits it. */
static int run(const char *path, const char *extra)
{
    char err[160];

    admission_clear(&adm);
    snprintf(head, sizeof(head),
             "GET %s HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             path, extra);
    if (http_parse_request(head, strlen(head), &req, err, sizeof(err)) != 0
        || http_request_normalize(&req, npath, sizeof(npath), err, sizeof(err)) != 0) {
        printf("# parse failed: %s\n", err);
        return -1;
    }
    return admit_request(cfg, &req, util_wall_s(), &adm);
}

static int run_raw(const char *raw)
{
    char err[160];

    admission_clear(&adm);
    snprintf(head, sizeof(head), "%s", raw);
    if (http_parse_request(head, strlen(head), &req, err, sizeof(err)) != 0
        || http_request_normalize(&req, npath, sizeof(npath), err, sizeof(err)) != 0)
        return -1;
    return admit_request(cfg, &req, util_wall_s(), &adm);
}

/* Explain mode's trace: the steps, in order, as "step=result" lines. */
static char steps[4096];

static void collect(void *arg, const char *step, const char *result)
{
    size_t n = strlen(steps);
    (void)arg;
    snprintf(steps + n, sizeof(steps) - n, "%s=%s\n", step, result);
}

/* The same request admitted with and without a trace: same status. */
static int run_traced(const char *path, const char *extra, int *plain_status)
{
    struct jwt_trace t = { collect, NULL };
    char err[160];

    *plain_status = run(path, extra);
    admission_clear(&adm);
    steps[0] = '\0';
    if (http_parse_request(head, strlen(head), &req, err, sizeof(err)) != 0
        || http_request_normalize(&req, npath, sizeof(npath), err, sizeof(err)) != 0)
        return -1;
    return admit_request_trace(cfg, &req, util_wall_s(), &adm, &t);
}

int main(void)
{
    const char *data = getenv("WSGATE_UNIT_DATA") ? getenv("WSGATE_UNIT_DATA") : "t";
    char dir[] = "/tmp/wsgate-admit-XXXXXX";
    char path[512], secret[512], err[512], hdr[2048];
    FILE *f;
    int64_t now = util_wall_s();

    if (!mkdtemp(dir))
        return 1;
    snprintf(secret, sizeof(secret), "%s/keys/hmac.secret", data);
    snprintf(path, sizeof(path), "%s/admit.conf", dir);
    f = fopen(path, "w");
    fprintf(f,
            "listen 127.0.0.1:1;\n"
            "jwt { hmac_secret_file %s; algorithms HS256; issuer iss1; audience chat;\n"
            "      require_claims sub exp;\n"
            "      token_sources header:Authorization cookie:tok query:tok subprotocol; }\n"
            "route / { upstream 127.0.0.1:2; origins \"https://app.example.com\" \"https://*.example.org\"; }\n"
            "route /admin { upstream 127.0.0.1:2; origins any; require_claim roles admin; }\n"
            "route /public { upstream 127.0.0.1:2; auth off; origins \"https://app.example.com\"; }\n"
            "route /api { upstream 127.0.0.1:2; plain_http on; origins \"https://app.example.com\";\n"
            "             require_claim roles admin; }\n"
            "route /socket.io/ { upstream 127.0.0.1:2; socketio on; require_claim roles admin; }\n",
            secret);
    fclose(f);
    cfg = config_load(path, err, sizeof(err));
    ok(cfg != NULL, "test configuration loads");
    if (!cfg) {
        printf("# %s\n", err);
        return tap_done();
    }

    char payload[512];
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"alice\",\"iss\":\"iss1\",\"aud\":\"chat\",\"exp\":%lld,\"roles\":[\"chat\",\"admin\"]}",
             (long long)now + 600);
    char *good = hs256(secret, payload);
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"bob\",\"iss\":\"iss1\",\"aud\":\"chat\",\"exp\":%lld,\"roles\":\"chat\"}",
             (long long)now + 600);
    char *user = hs256(secret, payload);
    snprintf(payload, sizeof(payload),
             "{\"sub\":\"carol\",\"iss\":\"iss1\",\"aud\":\"chat\",\"exp\":%lld}", (long long)now - 600);
    char *expired = hs256(secret, payload);

    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", good);
    is_int(run("/chat", hdr), 0, "valid bearer token admitted");
    ok(adm.route && strcmp(adm.route->prefix, "/") == 0, "routed to /");
    is_str(adm.claims.sub, "alice", "claims available to the session");

    /* order: route -> upgrade -> origin -> token -> verify -> claims */
    struct config *saved = cfg;
    (void)saved;
    is_int(run_raw("GET /x HTTP/1.1\r\nHost: a\r\n\r\n"), 400, "plain GET is not an upgrade: 400");
    is_int(run_raw("POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
           400, "POST upgrade: 400");
    is_int(run_raw("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"),
           426, "version 8: 426");
    is_int(run_raw("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n\r\n"),
           400, "key that is not 16 bytes: 400");
    is_int(run_raw("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                   "Content-Length: 5\r\n\r\n"),
           400, "upgrade with a body: 400");
    is_int(run("/chat", "Origin: https://evil.example.net\r\n"), 403, "origin checked before the token");
    is_str(adm.code, "origin_not_allowed", "403 code origin_not_allowed");
    snprintf(hdr, sizeof(hdr), "Origin: https://a.b.example.org\r\nCookie: x=1; tok=%s\r\n", good);
    is_int(run("/chat", hdr), 0, "wildcard origin and cookie token admitted");
    is_int(run("/chat", ""), 401, "no token: 401");
    is_str(adm.www_auth, "Bearer realm=\"wsgate\"", "missing token challenge has no error attribute");
    is_str(adm.code, "missing_token", "missing token code");
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", expired);
    is_int(run("/chat", hdr), 401, "expired token: 401");
    is_str(adm.www_auth,
           "Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"token expired\"",
           "invalid token challenge");
    snprintf(hdr, sizeof(hdr), "Sec-WebSocket-Protocol: bearer, %s, chat.v1\r\n", user);
    is_int(run("/admin", hdr), 403, "route claim unmet: 403");
    is_str(adm.code, "insufficient_scope", "insufficient_scope code");
    ok(strstr(adm.www_auth, "error=\"insufficient_scope\"") != NULL, "insufficient_scope challenge");
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", good);
    is_int(run("/admin", hdr), 0, "route claim met via array: admitted");
    char q[2048];
    snprintf(q, sizeof(q), "/admin?a=1&tok=%s", good);
    is_int(run(q, ""), 0, "query token admitted");
    /* SPEC §3a: spellings of /admin meet /admin's claims, not /'s. */
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", user);
    is_int(run("/%61dmin/x", hdr), 403, "/%%61dmin/x routes to /admin: claim unmet");
    is_str(adm.route ? adm.route->prefix : NULL, "/admin", "/%%61dmin/x: route /admin");
    is_int(run("/public/../admin", hdr), 403, "/public/../admin routes to /admin");
    is_int(run("//admin", hdr), 403, "//admin routes to /admin");
    is_int(run("/public/%2e%2e/admin", ""), 401, "/public/%%2e%%2e/admin needs /admin's token");
    snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", good);
    is_int(run("/x/../%61dmin", hdr), 0, "/x/../%%61dmin admitted with the role");
    is_str(adm.route ? adm.route->prefix : NULL, "/admin", "... on route /admin");
    {
        char err2[160];
        snprintf(head, sizeof(head), "GET /admin HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Sec-WebSocket-Version: 13\r\n%s\r\n", hdr);
        admission_clear(&adm);
        ok(http_parse_request(head, strlen(head), &req, err2, sizeof(err2)) == 0, "raw parse");
        is_int(admit_request(cfg, &req, util_wall_s(), &adm), 400,
               "a path that was never normalised is not admitted");
        ok(adm.route == NULL, "... and not routed");
    }
    is_int(run("/public", ""), 0, "auth off route needs no token");
    ok(!adm.have_claims, "auth off route has no claims");
    is_int(run("/public", "Origin: https://evil.test\r\n"), 403, "auth off route still checks Origin");
    ok(!adm.plain_http, "an upgrade is never marked plain_http");

    /* SPEC §10: plain HTTP on a plain_http route, the same steps minus
     * the upgrade check. */
    snprintf(hdr, sizeof(hdr), "POST /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n"
             "Content-Length: 3\r\n\r\n", good);
    is_int(run_raw(hdr), 0, "plain_http route: a POST with a valid token is admitted");
    ok(adm.plain_http, "plain_http: marked as a plain request");
    is_str(adm.claims.sub, "alice", "plain_http: claims available");
    is_int(run_raw("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n"), 401, "plain_http: no token: 401");
    is_str(adm.code, "missing_token", "plain_http: missing token code");
    snprintf(hdr, sizeof(hdr), "GET /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.test\r\n"
             "Authorization: Bearer %s\r\n\r\n", good);
    is_int(run_raw(hdr), 403, "plain_http: Origin still checked");
    is_str(adm.code, "origin_not_allowed", "plain_http: origin_not_allowed");
    snprintf(hdr, sizeof(hdr), "GET /api/x HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", user);
    is_int(run_raw(hdr), 403, "plain_http: route claims still checked");
    snprintf(hdr, sizeof(hdr), "GET /api/x HTTP/1.0\r\nCookie: tok=%s\r\n\r\n", good);
    is_int(run_raw(hdr), 0, "plain_http: HTTP/1.0 with a cookie token admitted");
    snprintf(hdr, sizeof(hdr), "GET /api/x HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n"
             "Connection: Upgrade, HTTP2-Settings\r\nAuthorization: Bearer %s\r\n\r\n", good);
    is_int(run_raw(hdr), 0, "plain_http: Upgrade: h2c is a plain request");
    ok(adm.plain_http, "plain_http: h2c marked plain (the Upgrade header is dropped later)");
    snprintf(hdr, sizeof(hdr), "GET /api/x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
             "Authorization: Bearer %s\r\n\r\n", good);
    is_int(run_raw(hdr), 400, "plain_http: a botched WebSocket upgrade is still a 400");
    is_str(outcome_name(adm.reason), "not_websocket", "plain_http: botched upgrade reason not_websocket");
    snprintf(hdr, sizeof(hdr), "GET /api/x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", good);
    is_int(run_raw(hdr), 0, "plain_http route: a WebSocket upgrade is still admitted");
    ok(!adm.plain_http, "plain_http route: the upgrade is not marked plain");

    /* socketio on: no token at all is left to the CONNECT packet */
    is_int(run_raw("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n"), 0,
           "socketio: a tokenless Engine.IO 4 request is admitted");
    ok(adm.sio_pending && adm.plain_http && !adm.have_claims, "socketio: pending, plain, no claims");
    is_int(run_raw("GET /socket.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
           "socketio: an EIO=3 request is a 400");
    is_str(outcome_name(adm.reason), "bad_engineio", "socketio: EIO=3 reason bad_engineio");
    is_int(run_raw("GET /socket.io/?transport=polling HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
           "socketio: a request without EIO is a 400");
    snprintf(hdr, sizeof(hdr), "GET /socket.io/?EIO=3&transport=polling HTTP/1.1\r\nHost: a\r\n"
             "Authorization: Bearer %s\r\n\r\n", good);
    is_int(run_raw(hdr), 400, "socketio: EIO=3 is a 400 with a valid HTTP token too");
    is_int(run_raw("GET /socket.io/?EIO=4&%45IO=3&transport=polling HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
           "socketio: an encoded EIO name is a 400");
    is_int(run_raw("GET /socket.io/?EIO=4&transport=polling&j=0 HTTP/1.1\r\nHost: a\r\n\r\n"), 400,
           "socketio: JSONP (j) is a 400");
    is_int(run_raw("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\n"
                   "Authorization: Bearer x.y.z\r\n\r\n"), 401,
           "socketio: an invalid HTTP token is still a 401");
    snprintf(hdr, sizeof(hdr), "GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
             user);
    is_int(run_raw(hdr), 403, "socketio: route claims still apply to an HTTP token");
    snprintf(hdr, sizeof(hdr), "GET /socket.io/?EIO=4 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
             good);
    is_int(run_raw(hdr), 0, "socketio: a valid HTTP token admitted");
    ok(!adm.sio_pending && adm.have_claims, "socketio: an HTTP token is not pending");
    is_int(run_raw("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.test\r\n\r\n"), 403,
           "socketio: Origin still checked for tokenless requests");

    /* Explain mode: the traced decision is admit_request's, step by step. */
    {
        int plain;
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", good);
        is_int(run_traced("/admin", hdr, &plain), 0, "traced: admitted");
        is_int(plain, 0, "traced: the untraced decision agrees");
        ok(strstr(steps, "route=ok (route /admin") == steps, "traced: route first");
        ok(strstr(steps, "\norigin=ok (no Origin") && strstr(steps, "\ntoken=ok (header:Authorization") &&
           strstr(steps, "\nalg=ok (HS256)\n") && strstr(steps, "\nsignature=ok\n") &&
           strstr(steps, "\nclaim exp=ok (expires in ") && strstr(steps, "\nclaim iss=ok\n") &&
           strstr(steps, "\nroute claims=ok (1 require_claim)\n"), "traced: each step ok");
        ok(!strstr(steps, good + 10), "traced: no token text in the steps");
        if (!strstr(steps, "route claims=ok"))
            printf("# steps:\n%s", steps);
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", user);
        is_int(run_traced("/admin", hdr, &plain), 403, "traced: route claim refused");
        is_int(plain, 403, "traced: the untraced decision agrees (403)");
        ok(strstr(steps, "\nroute claims=claim roles does not match (require_claim roles admin)\n") != NULL,
           "traced: the failing route claim named");
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", expired);
        is_int(run_traced("/", hdr, &plain), 401, "traced: expired refused");
        is_int(plain, 401, "traced: the untraced decision agrees (401)");
        ok(strstr(steps, "\nclaim exp=token expired (") && !strstr(steps, "claim nbf"),
           "traced: the failing claim is the last step");
        is_int(run_traced("/", "Origin: https://evil.test\r\n", &plain), 403, "traced: origin refused");
        ok(strstr(steps, "\norigin=origin not allowed") && !strstr(steps, "token="),
           "traced: nothing after the failing origin");
        is_int(run_traced("/", "", &plain), 401, "traced: no token");
        ok(strstr(steps, "\ntoken=no token") != NULL, "traced: the missing token named");
    }

    admission_clear(&adm);
    config_unref(cfg);
    free(good);
    free(user);
    free(expired);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
