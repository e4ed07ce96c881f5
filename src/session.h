/* One client connection through its whole life: request head, admission,
 * upstream connect, upstream response, relay, close. */
#ifndef WSGATE_SESSION_H
#define WSGATE_SESSION_H

#include <stdint.h>
#include <sys/socket.h>

#include "admit.h"
#include "forward.h"
#include "http.h"
#include "outcome.h"
#include "revoke.h"
#include "pump.h"

struct config;
struct metrics;
struct bufferevent;
struct event;
struct evbuffer;
struct revoke_check;
struct http_exchange;
struct sio_session;
struct reauth_ws;
struct gqlws;
struct relay_layer;
struct session;
struct session_kept;

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
    S_SIO_BODY,         /* socketio route: reading a POST body to check its CONNECT packets */
    S_GQL_INIT          /* graphql-ws: our own 101 sent, awaiting connection_init (gqlws.c) */
};

/* What the worker that owns a session lends it: one event loop, that
 * worker's metrics and revocation contexts, and the list of its live
 * sessions, which the core keeps. released runs when a session is gone,
 * so the owner can resume accepting or finish draining. */
#define SESSION_MAX_CLEANUPS 4

struct session_env {
    struct event_base *base;
    struct metrics *m;
    struct revoke *rv;              /* NULL without redis */
    struct session *sessions;       /* live sessions, linked by the core */
    size_t nsessions;
    void (*released)(struct session_env *env);
};

/* The current handler of a session: the core's libevent callbacks call
 * these and nothing else. A NULL entry takes the core's default: reads
 * and writes do nothing, a client EOF or error ends the session at once,
 * an upstream EOF or error ends it after a flush, expiry and revocation
 * are ignored, shutdown drops the session. Handlers change the handler
 * with session_enter(). */
struct session_ops {
    void (*client_read)(struct session *s);
    void (*client_write)(struct session *s);
    void (*client_event)(struct session *s, short what);   /* EOF or ERROR only */
    void (*up_read)(struct session *s);
    void (*up_write)(struct session *s);
    void (*up_event)(struct session *s, short what);       /* every event, CONNECTED too */
    void (*timeout)(struct session *s);                    /* the session's one deadline */
    void (*expired)(struct session *s);                    /* exp + leeway passed */
    void (*revoked)(struct session *s);                    /* the token was revoked */
    void (*shutdown)(struct session *s, int code, const char *reason);
};

struct session {
    struct session *prev, *next;    /* worker's list */
    unsigned long id;
    struct session_env *env;        /* the owning worker's */
    struct config *cfg;             /* the configuration this session started with */
    enum session_state state;       /* what the handler is doing, for /sessions and checks */
    const struct session_ops *ops;  /* the current handler; set by session_enter only */
    const struct session_ops *intake; /* the first handler, again between plain requests */
    void (*proceed)(struct session *s);   /* intake: the admitted request's handler */
    void (*connected)(struct session *s); /* upstream.c: what runs once connected */
    void (*cleanups[SESSION_MAX_CLEANUPS])(struct session *s);  /* session_on_free */
    int ncleanups;
    struct bufferevent *client;
    struct bufferevent *upstream;
    struct event *timer;            /* the one deadline of the current state */
    struct event *crd;              /* a plain client read by the core itself: the first
                                     * head, then parked until the relay, and the linger */
    struct event *urd;              /* a plain upstream's linger read */
    char peer[64];                  /* "ip:port" */
    char peer_ip[48];
    char conn_ip[48];               /* the connection's (or its PROXY header's) address;
                                     * peer_ip may be real_ip's instead */

    size_t head_scanned;            /* bytes already searched for the end of head */
    char *head;                     /* the client's head, NUL-terminated copy */
    size_t head_len;
    char *npath;                    /* req.path once normalised (SPEC §3a) */
    struct http_request *req;       /* the parsed head; NULL once the relay forgot it */
    struct session_kept *kept;      /* then what the access log and /sessions still show */
    int have_req;
    struct admission adm;

