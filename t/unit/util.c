/* util.c helpers: base64 variants (strict, canonical), counted-string
 * comparison, HTTP #list token search, allocation helpers. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static void test_b64url(void)
{
    struct { const char *raw; const char *enc; } v[] = {
        { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
        { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
        { "\xfb\xff\xbf", "-_-_" }, { "{\"alg\":\"RS256\"}", "eyJhbGciOiJSUzI1NiJ9" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char *e = util_b64url_encode((const unsigned char *)v[i].raw, strlen(v[i].raw));
        is_str(e, v[i].enc, "b64url encode %zu", i);
        free(e);
        size_t n = 99;
        unsigned char *d = util_b64url_decode(v[i].enc, strlen(v[i].enc), &n);
        ok(d && n == strlen(v[i].raw) && memcmp(d, v[i].raw, n) == 0 && d[n] == '\0',
           "b64url decode %zu", i);
        free(d);
    }
    /* every byte value round-trips */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (size_t len = 0; len <= 256; len += 37) {
        char *e = util_b64url_encode(all, len);
        size_t n;
        unsigned char *d = util_b64url_decode(e, strlen(e), &n);
        ok(d && n == len && memcmp(d, all, len) == 0 && !strpbrk(e, "+/="), "round trip %zu bytes", len);
        free(d);
        free(e);
    }
    const char *bad[] = {
        "Zg==", "Zm8=", "Zg=", "Z", "Zm9vY", "Zm 9v", "Zm9v\n", "Zm+v", "Zm/v", "Zm9v!",
        "Zh", "Zm9", "Zm8x\0",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = 7;
        size_t len = strlen(bad[i]) + (i == 12 ? 1 : 0);
        unsigned char *d = util_b64url_decode(bad[i], len, &n);
        ok(d == NULL, "b64url rejects bad input %zu", i);
        free(d);
    }
    unsigned char *d = util_b64url_decode("Zm9v", 4, NULL);
    ok(d && strcmp((char *)d, "foo") == 0, "outlen may be NULL");
    free(d);
    d = util_b64url_decode("Zm9vYmFy", 4, NULL);
    ok(d && strcmp((char *)d, "foo") == 0, "length is honoured");
    free(d);
}

static void test_b64(void)
{
    unsigned char out[64];
    char *e = util_b64_encode((const unsigned char *)"foob", 4);
    is_str(e, "Zm9vYg==", "b64 encode pads");
    free(e);
    e = util_b64_encode((const unsigned char *)"fooba", 5);
    is_str(e, "Zm9vYmE=", "b64 encode one pad");
    free(e);
    e = util_b64_encode((const unsigned char *)"\xfb\xff\xbf", 3);
    is_str(e, "+/+/", "b64 alphabet");
    free(e);
    e = util_b64_encode((const unsigned char *)"", 0);
    is_str(e, "", "empty");
    free(e);

    is_int(util_b64_decode("Zm9vYg==", 8, out, sizeof(out)), 4, "decode two pads");
    ok(memcmp(out, "foob", 4) == 0, "decoded bytes");
    is_int(util_b64_decode("Zm9vYmE=", 8, out, sizeof(out)), 5, "decode one pad");
    is_int(util_b64_decode("Zm9vYmFy", 8, out, sizeof(out)), 6, "decode no pad");
    is_int(util_b64_decode("", 0, out, sizeof(out)), 0, "decode empty");
    is_int(util_b64_decode("+/+/", 4, out, sizeof(out)), 3, "decode + and /");
    /* a Sec-WebSocket-Key: 16 random bytes */
    is_int(util_b64_decode("dGhlIHNhbXBsZSBub25jZQ==", 24, out, 16), 16, "websocket key");
    ok(memcmp(out, "the sample nonce", 16) == 0, "websocket key bytes");
    is_int(util_b64_decode("dGhlIHNhbXBsZSBub25jZQ==", 24, out, 15), -1, "cap exceeded");

    const char *bad[] = {
        "Zm9vYg", "Zm9vYg=", "Zm9vYg===", "Zm9v=mFy", "Zm9vYh==", "Zm9vYmF=", "-_-_",
        "Zm9v Yg=", "====", "Z===", "Zm9vYg=\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        is_int(util_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out)), -1,
               "b64 rejects bad input %zu", i);

    /* large inputs within cap */
    unsigned char big[510], back[600];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (unsigned char)(i * 7);
    e = util_b64_encode(big, sizeof(big));
    is_int(util_b64_decode(e, strlen(e), back, sizeof(back)), 510, "510-byte decode");
    ok(memcmp(back, big, sizeof(big)) == 0, "510 bytes round-trip");
    free(e);
}

