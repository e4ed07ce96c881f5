/* TLS: the OpenSSL contexts a configuration load builds (one server context
 * for the "tls" listeners, one client context per route with tls://
 * upstreams) and the few per-connection helpers the session needs. Leaf
 * code: failures are described in the caller's buffer, never logged, and
 * never include key material. */
#ifndef WSGATE_TLS_H
#define WSGATE_TLS_H

#include <stddef.h>

struct ssl_ctx_st;                  /* SSL_CTX */
struct ssl_st;                      /* SSL */
struct bufferevent;

/* Server context: TLS 1.2 minimum, the server's cipher order, no
 * compression, no renegotiation, session tickets, ALPN "http/1.1" when the
 * client offers it. Load the certificate, then the key. */
struct ssl_ctx_st *tls_server_ctx_new(char *err, size_t errlen);
/* PEM certificate chain: the leaf first, then its intermediates. */
int tls_server_ctx_use_certificate(struct ssl_ctx_st *ctx, const char *file, char *err,
                                   size_t errlen);
/* Unencrypted PEM private key; it must match the loaded certificate. */
int tls_server_ctx_use_key(struct ssl_ctx_st *ctx, const char *file, char *err, size_t errlen);

/* Client context for tls:// upstreams: TLS 1.2 minimum, the peer's
 * certificate verified against ca_file (PEM, one or more CA certificates),
 * or against the system trust store when ca_file is NULL. */
struct ssl_ctx_st *tls_client_ctx_new(const char *ca_file, char *err, size_t errlen);
/* One upstream connection to host: a DNS name is checked against the
 * certificate's names and sent as SNI; an IP literal is checked against
 * its IP addresses (and sends no SNI, RFC 6066). NULL when out of memory. */
struct ssl_st *tls_client_ssl_new(struct ssl_ctx_st *ctx, const char *host);

/* Drops one reference; accepts NULL. */
void tls_ctx_free(struct ssl_ctx_st *ctx);
/* Another holder of ctx (the context is reference counted). */
struct ssl_ctx_st *tls_ctx_ref(struct ssl_ctx_st *ctx);

/* Why the TLS connection of bev failed (what: the bufferevent event
 * flags), for the log: OpenSSL's reason, with the verification error when
 * a certificate was refused ("certificate verify failed: hostname
 * mismatch"), or the socket error. Consumes the errors stored in bev. */
void tls_error_text(struct bufferevent *bev, short what, char *buf, size_t len);

/* Half-close for a TLS bufferevent whose output is flushed: sends
 * close_notify once (shutdown(2) on the socket would cut the TLS stream).
 * Returns 0 when bev is not TLS, so the caller half-closes the socket. */
int tls_close_notify(struct bufferevent *bev);

/* libevent 2.1's OpenSSL bufferevent reads only when its socket is
 * readable: plaintext OpenSSL already decrypted but that did not fit under
 * the read watermark waits for the next packet, which may never come. Call
 * after anything that may re-enable reading; a no-op for plain bufferevents
 * and when nothing is pending. */
void tls_read_pending(struct bufferevent *bev);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" for the debug log, "" when bev is not
 * a TLS bufferevent. */
const char *tls_describe(struct bufferevent *bev, char *buf, size_t len);

#endif
