/* The request head the backend receives: the client's head (its path as
 * normalised, SPEC §3a) minus spoofed identity headers, header names with
 * '_', client address headers and (optionally) the credential carriers,
 * plus X-Forwarded-For/-Proto, X-Real-IP, identity headers and the claims
 * header. */
#ifndef WSGATE_FORWARD_H
#define WSGATE_FORWARD_H

#include <stddef.h>

struct evbuffer;
struct http_request;
struct route;
struct config;
struct jwt_claims;

struct forward_info {
    const char *client_ip;          /* textual peer address */
    int tls;                        /* client came over TLS: X-Forwarded-Proto https */
    /* Out: the client offered subprotocol entries that were all credential
     * entries (the "bearer" pair), so the 101 may need "bearer" echoed. */
    int only_credential_protocols;
};

/* Appends the upstream request head (ending in CRLFCRLF) to out.
 * claims may be NULL (auth off). Returns 0 or -1. */
int forward_build_head(struct evbuffer *out, const struct http_request *req,
                       const struct config *cfg, const struct route *route,
                       const struct jwt_claims *claims, struct forward_info *info);

#endif
