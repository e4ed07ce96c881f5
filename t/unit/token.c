/* Token discovery: every source kind, the configured order, and the
 * parsing corners of each carrier. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "token.h"

static struct http_request req;

static int parse(const char *head)
{
    char err[128];
    int rc = http_parse_request(head, strlen(head), &req, err, sizeof(err));
    if (rc)
        printf("# parse failed (%d): %s\n", rc, err);
    return rc;
}

static struct token_source S_AUTH = { TS_AUTHORIZATION, "Authorization" };
static struct token_source S_AUTH_NONAME = { TS_AUTHORIZATION, NULL };
static struct token_source S_HDR = { TS_HEADER, "X-Token" };
static struct token_source S_COOKIE = { TS_COOKIE, "access_token" };
static struct token_source S_QUERY = { TS_QUERY, "access_token" };
static struct token_source S_SUB = { TS_SUBPROTOCOL, NULL };

/* Runs token_find over srcs on head; returns the token text (static) or
 * NULL, and which source matched through *which. A broken result (a
 * filled struct when nothing was found, a length that is not the text's,
 * a struct token_found_clear left set) comes back as a "(...)" string, so
 * the caller's single comparison fails on it with the reason shown. */
static const char *find(const char *head, const struct token_source *srcs, size_t n,
                        const struct token_source **which)
{
    static char buf[4096];
    struct token_found t;

    if (which)
        *which = NULL;
    if (parse(head))
        return "(parse error)";
    int rc = token_find(srcs, n, &req, &t);
    if (!rc)
        return t.token == NULL && t.src == NULL ? NULL : "(struct filled although not found)";
    if (strlen(t.token) != t.len) {
        snprintf(buf, sizeof(buf), "(length mismatch: len %zu, text %zu bytes)", t.len,
                 strlen(t.token));
        token_found_clear(&t);
        return buf;
    }
    snprintf(buf, sizeof(buf), "%s", t.token);
    if (which)
        *which = t.src;
    token_found_clear(&t);
    if (t.token != NULL)
        return "(not cleared by token_found_clear)";
    return buf;
}

#define H(x) "GET /ws HTTP/1.1\r\nHost: h\r\n" x "\r\n"
#define Q(q, x) "GET /ws?" q " HTTP/1.1\r\nHost: h\r\n" x "\r\n"

static void one(const struct token_source *s, const char *head, const char *want, const char *name)
{
    is_str(find(head, s, 1, NULL), want, "%s", name);
}

static void test_authorization(void)
{
    const struct token_source *a = &S_AUTH;
    one(a, H("Authorization: Bearer abc.def.ghi\r\n"), "abc.def.ghi", "Bearer");
    one(a, H("Authorization: bearer abc\r\n"), "abc", "bearer lower-case");
    one(a, H("Authorization: BEARER abc\r\n"), "abc", "BEARER upper-case");
    one(a, H("Authorization: BeArEr abc\r\n"), "abc", "mixed case");
    one(a, H("authorization: Bearer abc\r\n"), "abc", "header name case-insensitive");
    one(a, H("Authorization: Bearer    abc  \r\n"), "abc", "several spaces, trailing trimmed");
    one(a, H("Authorization: Basic dXNlcjpwYXNz\r\n"), NULL, "Basic ignored");
    one(a, H("Authorization: Bearer\r\n"), NULL, "Bearer without token");
    one(a, H("Authorization: Bearer \r\n"), NULL, "Bearer with only space");
    one(a, H("Authorization: Bearerabc\r\n"), NULL, "no space after scheme");
    one(a, H("Authorization: Bearer\tabc\r\n"), NULL, "tab after scheme is not a space");
    one(a, H("Authorization: abc.def.ghi\r\n"), NULL, "no scheme");
    one(a, H("X-Other: Bearer abc\r\n"), NULL, "other header");
    one(a, H("Authorization: Bearer first\r\nAuthorization: Bearer second\r\n"), "first",
        "two Authorization headers: first wins");
    one(a, H("Authorization: Basic dTpw\r\nAuthorization: Bearer tok\r\n"), "tok",
        "Basic then Bearer: the Bearer one");
    one(&S_AUTH_NONAME, H("Authorization: Bearer abc\r\n"), "abc", "source without name");
}

