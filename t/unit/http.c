/* Strict request/response head parsing: every smuggling and strictness
 * shape is its own test point, plus the rejection writer. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"

static struct http_request req;
static char err[256];

static int preq(const char *s)
{
    return http_parse_request(s, strlen(s), &req, err, sizeof(err));
}

static int preq_n(const char *s, size_t n)
{
    return http_parse_request(s, n, &req, err, sizeof(err));
}

/* One point per case: the status and the reason together. */
#define REJECT(head, status, why, name) \
    is_err(preq(head), status, err, why, "%s -> %d", name, status)

/* The request parses, and normalises to want. */
#define NORM(head, want, name) do { \
    static char nb_[512]; \
    is_int(preq(head), 0, "%s: parses", name); \
    is_int(http_request_normalize(&req, nb_, sizeof(nb_), err, sizeof(err)), 0, "%s: normalises", name); \
    is_str(span(req.path, req.path_len), want, "%s: path %s", name, want); \
} while (0)

/* The request parses, and its path is refused (a 400) for why. */
#define NREJECT(head, why, name) do { \
    static char nb_[512]; \
    is_int(preq(head), 0, "%s: parses", name); \
    is_int(http_request_normalize(&req, nb_, sizeof(nb_), err, sizeof(err)), 400, "%s -> 400", name); \
    is_str(err, why, "%s: reason", name); \
} while (0)

static char *span(const char *p, size_t n);

static char *span(const char *p, size_t n)
{
    static char b[4][512];
    static int k;
    char *o = b[k++ & 3];
    if (!p) return NULL;
    if (n >= 512) n = 511;
    memcpy(o, p, n);
    o[n] = '\0';
    return o;
}

