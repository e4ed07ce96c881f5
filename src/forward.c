/* The request head the backend receives. The backend trusts identity
 * headers because only the gateway can set them: so every client header
 * that could pose as one is dropped first (spelt with '_' too, SPEC §3a),
 * then the verified ones are added, with the client address headers. With
 * strip_credentials the token carriers of every configured source go too,
 * so a backend never sees (or logs) a bearer token. */
#include "forward.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "config.h"
#include "http.h"
#include "jwt.h"
#include "util.h"

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int valid_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* A value we emit must not be able to end the header line: no CTL at all
 * (HT included, to keep it simple), no DEL. */
static int safe_value(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

static int has_source(const struct config *cfg, enum token_source_kind k)
{
    for (size_t i = 0; i < cfg->nsources; i++)
        if (cfg->sources[i].kind == k)
            return 1;
    return 0;
}

static int is_bearer(const char *v, size_t n)
{
    return n >= 6 && strncasecmp(v, "Bearer", 6) == 0 && (n == 6 || v[6] == ' ');
}

/* Whole headers that are credential carriers: Authorization (Bearer only:
 * Basic and friends are not ours to remove) and header:X sources. */
static int is_carrier_header(const struct config *cfg, const struct http_header *h)
{
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct token_source *s = &cfg->sources[i];
        if (s->kind == TS_AUTHORIZATION) {
            const char *name = s->name ? s->name : "Authorization";
            if (util_strieq(h->name, h->name_len, name) && is_bearer(h->value, h->value_len))
                return 1;
        } else if (s->kind == TS_HEADER && s->name
                   && util_strieq(h->name, h->name_len, s->name)) {
            return 1;
        }
    }
    return 0;
}

/* Header names as WSGI/CGI servers (and some frameworks) read them: case
 * ignored and '_' the same as '-', so "X_Auth_Sub" is "X-Auth-Sub". Every
 * removal decision compares this way; for a name without '_' it is the
 * usual case-insensitive comparison. */
static int fold(unsigned char c)
{
    if (c == '_')
        return '-';
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int name_is(const struct http_header *h, const char *name)
{
    size_t n = strlen(name);

    if (h->name_len != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)h->name[i]) != fold((unsigned char)name[i]))
            return 0;
    return 1;
}

static int name_starts(const struct http_header *h, const char *prefix)
{
    size_t n = strlen(prefix);

    if (h->name_len < n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (fold((unsigned char)h->name[i]) != fold((unsigned char)prefix[i]))
            return 0;
    return 1;
}

static int is_injected(const struct route *r, const struct http_header *h)
{
    if (name_starts(h, "X-Auth-"))
        return 1;
    for (size_t i = 0; i < r->nidh; i++)
        if (r->idh[i].header && name_is(h, r->idh[i].header))
            return 1;
    return r->claims_header && name_is(h, r->claims_header);
}

/* SPEC §3a: the client's address is ours to say. X-Forwarded-For is
 * appended to and X-Forwarded-Proto set below; these are dropped. */
static int is_address_header(const struct http_header *h)
{
    return name_is(h, "Forwarded") || name_is(h, "X-Real-IP") || name_is(h, "X-Forwarded-Host")
           || name_is(h, "X-Forwarded-Proto");
}

/* A name with '_' that underscores_in_headers on still may not pass: it
 * reads as a header wsgate reads or sets (identity, address, token
 * carrier), and the backend would see both ours and the client's. */
static int underscore_spoof(const struct config *cfg, const struct route *r,
                            const struct http_header *h)
{
    if (is_injected(r, h) || is_address_header(h) || name_is(h, "X-Forwarded-For")
        || name_is(h, "Sec-WebSocket-Protocol"))
        return 1;
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct token_source *s = &cfg->sources[i];
        if ((s->kind == TS_AUTHORIZATION || s->kind == TS_HEADER)
            && name_is(h, s->name ? s->name : "Authorization"))
            return 1;
    }
    return 0;
}

static int named_source(const struct config *cfg, enum token_source_kind k,
                        const char *name, size_t n)
{
    for (size_t i = 0; i < cfg->nsources; i++) {
        const struct token_source *s = &cfg->sources[i];
        if (s->kind == k && s->name && strlen(s->name) == n && memcmp(s->name, name, n) == 0)
            return 1;
    }
    return 0;
}