static void test_header(void)
{
    const struct token_source *s = &S_HDR;
    one(s, H("X-Token: raw.tok.en\r\n"), "raw.tok.en", "raw header value");
    one(s, H("x-token:   spaced   \r\n"), "spaced", "trimmed, case-insensitive name");
    one(s, H("X-Token: Bearer abc\r\n"), "Bearer abc", "raw value is not scheme-parsed");
    one(s, H("X-Token:\r\n"), NULL, "empty value");
    one(s, H("X-Token:\r\nX-Token: second\r\n"), "second", "first non-empty wins");
    one(s, H("X-Tokens: abc\r\n"), NULL, "other header name");
}

static void test_cookie(void)
{
    const struct token_source *s = &S_COOKIE;
    one(s, H("Cookie: access_token=abc\r\n"), "abc", "single cookie");
    one(s, H("Cookie: a=1; access_token=abc; c=3\r\n"), "abc", "cookie among many");
    one(s, H("Cookie: a=1;access_token=abc;c=3\r\n"), "abc", "no spaces after ;");
    one(s, H("Cookie: a=1;  access_token = abc ;c=3\r\n"), "abc", "extra whitespace");
    one(s, H("Cookie: access_token=\"abc\"\r\n"), "abc", "quoted cookie");
    one(s, H("Cookie: access_token=\"\"\r\n"), NULL, "empty quoted cookie");
    one(s, H("Cookie: access_token=\"\r\n"), "\"", "lone quote kept");
    one(s, H("Cookie: Access_Token=abc\r\n"), NULL, "cookie name is case-sensitive");
    one(s, H("Cookie: xaccess_token=abc; access_token_x=d\r\n"), NULL, "no prefix/suffix match");
    one(s, H("Cookie: a=1\r\nCookie: access_token=two\r\n"), "two", "second Cookie header");
    one(s, H("Cookie: access_token=one; access_token=two\r\n"), "one", "duplicate cookie: first wins");
    one(s, H("Cookie: access_token=; access_token=two\r\n"), "two", "empty then non-empty");
    one(s, H("Cookie: access_token\r\n"), NULL, "no '='");
    one(s, H("Cookie: ;;; access_token=x=y\r\n"), "x=y", "value with '=' and empty pairs");
    one(s, H("X-Cookie: access_token=abc\r\n"), NULL, "not a Cookie header");
}

static void test_query(void)
{
    const struct token_source *s = &S_QUERY;
    one(s, Q("access_token=abc", ""), "abc", "only parameter");
    one(s, Q("a=1&access_token=abc&b=2", ""), "abc", "middle parameter");
    one(s, Q("access_token=a%2Eb%2ec", ""), "a.b.c", "percent-decoded");
    one(s, Q("access_token=a+b", ""), "a+b", "'+' stays literal");
    one(s, Q("access_token=a%2Bb", ""), "a+b", "%2B");
    one(s, Q("access_token=a%zzb", ""), NULL, "invalid escape -> none");
    one(s, Q("access_token=ab%2", ""), NULL, "truncated escape -> none");
    one(s, Q("access_token=ab%", ""), NULL, "lone % -> none");
    one(s, Q("access_token=a%00b", ""), NULL, "%00 -> none");
    one(s, Q("access_token=a%zz&access_token=ok", ""), NULL, "first occurrence invalid -> none");
    one(s, Q("access_token=one&access_token=two", ""), "one", "duplicate: first wins");
    one(s, Q("access_token=&access_token=two", ""), "two", "empty then non-empty");
    one(s, Q("access_token", ""), NULL, "no '='");
    one(s, Q("xaccess_token=a&access_tokenx=b", ""), NULL, "no prefix/suffix match");
    one(s, Q("Access_Token=abc", ""), NULL, "parameter name is case-sensitive");
    one(s, Q("", ""), NULL, "empty query");
    one(s, H(""), NULL, "no query");
    one(s, Q("&&access_token=x&", ""), "x", "empty pieces");
    one(s, "GET http://h/ws?access_token=abs HTTP/1.1\r\nHost: h\r\n\r\n", "abs", "absolute-form target");
}

