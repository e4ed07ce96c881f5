/* Path normalisation (SPEC §3a): every shape of the SPEC and its
 * variants, each normalised and then normalised again (the result must be
 * a fixed point), and the request-level entry point on origin-form and
 * absolute-form targets. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"

static char err[256];

/* Normalises s (n bytes); returns the result (static) or NULL with err. */
static const char *norm_n(const char *s, size_t n)
{
    static char *out;
    static size_t cap;
    size_t len = 0;

    if (cap < n + 2) {
        free(out);
        cap = n + 2;
        out = malloc(cap);
    }
    memset(out, 'Z', cap);
    if (http_normalize_path(s, n, out, cap, &len, err, sizeof(err)) < 0)
        return NULL;
    if (len != strlen(out))
        return "(length mismatch)";
    return out;
}

static const char *norm(const char *s)
{
    return norm_n(s, strlen(s));
}

/* The normalised form, and normalising that gives it back unchanged. */
#define N(in, want) do { \
    const char *r_ = norm(in); \
    char *copy_ = r_ ? strdup(r_) : NULL; \
    is_str(r_, want, "%s -> %s", in, want); \
    if (!r_) printf("#   err: %s\n", err); \
    is_str(copy_ ? norm(copy_) : NULL, want, "%s: normalising again keeps it", want); \
    free(copy_); \
} while (0)

#define BAD(in, why) do { \
    const char *r_ = norm(in); \
    ok(r_ == NULL, "%s refused", in); \
    if (r_) printf("#   got \"%s\"\n", r_); \
    is_str(err, why, "%s: reason", in); \
} while (0)

static void test_spec_shapes(void)
{
    /* The SPEC's own examples: all reach the backend as /admin. */
    N("/%61dmin", "/admin");
    N("//admin", "/admin");
    N("/x/../admin", "/admin");
    N("/x/%2e%2e/admin", "/admin");
    N("/%61dmin/users", "/admin/users");
    BAD("/%2e%2e/admin", "path climbs above the root");
    BAD("/../admin", "path climbs above the root");
    BAD("/a%2Fb", "encoded slash or backslash in path");
    BAD("/a%2fb", "encoded slash or backslash in path");
    BAD("/a%5Cb", "encoded slash or backslash in path");
    BAD("/a%5cb", "encoded slash or backslash in path");
    BAD("/a\\b", "backslash in path");
    BAD("/a%00b", "NUL in path");
    BAD("/a%zz", "invalid percent-encoding in path");
    BAD("/a%4", "invalid percent-encoding in path");
    BAD("/a%", "invalid percent-encoding in path");
    BAD("/a%4g/b", "invalid percent-encoding in path");
    BAD("/a%%41", "invalid percent-encoding in path");
}

static void test_decoding(void)
{
    N("/%41%42%43%5a%61%7a%30%39", "/ABCZaz09");
    N("/%2D%2e%5F%7E", "/-._~");
    N("/%7E", "/~");
    N("/%7e", "/~");
    N("/%7euser", "/~user");
    N("/caf%c3%a9", "/caf%C3%A9");                  /* UTF-8, escaped: hex upper-cased */
    N("/caf%C3%A9", "/caf%C3%A9");
    N("/a%20b", "/a%20b");
    N("/a%3fb", "/a%3Fb");                          /* '?' stays encoded: it is not the query */
    N("/a%23b", "/a%23b");                          /* '#' likewise */
    N("/a%25", "/a%25");
    N("/%252F", "/%252F");                          /* double encoding is decoded once: */
    N("/%252f", "/%252f");                          /* %25 stays, "2f" is plain text */
    N("/%25%32%46", "/%252F");                      /* %32 %46 are digits/letters: decoded, %25 kept */
    N("/%2541dmin", "/%2541dmin");
    N("/a%3Bb", "/a%3Bb");                          /* an encoded ';' is no parameter */
    N("/a%2eb", "/a.b");                            /* a dot inside a segment is just a dot */
    N("/%2e%2e%2e", "/...");                        /* three dots are a name */
    N("/.%2e.", "/...");
    N("/..a", "/..a");
    N("/a..", "/a..");
    N("/.well-known/x", "/.well-known/x");
    N("/a/b.c/", "/a/b.c/");
    N("/\"<>{}|^`[]", "/\"<>{}|^`[]");            /* raw printable bytes pass as they are */
    N("/!$&'()*+,=:@", "/!$&'()*+,=:@");
}

