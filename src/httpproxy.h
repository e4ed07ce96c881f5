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

void httpproxy_free(struct http_exchange *hx);

#endif
