/* The head the backend receives, compared byte for byte: spoofed identity
 * headers gone, carriers stripped, X-Forwarded-* set, verified identity
 * added, and no way for a claim to inject a header. */
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "config.h"
#include "forward.h"
#include "http.h"
#include "jwt.h"

static struct token_source sources[] = {
    { TS_AUTHORIZATION, "Authorization" },
    { TS_COOKIE, "access_token" },
    { TS_QUERY, "access_token" },
    { TS_SUBPROTOCOL, NULL },
};

static struct identity_header idh[] = {
    { "sub", "X-Auth-Sub" },
    { "roles", "X-User-Roles" },
    { "tenant", "X-Tenant" },
};

static struct config cfg;
static struct route route;
static struct jwt_claims claims;
static struct http_request req;
static struct forward_info info;

static const char *PAYLOAD = "{\"sub\":\"alice\",\"roles\":[\"chat\",\"admin\"],\"exp\":2000000000}";

static void set_claims(const char *payload)
{
    json_error_t je;

    jwt_claims_clear(&claims);
    memset(&claims, 0, sizeof(claims));
    claims.payload = json_loads(payload, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!claims.payload)
        printf("# bad test payload: %s\n", je.text);
    claims.payload_raw = strdup(payload);
    claims.payload_raw_len = strlen(payload);
}

static void reset(void)
{
    memset(&cfg, 0, sizeof(cfg));
    cfg.sources = sources;
    cfg.nsources = sizeof(sources) / sizeof(sources[0]);
    memset(&route, 0, sizeof(route));
    route.prefix = "/";
    route.prefix_len = 1;
    route.idh = idh;
    route.nidh = 2;
    route.claims_header = "X-Auth-Claims";
    route.strip_credentials = 1;
    route.auth = 1;
    memset(&info, 0, sizeof(info));
    info.client_ip = "192.0.2.7";
    info.only_credential_protocols = -1;
    set_claims(PAYLOAD);
}

/* Builds the forwarded head for head; returns it (static) or NULL. */
static const char *fwd(const char *head, const struct jwt_claims *c)
{
    static char out[8192];
    char err[128];
    int rc = http_parse_request(head, strlen(head), &req, err, sizeof(err));

    static char path[4096];
    if (rc == 0)
        rc = http_request_normalize(&req, path, sizeof(path), err, sizeof(err));
    if (rc) {
        printf("# parse failed (%d): %s\n", rc, err);
        return NULL;
    }
    struct evbuffer *b = evbuffer_new();
    rc = forward_build_head(b, &req, &cfg, &route, c, &info);
    size_t n = evbuffer_get_length(b);
    if (rc || n >= sizeof(out)) {
        evbuffer_free(b);
        return NULL;
    }
    evbuffer_remove(b, out, n);
    out[n] = '\0';
    evbuffer_free(b);
    return out;
}

#define XF "X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 192.0.2.7\r\n"
#define ID "X-Auth-Sub: alice\r\nX-User-Roles: chat,admin\r\n"
#define CL "X-Auth-Claims: eyJzdWIiOiJhbGljZSIsInJvbGVzIjpbImNoYXQiLCJhZG1pbiJdLCJleHAiOjIwMDAwMDAwMDB9\r\n"

static void expect(const char *got, const char *want, const char *name)
{
    is_str(got, want, "%s", name);
}

