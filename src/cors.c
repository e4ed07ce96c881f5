/* CORS for browsers on another origin (SPEC §10, "cors on"). A preflight
 * carries no credentials by design, so wsgate answers it itself; what it
 * sends back of the request is only what it could check: the Origin the
 * route allowed, a method from a fixed list, header names that are
 * tokens. Responses to admitted requests get the three headers that let
 * the page read them, in place of whatever the backend said. */
#include "cors.h"

#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "origin.h"
#include "util.h"

/* The methods a preflight may be granted: the ones REST next to a socket
 * uses. Compared case-sensitively, as methods are (RFC 9110 §9.1);
 * browsers upper-case the standard ones before asking. */
static const char *const allowed_methods[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" };

int cors_is_preflight(const struct http_request *req)
{
    return req->method_len == 7 && memcmp(req->method, "OPTIONS", 7) == 0 &&
           http_request_header(req, "Origin") &&
           http_request_header(req, "Access-Control-Request-Method");
}

const char *cors_origin(const struct http_request *req, size_t *len)
{
    const struct http_header *h = http_request_header(req, "Origin");

    /* With "origins any" nothing else parsed the value: only what a
     * browser could have sent goes back. */
    if (!h || http_request_header_count(req, "Origin") != 1 ||
        !origin_serialized(h->value, h->value_len))
        return NULL;
    *len = h->value_len;
    return h->value;
}

static const char *granted_method(const struct http_request *req)
{
    const struct http_header *h = http_request_header(req, "Access-Control-Request-Method");

    if (!h || http_request_header_count(req, "Access-Control-Request-Method") != 1)
        return NULL;
    for (size_t i = 0; i < sizeof(allowed_methods) / sizeof(allowed_methods[0]); i++)
        if (h->value_len == strlen(allowed_methods[i]) &&
            memcmp(h->value, allowed_methods[i], h->value_len) == 0)
            return allowed_methods[i];
    return NULL;
}

/* 1 when v is a #list of header names (tokens), at least one; empty
 * elements are allowed, as in any HTTP list. */
static int header_name_list(const char *v, size_t n, size_t *names)
{
    const char *p = v, *end = v + n, *item;
    size_t len;

    while (util_next_item(&p, end, ',', &item, &len)) {
        for (size_t i = 0; i < len; i++)
            if (!http_tchar((unsigned char)item[i]))
                return 0;
        if (len)
            (*names)++;
    }
    return 1;
}

/* The requested headers go back as sent, or not at all: one element that
 * is not a token (a space, a quote, anything a browser never sends) and
 * the whole list is withheld rather than edited. */
static int write_allowed_headers(struct evbuffer *out, const struct http_request *req)
{
    size_t names = 0;
    int first = 1;

    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (util_strieq(h->name, h->name_len, "Access-Control-Request-Headers") &&
            !header_name_list(h->value, h->value_len, &names))
            return 0;
    }
    if (names == 0)
        return 0;
    if (evbuffer_add(out, "Access-Control-Allow-Headers: ", 30) < 0)
        return -1;
    for (size_t i = 0; i < req->nheaders; i++) {
        const struct http_header *h = &req->headers[i];
        if (!util_strieq(h->name, h->name_len, "Access-Control-Request-Headers") ||
            h->value_len == 0)
            continue;
        if ((!first && evbuffer_add(out, ", ", 2) < 0) ||
            evbuffer_add(out, h->value, h->value_len) < 0)
            return -1;
        first = 0;
    }
    return evbuffer_add(out, "\r\n", 2);
}

static int write_origin(struct evbuffer *out, const char *origin, size_t len)
{
    if (evbuffer_add(out, "Access-Control-Allow-Origin: ", 29) < 0 ||
        evbuffer_add(out, origin, len) < 0 ||
        evbuffer_add(out, "\r\nAccess-Control-Allow-Credentials: true\r\n", 42) < 0)
        return -1;
    return 0;
}

int cors_write_preflight(struct evbuffer *out, const struct http_request *req, int close)
{
    const char *origin, *method;
    size_t olen = 0;

    origin = cors_origin(req, &olen);
    if (!origin)
        return -1;
    method = granted_method(req);
    if (evbuffer_add_printf(out, "HTTP/1.1 204 %s\r\n", http_reason(204)) < 0 ||
        write_origin(out, origin, olen) < 0 ||
        (method && evbuffer_add_printf(out, "Access-Control-Allow-Methods: %s\r\n", method) < 0) ||
        write_allowed_headers(out, req) < 0 ||
        evbuffer_add_printf(out, "Access-Control-Max-Age: %d\r\nVary: Origin\r\n%s\r\n",
                            CORS_MAX_AGE, close ? "Connection: close\r\n" : "") < 0)
        return -1;
    return 0;
}

int cors_replaces(const char *name, size_t len)
{
    return util_strieq(name, len, "Access-Control-Allow-Origin") ||
           util_strieq(name, len, "Access-Control-Allow-Credentials") ||
           util_strieq(name, len, "Vary");
}

/* The backend's Vary stays meaningful for caches (Accept-Encoding, say):
 * its fields become one line, with Origin added unless already there or
 * covered by "*". */
static int write_vary(struct evbuffer *out, const struct http_response *r)
{
    int has_origin = 0, first = 1;

    if (evbuffer_add(out, "Vary: ", 6) < 0)
        return -1;
    for (size_t i = 0; i < r->nheaders; i++) {
        const struct http_header *h = &r->headers[i];
        if (!util_strieq(h->name, h->name_len, "Vary") || h->value_len == 0)
            continue;
        if (util_list_has_token(h->value, h->value_len, "Origin") ||
            util_list_has_token(h->value, h->value_len, "*"))
            has_origin = 1;
        if ((!first && evbuffer_add(out, ", ", 2) < 0) ||
            evbuffer_add(out, h->value, h->value_len) < 0)
            return -1;
        first = 0;
    }
    if (!has_origin && evbuffer_add(out, first ? "Origin" : ", Origin", first ? 6 : 8) < 0)
        return -1;
    return evbuffer_add(out, "\r\n", 2);
}

int cors_write_response(struct evbuffer *out, const struct http_request *req,
                        const struct http_response *r)
{
    size_t olen = 0;
    const char *origin = cors_origin(req, &olen);

    if (!origin)
        return -1;
    if (write_origin(out, origin, olen) < 0 || write_vary(out, r) < 0)
        return -1;
    return 0;
}
