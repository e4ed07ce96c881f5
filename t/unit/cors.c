/* CORS (SPEC §10, "cors on"): which requests are preflights, that a
 * preflight on a cors route is admitted after the Origin check without a
 * token, the exact bytes of the 204, and the response headers that
 * replace the backend's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "admit.h"
#include "config.h"
#include "cors.h"
#include "http.h"
#include "tap.h"
#include "util.h"

static struct config *cfg;
static char head[8192];
static struct http_request req;
static struct admission adm;
static char npath[4096];

static int parse(const char *raw)
{
    char err[160];

    snprintf(head, sizeof(head), "%s", raw);
    if (http_parse_request(head, strlen(head), &req, err, sizeof(err)) != 0 ||
        http_request_normalize(&req, npath, sizeof(npath), err, sizeof(err)) != 0) {
        printf("# parse failed: %s\n", err);
        return -1;
    }
    return 0;
}

static int admit(const char *raw)
{
    admission_clear(&adm);
    if (parse(raw) < 0)
        return -1;
    return admit_request(cfg, &req, util_wall_s(), &adm);
}

/* The preflight answer to raw, as a C string (static). */
static const char *answer(const char *raw, int close)
{
    static char text[4096];
    struct evbuffer *b = evbuffer_new();
    size_t n;

    text[0] = '\0';
    if (parse(raw) == 0 && cors_write_preflight(b, &req, close) == 0) {
        n = evbuffer_copyout(b, text, sizeof(text) - 1);
        text[n] = '\0';
    } else {
        snprintf(text, sizeof(text), "(failed)");
    }
    evbuffer_free(b);
    return text;
}

/* The CORS lines for a request raw and a backend response head resp. */
static const char *response_lines(const char *raw, const char *resp)
{
    static char text[4096], rhead[4096];
    struct http_response r;
    struct evbuffer *b = evbuffer_new();
    char err[160];
    size_t n;

    snprintf(rhead, sizeof(rhead), "%s", resp);
    if (parse(raw) == 0 && http_parse_response(rhead, strlen(rhead), &r, err, sizeof(err)) == 0 &&
        cors_write_response(b, &req, &r) == 0) {
        n = evbuffer_copyout(b, text, sizeof(text) - 1);
        text[n] = '\0';
    } else {
        snprintf(text, sizeof(text), "(failed)");
    }
    evbuffer_free(b);
    return text;
}

#define PF(extra) "OPTIONS /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n" \
                  "Access-Control-Request-Method: PUT\r\n" extra "\r\n"
#define HEAD204(rest) "HTTP/1.1 204 No Content\r\n" \
                      "Access-Control-Allow-Origin: https://app.example.com\r\n" \
                      "Access-Control-Allow-Credentials: true\r\n" rest \
                      "Access-Control-Max-Age: 600\r\nVary: Origin\r\n"

