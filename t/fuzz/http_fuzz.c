/* libFuzzer target: the strict request-head parser (and the token and
 * Origin code that reads what it produces). Built by ./configure
 * --enable-fuzzers, run by `make fuzz-smoke` (README "Fuzzing"); by hand:
 *   t/fuzz/http_fuzz -max_total_time=120 -max_len=4096 CORPUS_DIR
 * Besides memory safety it checks the parser's promises: what it accepts
 * is well-formed, re-serialising an accepted head parses again, and so
 * does the head forward.c builds from it for the backend. The response
 * parser has its own target (response_fuzz.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "config.h"
#include "forward.h"
#include "http.h"
#include "origin.h"
#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

static int in_buf(const char *p, size_t n, const char *buf, size_t len)
{
    return p >= buf && p + n <= buf + len;
}

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void check_headers(const struct http_header *h, size_t n, const char *buf, size_t len)
{
    CHECK(n <= HTTP_MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        CHECK(h[i].name_len > 0 && in_buf(h[i].name, h[i].name_len, buf, len));
        CHECK(in_buf(h[i].value, h[i].value_len, buf, len));
        for (size_t k = 0; k < h[i].name_len; k++)
            CHECK(is_tchar((unsigned char)h[i].name[k]));
        for (size_t k = 0; k < h[i].value_len; k++) {
            unsigned char c = (unsigned char)h[i].value[k];
            CHECK(!((c < 0x20 && c != '\t') || c == 0x7f));
        }
        if (h[i].value_len) {
            CHECK(h[i].value[0] != ' ' && h[i].value[0] != '\t');
            CHECK(h[i].value[h[i].value_len - 1] != ' ' && h[i].value[h[i].value_len - 1] != '\t');
        }
    }
}

/* Writes req back as a head; an accepted request must survive this. */
static char *reserialize(const struct http_request *r, size_t *outlen)
{
    size_t cap = r->method_len + r->target_len + 32;
    for (size_t i = 0; i < r->nheaders; i++)
        cap += r->headers[i].name_len + r->headers[i].value_len + 4;
    char *o = malloc(cap), *p = o;
    memcpy(p, r->method, r->method_len); p += r->method_len;
    *p++ = ' ';
    memcpy(p, r->target, r->target_len); p += r->target_len;
    p += sprintf(p, " HTTP/1.%d\r\n", r->version_minor);
    for (size_t i = 0; i < r->nheaders; i++) {
        memcpy(p, r->headers[i].name, r->headers[i].name_len); p += r->headers[i].name_len;
        *p++ = ':';
        *p++ = ' ';
        memcpy(p, r->headers[i].value, r->headers[i].value_len); p += r->headers[i].value_len;
        *p++ = '\r';
        *p++ = '\n';
    }
    *p++ = '\r';
    *p++ = '\n';
    *outlen = (size_t)(p - o);
    return o;
}

static void fuzz_request(const char *buf, size_t len)
{
    static struct http_request req, again;
    static struct token_source srcs[] = {
        { TS_AUTHORIZATION, "Authorization" }, { TS_HEADER, "X-Token" },
        { TS_COOKIE, "access_token" }, { TS_QUERY, "access_token" }, { TS_SUBPROTOCOL, NULL },
    };
    char err[128];
    int rc = http_parse_request(buf, len, &req, err, sizeof(err));

    CHECK(rc == 0 || rc == 400 || rc == 431);
    CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc != 0) {
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(http_head_end(buf, len) != 0);
    CHECK(req.method_len > 0 && in_buf(req.method, req.method_len, buf, len));
    CHECK(req.target_len > 0 && in_buf(req.target, req.target_len, buf, len));
    CHECK(req.path_len > 0 && req.path[0] == '/');
    CHECK(!req.query || in_buf(req.query, req.query_len, buf, len));
    CHECK(req.version_minor == 0 || req.version_minor == 1);
    CHECK(req.version_minor == 0 || req.host != NULL);
    CHECK(http_request_header_count(&req, "Host") <= 1);
    CHECK(!(http_request_header(&req, "Content-Length") && http_request_header(&req, "Transfer-Encoding")));
    check_headers(req.headers, req.nheaders, buf, len);

    size_t n2;
    char *copy = reserialize(&req, &n2);
    CHECK(http_parse_request(copy, n2, &again, err, sizeof(err)) == 0);
    CHECK(again.nheaders == req.nheaders && again.path_len == req.path_len);
    free(copy);

    struct token_found t;
    if (token_find(srcs, sizeof(srcs) / sizeof(srcs[0]), &req, &t)) {
        CHECK(t.token && t.len > 0 && strlen(t.token) == t.len);
        token_found_clear(&t);
    }

    /* The head sent upstream must itself be a valid head. */
    static struct identity_header idh[] = { { "sub", "X-Auth-Sub" } };
    struct config cfg;
    struct route rt;
    struct forward_info fi = { "192.0.2.1", 0, 0 };
    memset(&cfg, 0, sizeof(cfg));
    memset(&rt, 0, sizeof(rt));
    cfg.sources = srcs;
    cfg.nsources = sizeof(srcs) / sizeof(srcs[0]);
    rt.idh = idh;
    rt.nidh = 1;
    rt.claims_header = "X-Auth-Claims";
    rt.strip_credentials = (len & 1) == 0;
    struct evbuffer *fb = evbuffer_new();
    CHECK(forward_build_head(fb, &req, &cfg, &rt, NULL, &fi) == 0);
    size_t fl = evbuffer_get_length(fb);
    char *fh = malloc(fl);
    evbuffer_remove(fb, fh, fl);
    evbuffer_free(fb);
    CHECK(http_head_end(fh, fl) == fl);
    rc = http_parse_request(fh, fl, &again, err, sizeof(err));
    CHECK(rc == 0 || rc == 431);
    CHECK(rc != 0 || http_request_header_count(&again, "X-Auth-Sub") == 0);
    CHECK(rc != 0 || http_request_header_count(&again, "X-Forwarded-For") == 1);
    free(fh);

    const struct http_header *o = http_request_header(&req, "Origin");
    if (o) {
        static char *pats[] = { "https://*.example.com", "http://localhost:8080", "null" };
        struct route r;
        memset(&r, 0, sizeof(r));
        r.origins = pats;
        r.norigins = 3;
        int a = origin_allowed(&r, o->value, o->value_len);
        CHECK(a == 0 || a == 1);
        char *v = malloc(o->value_len + 1);
        memcpy(v, o->value, o->value_len);
        v[o->value_len] = '\0';
        char *np = origin_pattern_normalize(v, err, sizeof(err));
        free(np);
        free(v);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    fuzz_request(buf, size);
    (void)http_head_end(buf, size);
    free(buf);
    return 0;
}
