/* TLS contexts and their configuration: certificates made here with the
 * OpenSSL API (no key is committed), the server and client contexts driven
 * through in-memory handshakes (protocol floor, ALPN, hostname and IP
 * verification, SNI), and the tls directives' exact file:line errors. */
#include "tap.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "tls.h"

static char dir[PATH_MAX];
static char conf[PATH_MAX + 32];
static char err[1024];

static char *path(const char *name)
{
    static char buf[8][PATH_MAX + 64];
    static int i;
    char *p = buf[i++ % 8];

    snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
    return p;
}

/* ---- fixtures ---------------------------------------------------------- */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *e;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!e) {
        printf("Bail out! extension %s\n", value);
        exit(1);
    }
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

/* issuer NULL: self-signed CA. */
static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn,
                       const char *san, long serial)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_get_subject_name(x);

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    if (!issuer) {
        add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
        add_ext(x, issuer, NID_ext_key_usage, "serverAuth");
    }
    if (san)
        add_ext(x, issuer, NID_subject_alt_name, san);
    if (!X509_sign(x, signer, EVP_sha256())) {
        printf("Bail out! X509_sign\n");
        exit(1);
    }
    return x;
}

static void write_pem(const char *name, X509 *x1, X509 *x2, EVP_PKEY *key, int encrypted)
{
    FILE *f = fopen(path(name), "w");

    if (!f) {
        printf("Bail out! cannot write %s: %s\n", path(name), strerror(errno));
        exit(1);
    }
    if (x1)
        PEM_write_X509(f, x1);
    if (x2)
        PEM_write_X509(f, x2);
    if (key)
        PEM_write_PrivateKey(f, key, encrypted ? EVP_aes_128_cbc() : NULL,
                             encrypted ? (unsigned char *)"secret" : NULL, encrypted ? 6 : 0,
                             NULL, NULL);
    fclose(f);
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");

    if (!f) {
        printf("Bail out! cannot write %s\n", path(name));
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static void make_fixtures(void)
{
    EVP_PKEY *cak = EVP_EC_gen("P-256"), *ca2k = EVP_EC_gen("P-256");
    EVP_PKEY *sk = EVP_EC_gen("P-256"), *ok_ = EVP_EC_gen("P-256");
    X509 *ca = make_cert(cak, cak, NULL, "unit CA", NULL, 1);
    X509 *ca2 = make_cert(ca2k, ca2k, NULL, "other CA", NULL, 2);
    X509 *srv = make_cert(sk, cak, ca, "localhost", "DNS:localhost,IP:127.0.0.1", 3);
    X509 *other = make_cert(ok_, ca2k, ca2, "localhost", "DNS:localhost", 4);

    write_pem("ca.pem", ca, NULL, NULL, 0);
    write_pem("server.pem", srv, NULL, NULL, 0);
    write_pem("chain.pem", srv, ca, NULL, 0);
    write_pem("server.key", NULL, NULL, sk, 0);
    write_pem("both.pem", srv, NULL, sk, 0);
    write_pem("other.key", NULL, NULL, ok_, 0);
    write_pem("other.pem", other, NULL, NULL, 0);
    write_pem("encrypted.key", NULL, NULL, sk, 1);
    write_text("garbage.pem", "this is not PEM\n");
    write_text("empty.pem", "");
    EVP_PKEY_free(cak);
    EVP_PKEY_free(ca2k);
    EVP_PKEY_free(sk);
    EVP_PKEY_free(ok_);
    X509_free(ca);
    X509_free(ca2);
    X509_free(srv);
    X509_free(other);
}

/* ---- in-memory handshakes ---------------------------------------------- */

/* 1 when both ends finish; 0 when the client fails, -1 when the server
 * does (with OpenSSL's reason in err). */
static int handshake(SSL *c, SSL *s)
{
    BIO *b1 = NULL, *b2 = NULL;

    BIO_new_bio_pair(&b1, 0, &b2, 0);
    SSL_set_bio(c, b1, b1);
    SSL_set_bio(s, b2, b2);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    err[0] = '\0';
    for (int i = 0; i < 50; i++) {
        /* SSL_get_error() reads the thread's error queue: ask it right
         * after each call, before the other end adds to the queue. */
        int rc = SSL_do_handshake(c), ec = rc == 1 ? 0 : SSL_get_error(c, rc);
        if (ec && ec != SSL_ERROR_WANT_READ && ec != SSL_ERROR_WANT_WRITE) {
            ERR_error_string_n(ERR_get_error(), err, sizeof(err));
            ERR_clear_error();
            return 0;
        }
        int rs = SSL_do_handshake(s), es = rs == 1 ? 0 : SSL_get_error(s, rs);
        if (rc == 1 && rs == 1)
            return 1;
        if (es && es != SSL_ERROR_WANT_READ && es != SSL_ERROR_WANT_WRITE) {
            ERR_error_string_n(ERR_get_error(), err, sizeof(err));
            ERR_clear_error();
            return -1;
        }
    }
    return -2;
}

static SSL_CTX *server_ctx(const char *cert, const char *key)
{
    SSL_CTX *ctx = tls_server_ctx_new(err, sizeof(err));

    if (!ctx || tls_server_ctx_use_certificate(ctx, path(cert), err, sizeof(err)) < 0 ||
        tls_server_ctx_use_key(ctx, path(key), err, sizeof(err)) < 0) {
        printf("Bail out! server context: %s\n", err);
        exit(1);
    }
    return ctx;
}

static void test_server_ctx(void)
{
    SSL_CTX *ctx = tls_server_ctx_new(err, sizeof(err));
    STACK_OF(X509) *chain = NULL;

    ok(ctx != NULL, "server context");
    is_int(tls_server_ctx_use_certificate(ctx, path("chain.pem"), err, sizeof(err)), 0,
           "certificate chain loads");
    SSL_CTX_get0_chain_certs(ctx, &chain);
    is_int(chain ? sk_X509_num(chain) : 0, 1, "the CA after the leaf is the chain");
    is_int(tls_server_ctx_use_key(ctx, path("server.key"), err, sizeof(err)), 0, "matching key loads");
    is_int(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION, "TLS 1.2 minimum");
    ok(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE, "server cipher preference");
    ok(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION, "no compression");
    ok(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION, "no renegotiation");
    tls_ctx_free(ctx);

    ctx = tls_server_ctx_new(err, sizeof(err));
    is_int(tls_server_ctx_use_certificate(ctx, path("both.pem"), err, sizeof(err)), 0,
           "certificate from a file that also holds the key");
    is_int(tls_server_ctx_use_key(ctx, path("both.pem"), err, sizeof(err)), 0,
           "key from the same file");
    tls_ctx_free(ctx);

    ctx = tls_server_ctx_new(err, sizeof(err));
    is_int(tls_server_ctx_use_certificate(ctx, path("missing.pem"), err, sizeof(err)), -1,
           "missing certificate file");
    is_str(err, "cannot open: No such file or directory", "missing certificate: message");
    is_int(tls_server_ctx_use_certificate(ctx, path("garbage.pem"), err, sizeof(err)), -1,
           "garbage certificate file");
    is_str(err, "no PEM certificate found", "garbage certificate: message");
    is_int(tls_server_ctx_use_certificate(ctx, path("empty.pem"), err, sizeof(err)), -1,
           "empty certificate file");
    is_str(err, "no PEM certificate found", "empty certificate: message");
    is_int(tls_server_ctx_use_certificate(ctx, dir, err, sizeof(err)), -1, "a directory");
    is_int(tls_server_ctx_use_certificate(ctx, path("server.pem"), err, sizeof(err)), 0,
           "then a good certificate");
    is_int(tls_server_ctx_use_key(ctx, path("other.key"), err, sizeof(err)), -1, "mismatched key");
    is_str(err, "does not match the certificate", "mismatched key: message");
    is_int(tls_server_ctx_use_key(ctx, path("nokey.pem"), err, sizeof(err)), -1, "missing key file");
    is_str(err, "cannot open: No such file or directory", "missing key: message");
    is_int(tls_server_ctx_use_key(ctx, path("server.pem"), err, sizeof(err)), -1,
           "a certificate where the key should be");
    is_str(err, "no PEM private key found", "certificate as key: message");
    is_int(tls_server_ctx_use_key(ctx, path("encrypted.key"), err, sizeof(err)), -1,
           "encrypted key, no terminal prompt");
    is_str(err, "encrypted private keys are not supported", "encrypted key: message");
    ok(!strstr(err, "PRIVATE") && ERR_peek_error() == 0, "no key text in messages, no errors left");
    tls_ctx_free(ctx);
}

static void test_client_ctx(void)
{
    SSL_CTX *ctx = tls_client_ctx_new(path("ca.pem"), err, sizeof(err));
    SSL *ssl;

    ok(ctx != NULL, "client context with a CA file");
    is_int(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER, "peer verification on");
    is_int(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION, "TLS 1.2 minimum upstream");
    ssl = tls_client_ssl_new(ctx, "backend.example");
    ok(ssl != NULL, "connection for a name");
    is_str(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name), "backend.example", "SNI is the name");
    is_str(X509_VERIFY_PARAM_get0_host(SSL_get0_param(ssl), 0), "backend.example",
           "the name is verified");
    SSL_free(ssl);
    ssl = tls_client_ssl_new(ctx, "10.1.2.3");
    ok(ssl != NULL, "connection for an IPv4 address");
    ok(SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == NULL, "no SNI for an address");
    {
        char *ip = X509_VERIFY_PARAM_get1_ip_asc(SSL_get0_param(ssl));
        is_str(ip, "10.1.2.3", "the address is verified");
        OPENSSL_free(ip);
    }
    SSL_free(ssl);
    ssl = tls_client_ssl_new(ctx, "::1");
    ok(ssl != NULL && SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name) == NULL,
       "connection for an IPv6 address, no SNI");
    SSL_free(ssl);
    tls_ctx_free(ctx);

    ctx = tls_client_ctx_new(NULL, err, sizeof(err));
    ok(ctx != NULL, "client context on the system trust store");
    tls_ctx_free(ctx);
    ok(tls_client_ctx_new(path("missing.pem"), err, sizeof(err)) == NULL, "missing CA file");
    is_str(err, "cannot open: No such file or directory", "missing CA file: message");
    ok(tls_client_ctx_new(path("garbage.pem"), err, sizeof(err)) == NULL, "garbage CA file");
    is_str(err, "no PEM certificate found", "garbage CA file: message");
    ok(ERR_peek_error() == 0, "no OpenSSL errors left behind");
}