static int add(struct evbuffer *out, const char *s, size_t n)
{
    return evbuffer_add(out, s, n);
}

static int add_str(struct evbuffer *out, const char *s)
{
    return evbuffer_add(out, s, strlen(s));
}

/* Request line in origin-form (RFC 9112 §3.2.1: what a client sends to an
 * origin server, even when our client used absolute-form), with the token
 * query parameters removed: all of them, other parameters kept in order,
 * '?' dropped when nothing remains. */
static int add_request_line(struct evbuffer *out, const struct http_request *req,
                            const struct config *cfg, int strip)
{
    if (add(out, req->method, req->method_len) < 0 || add(out, " ", 1) < 0
        || add(out, req->path, req->path_len) < 0)
        return -1;
    if (req->query && (!strip || !has_source(cfg, TS_QUERY))) {
        if (add(out, "?", 1) < 0 || add(out, req->query, req->query_len) < 0)
            return -1;
    } else if (req->query) {
        const char *p = req->query, *end = req->query + req->query_len;
        int kept = 0;
        while (p < end) {
            const char *amp = memchr(p, '&', (size_t)(end - p));
            const char *pe = amp ? amp : end;
            const char *eq = memchr(p, '=', (size_t)(pe - p));
            size_t nl = (size_t)((eq ? eq : pe) - p);
            /* empty pieces ("a=1&&b=2") are no parameter: not kept */
            if (pe > p && !named_source(cfg, TS_QUERY, p, nl)) {
                if (add(out, kept ? "&" : "?", 1) < 0 || add(out, p, (size_t)(pe - p)) < 0)
                    return -1;
                kept = 1;
            }
            p = amp ? amp + 1 : end;
        }
    }
    /* The client's own version: the backend's response is relayed as is,
     * so an HTTP/1.0 client must not be answered in HTTP/1.1 (chunked). */
    return add_str(out, req->version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
}

/* Cookie header minus the cookies named by cookie sources. */
static int add_cookie(struct evbuffer *out, const struct config *cfg, const struct http_header *h)
{
    const char *p = h->value, *end = h->value + h->value_len, *pair;
    size_t pl;
    int kept = 0;

    while (util_next_item(&p, end, ';', &pair, &pl)) {
        if (pl == 0)
            continue;
        const char *eq = memchr(pair, '=', pl);
        if (eq) {
            const char *nm = pair;
            size_t nl = (size_t)(eq - pair);
            util_trim_ows(&nm, &nl);
            if (named_source(cfg, TS_COOKIE, nm, nl))
                continue;
        }
        if (!kept && (add(out, h->name, h->name_len) < 0 || add(out, ": ", 2) < 0))
            return -1;
        if ((kept && add(out, "; ", 2) < 0) || add(out, pair, pl) < 0)
            return -1;
        kept = 1;
    }
    return kept ? add(out, "\r\n", 2) : 0;
}

/* Walks the Sec-WebSocket-Protocol entries of one header; *skip carries a
 * "bearer" at the end of one header line over to the next line. Counts
 * entries and credential entries; emits the rest when out is set. */
static int swp_walk(struct evbuffer *out, const struct http_header *h, int *skip,
                    size_t *total, size_t *cred)
{
    const char *p = h->value, *end = h->value + h->value_len, *e;
    size_t el;
    int kept = 0;

    while (util_next_item(&p, end, ',', &e, &el)) {
        if (el == 0)
            continue;
        (*total)++;
        if (*skip) {
            *skip = 0;
            (*cred)++;
            continue;
        }
        if (util_strieq(e, el, "bearer")) {
            *skip = 1;
            (*cred)++;
            continue;
        }
        if (!out)
            continue;
        if (!kept && (add(out, h->name, h->name_len) < 0 || add(out, ": ", 2) < 0))
            return -1;
        if ((kept && add(out, ", ", 2) < 0) || add(out, e, el) < 0)
            return -1;
        kept = 1;
    }
    return kept ? add(out, "\r\n", 2) : 0;
}

/* jwt_claim_string() hands back a C string, so a "\u0000" inside a claim
 * would silently truncate it: look at the JSON itself. */
static int json_has_nul(const json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v) != strlen(json_string_value(v));
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (json_has_nul(json_array_get(v, i)))
                return 1;
    }
    return 0;
}