static void test_subprotocol(void)
{
    const struct token_source *s = &S_SUB;
    one(s, H("Sec-WebSocket-Protocol: bearer, tok.en\r\n"), "tok.en", "bearer first");
    one(s, H("Sec-WebSocket-Protocol: chat.v1, bearer, tok\r\n"), "tok", "bearer in the middle");
    one(s, H("Sec-WebSocket-Protocol: bearer, tok, chat.v1\r\n"), "tok", "protocol after pair");
    one(s, H("Sec-WebSocket-Protocol: BEARER,tok\r\n"), "tok", "case-insensitive, no OWS");
    one(s, H("Sec-WebSocket-Protocol:  bearer  ,  tok  \r\n"), "tok", "extra OWS");
    one(s, H("Sec-WebSocket-Protocol: chat, bearer\r\n"), NULL, "bearer last");
    one(s, H("Sec-WebSocket-Protocol: chat, tok\r\n"), NULL, "no bearer");
    one(s, H("Sec-WebSocket-Protocol: bearerx, tok\r\n"), NULL, "not bearer");
    one(s, H("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: bearer, tok\r\n"), "tok",
        "second header");
    one(s, H("Sec-WebSocket-Protocol: chat, bearer\r\nSec-WebSocket-Protocol: tok\r\n"), "tok",
        "pair split over two headers");
    one(s, H("Sec-WebSocket-Protocol: bearer, , tok\r\n"), "tok", "empty list element skipped");
    one(s, H("Sec-WebSocket-Protocol: bearer, one, bearer, two\r\n"), "one", "first pair wins");
}

static void test_order(void)
{
    struct token_source all[] = { S_AUTH, S_COOKIE, S_QUERY, S_SUB };
    const struct token_source *which;
    const char *head = Q("access_token=q", "Authorization: Bearer a\r\nCookie: access_token=c\r\n"
                         "Sec-WebSocket-Protocol: bearer, s\r\n");

    is_str(find(head, all, 4, &which), "a", "authorization first");
    ok(which == &all[0], "source reported");
    is_str(find(head, all + 1, 3, &which), "c", "cookie next");
    ok(which == &all[1], "cookie source reported");
    is_str(find(head, all + 2, 2, &which), "q", "query next");
    is_str(find(head, all + 3, 1, &which), "s", "subprotocol");
    ok(which == &all[3], "subprotocol source reported");

    struct token_source rev[] = { S_SUB, S_QUERY, S_COOKIE, S_AUTH };
    is_str(find(head, rev, 4, &which), "s", "reverse order: subprotocol first");

    /* an earlier source without a usable token falls through */
    is_str(find(Q("access_token=q", "Authorization: Basic dTpw\r\nCookie: x=1\r\n"), all, 4, &which),
           "q", "Basic + unrelated cookie fall through to query");
    ok(which == &all[2], "query source reported");
    is_str(find(Q("access_token=%zz", "Sec-WebSocket-Protocol: bearer, s\r\n"), all, 4, &which),
           "s", "bad query escape falls through");
    is_str(find(H("X-Nothing: 1\r\n"), all, 4, &which), NULL, "no token anywhere");
    is_str(find(H("Authorization: Bearer a\r\n"), all, 0, &which), NULL, "no sources configured");
}

int main(void)
{
    test_authorization();
    test_header();
    test_cookie();
    test_query();
    test_subprotocol();
    test_order();
    return tap_done();
}
