/* Origin patterns: normalisation at config load, and the cross-site
 * hijack shapes that must never match. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "origin.h"

static char err[256];

static void norm(const char *in, const char *want)
{
    char *got = origin_pattern_normalize(in, err, sizeof(err));
    is_str(got, want, "normalize %s", in);
    if (!got)
        printf("#   err: %s\n", err);
    free(got);
}

static void bad(const char *in, const char *why)
{
    char want[300];
    char *got = origin_pattern_normalize(in, err, sizeof(err));
    ok(got == NULL, "reject pattern %s", in);
    snprintf(want, sizeof(want), "bad origin pattern \"%s\": %s", in, why);
    is_str(err, want, "reason for %s", in);
    free(got);
}

/* A route whose patterns went through the normaliser, as config.c does. */
static struct route mk(const char **pats)
{
    struct route r;
    size_t n = 0;

    memset(&r, 0, sizeof(r));
    while (pats[n])
        n++;
    r.origins = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        r.origins[i] = origin_pattern_normalize(pats[i], err, sizeof(err));
        if (!r.origins[i])
            printf("# bad test pattern %s: %s\n", pats[i], err);
    }
    r.norigins = n;
    return r;
}

static void unmk(struct route *r)
{
    for (size_t i = 0; i < r->norigins; i++)
        free(r->origins[i]);
    free(r->origins);
}

static int allowed(const struct route *r, const char *o)
{
    return origin_allowed(r, o, strlen(o));
}

#define YES(r, o) ok(allowed(r, o) == 1, "allowed: %s", o)
#define NO(r, o) ok(allowed(r, o) == 0, "refused: %s", o)

static void test_normalize(void)
{
    norm("https://example.com", "https://example.com");
    norm("HTTPS://Example.COM", "https://example.com");
    norm("https://example.com:443", "https://example.com");
    norm("http://example.com:80", "http://example.com");
    norm("http://example.com:443", "http://example.com:443");
    norm("https://example.com:80", "https://example.com:80");
    norm("http://localhost:8080", "http://localhost:8080");
    norm("https://*.Example.com", "https://*.example.com");
    norm("https://*.example.com:443", "https://*.example.com");
    norm("https://*.example.com:8443", "https://*.example.com:8443");
    norm("null", "null");
    norm("http://127.0.0.1:3000", "http://127.0.0.1:3000");
    norm("http://[::1]:8080", "http://[::1]:8080");
    norm("http://[FE80::1]", "http://[fe80::1]");
    norm("https://xn--bcher-kva.example", "https://xn--bcher-kva.example");

    bad("https://example.com/", "path not allowed (not even a trailing slash)");
    bad("https://example.com/app", "path not allowed (not even a trailing slash)");
    bad("https://user@example.com", "userinfo not allowed");
    bad("ftp://example.com", "scheme must be http or https");
    bad("ws://example.com", "scheme must be http or https");
    bad("example.com", "scheme must be http or https");
    bad("*", "scheme must be http or https");
    bad("https://", "missing host");
    bad("https://*.", "missing host");
    bad("https://a.*.example.com", "bad character in host");
    bad("https://*example.com", "bad character in host");
    bad("https://*.*.example.com", "bad character in host");
    bad("https://example.com.", "empty label in host");
    bad("https://.example.com", "empty label in host");
    bad("https://a..example.com", "empty label in host");
    bad("https://example.com:", "bad port");
    bad("https://example.com:0", "bad port");
    bad("https://example.com:65536", "bad port");
    bad("https://example.com:99999999999", "bad port");
    bad("https://example.com:8a", "unexpected character after host");
    bad("https://exa mple.com", "bad character in host");
    bad("https://example.com?x", "bad character in host");
    bad("https://b\xc3\xbc" "cher.example", "non-ASCII host (use the xn-- punycode form)");
    bad("https://*.[::1]", "wildcard on an IP address");
    bad("http://[::1", "bad IPv6 address");
    bad("http://[]", "bad IPv6 address");
}