static void test_handshakes(void)
{
    SSL_CTX *sctx = server_ctx("chain.pem", "server.key");
    SSL_CTX *cctx = tls_client_ctx_new(path("ca.pem"), err, sizeof(err));
    SSL_CTX *old = SSL_CTX_new(TLS_client_method());
    SSL *c, *s;
    const unsigned char *proto;
    unsigned int plen;

    c = tls_client_ssl_new(cctx, "localhost");
    s = SSL_new(sctx);
    is_int(handshake(c, s), 1, "verified handshake with localhost");
    SSL_get0_alpn_selected(s, &proto, &plen);
    ok(plen == 8 && memcmp(proto, "http/1.1", 8) == 0, "ALPN http/1.1 both ways");
    ok(SSL_version(c) >= TLS1_2_VERSION, "TLS 1.2 or later");
    SSL_free(c);
    SSL_free(s);

    c = tls_client_ssl_new(cctx, "127.0.0.1");
    s = SSL_new(sctx);
    is_int(handshake(c, s), 1, "verified handshake with 127.0.0.1 (IP SAN)");
    SSL_free(c);
    SSL_free(s);

    c = tls_client_ssl_new(cctx, "wrong.example");
    s = SSL_new(sctx);
    is_int(handshake(c, s), 0, "another name: the client refuses");
    is_int(SSL_get_verify_result(c), X509_V_ERR_HOSTNAME_MISMATCH, "hostname mismatch");
    SSL_free(c);
    SSL_free(s);

    c = tls_client_ssl_new(cctx, "10.9.9.9");
    s = SSL_new(sctx);
    is_int(handshake(c, s), 0, "another address: the client refuses");
    is_int(SSL_get_verify_result(c), X509_V_ERR_IP_ADDRESS_MISMATCH, "IP address mismatch");
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(sctx);

    sctx = server_ctx("other.pem", "other.key");
    c = tls_client_ssl_new(cctx, "localhost");
    s = SSL_new(sctx);
    is_int(handshake(c, s), 0, "a certificate from another CA: the client refuses");
    is_int(SSL_get_verify_result(c), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
           "unable to get local issuer certificate");
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(sctx);

    sctx = server_ctx("server.pem", "server.key");
    SSL_CTX_set_security_level(old, 0);
    SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
    SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
    c = SSL_new(old);
    s = SSL_new(sctx);
    is_int(handshake(c, s), -1, "a TLS 1.1 client: the server refuses");
    ok(strstr(err, "unsupported protocol") != NULL, "reason: unsupported protocol (%s)", err);
    SSL_free(c);
    SSL_free(s);

    {
        static const unsigned char h2[] = "\x02h2";
        c = SSL_new(old);
        SSL_CTX_set_max_proto_version(old, 0);
        SSL_free(c);
        c = SSL_new(old);
        SSL_set_verify(c, SSL_VERIFY_NONE, NULL);
        SSL_set_alpn_protos(c, h2, 3);
        s = SSL_new(sctx);
        is_int(handshake(c, s), 1, "a client offering only h2 still connects");
        SSL_get0_alpn_selected(c, &proto, &plen);
        is_int(plen, 0, "without ALPN");
        SSL_free(c);
        SSL_free(s);
    }
    SSL_CTX_free(old);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    ERR_clear_error();
}

