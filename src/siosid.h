/* socket.io polling sessions bound to their sid (SPEC §10). An Engine.IO
 * session on the polling transport is a run of plain HTTP requests that
 * may arrive on any connection and any worker; what ties them together
 * is the sid the backend chose in its open packet. This table, shared by
 * all workers, remembers for each sid opened through the gateway who it
 * belongs to (the identity of its admitted CONNECT, or of the HTTP token
 * of its handshake), which namespaces it joined, and whether it has
 * ended. A small thread of its own ends the sids whose deadline passed
 * (no admitted CONNECT within socketio_connect_timeout, or the token's
 * expiry), tells the backend by POSTing an Engine.IO close packet for
 * the sid (eioclose.c), and forgets sids nobody polls any more. Entries
 * are bounded (SIOSID_MAX_ENTRIES); every call takes one lock. */
#ifndef WSGATE_SIOSID_H
#define WSGATE_SIOSID_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"
#include "outcome.h"

struct config;
struct route;

#define SIOSID_MAX_LEN 64           /* longest sid we keep (engine.io's are 20) */
#define SIOSID_MAX_ENTRIES 65536
#define SIOSID_MAX_NSPS 16          /* namespaces remembered per sid */
#define SIOSID_KEEP_ENDED_MS 60000  /* an ended sid answers its polls this long */

enum siosid_state {
    SIOSID_UNKNOWN,                 /* never opened here, or forgotten */
    SIOSID_PENDING,                 /* open, no CONNECT admitted yet */
    SIOSID_BOUND,                   /* a CONNECT was admitted */
    SIOSID_UPGRADED,                /* moved to the websocket transport: its session enforces */
    SIOSID_ENDED                    /* expired, revoked or timed out: polls get the goodbye */
};

/* What a request of the sid learns (siosid_get). */
struct siosid_info {
    enum siosid_state state;
    enum outcome end_cause;         /* SIOSID_ENDED: why */
    int have_claims;
    struct jwt_claims claims;       /* a copy, the caller's (jwt_claims_clear) */
    int64_t connect_deadline_ms;    /* SIOSID_PENDING: util_now_ms() by which a CONNECT is due */
    char goodbye[1024];             /* "41\x1e41/ns,\x1e1": what an ended sid's GET poll gets */
    size_t goodbye_len;
};

/* The sid's opening: what it is bound to, and where its backend is. */
struct siosid_open {
    struct config *cfg;             /* referenced by the entry */
    const struct route *route;
    unsigned upstream;              /* index of the upstream that opened it */
    const char *path;               /* the request's normalised path, e.g. "/socket.io/" */
    const struct jwt_claims *claims; /* the handshake's HTTP token, or NULL */
    int64_t connect_deadline_ms;    /* util_now_ms() based */
    int64_t idle_ms;                /* forgotten after this long without a request */
};

/* 1 when sid is acceptable as a key: 1..SIOSID_MAX_LEN bytes of
 * [A-Za-z0-9_-.~] (what engine.io generates, safe in a query). */
int siosid_valid(const char *sid, size_t len);

/* Opens sid. 0, -1 when the table is full, -2 when the sid is in use. */
int siosid_open(const char *sid, size_t len, const struct siosid_open *o);
/* The sid's state, the time of this request noted. *out is filled for
 * every state but SIOSID_UNKNOWN, with a copy of its claims when it has
 * them and want_claims is set. */
enum siosid_state siosid_get(const char *sid, size_t len, struct siosid_info *out,
                             int want_claims);
/* A CONNECT for nsp was admitted on sid, with identity c (NULL on a
 * public route, or when the sid already has one). slot_sub: a
 * max_sessions_per_subject slot taken for c's sub, which the sid then
 * holds (released here when it holds one already). Returns 0, -1 when
 * the sid cannot take it (ended, or bound to another sub), -2 when the
 * sid is unknown; the slot is released on failure. */
int siosid_bind(const char *sid, size_t len, const struct jwt_claims *c, const char *nsp,
                const char *slot_sub);
/* A sid this gateway did not see opened (before a restart, say), whose
 * admitted CONNECT the backend accepted: entered bound, to o->claims
 * with nsp, holding slot_sub's slot (released on failure). 0, or -1
 * when the table is full of sids with an identity or sid is in use. */
int siosid_learn(const char *sid, size_t len, const struct siosid_open *o, const char *nsp,
                 const char *slot_sub);
/* Ends sid for why: its polls get the goodbye from now on and the
 * backend is told. 1 when this call ended it, 0 when it was not live. */
int siosid_end(const char *sid, size_t len, enum outcome why);
/* The sid moved to the websocket transport: *slot_sub (when not NULL) is
 * set to the subject whose slot the sid held, which the caller now holds
 * (free it), or NULL. */
void siosid_upgraded(const char *sid, size_t len, char **slot_sub);
/* In-band re-auth on polling (SPEC §11): at most one per second per sid;
 * 1 when this one may run (and is counted as the last). */
int siosid_reauth_allowed(const char *sid, size_t len);
/* c (same sub, verified) becomes the sid's identity. 0, or -1 when the
 * sid is not bound to c's subject. */
int siosid_set_claims(const char *sid, size_t len, const struct jwt_claims *c);
/* Packets for the client (a re-auth's acknowledgement), sent ahead of
 * the backend's payload in the sid's next GET poll answer. At most
 * SIOSID_MAX_QUEUED bytes wait; -1 when they would not fit. */
#define SIOSID_MAX_QUEUED 4096
int siosid_queue(const char *sid, size_t len, const char *pkt, size_t plen);
/* Takes what waits for the client ("pkt\x1epkt"), malloc'd, or NULL. */
char *siosid_take_queued(const char *sid, size_t len, size_t *n);
/* The client closed the sid itself (an Engine.IO close packet). */
void siosid_forget(const char *sid, size_t len);

/* The table's bound (SIOSID_MAX_ENTRIES; 0 restores it), for tests. When
 * full, an ended sid or one without a CONNECT makes room; a table full of
 * sids with an identity refuses new ones. */
void siosid_set_max_entries(size_t n);

/* Counters for /metrics. */
struct siosid_stats {
    unsigned long live, ended, closes_sent, closes_failed, full;
};
void siosid_get_stats(struct siosid_stats *out);

/* Stops the thread and frees every entry (process exit). */
void siosid_shutdown(void);

#endif