static void test_good(void)
{
    is_int(preq("GET /chat?room=1&x=2 HTTP/1.1\r\nHost: example.com:8080\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nX-Empty:\r\n\r\n"), 0, "valid request");
    is_str(span(req.method, req.method_len), "GET", "method");
    is_str(span(req.target, req.target_len), "/chat?room=1&x=2", "target");
    is_str(span(req.path, req.path_len), "/chat", "path");
    is_str(span(req.query, req.query_len), "room=1&x=2", "query");
    is_int(req.version_minor, 1, "minor");
    is_str(span(req.host, req.host_len), "example.com:8080", "host");
    is_int(req.nheaders, 4, "header count");
    const struct http_header *h = http_request_header(&req, "upgrade");
    ok(h && h->value_len == 9 && memcmp(h->value, "websocket", 9) == 0, "case-insensitive lookup");
    h = http_request_header(&req, "X-Empty");
    ok(h && h->value_len == 0, "empty value");
    ok(http_request_header(&req, "Cookie") == NULL, "absent header");
    is_int(http_request_header_count(&req, "HOST"), 1, "count");

    is_int(preq("GET /a HTTP/1.1\r\nHost: h\r\nX-A: \t v a l \t \r\n\r\n"), 0, "OWS");
    h = http_request_header(&req, "x-a");
    is_str(span(h->value, h->value_len), "v a l", "OWS trimmed, inner spaces kept");

    is_int(preq("GET /p HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "no query");
    ok(req.query == NULL, "query NULL when absent");
    is_int(preq("GET /p? HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "empty query");
    ok(req.query != NULL && req.query_len == 0, "empty query non-NULL");

    is_int(preq("GET / HTTP/1.0\r\n\r\n"), 0, "HTTP/1.0 without Host");
    is_int(req.version_minor, 0, "minor 0");
    ok(req.host == NULL, "no host");

    is_int(preq("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "leading empty line ignored");
    is_int(preq("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 0, "IPv6 Host");
    is_int(preq("GET / HTTP/1.1\r\nHost: h\r\nX-Utf8: caf\xc3\xa9\r\n\r\n"), 0, "obs-text in value");
    is_int(preq("GET /a HTTP/1.1\r\nHost: h\r\n\r\nBODY"), 0, "bytes after head ignored");
    is_int(preq("GET /a/b.c/ HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "dot inside segment");
    is_int(preq("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"), 0, "Content-Length 0");
    is_int(preq("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 123456789012345678\r\n\r\n"), 0,
           "Content-Length 18 digits");
    is_int(preq("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), 0,
           "TE chunked allowed by the parser");
    is_int(preq("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n"), 0,
           "TE chunked case-insensitive");
    is_int(preq("M-SEARCH /x HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "method with token chars");
}

static void test_framing(void)
{
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
           400, "both Content-Length and Transfer-Encoding", "CL+TE");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
           400, "both Content-Length and Transfer-Encoding", "TE+CL");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
           400, "multiple Content-Length", "double CL, equal");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
           400, "multiple Content-Length", "double CL, different");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400, "invalid Content-Length", "CL +sign");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length", "CL -sign");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n", 400, "invalid Content-Length", "CL inner space");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5,5\r\n\r\n", 400, "invalid Content-Length", "CL list");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n", 400, "invalid Content-Length", "CL hex");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", 400, "invalid Content-Length", "CL empty");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1234567890123456789\r\n\r\n", 400,
           "invalid Content-Length", "CL 19 digits");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400,
           "unsupported Transfer-Encoding", "TE gzip");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400,
           "unsupported Transfer-Encoding", "TE gzip, chunked");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400,
           "unsupported Transfer-Encoding", "TE chunked twice in list");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", 400,
           "unsupported Transfer-Encoding", "TE xchunked");
    REJECT("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
           400, "multiple Transfer-Encoding", "two TE headers");
    REJECT("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
           "Transfer-Encoding in an HTTP/1.0 request", "TE on HTTP/1.0");
}

static void test_lines(void)
{
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400,
           "obsolete line folding in header", "obs-fold SP");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n\tb\r\n\r\n", 400,
           "obsolete line folding in header", "obs-fold HT");
    REJECT("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400, "obsolete line folding in header",
           "first header line starting with SP");
    REJECT("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "whitespace between header name and colon",
           "space before colon");
    REJECT("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400, "whitespace between header name and colon",
           "tab before colon");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01" "b\r\n\r\n", 400,
           "control character in header value", "SOH in value");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x7f" "b\r\n\r\n", 400,
           "control character in header value", "DEL in value");
    {
        static const char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n";
        is_err(preq_n(nul, sizeof(nul) - 1), 400, err, "control character in header value",
               "NUL in value -> 400");
        static const char nulname[] = "GET / HTTP/1.1\r\nHost: h\r\nX\0A: b\r\n\r\n";
        is_int(preq_n(nulname, sizeof(nulname) - 1), 400, "NUL in name -> 400");
        static const char nulreq[] = "GET /\0 HTTP/1.1\r\nHost: h\r\n\r\n";
        is_int(preq_n(nulreq, sizeof(nulreq) - 1), 400, "NUL in request line -> 400");
    }
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400, "line not terminated by CRLF",
           "bare CR in value");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\nX-B: b\r\n\r\n", 400, "line not terminated by CRLF",
           "bare LF line ending");
    REJECT("GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "line not terminated by CRLF",
           "bare LF after request line");
    REJECT("GET / HTTP/1.1\r\nHost: h\n\n", 400, "line not terminated by CRLF", "LFLF head end");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "line not terminated by CRLF", "CRLF LF head end");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\n", 400, "incomplete request head", "missing final CRLF");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\n\r", 400, "incomplete request head", "truncated final CRLF");
    REJECT("", 400, "incomplete request head", "empty buffer");
    REJECT("\r\n\r\n", 400, NULL, "only empty lines");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nX(A): b\r\n\r\n", 400, "invalid character in header name",
           "non-token char in name");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nX\x80" "A: b\r\n\r\n", 400, "invalid character in header name",
           "high byte in name");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\n: b\r\n\r\n", 400, "empty header name", "empty name");
    REJECT("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400, "header line without colon", "no colon");

    /* a very long value is fine (the size limit is the caller's job) */
    {
        size_t vl = 60000;
        char *b = malloc(vl + 100);
        int n = sprintf(b, "GET / HTTP/1.1\r\nHost: h\r\nX-Long: ");
        memset(b + n, 'v', vl);
        strcpy(b + n + vl, "\r\n\r\n");
        is_int(preq(b), 0, "60000-byte header value OK");
        const struct http_header *h = http_request_header(&req, "X-Long");
        ok(h && h->value_len == vl, "long value length");
        free(b);
    }
}

static void test_count(void)
{
    char b[16384];
    size_t n = (size_t)sprintf(b, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < HTTP_MAX_HEADERS; i++)
        n += (size_t)sprintf(b + n, "X-H%d: v\r\n", i);
    strcpy(b + n, "\r\n");
    is_int(preq(b), 0, "exactly HTTP_MAX_HEADERS headers OK");
    is_int(req.nheaders, HTTP_MAX_HEADERS, "all counted");
    n += (size_t)sprintf(b + n, "X-Extra: v\r\n");
    strcpy(b + n, "\r\n");
    REJECT(b, 431, "too many header fields", "one header too many");
}