/* ---- configuration ----------------------------------------------------- */

static struct config *load(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct config *load(const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    FILE *f;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    f = fopen(conf, "w");
    if (!f) {
        printf("Bail out! cannot write %s\n", conf);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return config_load(conf, err, sizeof(err));
}

static void failed_with(struct config *c, const char *where, const char *name)
{
    char want[sizeof(conf) + sizeof(err)];

    snprintf(want, sizeof(want), "%s:%s", conf, where);
    ok(c == NULL, "%s: refused", name);
    is_str(err, want, "%s: message", name);
    config_unref(c);
}

#define BAD(name, where, ...) failed_with(load(__VA_ARGS__), where, name)
#define ROUTE "route / { upstream 127.0.0.1:9000; auth off; }\n"

static void test_config(void)
{
    char where[PATH_MAX + 256];
    struct config *c;

    c = load("listen 127.0.0.1:8443 tls;\nlisten 127.0.0.1:8080;\n"
             "tls_certificate %s;\ntls_certificate_key %s;\n"
             "upstream_ca_file %s;\n"
             "route / {\n upstream tls://localhost:9443 tls://127.0.0.1:9444 tls://[::1]:9445;\n"
             " auth off;\n}\n"
             "route /own { upstream tls://localhost:9443; upstream_ca_file %s; auth off; }\n"
             "route /plain { upstream 127.0.0.1:9000; upstream_ca_file %s; auth off; }\n",
             path("chain.pem"), path("server.key"), path("ca.pem"), path("ca.pem"),
             path("ca.pem"));
    ok(c != NULL, "a TLS configuration loads (%s)", err);
    if (!c)
        return;
    is_int(c->listens[0].tls, 1, "\"tls\" listener");
    is_int(c->listens[1].tls, 0, "plain listener");
    ok(c->tls_ctx != NULL, "server context built");
    is_str(c->tls_certificate, path("chain.pem"), "tls_certificate");
    is_str(c->tls_certificate_key, path("server.key"), "tls_certificate_key");
    is_str(c->upstream_ca_file, path("ca.pem"), "main upstream_ca_file");
    for (size_t i = 0; i < c->nroutes; i++) {
        struct route *r = &c->routes[i];
        if (strcmp(r->prefix, "/") == 0) {
            is_int(r->nupstreams, 3, "three tls upstreams");
            is_int(r->upstreams[0].tls, 1, "tls flag");
            is_str(r->upstreams[0].host, "localhost", "host kept as written");
            is_str(r->upstreams[0].text, "tls://localhost:9443", "text as written");
            is_int(r->upstreams[0].ss.ss_family, AF_INET, "localhost is 127.0.0.1");
            is_str(r->upstreams[1].host, "127.0.0.1", "IPv4 host");
            is_str(r->upstreams[2].host, "::1", "IPv6 host without brackets");
            is_int(r->upstreams[2].ss.ss_family, AF_INET6, "IPv6 address");
            ok(r->tls_ctx != NULL, "the route without its own CA file gets a client context");
            ok(r->upstream_ca_file == NULL, "and no CA file of its own");
        } else if (strcmp(r->prefix, "/own") == 0) {
            ok(r->tls_ctx != NULL, "route with its own upstream_ca_file");
            is_str(r->upstream_ca_file, path("ca.pem"), "its file");
        } else {
            ok(r->tls_ctx == NULL, "no client context without a tls:// upstream");
            is_int(r->upstreams[0].tls, 0, "plain upstream");
            ok(r->upstreams[0].host == NULL, "no host for a plain upstream");
        }
    }
    config_unref(c);

    c = load("listen 127.0.0.1:8080;\nroute / { upstream tls://localhost:9443; auth off; }\n");
    ok(c != NULL && c->routes[0].tls_ctx != NULL, "no CA file anywhere: the system trust store");
    config_unref(c);
    c = load("listen 127.0.0.1:8080;\ntls_certificate %s;\ntls_certificate_key %s;\n" ROUTE,
             path("server.pem"), path("server.key"));
    ok(c != NULL && c->tls_ctx != NULL, "certificates without a tls listener are still loaded");
    config_unref(c);

    BAD("tls listener without certificates",
        "1: \"tls\" listener 127.0.0.1:8443 needs \"tls_certificate\" and \"tls_certificate_key\"",
        "listen 127.0.0.1:8443 tls;\n" ROUTE);
    BAD("certificate without key", "2: \"tls_certificate\" needs \"tls_certificate_key\" too",
        "listen 127.0.0.1:8443 tls;\ntls_certificate %s;\n" ROUTE, path("server.pem"));
    BAD("key without certificate", "2: \"tls_certificate_key\" needs \"tls_certificate\" too",
        "listen 127.0.0.1:8443 tls;\ntls_certificate_key %s;\n" ROUTE, path("server.key"));
    snprintf(where, sizeof(where), "3: tls_certificate_key \"%s\": does not match the certificate",
             path("other.key"));
    BAD("mismatched key", where, "listen 127.0.0.1:8443 tls;\ntls_certificate %s;\n"
        "tls_certificate_key %s;\n" ROUTE, path("server.pem"), path("other.key"));
    snprintf(where, sizeof(where), "4: tls_certificate_key \"%s\": cannot open: No such file or "
             "directory", path("nokey.pem"));
    BAD("missing key", where, "listen 127.0.0.1:8443 tls;\ntls_certificate %s;\n\n"
        "tls_certificate_key %s;\n" ROUTE, path("server.pem"), path("nokey.pem"));
    snprintf(where, sizeof(where), "2: tls_certificate \"%s\": no PEM certificate found",
             path("garbage.pem"));
    BAD("garbage certificate", where, "listen 127.0.0.1:8443 tls;\ntls_certificate %s;\n"
        "tls_certificate_key %s;\n" ROUTE, path("garbage.pem"), path("server.key"));
    BAD("empty tls_certificate", "2: \"tls_certificate\" must not be empty",
        "listen 127.0.0.1:8443 tls;\ntls_certificate \"\";\n" ROUTE);
    BAD("duplicate tls_certificate", "3: duplicate \"tls_certificate\" (first on line 2)",
        "listen 127.0.0.1:8443 tls;\ntls_certificate a;\ntls_certificate b;\n" ROUTE);
    BAD("listen with another flag", "1: invalid parameter \"ssl\" for \"listen\"",
        "listen 127.0.0.1:8443 ssl;\n" ROUTE);

    snprintf(where, sizeof(where), "2: upstream_ca_file \"%s\": cannot open: No such file or "
             "directory", path("none.pem"));
    BAD("missing main upstream_ca_file", where,
        "listen 127.0.0.1:8080;\nupstream_ca_file %s;\n" ROUTE, path("none.pem"));
    snprintf(where, sizeof(where), "3: upstream_ca_file \"%s\": no PEM certificate found",
             path("garbage.pem"));
    BAD("garbage route upstream_ca_file", where,
        "listen 127.0.0.1:8080;\nroute / { upstream tls://localhost:1;\n"
        " upstream_ca_file %s; auth off; }\n", path("garbage.pem"));
    BAD("upstream_ca_file in jwt", "2: \"upstream_ca_file\" is not allowed in the jwt context",
        "listen 127.0.0.1:8080;\njwt { upstream_ca_file x; }\n" ROUTE);
    BAD("tls upstream without port", "2: upstream \"tls://localhost\": missing port",
        "listen 127.0.0.1:8080;\nroute / { upstream tls://localhost; auth off; }\n");
    BAD("tls upstream bad port", "2: upstream \"tls://localhost:0\": invalid port",
        "listen 127.0.0.1:8080;\nroute / { upstream tls://localhost:0; auth off; }\n");
    BAD("tls upstream bad name", "2: upstream \"tls://bad!name:443\": invalid host name",
        "listen 127.0.0.1:8080;\nroute / { upstream tls://bad!name:443; auth off; }\n");
    BAD("tls upstream no host", "2: upstream \"tls://:443\": missing host",
        "listen 127.0.0.1:8080;\nroute / { upstream tls://:443; auth off; }\n");
    BAD("tls upstream bare IPv6", "2: upstream \"tls://::1:443\": IPv6 addresses go in brackets, "
        "as in [::1]:8080",
        "listen 127.0.0.1:8080;\nroute / { upstream tls://::1:443; auth off; }\n");
    BAD("tls:// in listen", "1: listen \"tls://127.0.0.1:443\": tls:// is only allowed in upstream",
        "listen tls://127.0.0.1:443;\n" ROUTE);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/wsgate-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(conf, sizeof(conf), "%s/test.conf", dir);
    make_fixtures();

    test_server_ctx();
    test_client_ctx();
    test_handshakes();
    test_config();

    {
        static const char *const files[] = {
            "ca.pem", "server.pem", "chain.pem", "server.key", "both.pem", "other.key",
            "other.pem", "encrypted.key", "garbage.pem", "empty.pem", "test.conf", NULL,
        };
        for (int i = 0; files[i]; i++)
            unlink(path(files[i]));
        rmdir(dir);
    }
    return tap_done();
}
