/* Configuration: the parsed, validated, immutable object every session
 * holds a reference to. Reload builds a new one and swaps the pointer.
 * Grammar, directives and defaults: man/wsgate.conf.5 (one table in
 * config.c; the names there, in the man page and in conf/wsgate.conf
 * are the same words). */
#ifndef WSGATE_CONFIG_H
#define WSGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "jwt.h"

struct keystore;
struct jwks;
struct ssl_ctx_st;                  /* OpenSSL's SSL_CTX, see tls.h */
struct realip_net;                  /* realip.h */

struct sockaddr_text {
    struct sockaddr_storage ss;
    socklen_t len;
    char *text;                     /* as written: "127.0.0.1:8080", "[::1]:8080", "*:8080" */
    int tls;                        /* upstream tls://HOST:PORT */
    char *host;                     /* tls:// only: HOST as written (a DNS name, resolved
                                     * once at load, or an IP literal), for certificate
                                     * verification and SNI; else NULL */
};

struct listen_conf {
    struct sockaddr_text addr;
    int tls;                        /* "tls" flag: TLS handshake first (tls_certificate) */
    int proxy_protocol;             /* "proxy_protocol" flag: a PROXY header before all */
    int line;                       /* of the listen directive */
};

struct claim_req {
    char *claim;
    char *value;
};

/* socketio_require_claim NAMESPACE CLAIM VALUE */
struct nsp_claim_req {
    char *nsp;                      /* exact socket.io namespace, starts with '/' */
    char *claim;
    char *value;
};

struct identity_header {
    char *claim;
    char *header;
};

struct route {
    char *prefix;                   /* starts with '/', no space, control, '?' or '#' */
    size_t prefix_len;
    struct sockaddr_text *upstreams;
    size_t nupstreams;
    int origins_any;                /* origins any; */
    char **origins;                 /* patterns, lower-cased, default port removed;
                                     * none (the default): only requests
                                     * without Origin pass */
    size_t norigins;
    struct claim_req *require;      /* require_claim, all must hold */
    size_t nrequire;
    struct identity_header *idh;    /* identity_header */
    size_t nidh;
    char *claims_header;            /* NULL when not set */
    int strip_credentials;          /* default on */
    int auth;                       /* default on */
    int plain_http;                 /* proxy non-upgrade HTTP/1.1 requests (SPEC §10); default off */
    int socketio;                   /* socket.io CONNECT authentication (implies plain_http); default off */
    int cors;                       /* answer CORS preflights, CORS headers on responses (needs plain_http) */
    struct nsp_claim_req *nsp_require; /* socketio_require_claim, all for a namespace must hold */
    size_t nnsp_require;
    int reauth;                     /* in-band re-authentication (SPEC §11); default off */
    int64_t socketio_connect_timeout_ms; /* no admitted CONNECT by then: ended; default 10s */
    unsigned rr_next;               /* round-robin cursor, atomic add */
    int line;                       /* of the route block */
    char *upstream_ca_file;         /* the route's own, or NULL (main context's default) */
    struct ssl_ctx_st *tls_ctx;     /* client context when an upstream is tls://, else NULL */
};

enum token_source_kind {
    TS_AUTHORIZATION,               /* header:Authorization, Bearer scheme */
    TS_HEADER,                      /* header:X, raw value */
    TS_COOKIE,                      /* cookie:NAME */
    TS_QUERY,                       /* query:NAME */
    TS_SUBPROTOCOL,                 /* entry after "bearer" in Sec-WebSocket-Protocol */
    TS_GRAPHQL_WS                   /* the first message of graphql-ws (gqlws.c), not the request */
};

struct token_source {
    enum token_source_kind kind;
    char *name;                     /* header, cookie or parameter name as written
                                     * ("Authorization" by default); NULL for subprotocol */
};

enum log_target_kind { LOGT_OFF, LOGT_STDERR, LOGT_FILE };

/* Defaults (config_load fills them before parsing): workers auto,
 * max_connections 10000, handshake_timeout 10s, upstream_connect_timeout 5s,
 * idle_timeout 0, shutdown_timeout 10s, max_message_size 1m,
 * max_header_size 16k, access_log stderr (plain text), error_log stderr
 * info; jwt: algorithms RS256 ES256 (+ HS256 when an hmac_secret_file is
 * loaded), leeway 0, require_claims exp, token_sources
 * header:Authorization, on_expiry close; route: strip_credentials on,
 * auth on, no origins. */
struct config {
    int refs;                       /* atomic */
    char *path;
    uint64_t generation;            /* distinct for every configuration loaded */
    long token_cache;               /* verified-token cache entries per worker, 0 = off */

    struct listen_conf *listens;
    size_t nlistens;
    int workers;                    /* resolved: "auto" = online CPUs, 1..64 */
    long max_connections;
    int64_t handshake_timeout_ms;
    int64_t upstream_connect_timeout_ms;
    int64_t idle_timeout_ms;        /* 0 = never */
    int64_t keepalive_timeout_ms;   /* plain HTTP: idle client connection between requests; 0 = no keep-alive */
    int64_t upstream_read_timeout_ms; /* plain HTTP: longest silence while a request or response is in flight */
    int64_t shutdown_timeout_ms;
    size_t max_message_size;        /* 0 = unlimited */
    size_t max_header_size;