static void test_host(void)
{
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "duplicate Host header", "duplicate Host");
    REJECT("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "duplicate Host header",
           "duplicate Host, other case");
    REJECT("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "missing Host header", "missing Host");
    REJECT("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, "invalid Host header", "empty Host");
    REJECT("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "invalid Host header", "space in Host");
    REJECT("GET / HTTP/1.1\r\nHost: a\tb\r\n\r\n", 400, "invalid Host header", "tab in Host");
    REJECT("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400, "invalid Host header", "userinfo in Host");
    REJECT("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "invalid Host header", "slash in Host");
    REJECT("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n", 400, "invalid Host header", "bad port in Host");
    REJECT("GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, "invalid Host header", "empty port in Host");
    REJECT("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, "invalid Host header", "unclosed IPv6");
    REJECT("GET / HTTP/1.0\r\nHost:\r\n\r\n", 400, "invalid Host header", "empty Host on 1.0");
}

static void test_target(void)
{
    is_int(preq("GET http://Example.COM:8080/chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), 0,
           "absolute-form same host OK");
    is_str(span(req.path, req.path_len), "/chat", "path from absolute-form");
    is_str(span(req.query, req.query_len), "x=1", "query from absolute-form");
    is_int(preq("GET https://h HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "absolute-form https, no path");
    is_str(span(req.path, req.path_len), "/", "empty path reads as /");
    is_int(preq("GET HTTP://h?a=b HTTP/1.1\r\nHost: h\r\n\r\n"), 0, "absolute-form, query, no path");
    is_str(span(req.path, req.path_len), "/", "path /");
    is_str(span(req.query, req.query_len), "a=b", "query");
    REJECT("GET http://evil.com/ HTTP/1.1\r\nHost: good.com\r\n\r\n", 400,
           "absolute-form target to a foreign host", "absolute-form foreign host");
    REJECT("GET http://good.com:81/ HTTP/1.1\r\nHost: good.com\r\n\r\n", 400,
           "absolute-form target to a foreign host", "absolute-form other port");
    REJECT("GET http://good.com/ HTTP/1.0\r\n\r\n", 400,
           "absolute-form target to a foreign host", "absolute-form without Host");
    REJECT("GET http://u@good.com/ HTTP/1.1\r\nHost: good.com\r\n\r\n", 400,
           "invalid authority in request target", "absolute-form with userinfo");
    REJECT("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400,
           "invalid authority in request target", "absolute-form empty authority");
    REJECT("GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "request target must be origin-form", "ftp scheme");
    REJECT("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 400, "request target must be origin-form",
           "authority-form");
    REJECT("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "asterisk-form target not supported", "asterisk-form");
    REJECT("GET chat HTTP/1.1\r\nHost: h\r\n\r\n", 400, "request target must be origin-form", "relative target");

    /* Paths: the parser takes them as sent; http_request_normalize()
     * resolves dot segments (SPEC §3a) and refuses what cannot be. */
    NORM("GET /a/../b HTTP/1.1\r\nHost: h\r\n\r\n", "/b", "..");
    NORM("GET /a/./b HTTP/1.1\r\nHost: h\r\n\r\n", "/a/b", ".");
    NORM("GET /a/.. HTTP/1.1\r\nHost: h\r\n\r\n", "/", "trailing ..");
    NORM("GET /. HTTP/1.1\r\nHost: h\r\n\r\n", "/", "trailing .");
    NORM("GET /a/..?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", "/", ".. before query");
    is_str(span(req.query, req.query_len), "x=1", ".. before query: query kept");
    NORM("GET /a/%2e%2e/b HTTP/1.1\r\nHost: h\r\n\r\n", "/b", "%2e%2e");
    NORM("GET /a/%2E%2E/b HTTP/1.1\r\nHost: h\r\n\r\n", "/b", "%2E%2E");
    NORM("GET /a/.%2E/b HTTP/1.1\r\nHost: h\r\n\r\n", "/b", ".%2E");
    NORM("GET /a/%2e/b HTTP/1.1\r\nHost: h\r\n\r\n", "/a/b", "%2e");
    NORM("GET http://h/a/../b HTTP/1.1\r\nHost: h\r\n\r\n", "/b", ".. in absolute-form");
    NORM("GET /a/.well-known/..x/...;/%41 HTTP/1.1\r\nHost: h\r\n\r\n",
         "/a/.well-known/..x/...;/A", "dot-prefixed names and ... are not dot segments");
    NREJECT("GET /a/..%2fb HTTP/1.1\r\nHost: h\r\n\r\n", "encoded slash or backslash in path", "..%2f");
    NREJECT("GET /a/..%5Cb HTTP/1.1\r\nHost: h\r\n\r\n", "encoded slash or backslash in path", "..%5C");
    NREJECT("GET /a\\..\\b HTTP/1.1\r\nHost: h\r\n\r\n", "backslash in path", "backslash");
    NREJECT("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", "invalid percent-encoding in path", "bad escape");
    NREJECT("GET /a% HTTP/1.1\r\nHost: h\r\n\r\n", "invalid percent-encoding in path", "truncated escape");
    NREJECT("GET /a%4 HTTP/1.1\r\nHost: h\r\n\r\n", "invalid percent-encoding in path", "half escape");
    NREJECT("GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n", "NUL in path", "%00");
    NREJECT("GET /.. HTTP/1.1\r\nHost: h\r\n\r\n", "path climbs above the root", "/..");
    NREJECT("GET http://h/../a HTTP/1.1\r\nHost: h\r\n\r\n", "path climbs above the root",
            "/.. in absolute-form");
    REJECT("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, "fragment in request target", "fragment");
    REJECT("GET /a?b#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, "fragment in request target", "fragment in query");
    NORM("GET /a?b=../%zz HTTP/1.1\r\nHost: h\r\n\r\n", "/a", "query is not path-checked");
    is_str(span(req.query, req.query_len), "b=../%zz", "query kept as sent");
}

static void test_request_line(void)
{
    REJECT("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 400, "unsupported HTTP version", "HTTP/1.2");
    REJECT("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 400, "unsupported HTTP version", "HTTP/2.0");
    REJECT("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 400, "unsupported HTTP version", "HTTP/0.9");
    REJECT("GET / http/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "lowercase http/1.1");
    REJECT("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400, "malformed request line", "trailing space");
    REJECT("GET / HTTP/1.10\r\nHost: h\r\n\r\n", 400, "malformed request line", "HTTP/1.10");
    REJECT("GET / HTTP/11\r\nHost: h\r\n\r\n", 400, "malformed request line", "HTTP/11");
    REJECT("GET /\r\nHost: h\r\n\r\n", 400, "malformed request line", "HTTP/0.9 style");
    REJECT("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "two spaces after method");
    REJECT("GET /  HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "two spaces after target");
    REJECT("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "tab after method");
    REJECT("GET /\tHTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "tab after target");
    REJECT("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "tab in target");
    REJECT(" / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "empty method");
    REJECT(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "leading space");
    REJECT("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "non-token method");
    REJECT("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "raw UTF-8 in target");
    REJECT("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", 400, "malformed request line", "DEL in target");
    REJECT("GET / HTTP/1.1", 400, "incomplete request head", "no CRLF at all");
}

static int presp(const char *s, struct http_response *r)
{
    return http_parse_response(s, strlen(s), r, err, sizeof(err));
}

static void test_response(void)
{
    struct http_response r;

    is_int(presp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Accept: abc=\r\n\r\n", &r), 0, "101 response");
    is_int(r.status, 101, "status");
    is_int(r.version_minor, 1, "minor");
    is_int(r.nheaders, 3, "headers");
    const struct http_header *h = http_response_header(&r, "sec-websocket-accept");
    ok(h && h->value_len == 4 && memcmp(h->value, "abc=", 4) == 0, "response header lookup");
    ok(http_response_header(&r, "X-No") == NULL, "absent response header");
    is_int(presp("HTTP/1.1 200\r\n\r\n", &r), 0, "no reason phrase");
    is_int(presp("HTTP/1.1 404 \r\n\r\n", &r), 0, "empty reason phrase");
    is_int(r.status, 404, "404");
    is_int(presp("HTTP/1.0 503 Busy now\r\n\r\n", &r), 0, "HTTP/1.0 response");
    is_int(r.version_minor, 0, "1.0");
    is_int(presp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", &r), 0,
           "response TE list allowed");
    is_int(presp("HTTP/1.1 099 X\r\n\r\n", &r), 400, "status 099");
    is_int(presp("HTTP/1.1 600 X\r\n\r\n", &r), 400, "status 600");
    is_int(presp("HTTP/1.1 20 X\r\n\r\n", &r), 400, "two-digit status");
    is_int(presp("HTTP/1.1 2000 X\r\n\r\n", &r), 400, "four-digit status");
    is_int(presp("HTTP/1.1 2x0 X\r\n\r\n", &r), 400, "non-digit status");
    is_err(presp("HTTP/2.0 200 OK\r\n\r\n", &r), 400, err, "unsupported HTTP version",
           "HTTP/2.0 response");
    is_int(presp("HTTP/1.1  200 OK\r\n\r\n", &r), 400, "double space");
    is_int(presp("HTTP/1.1 200 O\x01K\r\n\r\n", &r), 400, "CTL in reason");
    is_int(presp("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", &r), 400, "obs-fold in response");
    is_int(presp("HTTP/1.1 200 OK\nX: a\r\n\r\n", &r), 400, "bare LF in response");
    is_int(presp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", &r), 400,
           "CL+TE in response");
    is_int(presp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", &r), 400,
           "double CL in response");
    is_int(presp("HTTP/1.1 200 OK\r\nX : a\r\n\r\n", &r), 400, "space before colon in response");
    is_int(presp("HTTP/1.1 200 OK\r\n", &r), 400, "incomplete response");
}

static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static void test_reject(void)
{
    struct evbuffer *b = evbuffer_new();
    const char *extra[] = {
        "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"token expired\"",
        NULL
    };
    is_int(http_write_reject(b, 401, "invalid_token", "token expired", extra), 0, "write 401");
    char *s = drain(b);
    is_str(s, "HTTP/1.1 401 Unauthorized\r\n"
              "Content-Type: application/json\r\n"
              "Connection: close\r\n"
              "Content-Length: 61\r\n"
              "WWW-Authenticate: Bearer realm=\"wsgate\", error=\"invalid_token\", error_description=\"token expired\"\r\n"
              "\r\n"
              "{\"error\":\"invalid_token\",\"error_description\":\"token expired\"}", "401 exact bytes");
    free(s);

    is_int(http_write_reject(b, 400, "bad_request", "a \"q\" \\ \n\x01", NULL), 0, "write 400");
    s = drain(b);
    is_str(s, "HTTP/1.1 400 Bad Request\r\n"
              "Content-Type: application/json\r\n"
              "Connection: close\r\n"
              "Content-Length: 65\r\n"
              "\r\n"
              "{\"error\":\"bad_request\",\"error_description\":\"a \\\"q\\\" \\\\ \\n\\u0001\"}",
           "JSON escaping");
    free(s);

    const char *bad[] = { "X-A: 1", "X-B: 2\r\nX-Injected: 1", "X-C: 3", NULL };
    is_int(http_write_reject(b, 426, "upgrade_required", "", bad), 0, "write 426");
    s = drain(b);
    ok(strstr(s, "\r\nX-A: 1\r\nX-C: 3\r\n\r\n") != NULL, "extra headers in order");
    ok(strstr(s, "X-Injected") == NULL, "extra header with CRLF dropped");
    ok(strncmp(s, "HTTP/1.1 426 Upgrade Required\r\n", 31) == 0, "426 status line");
    free(s);
    evbuffer_free(b);

    static const int codes[] = { 101, 200, 204, 400, 401, 403, 404, 405, 408, 413, 426, 429,
                                 431, 500, 501, 502, 503, 504, 505 };
    int all = 1;
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(http_reason(codes[i]), "Unknown") == 0)
            all = 0;
    ok(all, "every listed status has a reason");
    is_str(http_reason(431), "Request Header Fields Too Large", "431 reason");
    is_str(http_reason(999), "Unknown", "unknown status");
}

static void test_head_end(void)
{
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\n\r\nbody";
    is_int(http_head_end(s, strlen(s)), strlen(s) - 4, "head end");
    is_int(http_head_end(s, strlen(s) - 5), 0, "incomplete");
    is_int(http_head_end("\r\n\r\n", 4), 4, "bare terminator");
    is_int(http_head_end("\r\n\r", 3), 0, "3 bytes");
    is_int(http_head_end("", 0), 0, "empty");
    is_int(http_head_end("a\r\r\n\r\n", 6), 6, "CR before terminator");
    is_int(http_head_end("a\n\n\r\n\r\n", 7), 7, "LFLF is not a head end");
}

int main(void)
{
    test_good();
    test_framing();
    test_lines();
    test_count();
    test_host();
    test_target();
    test_request_line();
    test_response();
    test_reject();
    test_head_end();
    return tap_done();
}
