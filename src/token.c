/* Finding the bearer token among the configured sources, in configured
 * order. Within one source the first occurrence carrying a non-empty token
 * wins; duplicates (two Authorization headers, two cookies or query
 * parameters of that name) are not an error here: the token still has to
 * verify, and forward.c strips every occurrence before the backend sees
 * the request, so a second copy cannot smuggle a different identity. */
#include "token.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "http.h"
#include "util.h"

static int found(struct token_found *out, const struct token_source *src,
                 const char *tok, size_t n)
{
    out->src = src;
    out->token = util_strndup(tok, n);
    out->len = n;
    return 1;
}

/* "Bearer" (any case) then 1+ SP then the token (RFC 6750 §2.1). */
static int bearer_credential(const char *v, size_t n, const char **tok, size_t *tlen)
{
    size_t i = 6;

    if (n < 6 || strncasecmp(v, "Bearer", 6) != 0 || (n > 6 && v[6] != ' '))
        return 0;
    while (i < n && v[i] == ' ')
        i++;
    *tok = v + i;
    *tlen = n - i;
    util_trim_ows(tok, tlen);
    return 1;
}

static int from_authorization(const struct token_source *src, const struct http_request *req,
                              struct token_found *out)
{
    const char *name = src->name ? src->name : "Authorization";

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        const char *tok;
        size_t tl;
        if (util_strieq(h->name, h->name_len, name)
            && bearer_credential(h->value, h->value_len, &tok, &tl) && tl > 0)
            return found(out, src, tok, tl);
    }
    return 0;
}

static int from_header(const struct token_source *src, const struct http_request *req,
                       struct token_found *out)
{
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (util_strieq(h->name, h->name_len, src->name) && h->value_len > 0)
            return found(out, src, h->value, h->value_len);
    }
    return 0;
}

/* cookie-string = cookie-pair *( ";" SP cookie-pair ), read leniently as
 * ';'-separated pairs with optional whitespace. */
static int from_cookie(const struct token_source *src, const struct http_request *req,
                       struct token_found *out)
{
    size_t want = strlen(src->name);

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!util_strieq(h->name, h->name_len, "Cookie"))
            continue;
        const char *p = h->value, *end = h->value + h->value_len, *pair;
        size_t pl;
        while (util_next_item(&p, end, ';', &pair, &pl)) {
            const char *eq = memchr(pair, '=', pl);
            if (!eq)
                continue;
            const char *nm = pair, *val = eq + 1;
            size_t nl = (size_t)(eq - pair), vl = pl - nl - 1;
            util_trim_ows(&nm, &nl);
            util_trim_ows(&val, &vl);
            if (nl != want || memcmp(nm, src->name, nl) != 0)
                continue;
            if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') {
                val++;
                vl -= 2;
            }
            if (vl > 0)
                return found(out, src, val, vl);
        }
    }
    return 0;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes; '+' stays '+' (base64url never has spaces and a
 * standard-base64 '+' must survive). A bad escape or a decoded NUL makes
 * the whole value unusable. */
static char *pct_decode(const char *s, size_t n, size_t *outlen)
{
    char *o = util_xmalloc(n + 1);
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            int hi = i + 2 < n ? hexv(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexv(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(o);
                return NULL;
            }
            o[k++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = '\0';
    *outlen = k;
    return o;
}

static int from_query(const struct token_source *src, const struct http_request *req,
                      struct token_found *out)
{
    size_t want = strlen(src->name);

    if (!req->query)
        return 0;
    const char *p = req->query, *end = req->query + req->query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *param = p;
        p = amp ? amp + 1 : end;
        if (!eq || (size_t)(eq - param) != want || memcmp(param, src->name, want) != 0)
            continue;
        if (pe == eq + 1)
            continue;
        size_t tl;
        char *tok = pct_decode(eq + 1, (size_t)(pe - eq - 1), &tl);
        if (!tok)
            return 0;
        if (tl == 0) {
            free(tok);
            continue;
        }
        out->src = src;
        out->token = tok;
        out->len = tl;
        return 1;
    }
    return 0;
}

/* Sec-WebSocket-Protocol is a #list that may be split over several
 * header lines; the token is the entry right after "bearer". */
static int from_subprotocol(const struct token_source *src, const struct http_request *req,
                            struct token_found *out)
{
    int after_bearer = 0;

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!util_strieq(h->name, h->name_len, "Sec-WebSocket-Protocol"))
            continue;
        const char *p = h->value, *end = h->value + h->value_len, *e;
        size_t el;
        while (util_next_item(&p, end, ',', &e, &el)) {
            if (el == 0)
                continue;
            if (after_bearer)
                return found(out, src, e, el);
            after_bearer = util_strieq(e, el, "bearer");
        }
    }
    return 0;
}

int token_find(const struct token_source *srcs, size_t nsrcs,
               const struct http_request *req, struct token_found *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < nsrcs; i++) {
        const struct token_source *s = &srcs[i];
        int rc = 0;
        switch (s->kind) {
        case TS_AUTHORIZATION: rc = from_authorization(s, req, out); break;
        case TS_HEADER:        rc = s->name ? from_header(s, req, out) : 0; break;
        case TS_COOKIE:        rc = s->name ? from_cookie(s, req, out) : 0; break;
        case TS_QUERY:         rc = s->name ? from_query(s, req, out) : 0; break;
        case TS_SUBPROTOCOL:   rc = from_subprotocol(s, req, out); break;
        case TS_GRAPHQL_WS:    rc = 0; break;   /* read after the 101 (gqlws.c) */
        }
        if (rc)
            return 1;
    }
    return 0;
}

void token_found_clear(struct token_found *t)
{
    if (!t)
        return;
    free(t->token);
    memset(t, 0, sizeof(*t));
}