    unsigned up_first, up_attempt;
    int up_timed_out;
    struct forward_info fwd;
    int64_t resp_left;              /* S_RESPONSE body bytes left, -1 until EOF */

    struct pump_dir c2u, u2c;       /* relay.c: client to backend, backend to client */
    int relay_depth;                /* relay.c: relay_pump calls under way */
    const char *close_reason;       /* text of the close we injected */
    int close_code;                 /* code of the close we injected, or seen relayed */
    enum outcome end_cause;         /* why it ended (the first cause given wins) */
    int status;                     /* HTTP status the client got */

    struct revoke_check *check;     /* S_CHECK: the Redis lookup under way */
    struct revoke_entry rv;         /* what revoke.c indexes: the claims' jti, sub, iat */
    struct event *expiry;           /* exp + leeway: close 4401 (on_expiry close) */

    int ip_counted;                 /* holds a max_connections_per_ip slot */
    int sub_counted;                /* holds a max_sessions_per_subject slot */
    int counted_active;             /* counted in sessions_active (reached S_RELAY) */
    int64_t started_us;             /* monotonic, for the handshake latency */
    int64_t started_wall;           /* unix seconds, for /sessions */

    struct http_exchange *hx;       /* plain HTTP: the request in flight, keep-alive state */
    struct sio_session *sio;        /* socketio route: CONNECT checks (socketio.c) */
    struct reauth_ws *reauth;       /* plain WebSocket route with reauth on (reauth.c) */
    struct gqlws *gql;              /* graphql-ws first-message token (gqlws.c) */
    int own_101;                    /* wsgate answered the upgrade itself: refusals are close frames */
    const struct relay_layer *layer; /* reads client messages inside the relay, or NULL */

    int client_done, upstream_done; /* S_FLUSH: this side is fully closed */
    unsigned char client_shut, upstream_shut; /* S_FLUSH: our half-close is sent */
    unsigned char client_eof, upstream_eof;   /* that peer's end of file was read */
    int lingering;                  /* S_FLUSH: all written, waiting for the peers' FIN */
    int64_t started_ms, last_activity_ms;
    int tls;                        /* accepted on a "tls" listener */
    int tls_ready;                  /* its TLS handshake has completed */
};

/* intake is the handler that reads the first request (intake.c). */
struct session *session_new(struct session_env *env, struct config *cfg, int fd,
                            const struct sockaddr *sa, int salen,
                            const struct session_ops *intake);
/* As session_new, for a connection accepted on a "tls" listener: a TLS
 * handshake (cfg->tls_ctx) comes first, within handshake_timeout. */
struct session *session_new_tls(struct session_env *env, struct config *cfg, int fd,
                                const struct sockaddr *sa, int salen,
                                const struct session_ops *intake);
/* Ends the session as the gateway: relaying sessions get close frames with
 * code and reason at frame boundaries; others are closed at once. */
void session_shutdown(struct session *s, int code, const char *reason);
/* The handler changes: st is what the session does from now on, ops the
 * handler doing it. */
void session_enter(struct session *s, enum session_state st, const struct session_ops *ops);
/* The session's one deadline: the current handler's timeout runs in ms
 * milliseconds (replacing any earlier deadline). */
void session_arm(struct session *s, int64_t ms);
/* The one reply writer for wsgate's own answers: drops an upstream that
 * exists, writes the rejection (extra: one header line or NULL), counts
 * it, then flushes and closes. */
void session_reject(struct session *s, enum outcome why, int status, const char *code,
                    const char *desc, const char *extra);
/* 401 invalid_token with the reason (a token that expired or was revoked
 * before the backend answered). */
void session_reject_token(struct session *s, const char *desc, enum outcome cause);
/* ops entries for handlers that wait before any backend answered: 401
 * for a token that expired or was revoked meanwhile. */
