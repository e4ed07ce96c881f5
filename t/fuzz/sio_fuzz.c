/* libFuzzer harness for the socket.io / Engine.IO readers of sioparse.c.
 * Build and run, e.g.:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc t/fuzz/sio_fuzz.c \
 *       src/sioparse.c -o /tmp/sio_fuzz
 *   /tmp/sio_fuzz -max_total_time=30 -max_len=512 t/fuzz/corpus/sio
 * The first input byte picks the reader; the rest is its input. Besides
 * memory safety it checks each reader against a small model of the
 * backend's own (URLSearchParams for the query, socket.io-parser's
 * decodeString for packets): whatever wsgate accepts, the backend reads
 * exactly the same way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sioparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

static int hexv(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* application/x-www-form-urlencoded decoding, as the WHATWG URL standard
 * writes it (bytes; the UTF-8 step cannot turn non-ASCII into ASCII). */
static size_t model_decode(const char *s, size_t n, char *d)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            d[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexv((unsigned char)s[i + 1]) >= 0 &&
                   hexv((unsigned char)s[i + 2]) >= 0) {
            d[o++] = (char)(hexv((unsigned char)s[i + 1]) * 16 + hexv((unsigned char)s[i + 2]));
            i += 2;
        } else {
            d[o++] = s[i];
        }
    }
    return o;
}

/* What engine.io's req._query holds for name: 1 with the last value, 0 absent. */
static int model_query(const char *q, size_t n, const char *name, char *val, size_t *vl)
{
    size_t i = 0;
    int found = 0;
    char *nb = malloc(n + 1), *vb = malloc(n + 1);

    while (i <= n && n) {
        size_t e = i;
        while (e < n && q[e] != '&')
            e++;
        if (e > i) {
            size_t eq = i;
            while (eq < e && q[eq] != '=')
                eq++;
            size_t nl = model_decode(q + i, eq - i, nb);
            size_t l = eq < e ? model_decode(q + eq + 1, e - eq - 1, vb) : 0;
            if (nl == strlen(name) && memcmp(nb, name, nl) == 0) {
                memcpy(val, vb, l);
                *vl = l;
                found = 1;
            }
        }
        i = e + 1;
    }
    free(nb);
    free(vb);
    return found;
}

static void fuzz_query(const char *q, size_t n)
{
    struct sio_query sq;
    char err[128];
    int r = socketio_parse_query(q, n, &sq, err, sizeof(err));
    char *v = malloc(n + 1);
    size_t vl = 0;

    if (r == 0) {
        /* engine.io reads protocol 4 and no JSONP, with the values we saw */
        CHECK(model_query(q, n, "EIO", v, &vl) && vl == 1 && v[0] == '4');
        CHECK(!model_query(q, n, "j", v, &vl));
        CHECK(sq.eio >= q && sq.eio + sq.eio_len <= q + n);
        if (model_query(q, n, "transport", v, &vl))
            CHECK(sq.transport && sq.transport_len == vl && memcmp(sq.transport, v, vl) == 0);
        else
            CHECK(!sq.transport);
        if (model_query(q, n, "sid", v, &vl))
            CHECK(sq.sid && sq.sid_len == vl && memcmp(sq.sid, v, vl) == 0);
        else
            CHECK(!sq.sid);
    } else {
        CHECK(r == -1 && err[0]);
    }
    free(v);
}

/* Whether the UTF-8 text at p starts with a character ECMAScript's Number()
 * takes for white space (StrWhiteSpaceChar), and its length. */
static size_t js_space(const unsigned char *p, size_t n)
{
    static const char *const sp[] = {
        "\t", "\n", "\v", "\f", "\r", " ", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
        "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86", "\xe2\x80\x87",
        "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf",
        "\xe2\x81\x9f", "\xe3\x80\x80", "\xef\xbb\xbf",
    };
    for (size_t i = 0; i < sizeof(sp) / sizeof(sp[0]); i++) {
        size_t l = strlen(sp[i]);
        if (n >= l && memcmp(p, sp[i], l) == 0)
            return l;
    }
    return 0;
}

static void fuzz_packet(const unsigned char *p, size_t n)
{
    int kind = socketio_packet_kind(p, n, 1);
    char nsp[64];
    const char *d;
    size_t dl;
    int r;

    /* socket.io's type is Number(charAt(0)) of what follows the Engine.IO
     * '4': type 0 (CONNECT) for '0', nothing, or white space. */
    int sio_connect = n >= 1 && p[0] == '4' && (n == 1 || p[1] == '0' || js_space(p + 1, n - 1));
    if (sio_connect)
        CHECK(kind == SIO_KIND_CONNECT || kind == SIO_KIND_BAD);
    if (kind == SIO_KIND_CONNECT)
        CHECK(n >= 2 && p[0] == '4' && p[1] == '0');
    /* A prefix never claims a verdict the whole packet contradicts. */
    for (size_t k = 0; k <= n && k < 4; k++) {
        int pk = socketio_packet_kind(p, k, 0);
        CHECK(pk == SIO_KIND_MORE || pk == kind);
    }

    r = socketio_parse_connect((const char *)p, n, nsp, sizeof(nsp), &d, &dl);
    if (kind != SIO_KIND_CONNECT) {
        CHECK(r == -1);
        return;
    }
    CHECK(r == 0 || r == -2);
    if (r != 0)
        return;
    /* decodeString on the socket.io packet s = p + 1: the namespace runs
     * from s[1] == '/' to the first ',' or the end; after it an ack id is
     * read if the next char is a digit (or white space); then the data. */
    size_t i = 1, start;
    const unsigned char *s = p + 1;
    size_t sn = n - 1;
    CHECK(nsp[0] == '/');
    if (sn > 1 && s[1] == '/') {
        start = 1;
        i = 1;
        while (i < sn && s[i] != ',')
            i++;
        CHECK(strlen(nsp) == i - start && memcmp(nsp, s + start, i - start) == 0);
        for (size_t k = start; k < i; k++)
            CHECK(s[k] > 0x20 && s[k] < 0x7f && s[k] != '?' && s[k] != '#');
    } else {
        CHECK(strcmp(nsp, "/") == 0);
        i = 0;
    }
    /* next char: i + 1 */
    if (i + 1 < sn) {
        CHECK(!(s[i + 1] >= '0' && s[i + 1] <= '9'));
        CHECK(!js_space(s + i + 1, sn - i - 1));
        CHECK(d == (const char *)s + i + 1 && d[0] == '{' && dl == sn - i - 1);
    } else {
        CHECK(d == NULL && dl == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    if (data[0] & 1)
        fuzz_query(buf, size - 1);
    else
        fuzz_packet((const unsigned char *)buf, size - 1);
    free(buf);
    return 0;
}
