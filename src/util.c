/* Small helpers shared by every module: base64 variants, allocation that
 * cannot fail silently, counted-string comparisons, clocks. */
#include "util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char b64url_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Character values for both alphabets, built once: 0-63, 64 for a
 * character of neither. A table lookup per character instead of a chain
 * of range tests: every handshake decodes its token's three segments. */
static unsigned char b64_table[2][256];
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;

static void b64_init(void)
{
    memset(b64_table, 64, sizeof(b64_table));
    for (int i = 0; i < 64; i++) {
        b64_table[0][(unsigned char)b64_chars[i]] = (unsigned char)i;
        b64_table[1][(unsigned char)b64url_chars[i]] = (unsigned char)i;
    }
}

/* Decodes len characters of unpadded input; rejects a dangling single
 * character and non-zero trailing bits so every token has one encoding. */
static long b64_decode_core(const char *in, size_t len, unsigned char *out, int url)
{
    const unsigned char *tab;
    const unsigned char *p = (const unsigned char *)in;
    size_t o = 0, i = 0;
    unsigned acc = 0;
    int bits = 0;

    if (len % 4 == 1)
        return -1;
    pthread_once(&b64_once, b64_init);
    tab = b64_table[url ? 1 : 0];
    for (; i + 4 <= len; i += 4) {
        unsigned a = tab[p[i]], b = tab[p[i + 1]], c = tab[p[i + 2]], d = tab[p[i + 3]];
        if ((a | b | c | d) & 64)
            return -1;
        unsigned v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
    }
    for (; i < len; i++) {
        unsigned v = tab[p[i]];
        if (v & 64)
            return -1;
        acc = (acc << 6) | v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1;
    return (long)o;
}

unsigned char *util_b64url_decode(const char *in, size_t len, size_t *outlen)
{
    unsigned char *out = util_xmalloc(len / 4 * 3 + 4);
    long n = b64_decode_core(in, len, out, 1);
    if (n < 0) {
        free(out);
        return NULL;
    }
    out[n] = '\0';
    if (outlen)
        *outlen = (size_t)n;
    return out;
}

long util_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap)
{
    size_t pad = 0;
    unsigned char *tmp;
    long n;

    if (len % 4 != 0)
        return -1;
    while (pad < 2 && len > 0 && in[len - 1] == '=') {
        len--;
        pad++;
    }
    /* Decode aside: out may be smaller than the worst case. */
    tmp = util_xmalloc(len / 4 * 3 + 3);
    n = b64_decode_core(in, len, tmp, 0);
    if (n >= 0 && (size_t)n <= cap)
        memcpy(out, tmp, (size_t)n);
    else
        n = -1;
    free(tmp);
    return n;
}

static char *b64_encode_core(const unsigned char *in, size_t len, const char *alphabet, int pad)
{
    char *out = util_xmalloc((len + 2) / 3 * 4 + 1);
    size_t i, o = 0;

    for (i = 0; i + 2 < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        out[o++] = alphabet[(v >> 6) & 63];
        out[o++] = alphabet[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)in[i + 1] << 8;
        out[o++] = alphabet[v >> 18];
        out[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = alphabet[(v >> 6) & 63];
        else if (pad)
            out[o++] = '=';
        if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

char *util_b64url_encode(const unsigned char *in, size_t len)
{
    return b64_encode_core(in, len, b64url_chars, 0);
}

char *util_b64_encode(const unsigned char *in, size_t len)
{
    return b64_encode_core(in, len, b64_chars, 1);
}

int util_strieq(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

int util_list_has_token(const char *list, size_t len, const char *tok)
{
    const char *p = list, *e;
    size_t el;

    while (util_next_item(&p, list + len, ',', &e, &el))
        if (el > 0 && util_strieq(e, el, tok))
            return 1;
    return 0;
}

int util_next_item(const char **p, const char *end, char sep, const char **item, size_t *len)
{
    if (*p >= end)
        return 0;
    const char *s = memchr(*p, sep, (size_t)(end - *p));
    *item = *p;
    *len = (size_t)((s ? s : end) - *p);
    *p = s ? s + 1 : end;
    util_trim_ows(item, len);
    return 1;
}

int util_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void util_trim_ows(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

char *util_strndup(const char *s, size_t n)
{
    char *p = util_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *util_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("wsgate: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *util_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fputs("wsgate: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *util_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("wsgate: out of memory\n", stderr);
        abort();
    }
    return q;
}

char *util_xstrdup(const char *s)
{
    return util_strndup(s, strlen(s));
}

int64_t util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Not time(): glibc reads it from the kernel's tick-updated coarse clock,
 * which lags gettimeofday() by up to a tick at each second boundary, so a
 * token could be admitted in the second after its exp + leeway and then
 * have its expiry (armed with gettimeofday, session.c) fire at once. */
int64_t util_wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}
