/* In-band re-authentication (SPEC §11, "reauth on"): a live session hands
 * wsgate a fresh token, which passes the route's admission (§3.6-3.8) and
 * must carry the session's sub; it then becomes the session's token. The
 * check is shared by the socket.io layer (the "wsgate:reauth" event) and
 * by the plain WebSocket layer here (the {"type":"wsgate.reauth"} message). */
#ifndef WSGATE_REAUTH_H
#define WSGATE_REAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "outcome.h"

struct session;
struct jwt_claims;
struct reauth;


/* One re-auth's answer. */
struct reauth_answer {
    enum reauth_result result;
    int has_exp;
    int64_t exp;                    /* the new token's exp, on REAUTH_OK */
    char desc[160];                 /* error_description, never token text */
};

/* A further check of the new claims (socket.io namespace claims): 1 holds,
 * else 0 with the reason in why. */
typedef int (*reauth_extra)(struct session *s, const struct jwt_claims *c, char *why, size_t whylen);
typedef void (*reauth_done)(struct session *s, const struct reauth_answer *a);

struct reauth *reauth_new(void);
void reauth_free(struct reauth *r);
/* Checks the token tok/len for s. Returns 1 with the answer in *a (done is
 * not called), or 0 while the revocation lookup runs: done(s, a) follows,
 * unless the session ends or r is freed first. On REAUTH_OK the session
 * already holds the new claims. Counted in wsgate_reauth_total. */
int reauth_check(struct reauth *r, struct session *s, const char *tok, size_t len,
                 reauth_extra extra, reauth_done done, struct reauth_answer *a);

/* Plain WebSocket routes with reauth on: the relay layer that holds each
 * client text message until it is known not to be a re-auth, consumes
 * re-auths and answers them. Installed before relay_start. */
int reauth_attach(struct session *s);

#endif