static void test_full(void)
{
    reset();
    const char *got = fwd(
        "GET /chat?access_token=T.O.K&room=1 HTTP/1.1\r\n"
        "Host: chat.example.com\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "X-Auth-Sub: mallory\r\n"
        "authorization: Bearer T.O.K\r\n"
        "Cookie: a=1; access_token=T.O.K; c=3\r\n"
        "X-Forwarded-For: 10.0.0.1\r\n"
        "X-Forwarded-Proto: https\r\n"
        "Sec-WebSocket-Protocol: bearer, T.O.K, chat.v1\r\n"
        "x-auth-claims: e30\r\n"
        "X-User-Roles: root\r\n"
        "X-AUTH-anything: x\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "\r\n", &claims);
    expect(got,
        "GET /chat?room=1 HTTP/1.1\r\n"
        "Host: chat.example.com\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Cookie: a=1; c=3\r\n"
        "Sec-WebSocket-Protocol: chat.v1\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\n"
        "X-Forwarded-Proto: http\r\n"
        "X-Real-IP: 192.0.2.7\r\n"
        ID CL "\r\n",
        "everything at once: spoofed identity replaced, all carriers stripped");
    is_int(info.only_credential_protocols, 0, "a real protocol was offered too");
    ok(got && !strstr(got, "T.O.K"), "token appears nowhere");
    ok(got && !strstr(got, "mallory") && !strstr(got, "root") && !strstr(got, "e30"),
       "spoofed values gone");
}

static void test_spoof(void)
{
    reset();
    expect(fwd("GET / HTTP/1.1\r\nHost: h\r\nX-Auth-Sub: admin\r\nX-Auth-Sub: root\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\n" XF ID CL "\r\n",
           "spoofed X-Auth-Sub (twice) replaced by the verified one");

    set_claims("{\"roles\":\"chat\"}");
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nX-Auth-Sub: admin\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\n" XF "X-User-Roles: chat\r\n"
           "X-Auth-Claims: eyJyb2xlcyI6ImNoYXQifQ\r\n\r\n",
           "absent claim: header omitted, spoofed one still removed");

    /* an injected header name without the X-Auth- prefix is removed too */
    reset();
    route.idh = idh + 2;
    route.nidh = 1;
    route.claims_header = NULL;
    set_claims("{\"tenant\":\"acme\"}");
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nx-tenant: evil\r\nX-Other: keep\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Other: keep\r\n" XF "X-Tenant: acme\r\n\r\n",
           "route identity header name stripped case-insensitively");
}

