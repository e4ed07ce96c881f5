/* Remote JWKS (jwks_url): the published key set workers verify with, and
 * the fetcher on the main thread's event loop that keeps it fresh over
 * verified TLS. Publication is lock-free for readers: see jwks_acquire. */
#ifndef WSGATE_JWKS_H
#define WSGATE_JWKS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct jwt_claims;
struct keystore;

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

/* ---- the published set ---------------------------------------------------- */

/* Shared by the configurations that name the same fetcher and by the
 * fetcher itself; freed by the last jwks_unref, on any thread. */
struct jwks;

struct jwks *jwks_new(void);
struct jwks *jwks_ref(struct jwks *j);
void jwks_unref(struct jwks *j);

/* Any thread, no lock: the current remote key set (NULL before the first
 * successful fetch), valid until the matching jwks_release. A reader
 * announces itself before loading the pointer, so a replaced set is freed
 * only once the count of readers has been seen at zero after the swap. */
const struct keystore *jwks_acquire(struct jwks *j);
void jwks_release(struct jwks *j);
int jwks_ready(struct jwks *j);

/* Main thread: makes ks (owned from now on) the current set; the old one is
 * retired and freed by jwks_reclaim once no reader can hold it. */
void jwks_publish(struct jwks *j, struct keystore *ks);
/* Frees retired sets when no verification is under way; returns how many
 * are still waiting. */
size_t jwks_reclaim(struct jwks *j);

/* Any thread: a token named a key the set does not have; the fetcher
 * refetches at most once per jwks_min_refresh. A no-op without a fetcher. */
void jwks_kick(struct jwks *j);

/* ---- verification ------------------------------------------------------------ */

/* jwt_verify() with cfg's policy: its static keys plus, when jwks_url is
 * set, the current remote set. Any thread. "no matching key" asks the
 * fetcher for a refetch (jwks_kick). Returns 0, -1 with the 401 reason in
 * err, or -2 when no remote set exists yet and no static key matched (err:
 * "signing keys not available yet", a 503). */
int jwks_verify(const struct config *cfg, const char *token, size_t len, int64_t now,
                struct jwt_claims *out, char *err, size_t errlen);

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