int main(void)
{
    char dir[] = "/tmp/wsgate-cors-XXXXXX";
    char path[512], err[512];
    FILE *f;

    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/cors.conf", dir);
    f = fopen(path, "w");
    fprintf(f,
            "listen 127.0.0.1:1;\n"
            "jwt { hmac_secret_file %s/keys/hmac.secret; algorithms HS256; }\n"
            "route /api { upstream 127.0.0.1:2; plain_http on; cors on;\n"
            "             origins \"https://app.example.com\" \"https://*.example.org\"; }\n"
            "route /nocors { upstream 127.0.0.1:2; plain_http on; origins \"https://app.example.com\"; }\n"
            "route /any { upstream 127.0.0.1:2; plain_http on; cors on; origins any; }\n",
            getenv("WSGATE_UNIT_DATA") ? getenv("WSGATE_UNIT_DATA") : "t");
    fclose(f);
    cfg = config_load(path, err, sizeof(err));
    ok(cfg != NULL, "test configuration loads");
    if (!cfg) {
        printf("# %s\n", err);
        return tap_done();
    }

    /* ---- what a preflight is */
    parse(PF(""));
    ok(cors_is_preflight(&req), "OPTIONS with Origin and Access-Control-Request-Method: a preflight");
    parse("OPTIONS /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n\r\n");
    ok(!cors_is_preflight(&req), "without Access-Control-Request-Method: not a preflight");
    parse("OPTIONS /api/x HTTP/1.1\r\nHost: a\r\nAccess-Control-Request-Method: PUT\r\n\r\n");
    ok(!cors_is_preflight(&req), "without Origin: not a preflight");
    parse("options /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n"
          "Access-Control-Request-Method: PUT\r\n\r\n");
    ok(!cors_is_preflight(&req), "lower-case options is another method: not a preflight");

    /* ---- admission */
    is_int(admit(PF("")), 0, "cors route: a preflight is admitted without a token");
    ok(adm.preflight && !adm.have_claims, "... marked preflight, no claims");
    is_int(admit("OPTIONS /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example.com\r\n"
                 "Access-Control-Request-Method: PUT\r\n\r\n"), 403, "foreign origin: 403");
    is_str(adm.code, "origin_not_allowed", "... origin_not_allowed");
    ok(!adm.preflight, "... and not marked preflight");
    is_int(admit("OPTIONS /nocors/x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n"
                 "Access-Control-Request-Method: PUT\r\n\r\n"), 401, "cors off: a preflight needs a token");
    ok(!adm.preflight, "... and is not marked preflight");
    is_int(admit("GET /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n"
                 "Access-Control-Request-Method: PUT\r\n\r\n"), 401, "cors route: a GET needs a token");
    is_int(admit("OPTIONS /any/x HTTP/1.1\r\nHost: a\r\nOrigin: https://x.test\r\n"
                 "Access-Control-Request-Method: PUT\r\n\r\n"), 0, "origins any: an origin is admitted");
    is_int(admit("OPTIONS /any/x HTTP/1.1\r\nHost: a\r\nOrigin: x.test\r\n"
                 "Access-Control-Request-Method: PUT\r\n\r\n"), 403, "origins any: a non-origin is refused");
    is_int(admit("OPTIONS /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n"
                 "Upgrade: websocket\r\nAccess-Control-Request-Method: PUT\r\n\r\n"), 400,
           "an OPTIONS asking for a WebSocket is a bad upgrade, not a preflight");

    /* ---- the 204, byte for byte */
    is_str(answer(PF("Access-Control-Request-Headers: authorization,content-type\r\n"), 0),
           HEAD204("Access-Control-Allow-Methods: PUT\r\n"
                   "Access-Control-Allow-Headers: authorization,content-type\r\n") "\r\n",
           "the 204: origin, credentials, method, headers, max age, Vary");
    is_str(answer(PF(""), 1),
           HEAD204("Access-Control-Allow-Methods: PUT\r\n") "Connection: close\r\n\r\n",
           "no headers asked: none granted; close adds Connection: close");
    is_str(answer("OPTIONS /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n"
                  "Access-Control-Request-Method: TRACE\r\n\r\n", 0), HEAD204("") "\r\n",
           "TRACE is not granted");
    is_str(answer("OPTIONS /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://app.example.com\r\n"
                  "Access-Control-Request-Method: patch\r\n\r\n", 0), HEAD204("") "\r\n",
           "methods are case-sensitive: patch is not PATCH");
    is_str(answer(PF("Access-Control-Request-Headers: x-a, x-b c\r\n"), 0),
           HEAD204("Access-Control-Allow-Methods: PUT\r\n") "\r\n",
           "one element that is not a token withholds the whole list");
    is_str(answer(PF("Access-Control-Request-Headers: x-a\r\nAccess-Control-Request-Headers: x-b\r\n"), 0),
           HEAD204("Access-Control-Allow-Methods: PUT\r\nAccess-Control-Allow-Headers: x-a, x-b\r\n") "\r\n",
           "two request fields: one list");
    is_str(answer(PF("Access-Control-Request-Headers: ,\r\n"), 0),
           HEAD204("Access-Control-Allow-Methods: PUT\r\n") "\r\n", "an empty list grants nothing");

    /* ---- responses */
    ok(cors_replaces("access-control-allow-origin", 27) && cors_replaces("VARY", 4) &&
       cors_replaces("Access-Control-Allow-Credentials", 32) &&
       !cors_replaces("Access-Control-Expose-Headers", 29), "the replaced fields, and only those");
    is_str(response_lines("GET /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example.org\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
           "Access-Control-Allow-Origin: https://a.example.org\r\n"
           "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n", "response: the three lines");
    is_str(response_lines("GET /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example.org\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nVary: Accept-Encoding\r\nVary: Cookie\r\n\r\n"),
           "Access-Control-Allow-Origin: https://a.example.org\r\n"
           "Access-Control-Allow-Credentials: true\r\nVary: Accept-Encoding, Cookie, Origin\r\n",
           "response: the backend's Vary fields joined, Origin added");
    is_str(response_lines("GET /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example.org\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nVary: origin, Accept\r\n\r\n"),
           "Access-Control-Allow-Origin: https://a.example.org\r\n"
           "Access-Control-Allow-Credentials: true\r\nVary: origin, Accept\r\n",
           "response: Origin already in the backend's Vary is not added twice");
    is_str(response_lines("GET /api/x HTTP/1.1\r\nHost: a\r\nOrigin: https://a.example.org\r\n\r\n",
                          "HTTP/1.1 200 OK\r\nVary: *\r\n\r\n"),
           "Access-Control-Allow-Origin: https://a.example.org\r\n"
           "Access-Control-Allow-Credentials: true\r\nVary: *\r\n", "response: Vary * stays alone");
    is_str(response_lines("GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n", "HTTP/1.1 200 OK\r\n\r\n"),
           "(failed)", "response: no Origin, no CORS lines");

    config_unref(cfg);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