static void test_segments(void)
{
    N("", "/");
    N("/", "/");
    N("//", "/");
    N("///a///b///", "/a/b/");
    N("/a/./b", "/a/b");
    N("/a/%2e/b", "/a/b");
    N("/a/%2E/b", "/a/b");
    N("/./a", "/a");
    N("/.", "/");
    N("/a/.", "/a/");
    N("/a/..", "/");
    N("/a/b/..", "/a/");
    N("/a/b/../", "/a/");
    N("/a/b/%2E%2e", "/a/");
    N("/a/b/.%2E/c", "/a/c");
    N("/a/b/%2e./c", "/a/c");
    N("/a/b/../../c", "/c");
    N("/a/./../b", "/b");
    N("/a//../b", "/b");                            /* "//" merged first: /a/../b */
    N("/a/b//..//c", "/a/c");
    N("/a/b/./././", "/a/b/");
    N("/x/../admin/", "/admin/");
    BAD("/..", "path climbs above the root");
    BAD("/a/../..", "path climbs above the root");
    BAD("/a/../../b", "path climbs above the root");
    BAD("//../a", "path climbs above the root");
    BAD("/./../a", "path climbs above the root");
    BAD("/%2E%2E", "path climbs above the root");
    BAD("a/b", "path must start with \"/\"");
}

static void test_params(void)
{
    /* ';' is plain text to most servers, a parameter to Tomcat and Jetty,
     * which strip it before resolving dots: a segment that would be a
     * dot or empty one to them is refused. */
    N("/a;b", "/a;b");
    N("/admin;jsessionid=1/users", "/admin;jsessionid=1/users");
    N("/a;/b", "/a;/b");
    N("/...;x", "/...;x");
    BAD("/..;/admin", "path parameter on an empty or dot segment");
    BAD("/x/..;/admin", "path parameter on an empty or dot segment");
    BAD("/x/.;/admin", "path parameter on an empty or dot segment");
    BAD("/;x/admin", "path parameter on an empty or dot segment");
    BAD("/x/%2e%2e;y/admin", "path parameter on an empty or dot segment");
    BAD("/x/;", "path parameter on an empty or dot segment");
}

static void test_bytes(void)
{
    const char nul[] = "/a\0b";
    ok(norm_n(nul, 4) == NULL, "a raw NUL is refused");
    is_str(err, "NUL in path", "raw NUL: reason");
    ok(norm("/caf\xc3\xa9") == NULL, "raw UTF-8 bytes are refused (no request line carries them)");
    is_str(err, "invalid character in path", "raw UTF-8: reason");
    ok(norm("/a b") == NULL, "a space is refused");
    ok(norm("/a\tb") == NULL, "a tab is refused");
    ok(norm("/a\x7f") == NULL, "DEL is refused");
    ok(norm("/a?b") == NULL, "a raw '?' is no path byte");
    ok(norm("/a#b") == NULL, "a raw '#' is no path byte");

    /* Buffer contract: n + 1 bytes, and at least 2. */
    char small[4];
    size_t len = 99;
    ok(http_normalize_path("/abcd", 5, small, sizeof(small), &len, err, sizeof(err)) < 0,
       "an output buffer shorter than n + 1 is refused");
    is_str(err, "path too long", "short buffer: reason");
    char two[2];
    ok(http_normalize_path("", 0, two, sizeof(two), &len, err, sizeof(err)) == 0
       && len == 1 && strcmp(two, "/") == 0, "an empty path fits in 2 bytes as \"/\"");
    ok(http_normalize_path("/a", 2, small, 3, &len, NULL, 0) == 0 && len == 2,
       "n + 1 bytes suffice; err may be NULL");
    ok(http_normalize_path("/%zz", 4, small, 5, &len, NULL, 0) < 0, "refusal with a NULL err");
}

