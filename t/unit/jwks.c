/* Unit tests for the pure parts of the remote JWKS module: https URL
 * parsing, the HTTP/1.1 response parser, the lock-free published set
 * (publish, acquire/release, reclamation) and verification with static
 * plus remote keys. Fixtures: t/keys (WSGATE_UNIT_DATA, else ./t). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config.h"
#include "jwks.h"
#include "jwks_fetch.h"
#include "jwt.h"
#include "keys.h"
#include "util.h"
#include "tap.h"

#define NOW 1700000000

static char datadir[1024];

static const char *fx(const char *name)
{
    static char buf[4][1200];
    static int i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/keys/%s", datadir, name);
    return buf[i];
}

/* ---- URLs ------------------------------------------------------------------ */

static void url_ok(const char *in, const char *host, int port, const char *path,
                   const char *authority, int is_ip)
{
    struct jwks_url u;
    char err[200] = "";
    int rc = jwks_url_parse(in, &u, err, sizeof(err));

    ok(rc == 0 && !strcmp(u.host, host) && u.port == port && !strcmp(u.path, path) &&
       !strcmp(u.authority, authority) && u.host_is_ip == is_ip, "url %s", in);
    if (rc == 0 && (strcmp(u.host, host) || u.port != port || strcmp(u.path, path) ||
                    strcmp(u.authority, authority) || u.host_is_ip != is_ip))
        printf("#   got host %s port %d path %s authority %s ip %d\n", u.host, u.port, u.path,
               u.authority, u.host_is_ip);
    if (rc != 0)
        printf("#   err: %s\n", err);
    jwks_url_clear(&u);
}

static void url_bad(const char *in, const char *want)
{
    struct jwks_url u;
    char err[200] = "";
    int rc = jwks_url_parse(in, &u, err, sizeof(err));

    ok(rc == -1 && strstr(err, want) != NULL && u.host == NULL, "url %s refused: %s", in, want);
    if (rc != -1 || !strstr(err, want))
        printf("#   rc %d err \"%s\"\n", rc, err);
    jwks_url_clear(&u);
}

static void test_urls(void)
{
    url_ok("https://auth.example.com/.well-known/jwks.json", "auth.example.com", 443,
           "/.well-known/jwks.json", "auth.example.com", 0);
    url_ok("HTTPS://Auth.Example.COM:8443/k?tenant=a%20b", "auth.example.com", 8443,
           "/k?tenant=a%20b", "auth.example.com:8443", 0);
    url_ok("https://localhost", "localhost", 443, "/", "localhost", 0);
    url_ok("https://localhost?x=1", "localhost", 443, "/?x=1", "localhost", 0);
    url_ok("https://127.0.0.1:9443/jwks", "127.0.0.1", 9443, "/jwks", "127.0.0.1:9443", 1);
    url_ok("https://[::1]:9443/jwks", "::1", 9443, "/jwks", "[::1]:9443", 1);
    url_ok("https://[2001:db8::1]/", "2001:db8::1", 443, "/", "[2001:db8::1]", 1);
    url_ok("https://a:65535/", "a", 65535, "/", "a:65535", 0);

    url_bad("http://auth.example.com/jwks", "only https:// URLs are allowed");
    url_bad("HTTP://auth.example.com/jwks", "only https:// URLs are allowed");
    url_bad("auth.example.com/jwks", "expected https://");
    url_bad("ftp://a/b", "expected https://");
    url_bad("https://", "missing host");
    url_bad("https:///jwks", "missing host");
    url_bad("https://:443/jwks", "missing host");
    url_bad("https://a:0/", "invalid port");
    url_bad("https://a:65536/", "invalid port");
    url_bad("https://a:99999999999/", "invalid port");
    url_bad("https://a:/", "invalid port");
    url_bad("https://a:8x/", "invalid port");
    url_bad("https://user:pw@a/", "user information");
    url_bad("https://[::1/", "missing \"]\"");
    url_bad("https://[nothex]/", "invalid IPv6 address");
    url_bad("https://[::1]x/", "invalid host");
    url_bad("https://a b/", "invalid character in host name");
    url_bad("https://a/b c", "invalid character in the path");
    url_bad("https://a/b\x7f", "invalid character in the path");
    url_bad("https://a/b#frag", "fragment");
    url_bad(NULL, "expected https://");
}

/* ---- HTTP responses ------------------------------------------------------- */

static int parse(const char *in, int eof, size_t max, struct jwks_http_resp *r, char *err,
                 size_t errlen)
{
    err[0] = '\0';
    return jwks_http_parse(in, strlen(in), eof, max, r, err, errlen);
}

