/* libFuzzer target: the chunked body decoder of plain HTTP proxying
 * (http_chunked_pump), fed the body in arbitrary splits and drained
 * in arbitrary amounts under an arbitrary output limit. Invariant: what it
 * does equals a reference decode of the whole body at once, written here
 * from the documented grammar (httpframe.h):
 *   - malformed for the reference: the pump fails, and what it passed on
 *     before failing is a prefix of what the reference passed on;
 *   - complete: the pump completes, with the same output, having consumed
 *     exactly the body (the bytes after it stay unread), and its output is
 *     itself a canonical chunked body with the same data;
 *   - incomplete: the pump waits, having passed on all the reference did.
 * Input: 4 control bytes (trailer mode and output limit, trailer bound,
 * split seed), then the body. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "httpframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

/* ---- reference decoder --------------------------------------------------- */

enum { REF_NEED, REF_DONE, REF_ERROR };

struct ref {
    int result;
    size_t consumed;                /* REF_DONE: body length */
    unsigned char *out;             /* what a proxy passes on */
    size_t outlen, outcap;
    unsigned char *data;            /* the chunk data alone */
    size_t datalen, datacap;
};

static void put(unsigned char **b, size_t *len, size_t *cap, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (*len + n > *cap) {
        *cap = (*len + n) * 2 + 64;
        *b = realloc(*b, *cap);
    }
    memcpy(*b + *len, p, n);
    *len += n;
}

static int ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A line at b (avail bytes): its length in *n and 1; 0 when more bytes may
 * complete it; -1 when it is no CRLF line of at most HTTPFRAME_CHUNK_LINE_MAX
 * bytes. */
static int line(const unsigned char *b, size_t avail, size_t *n)
{
    for (size_t i = 0; i < avail; i++) {
        if (i > HTTPFRAME_CHUNK_LINE_MAX || b[i] == '\n')
            return -1;
        if (b[i] == '\r') {
            if (i + 1 == avail)
                return 0;
            if (b[i + 1] != '\n')
                return -1;
            *n = i;
            return 1;
        }
    }
    return avail > HTTPFRAME_CHUNK_LINE_MAX + 1 ? -1 : 0;
}

/* chunk-size [ BWS ";" ext-without-CTL ], at most 15 hex digits. */
static int size_line(const unsigned char *l, size_t n, uint64_t *size)
{
    size_t d = 0;
    uint64_t v = 0;

    while (d < n && strchr("0123456789abcdefABCDEF", l[d]) && l[d]) {
        int x = l[d] <= '9' ? l[d] - '0' : (l[d] | 0x20) - 'a' + 10;
        v = (v << 4) | (uint64_t)x;
        d++;
    }
    if (d == 0 || d > 15)
        return -1;
    size_t i = d;
    while (i < n && (l[i] == ' ' || l[i] == '\t'))
        i++;
    if (i < n && l[i] != ';')
        return -1;
    if (i == n && i != d)
        return -1;                  /* whitespace with no extension after it */
    for (; i < n; i++)
        if (ctl(l[i]))
            return -1;
    *size = v;
    return 0;
}

static int field_line(const unsigned char *l, size_t n)
{
    size_t i = 0;
    while (i < n && tchar(l[i]))
        i++;
    if (i == 0 || i == n || l[i] != ':')
        return 0;
    for (i++; i < n; i++)
        if (ctl(l[i]))
            return 0;
    return 1;
}

static void ref_decode(const unsigned char *b, size_t len, int keep, size_t max_trailer, struct ref *r)
{
    size_t pos = 0, n, trailer = 0;
    uint64_t size;
    char hex[24];
    int lr;

    memset(r, 0, sizeof(*r));
    for (;;) {
        lr = line(b + pos, len - pos, &n);
        if (lr <= 0)
            goto stop;
        if (size_line(b + pos, n, &size) < 0) {
            lr = -1;
            goto stop;
        }
        pos += n + 2;
        int hl = snprintf(hex, sizeof(hex), "%llx\r\n", (unsigned long long)size);
        put(&r->out, &r->outlen, &r->outcap, hex, (size_t)hl);
        if (size == 0)
            break;
        size_t have = len - pos < size ? len - pos : (size_t)size;
        put(&r->out, &r->outlen, &r->outcap, b + pos, have);
        put(&r->data, &r->datalen, &r->datacap, b + pos, have);
        pos += have;
        if (have < size) {
            lr = 0;
            goto stop;
        }
        if (pos < len && b[pos] != '\r') {
            lr = -1;
            goto stop;
        }
        if (pos + 1 < len && b[pos + 1] != '\n') {
            lr = -1;
            goto stop;
        }
        if (pos + 2 > len) {
            lr = 0;
            goto stop;
        }
        pos += 2;
        put(&r->out, &r->outlen, &r->outcap, "\r\n", 2);
    }
    for (;;) {
        lr = line(b + pos, len - pos, &n);
        if (lr <= 0)
            goto stop;
        trailer += n + 2;
        if (trailer > max_trailer || (n > 0 && !field_line(b + pos, n))) {
            lr = -1;
            goto stop;
        }
        if (n == 0 || keep) {
            put(&r->out, &r->outlen, &r->outcap, b + pos, n);
            put(&r->out, &r->outlen, &r->outcap, "\r\n", 2);
        }
        pos += n + 2;
        if (n == 0) {
            r->result = REF_DONE;
            r->consumed = pos;
            return;
        }
    }
stop:
    r->result = lr < 0 ? REF_ERROR : REF_NEED;
}

