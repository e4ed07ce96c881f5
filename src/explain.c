/* Explain mode (wsgate -x PATH [-o ORIGIN] < TOKEN, SPEC §14): builds the
 * upgrade request a client would send, runs the gateway's own admission
 * (admit.c, with a trace) and revocation lookup (revoke.c) on it, and
 * prints each step and the status. No listener is opened and the token
 * is never printed. */
#include "explain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "admit.h"
#include "config.h"
#include "http.h"
#include "jwks.h"
#include "jwks_fetch.h"
#include "jwt.h"
#include "log.h"
#include "revoke.h"
#include "util.h"

#define TOKEN_MAX (64 * 1024)
#define REDIS_CONNECT_MS 2000   /* a gateway has long been connected; we start cold */

static void print_step(void *arg, const char *step, const char *result)
{
    fprintf((FILE *)arg, "%-16s %s\n", step, result);
}

/* The token: stdin up to EOF, surrounding white space dropped. NULL on
 * a read error or when it is too large; *len 0 for none. */
static char *read_token(FILE *in, size_t *len)
{
    char *buf = util_xmalloc(TOKEN_MAX + 1);
    size_t n = fread(buf, 1, TOKEN_MAX + 1, in), b = 0;

    if (ferror(in) || n > TOKEN_MAX) {
        OPENSSL_cleanse(buf, n > TOKEN_MAX ? TOKEN_MAX + 1 : n);
        free(buf);
        return NULL;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        n--;
    while (b < n && (buf[b] == ' ' || buf[b] == '\t' || buf[b] == '\n' || buf[b] == '\r'))
        b++;
    memmove(buf, buf + b, n - b);
    n -= b;
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* A compact JWS is base64url and dots; anything else could not travel in
 * every token source as is, and is no token wsgate would accept. */
static int token_chars_ok(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '=' || c == '+' || c == '/'))
            return 0;
    }
    return 1;
}