static void resp_ok(const char *name, const char *in, int eof, int status, const char *body)
{
    struct jwks_http_resp r;
    char err[200];
    int rc = parse(in, eof, 1024, &r, err, sizeof(err));
    int good = rc == 1 && r.status == status &&
               (body ? r.body && r.body_len == strlen(body) && !strcmp(r.body, body) : !r.body);

    ok(good, "response: %s", name);
    if (!good)
        printf("#   rc %d status %d body \"%s\" err \"%s\"\n", rc, r.status,
               r.body ? r.body : "(null)", err);
    free(r.body);
}

static void resp_more(const char *name, const char *in)
{
    struct jwks_http_resp r;
    char err[200];
    int rc = parse(in, 0, 1024, &r, err, sizeof(err));

    ok(rc == 0 && !r.body, "response incomplete: %s", name);
    if (rc != 0)
        printf("#   rc %d err \"%s\"\n", rc, err);
    free(r.body);
}

static void resp_bad(const char *name, const char *in, int eof, size_t max, const char *want)
{
    struct jwks_http_resp r;
    char err[200];
    int rc = parse(in, eof, max, &r, err, sizeof(err));

    ok(rc == -1 && strstr(err, want) && !r.body, "response refused: %s", name);
    if (rc != -1 || !strstr(err, want))
        printf("#   rc %d err \"%s\"\n", rc, err);
    free(r.body);
}

