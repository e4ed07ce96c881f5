/* Configuration: the parsed, validated, immutable object every session
 * holds a reference to. Reload builds a new one and swaps the pointer. */
#ifndef WSGATE_CONFIG_H
#define WSGATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "jwt.h"

struct keystore;

struct sockaddr_text {
    struct sockaddr_storage ss;
    socklen_t len;
    char *text;                     /* as written: "127.0.0.1:8080", "[::1]:8080" */
};

struct listen_conf {
    struct sockaddr_text addr;
    int tls;                        /* "tls" flag (TLS itself: later issue) */
    int line;
};

struct claim_req {
    char *claim;
    char *value;
};

struct identity_header {
    char *claim;
    char *header;
};

struct route {
    char *prefix;
    size_t prefix_len;
    struct sockaddr_text *upstreams;
    size_t nupstreams;
    int origins_any;                /* origins any; */
    char **origins;                 /* patterns, lower-cased, default port removed */
    size_t norigins;
    struct claim_req *require;      /* require_claim, all must hold */
    size_t nrequire;
    struct identity_header *idh;    /* identity_header */
    size_t nidh;
    char *claims_header;            /* NULL when not set */
    int strip_credentials;          /* default on */
    int auth;                       /* default on */
    unsigned rr_next;               /* round-robin cursor, atomic add */
    int line;
};

enum token_source_kind {
    TS_AUTHORIZATION,               /* header:Authorization, Bearer scheme */
    TS_HEADER,                      /* header:X, raw value */
    TS_COOKIE,                      /* cookie:NAME */
    TS_QUERY,                       /* query:NAME */
    TS_SUBPROTOCOL                  /* entry after "bearer" in Sec-WebSocket-Protocol */
};

struct token_source {
    enum token_source_kind kind;
    char *name;                     /* header, cookie or parameter name; NULL for subprotocol */
};

enum log_target_kind { LOGT_OFF, LOGT_STDERR, LOGT_FILE };

struct config {
    int refs;                       /* atomic */
    char *path;

    struct listen_conf *listens;
    size_t nlistens;
    int workers;                    /* resolved: "auto" = online CPUs */
    long max_connections;
    int64_t handshake_timeout_ms;
    int64_t upstream_connect_timeout_ms;
    int64_t idle_timeout_ms;        /* 0 = never */
    int64_t shutdown_timeout_ms;
    size_t max_message_size;        /* 0 = unlimited */
    size_t max_header_size;

    enum log_target_kind access_log;
    char *access_log_path;
    int access_log_json;
    enum log_target_kind error_log;
    char *error_log_path;
    int error_level;                /* LOG_ERR..LOG_DEBUG from log.h */

    /* jwt { } */
    struct keystore *keys;
    struct jwt_policy policy;       /* points into the fields below */
    char *issuer;
    char **audiences;
    size_t naudiences;
    char **require_claims;
    size_t nrequire_claims;
    struct token_source *sources;
    size_t nsources;
    int on_expiry_close;            /* default on (close) */

    struct route *routes;           /* sorted by prefix length, longest first */
    size_t nroutes;
};

/* Loads and validates path, including every key file. On error returns
 * NULL with "FILE:LINE: message" in err. */
struct config *config_load(const char *path, char *err, size_t errlen);
struct config *config_ref(struct config *c);
void config_unref(struct config *c);

/* Longest path-prefix match (plain string prefix, as nginx's prefix
 * locations); NULL when none. */
struct route *config_route(const struct config *c, const char *path, size_t len);

/* Parses "host:port", "[v6]:port" (numeric only); -1 with err on failure. */
int config_parse_addr(const char *s, struct sockaddr_text *out, char *err, size_t errlen);

#endif