static int path_ok(const char *p)
{
    if (p[0] != '/')
        return 0;
    for (; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

/* The request head of a WebSocket client sending the token in the first
 * configured token source (where a client following the documentation
 * puts it). malloc'd; the caller cleanses it. */
static char *build_head(const struct config *cfg, const char *path, const char *origin,
                        const char *tok, size_t toklen, size_t *hlen)
{
    const struct token_source *src = NULL;

    /* A graphql-ws token travels in connection_init, after the 101: no
     * request head can carry it, so the first source a head can carry
     * is used. */
    for (size_t i = 0; i < cfg->nsources && !src; i++)
        if (cfg->sources[i].kind != TS_GRAPHQL_WS)
            src = &cfg->sources[i];
    size_t cap = strlen(path) + (origin ? strlen(origin) : 0) + 2 * toklen + 1024;
    char *h = util_xmalloc(cap), *carrier = util_xmalloc(toklen + 512);
    const char *sep = strchr(path, '?') ? "&" : "?";
    int query = toklen && src && src->kind == TS_QUERY;

    carrier[0] = '\0';
    if (toklen && src) {
        switch (src->kind) {
        case TS_AUTHORIZATION:
            snprintf(carrier, toklen + 512, "%s: Bearer %s\r\n", src->name, tok);
            break;
        case TS_HEADER:
            snprintf(carrier, toklen + 512, "%s: %s\r\n", src->name, tok);
            break;
        case TS_COOKIE:
            snprintf(carrier, toklen + 512, "Cookie: %s=%s\r\n", src->name, tok);
            break;
        case TS_SUBPROTOCOL:
            snprintf(carrier, toklen + 512, "Sec-WebSocket-Protocol: bearer, %s\r\n", tok);
            break;
        case TS_QUERY:
        case TS_GRAPHQL_WS:
            break;
        }
    }
    int n = snprintf(h, cap,
                     "GET %s%s%s%s%s HTTP/1.1\r\n"
                     "Host: localhost\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s%s%s%s\r\n",
                     path, query ? sep : "", query ? src->name : "", query ? "=" : "",
                     query ? tok : "",
                     origin ? "Origin: " : "", origin ? origin : "", origin ? "\r\n" : "", carrier);
    OPENSSL_cleanse(carrier, toklen + 512);
    free(carrier);
    *hlen = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    return h;
}

struct check_wait {
    int done, result;
};

static void on_check(void *arg, int result)
{
    struct check_wait *w = arg;

    w->done = 1;
    w->result = result;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* SPEC §3 step 8 through revoke.c, the lookup the gateway itself makes. */
static int check_revocation(struct event_base *base, const struct config *cfg,
                            const struct jwt_claims *c)
{
    struct revoke *rv = revoke_new(base, cfg, 0);
    struct check_wait w = { 0, REVOKE_UNAVAILABLE };
    struct timeval tick = { 0, 10 * 1000 };
    struct event *t = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    int64_t deadline = util_now_ms() + REDIS_CONNECT_MS;
    struct revoke_check *chk;

    event_add(t, &tick);
    while (rv && !revoke_is_up(rv) && util_now_ms() < deadline)
        event_base_loop(base, EVLOOP_ONCE);
    if (rv && revoke_is_up(rv) && (chk = revoke_check_start(rv, c, on_check, &w)) != NULL) {
        while (!w.done)
            event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(t);
    revoke_free(rv);
    return w.result;
}

int explain_run(const char *cfgpath, const char *path, const char *origin, FILE *in, FILE *out)
{
    struct jwt_trace trace = { print_step, out };
    struct http_request req;
    struct admission a;
    struct event_base *base = NULL;
    struct config *cfg;
    char err[1024], *tok, *head, *npath;
    size_t toklen = 0, hlen = 0;
    int st, rc = 1;

    if (!path_ok(path) || (origin && (!*origin || strpbrk(origin, "\r\n")))) {
        fprintf(stderr, "wsgate: -x needs a path starting with '/' without spaces, and -o an origin\n");
        return 2;
    }
    cfg = config_load(cfgpath, err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "wsgate: %s\n", err);
        return 2;
    }
    /* Warnings of the fetcher and of Redis go to stderr; the explanation
     * alone goes to out. */
    __atomic_store_n(&log_level, LOG_WARNING, __ATOMIC_RELAXED);
    tok = read_token(in, &toklen);
    if (!tok) {
        fprintf(stderr, "wsgate: cannot read the token from standard input (at most %d KiB)\n",
                TOKEN_MAX / 1024);
        config_unref(cfg);
        return 2;
    }
    fprintf(out, "%-16s %s\n", "request", path);
    if (toklen && !token_chars_ok(tok, toklen)) {
        print_step(out, "token", "malformed token (characters outside base64url and '.')");
        fprintf(out, "%-16s %d %s: %s\n", "status", 401, "invalid_token", "malformed token");
        goto out_tok;
    }
    if (cfg->jwks_url || cfg->oidc_discovery) {
        base = event_base_new();
        if (!base || jwks_attach(base, cfg, err, sizeof(err)) < 0) {
            fprintf(stderr, "wsgate: %s\n", base ? err : "cannot create an event loop");
            rc = 2;
            goto out_tok;
        }
        print_step(out, "remote keys", jwks_wait_ready(base, cfg) ? "ok (fetched)"
                                                                 : "not fetched yet (see stderr)");
    }

    head = build_head(cfg, path, origin, tok, toklen, &hlen);
    npath = NULL;
    st = hlen ? http_parse_request(head, hlen, &req, err, sizeof(err)) : 400;
    if (st == 0) {
        npath = util_xmalloc(req.path_len + 2);
        st = http_request_normalize(&req, npath, req.path_len + 2, err, sizeof(err));
    }
    if (st) {
        print_step(out, "path", hlen ? err : "request too large");
        fprintf(out, "%-16s %d %s\n", "status", st, "bad_request");
    } else if (admit_request_trace(cfg, &req, util_wall_s(), &a, &trace) != 0) {
        fprintf(out, "%-16s %d %s: %s\n", "status", a.status, a.code, a.desc);
        admission_clear(&a);
    } else {
        int revoked = 0, unavailable = 0;
        if (!a.have_claims)
            print_step(out, "revocation", "ok (no verified token to look up)");
        else if (!cfg->redis)
            print_step(out, "revocation", "ok (not checked: no redis)");
        else {
            if (!base)
                base = event_base_new();
            int r = base ? check_revocation(base, cfg, &a.claims) : REVOKE_UNAVAILABLE;
            if (r == REVOKE_REVOKED) {
                print_step(out, "revocation", "token revoked (a jti key or a sub cutoff in Redis)");
                revoked = 1;
            } else if (r == REVOKE_UNAVAILABLE) {
                print_step(out, "revocation", cfg->redis_failure_allow
                           ? "Redis unreachable: admitted anyway (redis_failure allow)"
                           : "Redis unreachable (redis_failure reject)");
                unavailable = !cfg->redis_failure_allow;
            } else {
                print_step(out, "revocation", "ok (not revoked)");
            }
        }
        if (revoked)
            fprintf(out, "%-16s 401 invalid_token: token revoked\n", "status");
        else if (unavailable)
            fprintf(out, "%-16s 503 service_unavailable: revocation service unavailable\n", "status");
        else {
            fprintf(out, "%-16s 101 admitted: the request goes on to upstream %s\n", "status",
                    a.route->nupstreams ? a.route->upstreams[0].text : "(none)");
            rc = 0;
        }
        admission_clear(&a);
    }
    OPENSSL_cleanse(head, hlen);
    free(head);
    free(npath);
out_tok:
    OPENSSL_cleanse(tok, toklen);
    free(tok);
    if (base) {
        jwks_shutdown();
        event_base_free(base);
    }
    config_unref(cfg);
    return rc;
}