static void test_http(void)
{
    char big[20000];

    resp_ok("Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 0, 200, "hello");
    resp_ok("Content-Length, bytes after it ignored",
            "HTTP/1.1 200 OK\r\ncontent-length:5 \r\n\r\nhelloXX", 0, 200, "hello");
    resp_ok("empty body", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, 200, "");
    resp_ok("no reason phrase", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n{}", 0, 200, "{}");
    resp_ok("HTTP/1.0 up to EOF", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\n{\"keys\":[]}", 1, 200,
            "{\"keys\":[]}");
    resp_ok("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nhel\r\n2;ext=1\r\nlo\r\n0\r\n\r\n", 0, 200, "hello");
    resp_ok("chunked with trailers and upper-case hex",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
            "A\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n", 0, 200, "0123456789");
    resp_ok("100 Continue skipped", "HTTP/1.1 100 Continue\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, 200, "ok");
    resp_ok("500: status only", "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 999\r\n\r\n",
            0, 500, NULL);
    resp_ok("404 without length", "HTTP/1.1 404 Not Found\r\n\r\n", 0, 404, NULL);
    resp_ok("Content-Encoding identity", "HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\n"
            "Content-Length: 1\r\n\r\nx", 0, 200, "x");

    resp_more("nothing yet", "");
    resp_more("partial head", "HTTP/1.1 200 OK\r\nContent-Len");
    resp_more("partial Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel");
    resp_more("EOF-delimited body before EOF", "HTTP/1.1 200 OK\r\n\r\n{}");
    resp_more("partial chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    resp_more("partial chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5");
    resp_more("chunks without the last one",
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n");
    resp_more("last chunk without the final CRLF",
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n0\r\n");

    resp_bad("EOF without a response", "", 1, 1024, "without a response");
    resp_bad("EOF in the head", "HTTP/1.1 200 OK\r\n", 1, 1024, "in the response head");
    resp_bad("EOF in a Content-Length body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe",
             1, 1024, "before the end of the body");
    resp_bad("EOF in a chunked body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhe", 1, 1024, "before the end of the body");
    resp_bad("not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", 0, 1024, "malformed status line");
    resp_bad("HTTP/2 status line", "HTTP/2 200\r\n\r\n", 0, 1024, "malformed status line");
    resp_bad("status 600", "HTTP/1.1 600 X\r\n\r\n", 0, 1024, "malformed status line");
    resp_bad("101", "HTTP/1.1 101 Switching Protocols\r\n\r\n", 0, 1024, "101");
    /* The head is read by http_parse_response, as every response is. */
    resp_bad("folded header", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n\r\n", 0, 1024, "folding");
    resp_bad("header without colon", "HTTP/1.1 200 OK\r\nBogus\r\n\r\n", 0, 1024, "without colon");
    resp_bad("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\nx", 0, 1024,
             "whitespace between header name and colon");
    resp_bad("bare CR in a header", "HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", 0, 1024,
             "not terminated by CRLF");
    resp_bad("Content-Length and Transfer-Encoding",
             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 1024,
             "both Content-Length and Transfer-Encoding");
    resp_bad("conflicting Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
             "Content-Length: 2\r\n\r\nxx", 0, 1024, "multiple Content-Length");
    resp_bad("same Content-Length twice", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
             "Content-Length: 1\r\n\r\nx", 0, 1024, "multiple Content-Length");
    resp_bad("negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, 1024,
             "invalid Content-Length");
    resp_bad("huge Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999"
             "\r\n\r\n", 0, 1024, "invalid Content-Length");
    resp_bad("gzip transfer coding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
             0, 1024, "unsupported Transfer-Encoding");
    resp_bad("gzip content coding", "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
             "Content-Length: 1\r\n\r\nx", 0, 1024, "unsupported Content-Encoding");
    resp_bad("Content-Length over the limit", "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n",
             0, 10, "larger than the limit");
    resp_bad("EOF-delimited body over the limit", "HTTP/1.1 200 OK\r\n\r\n0123456789A", 0, 10,
             "larger than the limit");
    resp_bad("chunked body over the limit", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
             "\r\n6\r\n012345\r\n6\r\n", 0, 10, "larger than");
    resp_bad("chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "fffffffffffffffffffffff\r\n", 0, 1024, "malformed chunk size");
    resp_bad("chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "zz\r\n", 0, 1024, "malformed chunk size");
    resp_bad("chunk without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             "2\r\nabXY0\r\n\r\n", 0, 1024, "not followed by CRLF");

    /* A head that never ends is refused once it passes 16 KiB. */
    memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
    for (size_t i = 17; i < sizeof(big) - 1; i++)
        big[i] = (i % 80 == 79) ? '\n' : 'a';
    big[sizeof(big) - 1] = '\0';
    resp_bad("head over 16 KiB", big, 0, 1 << 20, "head larger than");
}

/* ---- the published set ---------------------------------------------------- */

static struct keystore *load_jwks(const char *name)
{
    struct keystore *ks = keystore_new();
    char err[300];

    if (keystore_add_key_file(ks, fx(name), err, sizeof(err)) != 0) {
        printf("# cannot load %s: %s\n", name, err);
        exit(1);
    }
    return ks;
}

static void test_publish(void)
{
    struct jwks *j = jwks_new();
    struct keystore *a = load_jwks("jwks.json"), *b = load_jwks("jwks-rotated.json");
    const struct keystore *got;

    ok(!jwks_ready(j), "a new holder has no set");
    ok(jwks_acquire(j) == NULL, "acquire before the first publish gives NULL");
    jwks_release(j);
    jwks_kick(j);   /* no fetcher: nothing to wake */
    jwks_kick(j);
    ok(1, "kicking a holder without a fetcher is harmless");

    jwks_publish(j, a);
    ok(jwks_ready(j), "ready after a publish");
    got = jwks_acquire(j);
    ok(got == a, "acquire gives the published set");

    /* A reader still holds a: publishing b must not free it. */
    jwks_publish(j, b);
    is_int(jwks_reclaim(j), 1, "the replaced set waits while a reader holds it");
    ok(got->nkeys == 3 && !strcmp(got->keys[0].kid, "rsa1"), "the held set is intact");
    const struct keystore *got2 = jwks_acquire(j);
    ok(got2 == b, "a new reader gets the new set");
    jwks_release(j);
    is_int(jwks_reclaim(j), 1, "still waiting for the first reader");
    jwks_release(j);
    is_int(jwks_reclaim(j), 0, "freed once no reader is left");

    /* Freed at once when nobody reads. */
    jwks_publish(j, load_jwks("jwks.json"));
    is_int(jwks_reclaim(j), 0, "a replaced set nobody holds is freed at the publish");

    ok(jwks_ref(j) == j, "jwks_ref returns its argument");
    jwks_unref(j);
    jwks_unref(j);      /* last: frees the current set too */
    jwks_unref(NULL);
    ok(jwks_acquire(NULL) == NULL, "NULL holder: no set");
    jwks_release(NULL);
    ok(!jwks_ready(NULL), "NULL holder: not ready");
}

/* ---- verification with static and remote keys ------------------------------- */

static char *b64(const void *p, size_t n)
{
    return util_b64url_encode(p, n);
}

static char *sign_rs256(const char *keyfile, const char *kid, int64_t exp)
{
    FILE *fp = fopen(fx(keyfile), "r");
    EVP_PKEY *pk = fp ? PEM_read_PrivateKey(fp, NULL, NULL, NULL) : NULL;
    char hdr[128], pay[128], *h, *p, *s, *input, *tok;
    unsigned char sig[1024];
    size_t siglen = sizeof(sig), n;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    if (fp)
        fclose(fp);
    if (!pk || !ctx) {
        printf("# cannot load %s\n", keyfile);
        exit(1);
    }
    if (kid)
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
    else
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"RS256\"}");
    snprintf(pay, sizeof(pay), "{\"sub\":\"alice\",\"exp\":%lld}", (long long)exp);
    h = b64(hdr, strlen(hdr));
    p = b64(pay, strlen(pay));
    n = strlen(h) + strlen(p) + 2;
    input = malloc(n);
    snprintf(input, n, "%s.%s", h, p);
    if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pk) != 1 ||
        EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)input, strlen(input)) != 1) {
        printf("# signing failed\n");
        exit(1);
    }
    s = b64(sig, siglen);
    n = strlen(input) + strlen(s) + 2;
    tok = malloc(n);
    snprintf(tok, n, "%s.%s", input, s);
    free(h);
    free(p);
    free(s);
    free(input);
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pk);
    return tok;
}

static void verify_is(const struct config *cfg, const char *tok, int want_rc, const char *want_err,
                      const char *name)
{
    struct jwt_claims c;
    char err[128] = "";
    int rc = jwks_verify(cfg, tok, strlen(tok), NOW, &c, err, sizeof(err));
    int good = rc == want_rc && (want_rc == 0 ? c.sub && !strcmp(c.sub, "alice")
                                              : !strcmp(err, want_err));

    ok(good, "%s", name);
    if (!good)
        printf("#   rc %d err \"%s\"\n", rc, err);
    jwt_claims_clear(&c);
}

static void test_verify(void)
{
    struct config cfg;
    struct keystore *st = keystore_new();
    char err[300];
    char *t_static = sign_rs256("rsa.key", NULL, NOW + 60);
    char *t_rsa1 = sign_rs256("rsa.key", "rsa1", NOW + 60);
    char *t_rsa2 = sign_rs256("rsa2.key", "rsa2", NOW + 60);
    char *t_rsa2_as_rsa1 = sign_rs256("rsa2.key", "rsa1", NOW + 60);
    char *t_expired = sign_rs256("rsa2.key", "rsa2", NOW - 60);

    if (keystore_add_key_file(st, fx("rsa.pub"), err, sizeof(err)) != 0) {
        printf("# %s\n", err);
        exit(1);
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.policy.algs = 1u << JWT_RS256;
    cfg.policy.keys = st;

    /* Without a holder: exactly jwt_verify on the static keys. */
    verify_is(&cfg, t_static, 0, NULL, "no jwks: the static key verifies");
    verify_is(&cfg, t_rsa2, -1, "bad signature", "no jwks: another key is a bad signature");

    /* A holder with no set yet. */
    cfg.jwks = jwks_new();
    verify_is(&cfg, t_static, 0, NULL, "no remote set yet: static keys still verify");
    verify_is(&cfg, t_rsa2, -1, "bad signature",
              "no remote set yet: a kid-less static key that fails is a bad signature, not a 503");
    cfg.policy.keys = NULL;
    verify_is(&cfg, t_rsa2, -2, "signing keys not available yet",
              "no remote set and no static key: not available yet (503)");
    verify_is(&cfg, "not.a.token", -1, "malformed token",
              "no remote set: a malformed token is still a 401");
    cfg.policy.keys = st;

    jwks_publish(cfg.jwks, load_jwks("jwks.json"));
    verify_is(&cfg, t_rsa1, 0, NULL, "remote kid rsa1 verifies");
    verify_is(&cfg, t_rsa2, -1, "no matching key", "kid rsa2 is not in the set yet");
    verify_is(&cfg, t_rsa2_as_rsa1, -1, "bad signature", "kid rsa1 with another key's signature");
    /* The remote set has kids, so kid-less keys take no part in kid selection. */
    verify_is(&cfg, t_static, 0, NULL, "a token without kid still meets the static key");

    jwks_publish(cfg.jwks, load_jwks("jwks-rotated.json"));
    verify_is(&cfg, t_rsa2, 0, NULL, "after rotation kid rsa2 verifies");
    verify_is(&cfg, t_rsa1, -1, "no matching key", "after rotation kid rsa1 is gone");
    verify_is(&cfg, t_expired, -1, "token expired", "claims are checked on remote keys too");
    is_int(jwks_reclaim(cfg.jwks), 0, "no reader left behind by jwks_verify");

    jwks_unref(cfg.jwks);
    keystore_free(st);
    free(t_static);
    free(t_rsa1);
    free(t_rsa2);
    free(t_rsa2_as_rsa1);
    free(t_expired);
}

/* ---- configuration ---------------------------------------------------------- */

static char conf_path[] = "/tmp/wsgate-jwks-XXXXXX";
static char conf_err[1024];

static struct config *load(const char *text)
{
    FILE *f = fopen(conf_path, "w");

    if (!f) {
        printf("Bail out! cannot write %s\n", conf_path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    conf_err[0] = '\0';
    return config_load(conf_path, conf_err, sizeof(conf_err));
}

#define LISTEN "listen 127.0.0.1:8080;\nroute / { upstream 127.0.0.1:9000; }\n"

static void conf_bad(const char *name, const char *text, const char *want)
{
    struct config *c = load(text);

    ok(c == NULL && strstr(conf_err, want) != NULL, "config: %s", name);
    if (c || !strstr(conf_err, want))
        printf("#   err \"%s\"\n", conf_err);
    config_unref(c);
}

static void test_config(void)
{
    char text[2048];
    struct config *c;
    int fd = mkstemp(conf_path);

    if (fd < 0) {
        printf("Bail out! mkstemp\n");
        exit(1);
    }
    close(fd);

    c = load(LISTEN "jwt {\n jwks_url https://auth.example.com/jwks.json;\n}\n");
    ok(c != NULL, "config: jwks_url alone is a key source for an auth route");
    if (c) {
        is_str(c->jwks_url, "https://auth.example.com/jwks.json", "config: jwks_url kept");
        ok(c->jwks_ca_file == NULL, "config: jwks_ca_file default: the system store");
        is_int(c->jwks_refresh_ms, 600000, "config: jwks_refresh default 10m");
        is_int(c->jwks_min_refresh_ms, 30000, "config: jwks_min_refresh default 30s");
        is_int(c->jwks_startup_wait_ms, 5000, "config: jwks_startup_wait default 5s");
        ok(c->jwks == NULL, "config: no holder before jwks_attach");
        is_int(c->policy.algs, (1u << JWT_RS256) | (1u << JWT_ES256),
               "config: default algorithms with only a remote set");
    }
    config_unref(c);

    snprintf(text, sizeof(text), LISTEN "jwt {\n jwks_url https://127.0.0.1:8443/k;\n"
             " jwks_ca_file %s;\n jwks_refresh 1h;\n jwks_min_refresh 250ms;\n"
             " jwks_startup_wait 0;\n algorithms HS256;\n}\n", fx("rsa.crt"));
    c = load(text);
    ok(c != NULL, "config: every jwks directive");
    if (c) {
        is_str(c->jwks_ca_file, fx("rsa.crt"), "config: jwks_ca_file");
        is_int(c->jwks_refresh_ms, 3600000, "config: jwks_refresh");
        is_int(c->jwks_min_refresh_ms, 250, "config: jwks_min_refresh");
        is_int(c->jwks_startup_wait_ms, 0, "config: jwks_startup_wait 0");
    } else {
        printf("#   err \"%s\"\n", conf_err);
    }
    config_unref(c);

    conf_bad("plain http refused", LISTEN "jwt {\n jwks_url http://a/k;\n}\n",
             ":4: jwks_url \"http://a/k\": only https:// URLs are allowed");
    conf_bad("one jwks_url", LISTEN "jwt {\n jwks_url https://a/k;\n jwks_url https://b/k;\n}\n",
             ":5: duplicate \"jwks_url\"");
    conf_bad("jwks_url outside jwt", LISTEN "jwks_url https://a/k;\n",
             "\"jwks_url\" is not allowed in the main context");
    conf_bad("missing CA file", LISTEN "jwt {\n jwks_url https://a/k;\n"
             " jwks_ca_file /nonexistent/ca.pem;\n}\n", ":5: jwks_ca_file: /nonexistent/ca.pem: ");
    conf_bad("jwks_min_refresh too small", LISTEN "jwt {\n jwks_url https://a/k;\n"
             " jwks_min_refresh 10ms;\n}\n", "\"jwks_min_refresh\" must be between 100ms and");
    conf_bad("jwks_refresh 0", LISTEN "jwt {\n jwks_url https://a/k;\n jwks_refresh 0;\n}\n",
             "\"jwks_refresh\" must be between 1s and");
    conf_bad("jwks_startup_wait too long", LISTEN "jwt {\n jwks_url https://a/k;\n"
             " jwks_startup_wait 1h;\n}\n", "\"jwks_startup_wait\" must be between 0s and 10m");
    conf_bad("auth without any key source", LISTEN,
             "no keys configured (key_file, hmac_secret_file, jwks_url)");
    unlink(conf_path);
}

int main(void)
{
    const char *d = getenv("WSGATE_UNIT_DATA");

    snprintf(datadir, sizeof(datadir), "%s", d && *d ? d : "./t");
    test_urls();
    test_http();
    test_publish();
    test_verify();
    test_config();
    return tap_done();
}