    enum log_target_kind access_log;
    char *access_log_path;          /* LOGT_FILE only, else NULL */
    int access_log_json;
    enum log_target_kind error_log;
    char *error_log_path;           /* LOGT_FILE only, else NULL; never LOGT_OFF */
    int error_level;                /* LOG_ERR..LOG_DEBUG from log.h */

    /* jwt { } */
    struct keystore *keys;          /* never NULL, may be empty when no route has auth */
    struct jwt_policy policy;       /* points into the fields below */
    char *issuer;
    char **audiences;
    size_t naudiences;
    char **require_claims;
    size_t nrequire_claims;
    struct token_source *sources;
    size_t nsources;
    int on_expiry_close;            /* default on (close) */
    /* Remote JWKS (jwks_url, jwks_refresh, jwks_min_refresh, jwks_ca_file,
     * jwks_startup_wait; src/jwks.h); jwks_url NULL when not configured. */
    char *jwks_url;                 /* one https:// URL */
    char *oidc_discovery;           /* OpenID discovery document URL (https), whose
                                     * jwks_uri is fetched instead; NULL when none */
    char *jwks_ca_file;             /* NULL: the system trust store */
    int64_t jwks_refresh_ms;        /* default 10m */
    int64_t jwks_min_refresh_ms;    /* default 30s: between fetches for unknown kids */
    int64_t jwks_startup_wait_ms;   /* default 5s */
    struct jwks *jwks;              /* the remote set this configuration verifies with:
                                     * set by jwks_attach() on the main thread before
                                     * install; NULL until then (wsgate -t, unit tests) */

    /* status_listen (status_listen == 0 when not configured) and limits. */
    int status_listen;
    struct sockaddr_text status_addr;
    long max_connections_per_ip;    /* 0 = unlimited */
    long max_sessions_per_subject;  /* 0 = unlimited, per instance */

    /* Revocation (redis, redis_prefix, redis_failure, redis_timeout,
     * revocation_sweep); redis == 0 when not configured. */
    int redis;
    char *redis_host;               /* numeric address, or NULL with redis_unix */
    int redis_port;
    char *redis_unix;               /* unix:PATH */
    char *redis_prefix;             /* default "wsgate:" */
    int redis_failure_allow;        /* redis_failure allow; default reject */
    int64_t redis_timeout_ms;       /* handshake lookup deadline, default 500ms */
    int64_t revocation_sweep_ms;    /* default 1s */
    char *redis_sentinel;           /* sentinel://...: the text after the scheme, or NULL */
    char **redis_sentinel_hosts;    /* numeric addresses of the sentinels */
    int *redis_sentinel_ports;
    size_t redis_nsentinels;
    char *redis_master_name;        /* the MASTER of sentinel://.../MASTER */
    char *revocation_channel;       /* SUBSCRIBEd for "jti:..." / "sub:...:T"; NULL: none */

    struct route *routes;           /* sorted by prefix length, longest first */
    size_t nroutes;

    /* TLS (tls_certificate, tls_certificate_key, upstream_ca_file). */
    char *tls_certificate;          /* NULL when not set */
    char *tls_certificate_key;
    struct ssl_ctx_st *tls_ctx;     /* server context for "tls" listeners, built at load
                                     * when a certificate is configured, else NULL */
    char *upstream_ca_file;         /* default for routes without their own, or NULL
                                     * (the system trust store) */

    /* SPEC §3a: route_case, underscores_in_headers. */
    int route_case_insensitive;     /* route_case insensitive; default sensitive */
    int underscores_in_headers;     /* keep header names with '_'; default off */

    /* SPEC §13: real_ip_from, real_ip_header (realip.c). */
    struct realip_net *real_ip_from; /* trusted proxies; none by default */
    size_t nreal_ip_from;
    char *real_ip_header;           /* default "X-Forwarded-For" */
};

/* Loads and validates path, including every key file. Relative paths
 * inside are relative to the current directory. On error returns NULL with
 * "FILE:LINE: message" in err ("FILE: message" for whole-file problems:
 * cannot open, no listen, no route); err may be NULL. The result has one
 * reference. */
struct config *config_load(const char *path, char *err, size_t errlen);
/* Atomic reference count, safe across worker threads; both accept NULL.
 * The last unref frees everything, the key store included. */
struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/* Longest path-prefix match (plain string prefix, as nginx's prefix
 * locations; ASCII case ignored under route_case insensitive) on a
 * normalised path; NULL when none. */
struct route *config_route(const struct config *c, const char *path, size_t len);

/* Parses "host:port", "[v6]:port" (numeric only, plus "localhost" as
 * 127.0.0.1; port 1..65535); out->text is a malloc'd copy of s. -1 with
 * err = "\"S\": reason" on failure. */
int config_parse_addr(const char *s, struct sockaddr_text *out, char *err, size_t errlen);

#endif
