/* Revocation through Redis: the handshake lookup, and live enforcement by
 * keyspace notifications and a periodic SCAN sweep. One instance per
 * worker, with one command context and one subscription context. */
#ifndef WSGATE_REVOKE_H
#define WSGATE_REVOKE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct config;
struct jwt_claims;
struct revoke;
struct revoke_check;

enum revoke_result {
    REVOKE_OK,                      /* not revoked */
    REVOKE_REVOKED,                 /* a jti key or a sub cutoff matches */
    REVOKE_UNAVAILABLE              /* Redis down or too slow: redis_failure decides */
};

/* NULL when cfg has no redis. Connects in the background. */
struct revoke *revoke_new(struct event_base *base, const struct config *cfg, int worker_id);
void revoke_free(struct revoke *r);
int revoke_is_up(const struct revoke *r);

/* Starts the handshake lookup for a verified token: one pipelined round
 * trip for the jti key and the sub key. done runs exactly once, later,
 * unless the check is cancelled first. Returns NULL when it cannot even
 * start (done is not called then): treat as REVOKE_UNAVAILABLE. */
struct revoke_check *revoke_check_start(struct revoke *r, const struct jwt_claims *c,
                                        void (*done)(void *arg, int result), void *arg);
void revoke_check_cancel(struct revoke_check *chk);

/* What revocation knows of one live session; the session embeds it and
 * owns the strings. revoke.c indexes entries by jti and by sub for the
 * sweep and the notifications, and calls revoked() (once, after taking
 * the entry out of its index) when a revocation matches. */
struct revoke_entry {
    const char *jti, *sub;          /* the token's, NULL when absent; fixed while tracked */
    int has_iat;
    int64_t iat;
    void (*revoked)(struct revoke_entry *e);
    struct revoke_entry *next[2];   /* revoke.c: index chains, by jti and by sub */
    int tracked;                    /* revoke.c */
};

/* revoke_untrack accepts entries never tracked. */
void revoke_track(struct revoke *r, struct revoke_entry *e);
void revoke_untrack(struct revoke *r, struct revoke_entry *e);

/* Pure rule (SPEC §3 step 8) for a sub cutoff: revoked when the token has
 * no iat, or the cutoff is at or after it. */
int revoke_sub_cutoff_applies(const char *value, size_t len, int has_iat, int64_t iat);

/* A revocation_channel message (SPEC §13): "jti:<jti>" or
 * "sub:<sub>:<unix-cutoff>" (the sub may hold ':', the cutoff is the
 * digits after the last one). Returns 'j' or 's' with key (and cutoff)
 * pointing into msg, or 0 for anything else. */
struct revoke_msg {
    const char *key, *cutoff;
    size_t key_len, cutoff_len;
};
int revoke_parse_message(const char *msg, size_t len, struct revoke_msg *out);

/* Counters for metrics and tests. */
struct revoke_stats {
    unsigned long checks, revoked, unavailable, allowed_while_down, live_closed, sweeps;
    unsigned long channel_messages, channel_malformed;
};
void revoke_get_stats(const struct revoke *r, struct revoke_stats *out);
/* A handshake admitted while Redis was unavailable (redis_failure allow). */
void revoke_count_allowed(struct revoke *r);

#endif
