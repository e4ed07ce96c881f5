/* The route block's directives: the route itself (its prefix and its own
 * block), upstreams, origins, route and namespace claims, and the headers
 * the route injects. */
#include "config_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/obj_mac.h>

#include "http.h"
#include "jwks.h"
#include "jwks_fetch.h"
#include "keys.h"
#include "log.h"
#include "origin.h"
#include "realip.h"
#include "tls.h"
#include "util.h"

/* Setters share one signature and most use only part of it. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

void conf_route_clear(struct route *r)
{
    free(r->prefix);
    for (size_t i = 0; i < r->nupstreams; i++) {
        free(r->upstreams[i].text);
        free(r->upstreams[i].host);
    }
    free(r->upstreams);
    free(r->upstream_ca_file);
    tls_ctx_free(r->tls_ctx);
    for (size_t i = 0; i < r->norigins; i++)
        free(r->origins[i]);
    free(r->origins);
    for (size_t i = 0; i < r->nrequire; i++) {
        free(r->require[i].claim);
        free(r->require[i].value);
    }
    free(r->require);
    for (size_t i = 0; i < r->nidh; i++) {
        free(r->idh[i].claim);
        free(r->idh[i].header);
    }
    free(r->idh);
    free(r->claims_header);
    for (size_t i = 0; i < r->nnsp_require; i++) {
        free(r->nsp_require[i].nsp);
        free(r->nsp_require[i].claim);
        free(r->nsp_require[i].value);
    }
    free(r->nsp_require);
}

int conf_set_route(struct parser *ps, const struct directive *d, struct word *a, int n,
                     void *obj)
{
    struct config *cfg = obj;
    const char *prefix = a[1].s;

    if (prefix[0] != '/')
        return conf_fail(ps, a[1].line, "route prefix \"%.200s\" must start with \"/\"", prefix);
    /* A request path never holds spaces, controls or a query: such a
     * prefix could not match anything. */
    for (const char *c = prefix; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '?' || *c == '#')
            return conf_fail(ps, a[1].line, "route prefix \"%.200s\" has a character no path can hold",
                        prefix);
    /* Requests are routed on their normalised path (SPEC §3a), which a
     * prefix like "/%61dmin" or "/a/../b" could never equal. */
    size_t plen = strlen(prefix), nlen = 0;
    char *norm = util_xmalloc(plen + 2), why[96];
    int rc = 0;
    if (http_normalize_path(prefix, plen, norm, plen + 2, &nlen, why, sizeof(why)) < 0)
        rc = conf_fail(ps, a[1].line, "route prefix \"%.200s\": %s", prefix, why);
    else if (nlen != plen || memcmp(norm, prefix, plen) != 0)
        rc = conf_fail(ps, a[1].line, "route prefix \"%.200s\" is not a normalised path (requests "
                  "are matched on \"%.200s\")", prefix, norm);
    free(norm);
    if (rc)
        return rc;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (strcmp(cfg->routes[i].prefix, prefix) == 0)
            return conf_fail(ps, a[1].line, "duplicate route \"%.200s\" (first on line %d)", prefix,
                        cfg->routes[i].line);

    cfg->routes = util_xrealloc(cfg->routes, (cfg->nroutes + 1) * sizeof(*cfg->routes));
    struct route *r = &cfg->routes[cfg->nroutes++];
    memset(r, 0, sizeof(*r));
    r->prefix = util_xstrdup(prefix);
    r->prefix_len = strlen(prefix);
    r->strip_credentials = 1;
    r->auth = 1;
    r->socketio_connect_timeout_ms = 10000;
    r->line = a[0].line;
    if (conf_parse_block(ps, CTX_ROUTE, r) < 0)
        return -1;
    if (r->nupstreams == 0)
        return conf_fail(ps, r->line, "route \"%.200s\" has no \"upstream\"", r->prefix);
    if (r->nnsp_require && (!r->socketio || !r->auth))
        return conf_fail(ps, r->line,
                    "route \"%.200s\": \"socketio_require_claim\" needs \"socketio on\" and \"auth on\"",
                    r->prefix);
    if (r->socketio)
        r->plain_http = 1;          /* the polling transport is plain HTTP */
    /* A preflight is a plain request; on an upgrade-only route it could
     * never reach the gateway's answer. */
    if (r->cors && !r->plain_http)
        return conf_fail(ps, r->line, "route \"%.200s\": \"cors on\" needs \"plain_http on\"",
                         r->prefix);
    return 0;
}

int conf_set_nsp_claim(struct parser *ps, const struct directive *d, struct word *a, int n,
                         void *obj)
{
    struct route *r = obj;

    if (a[1].s[0] != '/')
        return conf_fail(ps, a[1].line, "socket.io namespace \"%.200s\" must start with \"/\"", a[1].s);
    for (const char *c = a[1].s; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == ',')
            return conf_fail(ps, a[1].line, "invalid socket.io namespace \"%.200s\"", a[1].s);
    if (!a[2].s[0])
        return conf_fail(ps, a[2].line, "empty claim name");
    r->nsp_require = util_xrealloc(r->nsp_require, (r->nnsp_require + 1) * sizeof(*r->nsp_require));
    r->nsp_require[r->nnsp_require].nsp = util_xstrdup(a[1].s);
    r->nsp_require[r->nnsp_require].claim = util_xstrdup(a[2].s);
    r->nsp_require[r->nnsp_require].value = util_xstrdup(a[3].s);
    r->nnsp_require++;
    return 0;
}

