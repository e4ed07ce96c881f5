/* TLS contexts and per-connection helpers on OpenSSL 3 and libevent's
 * OpenSSL bufferevents. Contexts are built once per configuration load and
 * shared by every worker thread (SSL_new on a shared SSL_CTX is safe); a
 * reload builds new ones, so new handshakes get the new certificate while
 * live connections keep theirs. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

/* Mozilla's "intermediate" TLS 1.2 suites: forward secrecy and AEAD only.
 * TLS 1.3 suites are OpenSSL's defaults. */
#define TLS12_CIPHERS                                                                      \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                           \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                           \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                           \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* A PEM private key is a few kilobytes; a larger file is a mistake. */
#define KEY_FILE_MAX (1024 * 1024)

/* The first OpenSSL reason in the thread's queue, then the queue emptied,
 * so the next operation starts clean. */
static const char *ssl_reason(char *buf, size_t len)
{
    unsigned long e = ERR_peek_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;

    if (e && r)
        snprintf(buf, len, "%s", r);
    else if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "unknown OpenSSL error");
    ERR_clear_error();
    return buf;
}

/* Opens a PEM file as a BIO; errno's text on failure. fopen first so the
 * operator sees "No such file or directory", not an OpenSSL code. */
static BIO *open_pem(const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "re");
    BIO *b;

    if (!f) {
        util_fail(err, errlen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    b = BIO_new_fp(f, BIO_CLOSE);
    if (!b) {
        fclose(f);
        util_fail(err, errlen, "out of memory");
    }
    return b;
}

/* Private keys are read without a terminal: an encrypted one fails here
 * rather than blocking on a passphrase prompt. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    unsigned char *sel = NULL;

    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto(&sel, outlen, alpn_http11, sizeof(alpn_http11) - 1, in, inlen) ==
        OPENSSL_NPN_NEGOTIATED) {
        *out = sel;
        return SSL_TLSEXT_ERR_OK;
    }
    /* The client asked only for protocols we do not speak (h2): carry on
     * without ALPN, as a server without ALPN support would. */
    return SSL_TLSEXT_ERR_NOACK;
}

/* Settings both directions share. Unexpected EOF (a peer that closes TCP
 * without close_notify, as many WebSocket clients do) counts as a normal
 * close: WebSocket framing already detects truncation, and libevent 2.1
 * only knows OpenSSL 1.1's way of reporting it. */
static void common_settings(SSL_CTX *ctx)
{
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    /* Idle relayed connections give their 34k+ buffers back. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

struct ssl_ctx_st *tls_server_ctx_new(char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    char why[256];

    if (!ctx) {
        util_fail(err, errlen, "cannot create a TLS context: %s", ssl_reason(why, sizeof(why)));
        return NULL;
    }
    common_settings(ctx);
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
        util_fail(err, errlen, "cannot set the cipher list: %s", ssl_reason(why, sizeof(why)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_dh_auto(ctx, 1);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"wsgate", 6);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
    return ctx;
}

int tls_server_ctx_use_certificate(struct ssl_ctx_st *ctx, const char *file, char *err,
                                   size_t errlen)
{
    char why[256];
    BIO *b = open_pem(file, err, errlen);
    X509 *x;
    int rc = -1;

    if (!b)
        return -1;
    ERR_clear_error();
    x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL);
    if (!x) {
        unsigned long e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
            util_fail(err, errlen, "no PEM certificate found");
        else
            util_fail(err, errlen, "bad certificate: %s", ssl_reason(why, sizeof(why)));
        ERR_clear_error();
        goto out;
    }
    if (SSL_CTX_use_certificate(ctx, x) != 1) {
        /* Typically "ee key too small" or "ca md too weak". */
        util_fail(err, errlen, "certificate refused: %s", ssl_reason(why, sizeof(why)));
        X509_free(x);
        goto out;
    }
    X509_free(x);
    SSL_CTX_clear_chain_certs(ctx);
    for (;;) {
        X509 *ca = PEM_read_bio_X509(b, NULL, NULL, NULL);
        if (!ca)
            break;
        if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
            X509_free(ca);
            util_fail(err, errlen, "chain certificate refused: %s", ssl_reason(why, sizeof(why)));
            goto out;
        }
    }
    /* The loop ends at the end of the file ("no start line"); anything
     * else is a damaged certificate after the first one. */
    {
        unsigned long e = ERR_peek_last_error();
        if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
            util_fail(err, errlen, "bad chain certificate: %s", ssl_reason(why, sizeof(why)));
            goto out;
        }
    }
    ERR_clear_error();
    rc = 0;
