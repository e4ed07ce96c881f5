/* Plain HTTP/1.1 proxying (SPEC §10): one request at a time per client
 * connection, bodies streamed both ways with bounded buffers, keep-alive
 * on both sides, every request admitted on its own. */
#ifndef WSGATE_HTTPPROXY_H
#define WSGATE_HTTPPROXY_H

struct evbuffer;
struct session;
struct http_exchange;

/* The session's upstream is connected (reused: kept alive from the
 * previous request of this client connection): send the request head
 * and start the body. */
void httpproxy_start(struct session *s, int reused);
/* 1 when the kept-alive upstream can carry the session's next request. */
int httpproxy_can_reuse(const struct session *s);

/* Session callbacks in the plain-HTTP states. */
void httpproxy_client_read(struct session *s);
void httpproxy_client_write(struct session *s);
void httpproxy_client_event(struct session *s, short what);
void httpproxy_up_read(struct session *s);
void httpproxy_up_write(struct session *s);
/* Returns 1 when the request should be sent again on a new upstream
 * connection (a kept-alive one closed before answering a bodiless
 * request), else 0. */
int httpproxy_up_event(struct session *s, short what);
void httpproxy_timer(struct session *s);
/* Graceful shutdown: the response in flight is the connection's last. */
void httpproxy_last_response(struct session *s);

void httpproxy_free(struct http_exchange *hx);

#endif
