/* The fetcher's protocol parts, pure: the https URL of a key set or
 * discovery document, and the strict parser of the response (the shared
 * HTTP framer with the fetcher's policy: no codings, a size limit). */
#include "jwks_fetch.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "http.h"
#include "httpframe.h"
#include "util.h"

#define HEAD_MAX (16 * 1024)

/* ---- https URL ---------------------------------------------------------- */

static int is_host_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

void jwks_url_clear(struct jwks_url *u)
{
    if (!u)
        return;
    free(u->host);
    free(u->path);
    free(u->authority);
    memset(u, 0, sizeof(*u));
}

int jwks_url_parse(const char *s, struct jwks_url *u, char *err, size_t errlen)
{
    const char *auth, *auth_end, *hs, *he, *p, *rest;
    char host[256];
    size_t hl;
    int port = 443, bracketed = 0, is_ip = 0;
    unsigned char addr[16];

    memset(u, 0, sizeof(*u));
    if (!s)
        return util_fail(err, errlen, "expected https://HOST[:PORT]/PATH");
    if (strncasecmp(s, "http://", 7) == 0)
        return util_fail(err, errlen, "only https:// URLs are allowed: keys must come over verified TLS");
    if (strncasecmp(s, "https://", 8) != 0)
        return util_fail(err, errlen, "expected https://HOST[:PORT]/PATH");
    auth = s + 8;
    auth_end = auth + strcspn(auth, "/?#");
    if (memchr(auth, '@', (size_t)(auth_end - auth)))
        return util_fail(err, errlen, "user information in the URL is not supported");
    if (auth == auth_end)
        return util_fail(err, errlen, "missing host");
    if (*auth == '[') {
        const char *rb = memchr(auth, ']', (size_t)(auth_end - auth));
        if (!rb)
            return util_fail(err, errlen, "missing \"]\"");
        hs = auth + 1;
        he = rb;
        p = rb + 1;
        bracketed = 1;
    } else {
        hs = auth;
        he = memchr(auth, ':', (size_t)(auth_end - auth));
        if (!he)
            he = auth_end;
        p = he;
    }
    if (p < auth_end) {
        long v = 0;
        if (*p != ':')
            return util_fail(err, errlen, "invalid host");
        if (++p == auth_end)
            return util_fail(err, errlen, "invalid port");
        for (; p < auth_end; p++) {
            if (*p < '0' || *p > '9' || v > 65535)
                return util_fail(err, errlen, "invalid port");
            v = v * 10 + (*p - '0');
        }
        if (v < 1 || v > 65535)
            return util_fail(err, errlen, "invalid port");
        port = (int)v;
    }
    hl = (size_t)(he - hs);
    if (hl == 0)
        return util_fail(err, errlen, "missing host");
    if (hl >= sizeof(host))
        return util_fail(err, errlen, "host name too long");
    memcpy(host, hs, hl);
    host[hl] = '\0';
    if (bracketed) {
        if (inet_pton(AF_INET6, host, addr) != 1)
            return util_fail(err, errlen, "invalid IPv6 address");
        is_ip = 1;
    } else {
        for (size_t i = 0; i < hl; i++) {
            if (!is_host_char((unsigned char)host[i]))
                return util_fail(err, errlen, "invalid character in host name");
            if (host[i] >= 'A' && host[i] <= 'Z')
                host[i] = (char)(host[i] - 'A' + 'a');
        }
        is_ip = inet_pton(AF_INET, host, addr) == 1;
    }

    rest = auth_end;
    if (strchr(rest, '#'))
        return util_fail(err, errlen, "a fragment (#...) has no place in a request URL");
    for (p = rest; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return util_fail(err, errlen, "invalid character in the path (percent-encode it)");

    u->host = util_xstrdup(host);
    u->port = port;
    u->host_is_ip = is_ip;
    if (*rest == '/') {
        u->path = util_xstrdup(rest);
    } else {
        /* "https://h" and "https://h?x=1" ask for the root. */
        size_t n = strlen(rest) + 2;
        u->path = util_xmalloc(n);
        snprintf(u->path, n, "/%s", rest);
    }
    {
        size_t n = hl + 16;
        u->authority = util_xmalloc(n);
        if (port == 443)
            snprintf(u->authority, n, bracketed ? "[%s]" : "%s", host);
        else
            snprintf(u->authority, n, bracketed ? "[%s]:%d" : "%s:%d", host, port);
    }
    return 0;
}

/* ---- HTTP/1.1 response -------------------------------------------------- */

/* The body of a 200 by its framing; in holds what follows the head. */
static int read_body(struct evbuffer *in, const struct http_response *r, int eof,
                     size_t max_body, struct evbuffer *body, char *err, size_t errlen)
{
    const struct http_header *te = http_response_header(r, "Transfer-Encoding");
    const struct http_header *ce = http_response_header(r, "Content-Encoding");
    size_t have = evbuffer_get_length(in);
    struct http_chunked ch;
    uint64_t cl, moved = 0;
    int rc;

    /* We ask for no coding: a body we would have to decode is refused. */
    if (te && !util_strieq(te->value, te->value_len, "chunked"))
        return util_fail(err, errlen, "unsupported Transfer-Encoding");
    if (ce && !util_strieq(ce->value, ce->value_len, "identity"))
        return util_fail(err, errlen, "unsupported Content-Encoding (none was asked for)");
    switch (httpframe_response_body(r, 0, &cl)) {
    case HTTPFRAME_NONE:
        return 1;
    case HTTPFRAME_LENGTH:
        if (cl > max_body)
            return util_fail(err, errlen, "body of %llu bytes is larger than the limit of %zu",
                             (unsigned long long)cl, max_body);
        if (have < cl)
            return eof ? util_fail(err, errlen, "connection closed before the end of the body") : 0;
        evbuffer_remove_buffer(in, body, (size_t)cl);
        return 1;
    case HTTPFRAME_CHUNKED:
        http_chunked_init_decode(&ch, HEAD_MAX);
        rc = http_chunked_pump(&ch, in, body, max_body + 1, &moved, err, errlen);
        if (rc < 0)
            return -1;
        /* Refused as soon as a chunk's size says it will not fit. */
        if (evbuffer_get_length(body) + ch.left > max_body)
            return util_fail(err, errlen, "body larger than %zu bytes", max_body);
        if (rc == 0)
            return eof ? util_fail(err, errlen, "connection closed before the end of the body") : 0;
        return 1;
    case HTTPFRAME_CLOSE:
        if (have > max_body)
            return util_fail(err, errlen, "body larger than the limit of %zu bytes", max_body);
        if (!eof)
            return 0;
        evbuffer_add_buffer(body, in);
        return 1;
    }
    return util_fail(err, errlen, "cannot delimit the response body");
}

/* The whole response so far is parsed again at each call: the fetcher
 * reads at most RESP_MAX, and keeping no state between calls keeps this
 * a pure function of the bytes. */
int jwks_http_parse(const char *buf, size_t len, int eof, size_t max_body,
                    struct jwks_http_resp *resp, char *err, size_t errlen)
{
    struct evbuffer *in = evbuffer_new(), *body = evbuffer_new();
    size_t scanned = 0, hl;
    int rc = -1;

    memset(resp, 0, sizeof(*resp));
    if (!in || !body || (len && evbuffer_add_reference(in, buf, len, NULL, NULL) != 0)) {
        util_fail(err, errlen, "out of memory");
        goto out;
    }
    for (;;) {
        struct http_response r;
        const char *head;
        int f = httpframe_find_head(in, &scanned, HEAD_MAX, &hl);

        if (f < 0) {
            util_fail(err, errlen, "response head larger than %d KiB", HEAD_MAX / 1024);
            goto out;
        }
        if (f == 0) {
            if (!eof)
                rc = 0;
            else
                util_fail(err, errlen, len == 0 ? "connection closed without a response"
                                                : "connection closed in the response head");
            goto out;
        }
        /* One reference chain: the head is contiguous, pullup copies nothing. */
        head = (const char *)evbuffer_pullup(in, (ev_ssize_t)hl);
        if (http_parse_response(head, hl, &r, err, errlen) != 0)
            goto out;
        evbuffer_drain(in, hl);
        if (r.status < 200) {
            if (r.status == 101) {
                util_fail(err, errlen, "unexpected 101 Switching Protocols");
                goto out;
            }
            continue;   /* interim response: the real one follows */
        }
        resp->status = r.status;
        if (r.status != 200) {
            rc = 1;     /* the body of an error is of no use */
            goto out;
        }
        rc = read_body(in, &r, eof, max_body, body, err, errlen);
        if (rc == 1) {
            resp->body_len = evbuffer_get_length(body);
            resp->body = util_xmalloc(resp->body_len + 1);
            evbuffer_remove(body, resp->body, resp->body_len);
            resp->body[resp->body_len] = '\0';
        }
        goto out;
    }
out:
    if (in)
        evbuffer_free(in);
    if (body)
        evbuffer_free(body);
    if (rc != 1)
        resp->status = rc == 0 ? 0 : resp->status;
    return rc;
}