out:
    BIO_free(b);
    return rc;
}

/* The whole key file, in memory the caller cleanses; NULL with err. */
static char *read_key_file(const char *file, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(file, "re");
    char *buf;
    size_t n;

    if (!f) {
        util_fail(err, errlen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    buf = OPENSSL_malloc(KEY_FILE_MAX + 1);
    if (!buf) {
        fclose(f);
        util_fail(err, errlen, "out of memory");
        return NULL;
    }
    n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    if (ferror(f) || n > KEY_FILE_MAX) {
        util_fail(err, errlen, ferror(f) ? "cannot read: %s" : "file too large%s",
             ferror(f) ? strerror(errno) : "");
        fclose(f);
        OPENSSL_clear_free(buf, KEY_FILE_MAX + 1);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

int tls_server_ctx_use_key(struct ssl_ctx_st *ctx, const char *file, char *err, size_t errlen)
{
    char why[256];
    size_t len = 0;
    char *text = read_key_file(file, &len, err, errlen);
    BIO *b;
    EVP_PKEY *pk;
    X509 *cert;
    int rc = -1;

    if (!text)
        return -1;
    /* OpenSSL 3's decoders say only "unsupported" for a file without a
     * key (a certificate given by mistake): look for one ourselves. */
    if (!strstr(text, "PRIVATE KEY-----")) {
        util_fail(err, errlen, "no PEM private key found");
        OPENSSL_clear_free(text, KEY_FILE_MAX + 1);
        return -1;
    }
    b = BIO_new_mem_buf(text, (int)len);
    if (!b) {
        util_fail(err, errlen, "out of memory");
        OPENSSL_clear_free(text, KEY_FILE_MAX + 1);
        return -1;
    }
    ERR_clear_error();
    pk = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL);
    if (!pk) {
        unsigned long e = ERR_peek_last_error();
        if (strstr(text, "ENCRYPTED"))
            util_fail(err, errlen, "encrypted private keys are not supported");
        else if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ)
            util_fail(err, errlen, "encrypted private keys are not supported");
        else
            util_fail(err, errlen, "bad private key: %s", ssl_reason(why, sizeof(why)));
        ERR_clear_error();
        goto out;
    }
    cert = SSL_CTX_get0_certificate(ctx);
    if (cert && X509_check_private_key(cert, pk) != 1) {
        ERR_clear_error();
        util_fail(err, errlen, "does not match the certificate");
        EVP_PKEY_free(pk);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey(ctx, pk) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        util_fail(err, errlen, "key refused: %s", ssl_reason(why, sizeof(why)));
        EVP_PKEY_free(pk);
        goto out;
    }
    EVP_PKEY_free(pk);
    rc = 0;
out:
    BIO_free(b);
    OPENSSL_clear_free(text, KEY_FILE_MAX + 1);
    return rc;
}

struct ssl_ctx_st *tls_client_ctx_new(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    char why[256];

    if (!ctx) {
        util_fail(err, errlen, "cannot create a TLS context: %s", ssl_reason(why, sizeof(why)));
        return NULL;
    }
    common_settings(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_alpn_protos(ctx, alpn_http11, sizeof(alpn_http11) - 1);
    if (ca_file) {
        BIO *b = open_pem(ca_file, err, errlen);
        if (!b) {
            SSL_CTX_free(ctx);
            return NULL;
        }
        BIO_free(b);
        ERR_clear_error();
        if (SSL_CTX_load_verify_file(ctx, ca_file) != 1) {
            unsigned long e = ERR_peek_last_error();
            if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_NO_CERTIFICATE_OR_CRL_FOUND)
                util_fail(err, errlen, "no PEM certificate found");
            else
                util_fail(err, errlen, "cannot load CA certificates: %s", ssl_reason(why, sizeof(why)));
            ERR_clear_error();
            SSL_CTX_free(ctx);
            return NULL;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        util_fail(err, errlen, "cannot use the system trust store: %s", ssl_reason(why, sizeof(why)));
        SSL_CTX_free(ctx);
        return NULL;
    }
    ERR_clear_error();
    return ctx;
}

struct ssl_st *tls_client_ssl_new(struct ssl_ctx_st *ctx, const char *host)
{
    SSL *ssl = SSL_new(ctx);
    unsigned char ip[16];
    int ok;

    if (!ssl)
        return NULL;
    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
    } else {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        ok = SSL_set_tlsext_host_name(ssl, host) == 1 && SSL_set1_host(ssl, host) == 1;
    }
    if (!ok) {
        ERR_clear_error();
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

void tls_ctx_free(struct ssl_ctx_st *ctx)
{
    SSL_CTX_free(ctx);
}

struct ssl_ctx_st *tls_ctx_ref(struct ssl_ctx_st *ctx)
{
    if (ctx)
        SSL_CTX_up_ref(ctx);
    return ctx;
}

/* errno values that describe why a connection failed; anything else in
 * errno by the time the callback runs may be stale. */
static int connection_errno(int e)
{
    return e == ECONNREFUSED || e == ECONNRESET || e == ECONNABORTED || e == EHOSTUNREACH ||
           e == ENETUNREACH || e == ETIMEDOUT || e == EPIPE;
}

void tls_error_text(struct bufferevent *bev, short what, char *buf, size_t len)
{
    int saved_errno = errno;
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    unsigned long e, first = 0;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    int fd = bufferevent_getfd(bev);

    /* libevent stores SSL_get_error()'s code (a small number, library 0)
     * ahead of OpenSSL's queue, and hands them back last first: the root
     * cause is the earliest real OpenSSL error. */
    while ((e = bufferevent_get_openssl_error(bev)) != 0)
        if (ERR_GET_LIB(e) != 0)
            first = e;
    if (first) {
        const char *r = ERR_reason_error_string(first);
        char tmp[256];
        if (!r) {
            ERR_error_string_n(first, tmp, sizeof(tmp));
            r = tmp;
        }
        if (ERR_GET_LIB(first) == ERR_LIB_SSL &&
            ERR_GET_REASON(first) == SSL_R_CERTIFICATE_VERIFY_FAILED && ssl &&
            SSL_get_verify_result(ssl) != X509_V_OK)
            snprintf(buf, len, "%s: %s", r,
                     X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        else
            snprintf(buf, len, "%s", r);
        return;
    }
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr) {
        snprintf(buf, len, "%s", strerror(soerr));
        return;
    }
    /* A refused connect surfaces as the handshake's failed write. */
    if (connection_errno(saved_errno)) {
        snprintf(buf, len, "%s", strerror(saved_errno));
        return;
    }
    if (what & BEV_EVENT_EOF)
        snprintf(buf, len, "%s", ssl && !SSL_is_init_finished(ssl)
                                     ? "connection closed during the TLS handshake"
                                     : "connection closed");
    else
        snprintf(buf, len, "TLS connection failed");
}

int tls_close_notify(struct bufferevent *bev)
{
    SSL *ssl = bufferevent_openssl_get_ssl(bev);

    if (!ssl)
        return 0;
    /* Once only: a second SSL_shutdown would read the peer's close_notify
     * from the socket behind libevent's back. A full socket buffer loses
     * the alert; the peer then sees a plain EOF, which is harmless. */
    if (SSL_is_init_finished(ssl) && !(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN)) {
        SSL_shutdown(ssl);
        ERR_clear_error();
    }
    return 1;
}

void tls_read_pending(struct bufferevent *bev)
{
    SSL *ssl;

    if (!bev || !(ssl = bufferevent_openssl_get_ssl(bev)))
        return;
    if (!SSL_is_init_finished(ssl) || SSL_pending(ssl) <= 0 ||
        !(bufferevent_get_enabled(bev) & EV_READ))
        return;
    /* Runs libevent's own read handler at the next loop turn; it reads
     * nothing while reading is suspended or disabled. */
    event_active(&bev->ev_read, EV_READ, 1);
}

const char *tls_describe(struct bufferevent *bev, char *buf, size_t len)
{
    SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;

    if (!ssl) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    snprintf(buf, len, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
    return buf;
}
