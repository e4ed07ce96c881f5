/* libFuzzer harness for the path normaliser (SPEC §3a). Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc t/fuzz/path_fuzz.c \
 *       src/http.c src/util.c -levent -lssl -lcrypto -o /tmp/path_fuzz
 *   /tmp/path_fuzz -max_total_time=30 t/fuzz/corpus/path
 * Besides memory safety (input and output are exact-size heap blocks) it
 * checks what routing relies on: an accepted path starts with '/', holds
 * no "//", no "." or ".." segment, no escape of an unreserved character,
 * no lower-case hex, no encoded '/', '\' or NUL, is no longer than its
 * input, is a fixed point (normalising it again gives it back), and equals
 * what a separate, simpler model of the SPEC computes; a refusal always
 * says why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The model: split on '/', decode each segment on its own, then resolve
 * with an explicit stack of segments. Returns the length, or -1 for a
 * refusal. out has room for n + 2 bytes. */
static long model(const char *in, size_t n, char *out)
{
    size_t nseg = 0, cap = n / 2 + 2;
    size_t *start = malloc(cap * sizeof(*start)), *len = malloc(cap * sizeof(*len));
    char *dec = malloc(n * 3 + 4);
    size_t d = 0, i = 0;
    int dir = 0;
    long rc = -1;

    if (n && in[0] != '/')
        goto out;
    while (i < n) {
        size_t s = d;
        for (i++; i < n && in[i] != '/'; i++) {
            unsigned char c = (unsigned char)in[i];
            if (c == '%') {
                if (i + 2 >= n || hexval((unsigned char)in[i + 1]) < 0
                    || hexval((unsigned char)in[i + 2]) < 0)
                    goto out;
                c = (unsigned char)(hexval((unsigned char)in[i + 1]) * 16
                                    + hexval((unsigned char)in[i + 2]));
                i += 2;
                if (c == 0 || c == '/' || c == '\\')
                    goto out;
                if (unreserved(c)) {
                    dec[d++] = (char)c;
                } else {
                    d += (size_t)sprintf(dec + d, "%%%02X", c);
                }
            } else {
                if (c == '\\' || c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
                    goto out;
                dec[d++] = (char)c;
            }
        }
        size_t l = d - s;
        const char *seg = dec + s;
        const char *semi = memchr(seg, ';', l);
        size_t bare = semi ? (size_t)(semi - seg) : l;
        int dots = bare == 0 || (bare == 1 && seg[0] == '.')
                   || (bare == 2 && seg[0] == '.' && seg[1] == '.');
        if (dots && semi)
            goto out;
        if (l == 2 && seg[0] == '.' && seg[1] == '.') {
            if (nseg == 0)
                goto out;
            nseg--;
            dir = 1;
        } else if (l == 0 || (l == 1 && seg[0] == '.')) {
            dir = 1;
        } else {
            start[nseg] = s;
            len[nseg++] = l;
            dir = 0;
        }
    }
    size_t o = 0;
    for (size_t k = 0; k < nseg; k++) {
        out[o++] = '/';
        memcpy(out + o, dec + start[k], len[k]);
        o += len[k];
    }
    if (o == 0 || dir)
        out[o++] = '/';
    out[o] = '\0';
    rc = (long)o;
out:
    free(start);
    free(len);
    free(dec);
    return rc;
}

static void check_shape(const char *p, size_t n)
{
    CHECK(n >= 1 && p[0] == '/');
    CHECK(strlen(p) == n);
    CHECK(!strstr(p, "//"));
    CHECK(!strstr(p, "/./") && !strstr(p, "/../"));
    CHECK(!(n >= 2 && strcmp(p + n - 2, "/.") == 0));
    CHECK(!(n >= 3 && strcmp(p + n - 3, "/..") == 0));
    CHECK(!strchr(p, '\\'));
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '%')
            continue;
        CHECK(i + 2 < n);
        int h = hexval((unsigned char)p[i + 1]), l = hexval((unsigned char)p[i + 2]);
        CHECK(h >= 0 && l >= 0);
        CHECK(!(p[i + 1] >= 'a' && p[i + 1] <= 'f') && !(p[i + 2] >= 'a' && p[i + 2] <= 'f'));
        unsigned char c = (unsigned char)(h * 16 + l);
        CHECK(!unreserved(c));
        CHECK(c != '/' && c != '\\' && c != 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    size_t cap = size + 1 < 2 ? 2 : size + 1;
    char *out = malloc(cap), *again = malloc(cap), *ref = malloc(size + 2);
    char err[128];
    size_t len = 0, len2 = 0;

    memcpy(in, data, size);
    int rc = http_normalize_path(in, size, out, cap, &len, err, sizeof(err));
    long m = model(in, size, ref);
    if (rc != 0) {
        CHECK(rc == -1);
        CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
        CHECK(m < 0);
    } else {
        CHECK(len < cap && len <= (size ? size : 1));
        check_shape(out, len);
        CHECK(m >= 0 && (size_t)m == len && memcmp(ref, out, len) == 0);
        CHECK(http_normalize_path(out, len, again, cap, &len2, err, sizeof(err)) == 0);
        CHECK(len2 == len && memcmp(again, out, len) == 0);
    }
    free(in);
    free(out);
    free(again);
    free(ref);
    return 0;
}