static int add_identity(struct evbuffer *out, const struct route *r,
                        const struct jwt_claims *claims)
{
    for (size_t i = 0; i < r->nidh; i++) {
        const struct identity_header *ih = &r->idh[i];
        if (!ih->claim || !valid_name(ih->header))
            continue;
        if (claims->payload && json_has_nul(json_object_get(claims->payload, ih->claim)))
            continue;
        char *v = jwt_claim_string(claims, ih->claim);
        int rc = 0;
        /* "" (or an array of nothing renderable) says nothing: omit it */
        if (v && *v && safe_value(v))
            rc = evbuffer_add_printf(out, "%s: %s\r\n", ih->header, v);
        free(v);
        if (rc < 0)
            return -1;
    }
    if (r->claims_header && valid_name(r->claims_header) && claims->payload_raw) {
        char *b = util_b64url_encode((const unsigned char *)claims->payload_raw,
                                     claims->payload_raw_len);
        int rc = evbuffer_add_printf(out, "%s: %s\r\n", r->claims_header, b);
        free(b);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int forward_build_head(struct evbuffer *out, const struct http_request *req,
                       const struct config *cfg, const struct route *route,
                       const struct jwt_claims *claims, struct forward_info *info)
{
    int strip = route->strip_credentials;
    int swp_src = has_source(cfg, TS_SUBPROTOCOL);
    int cookie_src = has_source(cfg, TS_COOKIE);
    size_t total = 0, cred = 0, nxff = 0;
    int skip = 0;

    info->only_credential_protocols = 0;
    if (swp_src) {
        for (size_t i = 0; i < req->nheaders; i++) {
            const struct http_header *h = &req->headers[i];
            if (util_strieq(h->name, h->name_len, "Sec-WebSocket-Protocol"))
                swp_walk(NULL, h, &skip, &total, &cred);
        }
        info->only_credential_protocols = total > 0 && total == cred;
        skip = 0;
    }

    if (add_request_line(out, req, cfg, strip) < 0)
        return -1;

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        size_t t = 0, c = 0;
        int rc = 0;
        /* nginx's default: many servers read '_' as '-' (SPEC §3a). */
        if (memchr(h->name, '_', h->name_len)
            && (!cfg->underscores_in_headers || underscore_spoof(cfg, route, h)))
            continue;
        if (is_injected(route, h) || is_address_header(h))
            continue;
        if (util_strieq(h->name, h->name_len, "X-Forwarded-For")) {
            nxff++;
            continue;
        }
        if (strip && is_carrier_header(cfg, h))
            continue;
        if (strip && cookie_src && util_strieq(h->name, h->name_len, "Cookie"))
            rc = add_cookie(out, cfg, h);
        else if (strip && swp_src && util_strieq(h->name, h->name_len, "Sec-WebSocket-Protocol"))
            rc = swp_walk(out, h, &skip, &t, &c);
        else if (add(out, h->name, h->name_len) < 0 || add(out, ": ", 2) < 0
                 || add(out, h->value, h->value_len) < 0 || add(out, "\r\n", 2) < 0)
            rc = -1;
        if (rc < 0)
            return -1;
    }

    /* X-Forwarded-For: every earlier hop in order, then the client. */
    int sep = 0;
    for (size_t i = 0; nxff && i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!util_strieq(h->name, h->name_len, "X-Forwarded-For") || h->value_len == 0)
            continue;
        if (add_str(out, sep ? ", " : "X-Forwarded-For: ") < 0
            || add(out, h->value, h->value_len) < 0)
            return -1;
        sep = 1;
    }
    if (info->client_ip && safe_value(info->client_ip) && *info->client_ip) {
        if (add_str(out, sep ? ", " : "X-Forwarded-For: ") < 0 || add_str(out, info->client_ip) < 0)
            return -1;
        sep = 1;
    }
    if (sep && add(out, "\r\n", 2) < 0)
        return -1;
    if (add_str(out, info->tls ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n") < 0)
        return -1;
    if (info->client_ip && safe_value(info->client_ip) && *info->client_ip
        && (add_str(out, "X-Real-IP: ") < 0 || add_str(out, info->client_ip) < 0
            || add(out, "\r\n", 2) < 0))
        return -1;

    if (claims && add_identity(out, route, claims) < 0)
        return -1;
    return add(out, "\r\n", 2);
}
