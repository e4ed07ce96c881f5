/* What socketio.c (the layer and the CONNECT check) and sio_polling.c (the
 * polling transport) share: the per-connection state and the verdict on
 * one CONNECT. Internal to those two files. */
#ifndef WSGATE_SIO_INTERNAL_H
#define WSGATE_SIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"
#include "outcome.h"
#include "reauth.h"
#include "sioparse.h"

struct evbuffer;
struct event;
struct jwt_claims;
struct reauth;
struct revoke_check;
struct session;
struct sio_hold;

#define SIO_MAX_REFUSALS 3          /* the third refused CONNECT ends the connection */

#define slog(lvl, s, fmt, ...) \
    log_msg(lvl, "session %lu %s: " fmt, (s)->id, (s)->peer, ##__VA_ARGS__)

struct sio_session {
    struct session *s;              /* for the revocation callback */
    struct evbuffer *inject;        /* CONNECT_ERROR frames due to the client */
    struct sio_hold *hold;          /* websocket: the client message under inspection */
    struct revoke_check *check;     /* Redis lookup of a CONNECT token under way */
    int result;                     /* its answer, for the CONNECT that asked only */
    int have_result;
    int refusals;                   /* refused CONNECTs on this connection */
    int read_paused;                /* client reading stopped: its output is full */
    int reauth_on;                  /* the route has reauth on */
    struct reauth *ra;              /* the "wsgate:reauth" event's checks */
    int reauth_busy;                /* its revocation lookup is under way */
    long long reauth_ack;           /* the ack id to answer, -1 for none */
    char reauth_nsp[SIO_REAUTH_MAX_NSP + 1]; /* the namespace it came on */
    struct event *connect_timer;    /* socketio_connect_timeout, until a CONNECT is admitted */
    int upgrade_due;                /* websocket with a sid: its upgrade packet takes the sid over */

    int post_reading;               /* S_SIO_BODY */
    uint64_t post_left;
    struct evbuffer *post_in;       /* the body as the client sent it */
    struct evbuffer *post_out;      /* checked and rewritten, for httpproxy */
    size_t post_pos;                /* post_check: where the next packet starts */
    int post_ready;
    int post_slot;                  /* take_slot took a slot for the sid (siosid_bind) */
    int post_close;                 /* the body closes the Engine.IO session */
    /* a POST of a sid this gateway did not see opened, with an admitted
     * CONNECT: entered in the sid table once the backend accepts it */
    int learn_due;
    struct jwt_claims learn_claims;
    int learn_have_claims;
    char learn_nsp[256];
    char *learn_slot;               /* the slot take_slot took for it */
    int post_reauth_have;           /* a re-auth in the body was answered (after its lookup) */
    struct reauth_answer post_reauth;
};

/* The verdict on one CONNECT. */
struct verdict {
    enum outcome why;               /* for the access log and metrics */
    int status;                     /* HTTP status for a polling refusal */
    const char *code;               /* "invalid_token", "insufficient_scope", ... */
    char desc[160];
};

/* Fills v. */
void sio_refuse(struct verdict *v, enum outcome why, int status, const char *code,
                const char *desc);
/* Forgets a sid to learn (polling), releasing what it held. */
void sio_learn_clear(struct sio_session *x);
/* Checks one CONNECT packet p/n. Returns 1 with the forwarded packet
 * appended to out, 0 when a Redis lookup must finish first, -1 refused
 * (v filled, nsp set). *adopt is set when the session should take claims
 * from a CONNECT token as its identity (moved into *adopted). */
int sio_check_connect(struct session *s, const char *p, size_t n, struct evbuffer *out,
                      char *nsp, size_t nspcap, struct verdict *v,
                      struct jwt_claims *adopted, int *adopt);
/* A refused CONNECT: counted, logged once; 1 when this is the refusal
 * that ends the connection. */
int sio_count_refusal(struct session *s, const char *nsp, const struct verdict *v);
/* The namespace claims (socketio_require_claim) of reauth_nsp, for
 * reauth_check. */
int sio_nsp_claims(struct session *s, const struct jwt_claims *c, char *why, size_t whylen);
/* The re-auth event's arguments data/dlen (["wsgate:reauth","<jwt>"])
 * through reauth_check: 1 with *a, 0 while its lookup runs (done follows). */
int sio_reauth_event(struct session *s, const char *data, size_t dlen, reauth_done done,
                     struct reauth_answer *a);
/* Appends 43[/nsp,]<ack>[{...}], the re-auth's acknowledgement, to pkt. */
void sio_reauth_packet(struct evbuffer *pkt, const char *nsp, long long ack,
                       const struct reauth_answer *a);

#endif