/* memcmp, which may not be given NULL even for 0 bytes */
static int same(const unsigned char *a, const unsigned char *b, size_t n)
{
    return n == 0 || memcmp(a, b, n) == 0;
}

static void ref_free(struct ref *r)
{
    free(r->out);
    free(r->data);
}

/* ---- the pump under arbitrary splits ------------------------------------- */

static uint32_t rng;

static uint32_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[8] = { 1, 2, 3, 7, 64, 1000, 4096, 1 << 20 };

    if (size < 4)
        return 0;
    int keep = data[0] & 1;
    size_t limit = limits[(data[0] >> 1) & 7];
    size_t max_trailer = data[1] == 255 ? 65536 : (size_t)data[1] * 16;
    rng = ((uint32_t)data[2] << 8 | data[3]) * 2654435761u + 1;
    const unsigned char *body = data + 4;
    size_t len = size - 4;

    struct ref ref;
    ref_decode(body, len, keep, max_trailer, &ref);

    struct http_chunked ch;
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    unsigned char *got = NULL;
    size_t gotlen = 0, gotcap = 0, fed = 0;
    uint64_t moved = 0;
    char err[128];
    int r = 0;

    http_chunked_init(&ch, keep, max_trailer);
    while (r == 0) {
        if (fed < len) {
            /* pieces of 1 byte to 4 KiB, small ones more often */
            size_t piece = 1 + (next_rand() % (1u << (next_rand() % 13)));
            if (piece > len - fed)
                piece = len - fed;
            /* an exact-size heap copy: ASan sees any read beyond it */
            unsigned char *p = malloc(piece);
            memcpy(p, body + fed, piece);
            evbuffer_add(in, p, piece);
            free(p);
            fed += piece;
        }
        for (;;) {
            size_t in_before = evbuffer_get_length(in);
            uint64_t moved_before = moved;
            err[0] = '\0';
            r = http_chunked_pump(&ch, in, out, limit, &moved, err, sizeof(err));
            size_t olen = evbuffer_get_length(out);
            /* drain some or all of the output, as a slow client would */
            size_t k = olen ? 1 + next_rand() % olen : 0;
            if (olen && (next_rand() & 1))
                k = olen;
            if (k) {
                if (gotlen + k > gotcap) {
                    gotcap = (gotlen + k) * 2;
                    got = realloc(got, gotcap);
                }
                evbuffer_remove(out, got + gotlen, k);
                gotlen += k;
            }
            if (r != 0)
                break;
            if (evbuffer_get_length(out) >= limit)
                continue;
            if (evbuffer_get_length(in) == in_before && moved == moved_before && k == 0)
                break;          /* waiting for input */
        }
        if (r == 0 && fed == len)
            break;
    }
    /* whatever is still buffered toward the client */
    size_t rest = evbuffer_get_length(out);
    if (rest) {
        got = realloc(got, gotlen + rest);
        evbuffer_remove(out, got + gotlen, rest);
        gotlen += rest;
    }

    CHECK(moved == gotlen);
    CHECK(r >= -1 && r <= 1);
    switch (ref.result) {
    case REF_ERROR:
        CHECK(r == -1 && err[0] != '\0');
        CHECK(gotlen <= ref.outlen && same(got, ref.out, gotlen));
        break;
    case REF_DONE: {
        CHECK(r == 1);
        CHECK(gotlen == ref.outlen && same(got, ref.out, gotlen));
        CHECK(fed - evbuffer_get_length(in) == ref.consumed);
        /* Our output framing reads back to the same data, exactly. */
        struct ref again;
        ref_decode(got, gotlen, 1, (size_t)-1, &again);
        CHECK(again.result == REF_DONE && again.consumed == gotlen);
        CHECK(again.datalen == ref.datalen && same(again.data, ref.data, ref.datalen));
        ref_free(&again);
        break;
    }
    case REF_NEED:
        CHECK(r == 0 && fed == len);
        CHECK(gotlen == ref.outlen && same(got, ref.out, gotlen));
        break;
    }
    free(got);
    evbuffer_free(in);
    evbuffer_free(out);
    ref_free(&ref);
    return 0;
}
