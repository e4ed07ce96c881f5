/* Remote JWKS, the fetcher on the main thread's event loop: the https URL,
 * the response parser and the periodic and kicked fetches over verified
 * TLS that publish into a struct jwks (jwks.h). */
#ifndef WSGATE_JWKS_FETCH_H
#define WSGATE_JWKS_FETCH_H

#include <stddef.h>

struct config;
struct event_base;

#define JWKS_MAX_BODY (1024 * 1024)     /* a larger document is refused */
#define JWKS_TIMEOUT_MS 10000           /* resolve+connect+handshake; then the response */

/* ---- https URL ---------------------------------------------------------- */

struct jwks_url {
    char *host;                     /* lower-cased; IPv6 without brackets */
    int port;                       /* 443 unless given */
    int host_is_ip;                 /* literal address: no SNI, IP SAN check */
    char *path;                     /* path and query, starts with '/' */
    char *authority;                /* Host header: host, [v6], ":port" unless 443 */
};

/* "https://HOST[:PORT][/PATH][?QUERY]". No user info, no fragment, no
 * plain http (keys must come over verified TLS). -1 with err on failure. */
int jwks_url_parse(const char *s, struct jwks_url *u, char *err, size_t errlen);
void jwks_url_clear(struct jwks_url *u);

/* ---- HTTP/1.1 response -------------------------------------------------- */

struct jwks_http_resp {
    int status;
    char *body;                     /* status 200 only: malloc'd, NUL-terminated */
    size_t body_len;
};

/* Parses the whole response received so far (buf, len); eof: the server
 * has closed. Returns 1 when complete (resp filled; interim 1xx heads are
 * skipped), 0 when more bytes are needed, -1 with err on a malformed
 * response or a body over max_body (Content-Length, chunked, or up to EOF). */
int jwks_http_parse(const char *buf, size_t len, int eof, size_t max_body,
                    struct jwks_http_resp *resp, char *err, size_t errlen);

/* ---- fetching (main thread) ------------------------------------------------ */

/* Gives cfg (just loaded, not yet installed) its remote key set and starts
 * fetching it on base; the fetcher of the previously attached configuration
 * stops (its set stays with the configurations that use it, and seeds the
 * new one when the URL is the same). A configuration without jwks_url only
 * stops the old fetcher. -1 with err when TLS cannot be set up. */
int jwks_attach(struct event_base *base, struct config *cfg, char *err, size_t errlen);
/* Runs base until cfg's first fetch succeeded or jwks_startup_wait passed;
 * returns 1 when the set is there (or none is configured), 0 otherwise. */
int jwks_wait_ready(struct event_base *base, struct config *cfg);
/* Stops the fetcher and frees what the module holds; before the base is freed. */
void jwks_shutdown(void);

/* jwks_ca_file check at load: a readable PEM bundle OpenSSL accepts. */
int jwks_check_ca_file(const char *path, char *err, size_t errlen);

#endif