static void test_request_line(void)
{
    reset();
    route.nidh = 0;
    route.claims_header = NULL;
    route.strip_credentials = 0;
    is_str(fwd("GET HTTP://H/ HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "absolute-form becomes origin-form");
    is_str(fwd("GET http://h?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /?x=1 HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "absolute-form without path");
    is_str(fwd("GET /ws?access_token=x&&b HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /ws?access_token=x&&b HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "no strip: query as sent");
    is_str(fwd("GET /ws? HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /ws? HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "no strip: empty query as sent");
    is_str(fwd("GET / HTTP/1.0\r\n\r\n", &claims),
           "GET / HTTP/1.0\r\n" XF "\r\n", "HTTP/1.0 request forwarded as HTTP/1.0");
    is_str(fwd("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n", &claims),
           "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n" XF "\r\n", "method and framing kept");
}

/* SPEC §3a: the backend gets the normalised path, the query as sent. */
static void test_normalised(void)
{
    reset();
    route.nidh = 0;
    route.claims_header = NULL;
    is_str(fwd("GET /x/../%61dmin//users/./?q=%2e%2e/%2F&access_token=T&r=%61 HTTP/1.1\r\n"
               "Host: h\r\n\r\n", &claims),
           "GET /admin/users/?q=%2e%2e/%2F&r=%61 HTTP/1.1\r\nHost: h\r\n" XF "\r\n",
           "normalised path, query as sent (token parameter stripped)");
    is_str(fwd("GET http://h/a/%2E%2E/b%7e%c3%a9 HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /b~%C3%A9 HTTP/1.1\r\nHost: h\r\n" XF "\r\n",
           "absolute-form: normalised and sent in origin-form");
    route.strip_credentials = 0;
    is_str(fwd("GET /%252F?%2e%2e HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /%252F?%2e%2e HTTP/1.1\r\nHost: h\r\n" XF "\r\n",
           "double encoding decoded once, query untouched");
}

/* SPEC §3a: header names with '_' and the client address headers. */
static void test_underscores(void)
{
    reset();
    route.claims_header = NULL;
    const char *spoof =
        "GET / HTTP/1.1\r\nHost: h\r\n"
        "X_Auth_Sub: root\r\n"
        "x_auth_sub: root2\r\n"
        "X-Auth_Sub: root3\r\n"
        "X_User_Roles: admin\r\n"
        "My_Header: harmless\r\n"
        "X-Auth-Sub: mallory\r\n"
        "X_Forwarded_For: 6.6.6.6\r\n"
        "X_Real_IP: 6.6.6.6\r\n"
        "X_Forwarded_Host: evil\r\n"
        "X_Forwarded_Proto: https\r\n"
        "Sec_WebSocket_Protocol: bearer, T.O.K\r\n"
        "Keep-Me: 1\r\n\r\n";
    is_str(fwd(spoof, &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nKeep-Me: 1\r\n" XF ID "\r\n",
           "underscores_in_headers off: every name with '_' dropped");

    cfg.underscores_in_headers = 1;
    is_str(fwd(spoof, &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nMy_Header: harmless\r\nKeep-Me: 1\r\n" XF ID "\r\n",
           "underscores_in_headers on: My_Header kept, every spoof of ours still removed");

    /* header:X sources: with '_' read as '-' the carrier must not slip
     * through strip_credentials. */
    static struct token_source hdr_sources[] = {
        { TS_AUTHORIZATION, "Authorization" },
        { TS_HEADER, "X-Api-Token" },
    };
    cfg.sources = hdr_sources;
    cfg.nsources = 2;
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nX_Api_Token: T.O.K\r\nX_Other_Thing: 1\r\n\r\n",
               &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX_Other_Thing: 1\r\n" XF ID "\r\n",
           "underscores_in_headers on: a header:X carrier spelt with '_' removed");
    cfg.sources = sources;
    cfg.nsources = sizeof(sources) / sizeof(sources[0]);

    /* Injected names are compared the same way: X_Tenant is X-Tenant. */
    route.idh = idh + 2;
    route.nidh = 1;
    set_claims("{\"tenant\":\"acme\"}");
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nx_TENANT: evil\r\nX_Tenantx: keep\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX_Tenantx: keep\r\n" XF "X-Tenant: acme\r\n\r\n",
           "underscores_in_headers on: an injected name with '_' removed, a longer one kept");
}

static void test_address_headers(void)
{
    reset();
    route.nidh = 0;
    route.claims_header = NULL;
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=6.6.6.6;proto=https\r\n"
               "X-Real-IP: 6.6.6.6\r\nx-real-ip: 7.7.7.7\r\nX-Forwarded-Host: evil.example\r\n"
               "FORWARDED: for=1\r\nX-Forwarded-Hostname: kept\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Hostname: kept\r\n" XF "\r\n",
           "client Forwarded, X-Real-IP and X-Forwarded-Host removed; X-Real-IP set by us");
    info.client_ip = "2001:db8::7";
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 2001:db8::7\r\n"
           "X-Forwarded-Proto: http\r\nX-Real-IP: 2001:db8::7\r\n\r\n",
           "X-Real-IP: an IPv6 client address");
    info.client_ip = "1.2.3.4\r\nX-Auth-Sub: root";
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\n\r\n",
           "an address that could end the line is never written");
}

static void test_xff(void)
{
    reset();
    route.nidh = 0;
    route.claims_header = NULL;
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "X-Forwarded-For created");
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2\r\nX-A: b\r\n"
               "x-forwarded-for: 3.3.3.3\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX-A: b\r\n"
           "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 192.0.2.7\r\nX-Forwarded-Proto: http\r\n"
           "X-Real-IP: 192.0.2.7\r\n\r\n",
           "X-Forwarded-For appended, several headers merged in order");
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For:\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "empty X-Forwarded-For ignored");
    info.tls = 1;
    info.client_ip = "2001:db8::1";
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: https\r\n"
           "X-Real-IP: 2001:db8::1\r\n\r\n",
           "TLS: X-Forwarded-Proto https replaces the client's");
    info.client_ip = NULL;
    info.tls = 0;
    is_str(fwd("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-Proto: http\r\n\r\n", "no client ip: no XFF");
}

static void test_strip(void)
{
    reset();
    route.nidh = 0;
    route.claims_header = NULL;

    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer abc\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "Bearer Authorization removed");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: BEARER abc\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "BEARER Authorization removed");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dTpw\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dTpw\r\n" XF "\r\n",
           "Basic Authorization passes");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearerish x\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\nAuthorization: Bearerish x\r\n" XF "\r\n",
           "other scheme starting with Bearer passes");

    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nCookie: access_token=abc\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "Cookie with only the token dropped");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nCookie: access_token=abc;b=2\r\n"
               "Cookie: z=9;access_token=\"x\"\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\nCookie: b=2\r\nCookie: z=9\r\n" XF "\r\n",
           "named cookie removed from every Cookie header");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nCookie: a=1;  access_token_x=2 ; flag\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\nCookie: a=1; access_token_x=2; flag\r\n" XF "\r\n",
           "other cookies kept and re-joined");

    is_str(fwd("GET /ws?access_token=abc HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "only query parameter: '?' dropped");
    is_str(fwd("GET /ws?a=1&access_token=abc&b=2&access_token=d HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /ws?a=1&b=2 HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "query parameter removed, others in order");
    is_str(fwd("GET /ws?a=1&access_token HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /ws?a=1 HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "bare parameter name removed");
    is_str(fwd("GET /ws?access_tokens=1&x_access_token=2 HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /ws?access_tokens=1&x_access_token=2 HTTP/1.1\r\nHost: h\r\n" XF "\r\n",
           "similar names kept");
    is_str(fwd("GET /ws? HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "empty query dropped");
    is_str(fwd("GET http://h/ws?access_token=x&k=v HTTP/1.1\r\nHost: h\r\n\r\n", &claims),
           "GET /ws?k=v HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "absolute-form target sent in origin-form");

    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: bearer, abc\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "subprotocol pair only: header dropped");
    is_int(info.only_credential_protocols, 1, "only credential protocols flagged");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat.v1, Bearer, abc, x\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat.v1, x\r\n" XF "\r\n",
           "subprotocol pair in the middle");
    is_int(info.only_credential_protocols, 0, "real protocols: not flagged");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat, bearer\r\n"
               "Sec-WebSocket-Protocol: abc, v2\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: v2\r\n"
           XF "\r\n", "pair split over two headers");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: bearer\r\n"
               "Sec-WebSocket-Protocol: abc\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\n" XF "\r\n", "split pair, both headers dropped");
    is_int(info.only_credential_protocols, 1, "split pair flagged");
    is_str(fwd("GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat\r\n\r\n", &claims),
           "GET /ws HTTP/1.1\r\nHost: h\r\nSec-WebSocket-Protocol: chat\r\n" XF "\r\n",
           "no bearer entry: untouched");
    is_int(info.only_credential_protocols, 0, "not flagged");
    fwd("GET /ws HTTP/1.1\r\nHost: h\r\n\r\n", &claims);
    is_int(info.only_credential_protocols, 0, "no protocols offered: not flagged");

    /* header:X source */
    struct token_source hs[] = { { TS_HEADER, "X-Token" } };
    cfg.sources = hs;
    cfg.nsources = 1;
    is_str(fwd("GET /ws?access_token=q HTTP/1.1\r\nHost: h\r\nx-token: abc\r\nX-Token2: k\r\n"
               "Authorization: Bearer z\r\nCookie: access_token=c\r\n"
               "Sec-WebSocket-Protocol: bearer, s\r\n\r\n", &claims),
           "GET /ws?access_token=q HTTP/1.1\r\nHost: h\r\nX-Token2: k\r\nAuthorization: Bearer z\r\n"
           "Cookie: access_token=c\r\nSec-WebSocket-Protocol: bearer, s\r\n" XF "\r\n",
           "only configured sources are stripped");
    is_int(info.only_credential_protocols, 0, "subprotocol not a source: not flagged");

    /* strip off: carriers pass, X-Auth-* still dropped */
    cfg.sources = sources;
    cfg.nsources = 4;
    route.strip_credentials = 0;
    route.nidh = 1;
    is_str(fwd("GET /ws?access_token=q HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer z\r\n"
               "Cookie: a=1; access_token=c\r\nSec-WebSocket-Protocol: bearer, s\r\n"
               "X-Auth-Sub: mallory\r\n\r\n", &claims),
           "GET /ws?access_token=q HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer z\r\n"
           "Cookie: a=1; access_token=c\r\nSec-WebSocket-Protocol: bearer, s\r\n" XF
           "X-Auth-Sub: alice\r\n\r\n",
           "strip_credentials off");
    is_int(info.only_credential_protocols, 1, "flag set even without stripping");
}

static void test_claim_rendering(void)
{
    reset();
    route.claims_header = NULL;
    struct identity_header many[] = {
        { "sub", "X-Auth-Sub" }, { "n", "X-N" }, { "b", "X-B" }, { "arr", "X-Arr" },
        { "obj", "X-Obj" }, { "nul", "X-Null" }, { "nested", "X-Nested" }, { "missing", "X-Missing" },
    };
    route.idh = many;
    route.nidh = 8;
    set_claims("{\"sub\":\"bob\",\"n\":42,\"b\":true,\"arr\":[\"a\",\"b\",3],\"obj\":{\"k\":1},"
               "\"nul\":null,\"nested\":[[1]]}");
    const char *got = fwd("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &claims);
    ok(got && strstr(got, "\r\nX-Auth-Sub: bob\r\n"), "string claim");
    ok(got && strstr(got, "\r\nX-N: 42\r\n"), "number claim as text");
    ok(got && strstr(got, "\r\nX-B: true\r\n"), "boolean claim as text");
    ok(got && strstr(got, "\r\nX-Arr: a,b,3\r\n"), "array claim joined with ','");
    ok(got && !strstr(got, "X-Obj"), "object claim omitted");
    ok(got && !strstr(got, "X-Null"), "null claim omitted");
    ok(got && !strstr(got, "X-Missing"), "missing claim omitted");
    ok(got && strncmp(got + strlen(got) - 4, "\r\n\r\n", 4) == 0, "ends with CRLFCRLF");

    set_claims("{\"sub\":\"\",\"arr\":[],\"n\":0,\"b\":false}");
    got = fwd("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &claims);
    is_str(got, "GET / HTTP/1.1\r\nHost: h\r\n" XF "X-N: 0\r\nX-B: false\r\n\r\n",
           "empty string and empty array omitted, 0 and false rendered");

    /* header injection through a claim */
    set_claims("{\"sub\":\"bob\\r\\nX-Admin: 1\",\"n\":\"x\\ny\",\"b\":\"x\\ry\","
               "\"arr\":[\"ok\",\"x\\r\\nX-Admin: 1\"],\"obj\":\"a\\u0000X-Admin: 1\","
               "\"nul\":[\"a\\u0000b\"],\"nested\":\"tab\\there\",\"missing\":\"fine\"}");
    got = fwd("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &claims);
    is_str(got, "GET / HTTP/1.1\r\nHost: h\r\n" XF "X-Missing: fine\r\n\r\n",
           "claims with CR, LF, NUL or other CTL omitted, clean one kept");
    ok(got && !strstr(got, "X-Admin"), "no injected header");
}

static void test_auth_off(void)
{
    reset();
    route.auth = 0;
    is_str(fwd("GET /pub?access_token=x HTTP/1.1\r\nHost: h\r\nX-Auth-Sub: mallory\r\nX-User-Roles: r\r\n"
               "X-Auth-Claims: e30\r\nX-Keep: 1\r\nAuthorization: Bearer t\r\n\r\n", NULL),
           "GET /pub HTTP/1.1\r\nHost: h\r\nX-Keep: 1\r\n" XF "\r\n",
           "auth off: spoofed identity stripped, nothing injected, carriers still stripped");
}

int main(void)
{
    test_full();
    test_spoof();
    test_request_line();
    test_normalised();
    test_underscores();
    test_address_headers();
    test_xff();
    test_strip();
    test_claim_rendering();
    test_auth_off();
    jwt_claims_clear(&claims);
    return tap_done();
}