int conf_set_upstream(struct parser *ps, const struct directive *d, struct word *a, int n,
                        void *obj)
{
    struct route *r = obj;

    for (int i = 1; i <= n; i++) {
        struct sockaddr_text addr;
        const char *why = "invalid address";
        char tls_why[300];
        if (strncasecmp(a[i].s, "tls://", 6) == 0) {
            if (conf_tls_upstream_parse(a[i].s, &addr, tls_why, sizeof(tls_why)) < 0)
                return conf_fail(ps, a[i].line, "upstream \"%.200s\": %s", a[i].s, tls_why);
        } else if (conf_addr_parse(a[i].s, &addr, 0, &why) < 0) {
            return conf_fail(ps, a[i].line, "upstream \"%.200s\": %s", a[i].s, why);
        }
        r->upstreams = util_xrealloc(r->upstreams, (r->nupstreams + 1) * sizeof(*r->upstreams));
        r->upstreams[r->nupstreams++] = addr;
    }
    return 0;
}

int conf_set_origins(struct parser *ps, const struct directive *d, struct word *a, int n,
                       void *obj)
{
    struct route *r = obj;
    char why[300];

    for (int i = 1; i <= n; i++) {
        if (strcmp(a[i].s, "any") == 0) {
            r->origins_any = 1;
        } else {
            char *pat = origin_pattern_normalize(a[i].s, why, sizeof(why));
            if (!pat)
                return conf_fail(ps, a[i].line, "%s", why);
            r->origins = util_xrealloc(r->origins, (r->norigins + 1) * sizeof(*r->origins));
            r->origins[r->norigins++] = pat;
        }
        if (r->origins_any && r->norigins)
            return conf_fail(ps, a[i].line, "\"origins any\" cannot be combined with origin patterns");
    }
    return 0;
}

int conf_set_require_claim(struct parser *ps, const struct directive *d, struct word *a, int n,
                             void *obj)
{
    struct route *r = obj;

    if (!a[1].s[0])
        return conf_fail(ps, a[1].line, "empty claim name");
    r->require = util_xrealloc(r->require, (r->nrequire + 1) * sizeof(*r->require));
    r->require[r->nrequire].claim = util_xstrdup(a[1].s);
    r->require[r->nrequire].value = util_xstrdup(a[2].s);
    r->nrequire++;
    return 0;
}

/* Headers the gateway or the WebSocket handshake owns: injecting one of
 * them would break framing, routing or the upgrade itself. */
static int reserved_header(const char *h)
{
    static const char *const reserved[] = {
        "Host", "Connection", "Upgrade", "Content-Length", "Transfer-Encoding", "TE",
        "Trailer", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Authorization",
        "Cookie", "Origin", "X-Forwarded-For", "X-Forwarded-Proto",
        "X-Real-IP",                /* set to the client address (SPEC §3a) */
        NULL,
    };
    for (int i = 0; reserved[i]; i++)
        if (strcasecmp(h, reserved[i]) == 0)
            return 1;
    return strncasecmp(h, "Sec-WebSocket-", 14) == 0;
}

static int check_injected(struct parser *ps, const struct route *r, const struct word *w)
{
    if (!conf_is_token(w->s))
        return conf_fail(ps, w->line, "invalid header name \"%.200s\"", w->s);
    if (reserved_header(w->s))
        return conf_fail(ps, w->line, "header \"%.200s\" is reserved and cannot be injected", w->s);
    for (size_t i = 0; i < r->nidh; i++)
        if (strcasecmp(r->idh[i].header, w->s) == 0)
            return conf_fail(ps, w->line, "header \"%.200s\" is already injected", w->s);
    if (r->claims_header && strcasecmp(r->claims_header, w->s) == 0)
        return conf_fail(ps, w->line, "header \"%.200s\" is already injected", w->s);
    return 0;
}

int conf_set_identity_header(struct parser *ps, const struct directive *d, struct word *a,
                               int n, void *obj)
{
    struct route *r = obj;

    if (!a[1].s[0])
        return conf_fail(ps, a[1].line, "empty claim name");
    if (check_injected(ps, r, &a[2]) < 0)
        return -1;
    r->idh = util_xrealloc(r->idh, (r->nidh + 1) * sizeof(*r->idh));
    r->idh[r->nidh].claim = util_xstrdup(a[1].s);
    r->idh[r->nidh].header = util_xstrdup(a[2].s);
    r->nidh++;
    return 0;
}

int conf_set_claims_header(struct parser *ps, const struct directive *d, struct word *a, int n,
                             void *obj)
{
    struct route *r = obj;

    if (check_injected(ps, r, &a[1]) < 0)
        return -1;
    r->claims_header = util_xstrdup(a[1].s);
    return 0;
}