void session_expired_reject(struct session *s);
void session_revoked_reject(struct session *s);
/* A kept-alive upstream spoke or closed between two requests: it cannot
 * carry the next one. session_idle_up_event is the up_event entry that
 * does this on EOF or error. */
void session_drop_upstream(struct session *s);
void session_idle_up_event(struct session *s, short what);
/* bev (a connecting upstream) becomes the session's, with the core's
 * callbacks. */
void session_attach_upstream(struct session *s, struct bufferevent *bev);
/* cleanup runs when the session is freed (state a handler or layer
 * keeps across handlers: the HTTP exchange, the socket.io layer). */
void session_on_free(struct session *s, void (*cleanup)(struct session *s));
/* Stops relaying, lets queued bytes leave, then closes both sides. */
void session_end(struct session *s, enum outcome cause);
/* One JSON object describing a live session (for /sessions). */
void session_describe_json(const struct session *s, struct evbuffer *b);
/* Index the session's claims for revocation and arm its expiry (done at
 * admission; socketio.c calls it when a CONNECT token becomes the
 * session's identity). */
void session_track(struct session *s);
/* In-band re-auth: c (verified, same sub) becomes the session's claims,
 * moved out of *c; expiry and revocation are re-armed for them. */
void session_replace_claims(struct session *s, struct jwt_claims *c);
/* Plain HTTP: the exchange is complete and the connection stays open;
 * forget the request and its admission, then the intake reads the next
 * request. */
void session_next_request(struct session *s);
/* Writes the access log line of the session, or of the plain HTTP
 * exchange that just ended. */
void session_log_access(const struct session *s);
/* The client address is ip (real_ip_from, SPEC §13), for the logs,
 * /sessions, X-Forwarded-For and max_connections_per_ip, whose slot moves
 * to ip: -1 when ip has none left. */
int session_set_client(struct session *s, const char *ip);
/* The relay runs: the request head, its parse and what only admission
 * needed (the token, the claims' JSON) are freed. The method, path and
 * query stay for the access log and /sessions; sub, jti and the times for
 * revocation and expiry. */
void session_forget_request(struct session *s);
/* A handler that reads bev's socket itself (relay.c) reports its end of
 * file or error (what: BEV_EVENT_*) as the bufferevent would have. */
void session_report_event(struct session *s, struct bufferevent *bev, short what);
/* The client's reads go (back) to its bufferevent: the core's own reader
 * of a plain client's first head stops. The relay calls it once its own
 * event watches the socket, the intake for any other handler. */
void session_release_client_read(struct session *s);
/* sessread.c: the core's own read of a plain client's first head (-1:
 * none, the bufferevent reads), and a plain side's lingering (-1: TLS or
 * no event, the bufferevent lingers). */
int session_watch_client(struct session *s);
int session_watch_linger(struct session *s, struct bufferevent *bev);
/* What the core's own reads (sessread.c) hand on as the bufferevent's
 * callbacks would: data read into bev's input, the connect's outcome. */
void session_report_read(struct session *s, struct bufferevent *bev);
void session_report_connected(struct session *s, short what);
/* A plain upstream's answer head is read by the core's own event (no
 * FIONREAD), at most max_header_size + 1 bytes, and reported to the
 * handler's up_read and up_event as the bufferevent's would be; in any
 * other state than S_UPSTREAM_HEAD a readable upstream is no longer
 * watched. -1: a TLS upstream, or no event: read the bufferevent. */
int session_watch_upstream(struct session *s);
/* S_CONNECTING on a plain upstream whose connect() upstream.c made: the
 * core watches the socket and reports BEV_EVENT_CONNECTED or
 * BEV_EVENT_ERROR to up_event as bufferevent_socket_connect would, asking
 * the socket for its error only when it is not simply writable. */
int session_watch_upstream_connect(struct session *s);
/* The upstream's reads go (back) to its bufferevent or the relay's event. */
void session_release_upstream_read(struct session *s);
/* Drops the session without any goodbye (forced shutdown). */
void session_abort(struct session *s);

#endif