static void test_exact(void)
{
    const char *p[] = { "https://example.com", "http://localhost:8080", NULL };
    struct route r = mk(p);

    YES(&r, "https://example.com");
    YES(&r, "https://EXAMPLE.com");
    YES(&r, "HTTPS://example.COM");
    YES(&r, "https://example.com:443");
    YES(&r, "http://localhost:8080");
    NO(&r, "http://example.com");               /* scheme mismatch */
    NO(&r, "https://example.com:8443");         /* port mismatch */
    NO(&r, "https://localhost:8080");
    NO(&r, "http://localhost");
    NO(&r, "http://localhost:8081");
    NO(&r, "https://example.com.");             /* trailing dot is another origin */
    NO(&r, "https://example.com.evil.com");
    NO(&r, "https://evilexample.com");
    NO(&r, "https://a.example.com");            /* exact pattern: no subdomains */
    NO(&r, "https://example.co");
    NO(&r, "https://example.com/");
    NO(&r, "https://example.com/path");
    NO(&r, "https://user@example.com");
    NO(&r, "https://example.com@evil.com");
    NO(&r, " https://example.com");
    NO(&r, "https://example.com ");
    NO(&r, "https://example.com https://other.com");
    NO(&r, "null");
    NO(&r, "");
    NO(&r, "*");
    NO(&r, "https://*.example.com");
    {
        static const char nul[] = "https://example.com\0.evil.com";
        ok(origin_allowed(&r, nul, sizeof(nul) - 1) == 0, "refused: NUL inside origin");
        ok(origin_allowed(&r, "https://example.com.evil", 19) == 1, "counted length honoured");
    }
    unmk(&r);
}

static void test_wildcard(void)
{
    const char *p[] = { "https://*.example.com", "http://*.dev.test:8080", NULL };
    struct route r = mk(p);

    YES(&r, "https://a.example.com");
    YES(&r, "https://a.b.example.com");
    YES(&r, "https://x-1.deep.er.example.com");
    YES(&r, "https://A.EXAMPLE.COM");
    YES(&r, "https://a.example.com:443");
    YES(&r, "http://app.dev.test:8080");
    NO(&r, "https://example.com");              /* never the apex */
    NO(&r, "https://evilexample.com");          /* label boundary */
    NO(&r, "https://a.evilexample.com");
    NO(&r, "https://example.com.evil.com");
    NO(&r, "https://a.example.com.evil.com");
    NO(&r, "https://.example.com");
    NO(&r, "https://a.example.com.");
    NO(&r, "http://a.example.com");             /* scheme mismatch */
    NO(&r, "https://a.example.com:8443");       /* port mismatch */
    NO(&r, "http://app.dev.test");
    NO(&r, "http://app.dev.test:8081");
    NO(&r, "https://app.dev.test:8080");
    NO(&r, "https://a.example.com/x");
    NO(&r, "https://u@a.example.com");
    NO(&r, "null");
    unmk(&r);

    const char *q[] = { "https://*.xn--bcher-kva.example", NULL };
    r = mk(q);
    YES(&r, "https://shop.xn--bcher-kva.example");
    NO(&r, "https://shop.b\xc3\xbc" "cher.example");   /* IDN compared as bytes: never */
    NO(&r, "https://xn--bcher-kva.example");
    unmk(&r);
}

static void test_null_and_any(void)
{
    const char *p[] = { "null", "https://example.com", NULL };
    struct route r = mk(p);
    YES(&r, "null");
    YES(&r, "https://example.com");
    NO(&r, "nul");
    NO(&r, "null ");
    unmk(&r);

    const char *none[] = { NULL };
    r = mk(none);
    NO(&r, "https://example.com");
    NO(&r, "null");
    r.origins_any = 1;
    YES(&r, "https://anything.example");
    YES(&r, "null");
    YES(&r, "garbage");
    unmk(&r);

    const char *v6[] = { "http://[::1]:8080", NULL };
    r = mk(v6);
    YES(&r, "http://[::1]:8080");
    NO(&r, "http://[::2]:8080");
    NO(&r, "http://[::1]");
    unmk(&r);
}

int main(void)
{
    test_normalize();
    test_exact();
    test_wildcard();
    test_null_and_any();
    return tap_done();
}
