/* One client connection through its whole life: request head, admission,
 * upstream connect, upstream response, relay, close. */
#ifndef WSGATE_SESSION_H
#define WSGATE_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

#include "admit.h"
#include "forward.h"
#include "http.h"
#include "ws.h"

struct worker;
struct config;
struct bufferevent;
struct event;
struct evbuffer;
struct revoke_check;
struct http_exchange;
struct sio_session;

enum session_state {
    S_HEAD,             /* reading the client's request head (handshake_timeout) */
    S_CHECK,            /* token verified; asking Redis whether it is revoked */
    S_CONNECTING,       /* admitted; connecting to an upstream (upstream_connect_timeout) */
    S_UPSTREAM_HEAD,    /* request sent; reading the backend's response head */
    S_RESPONSE,         /* backend declined the upgrade: relaying its answer, then close */
    S_RELAY,            /* 101 relayed: frames flow both ways (idle_timeout) */
    S_CLOSING,          /* our close frames injected; waiting for both replies */
    S_FLUSH,            /* writing what is left, then half-close and linger */
    S_DEAD,             /* callbacks off; freed from the timer at the next turn */
    /* Plain HTTP (SPEC §10, httpproxy.c); every request is admitted anew. */
    S_HTTP_UPSTREAM_HEAD, /* request sent, body streaming; awaiting the response head */
    S_HTTP_RESPONSE,    /* response head relayed; body streaming to the client */
    S_HTTP_IDLE,        /* keep-alive: awaiting the next request (keepalive_timeout) */
    S_SIO_BODY          /* socketio route: reading a POST body to check its CONNECT packets */
};

/* One direction of the relay: frames from source to sink. */
struct relay_dir {
    struct ws_tracker t;
    int paused;                     /* source reading off: sink over the high mark */
    int inject_code;                /* close code to send the sink at the next boundary */
    int injected;                   /* our close frame went to the sink */
    int discard;                    /* the current frame is dropped, not forwarded */
    int peer_closed;                /* the source answered our close with its own */
    uint64_t bytes;                 /* bytes forwarded to the sink */
    int fd;                         /* the source's socket when it is plain TCP, else -1 */
};

struct session {
    struct session *prev, *next;    /* worker's list */
    unsigned long id;
    struct worker *w;
    struct config *cfg;             /* the configuration this session started with */
    enum session_state state;
    struct bufferevent *client;
    struct bufferevent *upstream;
    struct event *timer;            /* the one deadline of the current state */
    char peer[64];                  /* "ip:port" */
    char peer_ip[48];

    size_t head_scanned;            /* bytes already searched for the end of head */
    char *head;                     /* the client's head, NUL-terminated copy */
    size_t head_len;
    char *npath;                    /* req.path once normalised (SPEC §3a) */
    struct http_request req;
    int have_req;
    struct admission adm;

    unsigned up_first, up_attempt;
    int up_timed_out;
    struct forward_info fwd;
    int64_t resp_left;              /* S_RESPONSE body bytes left, -1 until EOF */

    struct relay_dir c2u, u2c;
    const char *close_reason;       /* text of the close we injected */
    int close_code;                 /* code of the close we injected, or seen relayed */
    const char *end_cause;          /* why the session ended, for the access log */
    int status;                     /* HTTP status the client got */

    struct revoke_check *check;     /* S_CHECK: the Redis lookup under way */
    struct session *rv_next[2];     /* revocation index chains: by jti, by sub */
    int rv_tracked;
    struct event *expiry;           /* exp + leeway: close 4401 (on_expiry close) */

    int ip_counted;                 /* holds a max_connections_per_ip slot */
    int sub_counted;                /* holds a max_sessions_per_subject slot */
    int counted_active;             /* counted in sessions_active (reached S_RELAY) */
    int64_t started_us;             /* monotonic, for the handshake latency */
    int64_t started_wall;           /* unix seconds, for /sessions */

    struct http_exchange *hx;       /* plain HTTP: the request in flight, keep-alive state */
    struct sio_session *sio;        /* socketio route: CONNECT checks (socketio.c) */

    int client_done, upstream_done; /* S_FLUSH: this side is fully closed */
    int lingering;                  /* S_FLUSH: all written, waiting for the peers' FIN */
    int64_t started_ms, last_activity_ms;
    int tls;                        /* accepted on a "tls" listener */
    int tls_ready;                  /* its TLS handshake has completed */
};

struct session *session_new(struct worker *w, struct config *cfg, int fd,
                            const struct sockaddr *sa, int salen);
/* As session_new, for a connection accepted on a "tls" listener: a TLS
 * handshake (cfg->tls_ctx) comes first, within handshake_timeout. */
struct session *session_new_tls(struct worker *w, struct config *cfg, int fd,
                                const struct sockaddr *sa, int salen);
/* Ends the session as the gateway: relaying sessions get close frames with
 * code and reason at frame boundaries; others are closed at once. */
void session_shutdown(struct session *s, int code, const char *reason);
/* Stops relaying, lets queued bytes leave, then closes both sides. */
void session_end(struct session *s, const char *cause);
/* The session's token was revoked while it was live: close with 4403. */
void session_revoked(struct session *s);
/* One JSON object describing a live session (for /sessions). */
void session_describe_json(const struct session *s, struct evbuffer *b);
/* Index the session's claims for revocation and arm its expiry (done at
 * admission; socketio.c calls it when a CONNECT token becomes the
 * session's identity). */
void session_track(struct session *s);
/* Admitted (and, on socketio routes, the POST body checked): connect
 * upstream, or reuse the kept-alive upstream connection. */
void session_go_upstream(struct session *s);
/* Plain HTTP: the exchange is complete and the connection stays open;
 * forget the request and its admission, then read the next request. */
void session_next_request(struct session *s);
/* Drops the session without any goodbye (forced shutdown). */
void session_abort(struct session *s);

#endif