static void test_long(void)
{
    /* 100k segments "a/" then as many ".." : the whole climb resolves to
     * "/", in linear time (a quadratic pop would take minutes). */
    size_t k = 100000, n = 0;
    char *p = malloc(k * 5 + 16);
    for (size_t i = 0; i < k; i++) {
        memcpy(p + n, "/a", 2);
        n += 2;
    }
    for (size_t i = 0; i < k; i++) {
        memcpy(p + n, "/..", 3);
        n += 3;
    }
    const char *g = norm_n(p, n);
    is_str(g, "/", "100000 segments and as many '..' resolve to /");
    memcpy(p + n, "/..", 3);
    ok(norm_n(p, n + 3) == NULL, "one '..' more climbs above the root");

    /* A 60000-byte path of escapes and slashes. */
    n = 0;
    for (size_t i = 0; i < 10000; i++) {
        memcpy(p + n, "//%61%2e", 8);
        n += 8;
    }
    g = norm_n(p, n);
    ok(g && strlen(g) == 10000 * 3, "10000 '//%%61%%2e' pieces: one '/a.' each");
    ok(g && strncmp(g, "/a./a./a.", 9) == 0, "long path content");

    /* 30000 plain segments kept as they are. */
    n = 0;
    for (size_t i = 0; i < 30000; i++) {
        memcpy(p + n, "/seg", 4);
        n += 4;
    }
    g = norm_n(p, n);
    ok(g && strlen(g) == n && memcmp(g, p, n) == 0, "30000 ordinary segments unchanged");
    free(p);
}

static void test_request(void)
{
    struct http_request req;
    char buf[256];
    const char *h;

    h = "GET /x/%2E%2E/%61dmin//users?q=%2e%2e/%2F&b=../ HTTP/1.1\r\nHost: h\r\n\r\n";
    is_int(http_parse_request(h, strlen(h), &req, err, sizeof(err)), 0, "request parses");
    is_int(http_request_normalize(&req, buf, sizeof(buf), err, sizeof(err)), 0, "request normalised");
    ok(req.path == buf && req.path_len == 12 && memcmp(req.path, "/admin/users", 12) == 0,
       "request path is the normalised one");
    ok(req.query_len == 18 && memcmp(req.query, "q=%2e%2e/%2F&b=../", 18) == 0,
       "the query is kept exactly as sent");

    h = "GET http://h/a/../%41dmin?x=%2F HTTP/1.1\r\nHost: h\r\n\r\n";
    is_int(http_parse_request(h, strlen(h), &req, err, sizeof(err)), 0, "absolute-form parses");
    is_int(http_request_normalize(&req, buf, sizeof(buf), err, sizeof(err)), 0,
           "absolute-form normalised");
    ok(req.path_len == 6 && memcmp(req.path, "/Admin", 6) == 0, "absolute-form path normalised");

    h = "GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n";
    is_int(http_parse_request(h, strlen(h), &req, err, sizeof(err)), 0, "absolute-form without a path");
    is_int(http_request_normalize(&req, buf, sizeof(buf), err, sizeof(err)), 0,
           "absolute-form without a path normalised");
    ok(req.path_len == 1 && req.path[0] == '/', "... to /");

    h = "GET http://h/%2e%2e/admin HTTP/1.1\r\nHost: h\r\n\r\n";
    is_int(http_parse_request(h, strlen(h), &req, err, sizeof(err)), 0, "absolute-form climbing parses");
    is_int(http_request_normalize(&req, buf, sizeof(buf), err, sizeof(err)), 400,
           "absolute-form climbing above the root -> 400");

    h = "GET /a%2fb?%2F HTTP/1.1\r\nHost: h\r\n\r\n";
    is_int(http_parse_request(h, strlen(h), &req, err, sizeof(err)), 0, "encoded slash parses");
    is_int(http_request_normalize(&req, buf, sizeof(buf), err, sizeof(err)), 400,
           "encoded slash in the path -> 400");

    h = "GET /a?b=%00&c=%2F&d=..%5C HTTP/1.1\r\nHost: h\r\n\r\n";
    is_int(http_parse_request(h, strlen(h), &req, err, sizeof(err)), 0, "query shapes parse");
    is_int(http_request_normalize(&req, buf, sizeof(buf), err, sizeof(err)), 0,
           "%%00, %%2F and %%5C in the query are not path problems");
}

int main(void)
{
    test_spec_shapes();
    test_decoding();
    test_segments();
    test_params();
    test_bytes();
    test_long();
    test_request();
    return tap_done();
}