static void test_strings(void)
{
    ok(util_strieq("Upgrade", 7, "upgrade"), "strieq case-insensitive");
    ok(util_strieq("HOSTX", 4, "host"), "strieq honours length");
    ok(!util_strieq("Host", 4, "hosts"), "strieq length differs");
    ok(!util_strieq("Hos", 3, "host"), "strieq shorter");
    ok(util_strieq("", 0, ""), "strieq empty");
    ok(!util_strieq("a\0b", 3, "a"), "strieq with NUL in counted string");

    const char *l = "keep-alive, Upgrade";
    ok(util_list_has_token(l, strlen(l), "upgrade"), "list has token");
    ok(util_list_has_token(l, strlen(l), "KEEP-ALIVE"), "list first element");
    ok(!util_list_has_token(l, strlen(l), "keep"), "list no prefix match");
    ok(!util_list_has_token(l, strlen(l), "grade"), "list no suffix match");
    l = " ,\t upgrade \t, ,";
    ok(util_list_has_token(l, strlen(l), "upgrade"), "list with OWS and empty elements");
    ok(!util_list_has_token("", 0, "upgrade"), "empty list");
    ok(!util_list_has_token(",,, ", 4, "upgrade"), "only separators");
    ok(!util_list_has_token("upgrade", 6, "upgrade"), "list length honoured");
    ok(!util_list_has_token("up grade", 8, "upgrade"), "inner space is not a separator");
    ok(util_list_has_token("a,b,c", 5, "c"), "last element");

    /* util_next_item: every element, trimmed, empty ones included. */
    const char *lst = " a=1 ;b ;; \tc=\"x y\"", *p = lst, *end = lst + strlen(lst), *it;
    size_t il, n = 0;
    char got[128] = "";
    while (util_next_item(&p, end, ';', &it, &il) && n++ < 10) {
        strncat(got, "[", sizeof(got) - strlen(got) - 1);
        strncat(got, it, il < sizeof(got) - strlen(got) - 1 ? il : 0);
        strncat(got, "]", sizeof(got) - strlen(got) - 1);
    }
    is_str(got, "[a=1][b][][c=\"x y\"]", "next_item: trimmed elements, empty ones kept");
    ok(n == 4 && p == end, "next_item: stops at the end");
    p = lst;
    ok(!util_next_item(&p, lst, ';', &it, &il), "next_item: an empty range has no element");
    p = "x,";
    end = p + 2;
    n = 0;
    while (util_next_item(&p, end, ',', &it, &il))
        n++;
    ok(n == 1, "next_item: a trailing separator ends the list");

    char err[16];
    ok(util_fail(err, sizeof(err), "%s %d", "too long to fit", 42) == -1 &&
       strcmp(err, "too long to fit") == 0, "util_fail formats, truncates and returns -1");
    ok(util_fail(NULL, 0, "x") == -1, "util_fail without a buffer");

    char *s = util_strndup("abcdef", 3);
    is_str(s, "abc", "strndup");
    free(s);
    s = util_xstrdup("xyz");
    is_str(s, "xyz", "xstrdup");
    free(s);
    char *z = util_xcalloc(4, 4);
    ok(z && z[0] == 0 && z[15] == 0, "xcalloc zeroes");
    z = util_xrealloc(z, 64);
    ok(z != NULL, "xrealloc");
    free(z);
    free(util_xmalloc(0));
    ok(1, "xmalloc(0) is fine");

    int64_t a = util_now_ms(), b = util_now_ms();
    ok(b >= a && a > 0, "monotonic ms");
    ok(util_wall_s() > 1600000000, "wall clock");
}

int main(void)
{
    test_b64url();
    test_b64();
    test_strings();
    return tap_done();
}
