/* libFuzzer target: the two readers of what a backend or a key server
 * sends back, http_parse_response (the 101 of an upgrade and plain HTTP
 * responses) and jwks_http_parse (a whole JWKS fetch response: interim
 * heads, Content-Length, chunked, read to EOF). Checks besides memory
 * safety: an accepted head is well-formed and survives re-serialising; a
 * JWKS response read as complete stays the same response when the
 * connection then closes, and its body respects the size bound. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jwks.h"
#include "jwks_fetch.h"

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
    }
}

static void fuzz_response(const char *buf, size_t len)
{
    static struct http_response resp, again;
    char err[128];
    int rc = http_parse_response(buf, len, &resp, err, sizeof(err));

    CHECK(rc == 0 || rc == 400 || rc == 431);
    CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc != 0) {
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(resp.status >= 100 && resp.status <= 599);
    CHECK(resp.version_minor == 0 || resp.version_minor == 1);
    CHECK(http_head_end(buf, len) != 0);
    check_headers(resp.headers, resp.nheaders, buf, len);
    CHECK(!(http_response_header(&resp, "Content-Length") && http_response_header(&resp, "Transfer-Encoding")));

    /* The same head written back the way a proxy would pass it on. */
    size_t cap = 32;
    for (size_t i = 0; i < resp.nheaders; i++)
        cap += resp.headers[i].name_len + resp.headers[i].value_len + 4;
    char *o = malloc(cap), *p = o;
    p += sprintf(p, "HTTP/1.%d %03d X\r\n", resp.version_minor, resp.status);
    for (size_t i = 0; i < resp.nheaders; i++) {
        memcpy(p, resp.headers[i].name, resp.headers[i].name_len);
        p += resp.headers[i].name_len;
        memcpy(p, ": ", 2);
        p += 2;
        memcpy(p, resp.headers[i].value, resp.headers[i].value_len);
        p += resp.headers[i].value_len;
        memcpy(p, "\r\n", 2);
        p += 2;
    }
    memcpy(p, "\r\n", 2);
    p += 2;
    CHECK(http_parse_response(o, (size_t)(p - o), &again, err, sizeof(err)) == 0);
    CHECK(again.status == resp.status && again.nheaders == resp.nheaders);
    free(o);
}

static void fuzz_jwks_http(const char *buf, size_t len, size_t max_body)
{
    struct jwks_http_resp open_r, closed_r;
    char err[256];
    int r0, r1;

    err[0] = '\0';
    r0 = jwks_http_parse(buf, len, 0, max_body, &open_r, err, sizeof(err));
    CHECK(r0 >= -1 && r0 <= 1);
    CHECK(r0 != -1 || (err[0] != '\0' && memchr(err, '\0', sizeof(err))));
    err[0] = '\0';
    r1 = jwks_http_parse(buf, len, 1, max_body, &closed_r, err, sizeof(err));
    CHECK(r1 == -1 || r1 == 1);     /* at EOF there is nothing more to wait for */
    CHECK(r1 != -1 || err[0] != '\0');
    if (r0 == -1)
        CHECK(r1 == -1);
    if (r0 == 1) {
        /* A response complete before EOF is the same response at EOF. */
        CHECK(r1 == 1 && closed_r.status == open_r.status && closed_r.body_len == open_r.body_len);
        CHECK(!open_r.body || memcmp(open_r.body, closed_r.body, open_r.body_len) == 0);
    }
    if (r1 == 1) {
        CHECK(closed_r.status >= 200 && closed_r.status <= 599);
        CHECK((closed_r.status == 200) == (closed_r.body != NULL));
        CHECK(!closed_r.body || (closed_r.body_len <= max_body && closed_r.body[closed_r.body_len] == '\0'));
        CHECK(closed_r.body_len <= len);
    }
    if (r0 == 1)
        free(open_r.body);
    if (r1 == 1)
        free(closed_r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size heap copy so ASan sees any read past the end. */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    fuzz_response(buf, size);
    /* Both a tight body bound, which the input can cross, and the real one. */
    fuzz_jwks_http(buf, size, size ? (size_t)data[size - 1] : 0);
    fuzz_jwks_http(buf, size, JWKS_MAX_BODY);
    free(buf);
    return 0;
}
