/* socket.io awareness on routes with "socketio on" (SPEC §10): the token a
 * client sends in its CONNECT packet, per-namespace claims, and the
 * CONNECT_ERROR answer, on the polling and the websocket transports. */
#ifndef WSGATE_SOCKETIO_H
#define WSGATE_SOCKETIO_H

#include <stddef.h>
#include <stdint.h>

#include "outcome.h"

struct evbuffer;
struct session;
struct ws_frame;
struct http_request;
struct sio_session;

#include "siohold.h"
#include "sioparse.h"

/* Largest CONNECT packet and polling POST body looked into. */
#define SIO_MAX_CONNECT SIO_HOLD_MAX_PAYLOAD
#define SIO_MAX_POST (1024 * 1024)

struct sio_session *socketio_session_new(void);
/* A socketio route's session gets its layer state (s->sio), freed with
 * the session, and the layer the relay calls for client messages
 * (s->layer: each client frame is held until socket.io's reading of the
 * message is known, CONNECTs are checked whole). -1 when out of memory. */
int socketio_attach(struct session *s);
void socketio_session_free(struct sio_session *x);

/* Before the upgrade goes upstream: wsgate negotiates no extension on
 * socketio routes (it reads client messages), so the client's offer is
 * removed from the request. */
void socketio_upstream_request(struct http_request *req);

/* Polling: 1 when this admitted plain request is a POST whose body must be
 * read and checked before anything goes upstream. */
int socketio_wants_post(const struct session *s);
/* Reads the body (S_SIO_BODY), checks its CONNECT packets, then either
 * answers the client or lets the request's handler proceed. */
void socketio_post_start(struct session *s);
void socketio_post_read(struct session *s);
void socketio_post_timer(struct session *s);
/* The checked, rewritten POST body for httpproxy (ownership stays here),
 * or NULL when the request body is to be streamed as usual. */
struct evbuffer *socketio_post_body(struct session *s);
/* The request is over: forget its POST body. */
void socketio_request_done(struct session *s);

/* Polling sessions bound to their sid (SPEC §10, siosid.c). */
/* Intake, once a request on a socketio route is admitted: a request of an
 * unknown sid gets 400, one of an ended sid its goodbye (GET poll) or
 * 401, and one of a bound sid takes the sid's identity (s->adm.claims,
 * sid_bound) so that its expiry and revocation are watched and looked
 * up anew. 0 to go on, -1 answered. */
int socketio_poll_admit(struct session *s);
/* The sid's identity expired or was revoked while a request of it was
 * under way: the sid ends (the backend is told) and the client gets the
 * goodbye or 401, or, with the response head sent, a cut. 0 when the
 * request is no bound sid's (the caller answers as usual). */
int socketio_poll_cut(struct session *s, enum outcome why, int head_sent);
/* At the backend's final response head (status): 1 when the request's
 * sid ended meanwhile and the goodbye was sent instead (the session
 * ends). A sid not seen opened here whose CONNECT the backend accepted
 * (2xx) is entered in the table now, bound to that CONNECT. */
int socketio_poll_response(struct session *s, int status);
/* 1 when the admitted request is an Engine.IO handshake poll, whose 200
 * carries the open packet. */
int socketio_poll_opening(const struct session *s);
/* The handshake answer's body (the open packet first): its sid is opened
 * with the request's HTTP identity, if any. 0, -1 no open packet there
 * (the answer passes as it is), -2 too many sids (503). */
int socketio_poll_opened(struct session *s, const char *body, size_t len);
/* A GET poll's 200 answer of body_len bytes (Content-Length, not
 * encoded): what the gateway has for the client ahead of the backend's
 * packets (a re-auth's acknowledgement, separator included), or NULL. */
struct evbuffer *socketio_poll_prepend(struct session *s, uint64_t body_len);

#endif
