/* Plain HTTP/1.1 proxying (SPEC §10): one request at a time per client
 * connection, bodies streamed both ways with bounded buffers, keep-alive
 * on both sides, every request admitted on its own. */
#ifndef WSGATE_HTTPPROXY_H
#define WSGATE_HTTPPROXY_H

struct evbuffer;
struct session;
struct http_exchange;

/* An admitted plain request: on the kept-alive upstream when it can carry
 * it, else on a new connection; then its head, its body and the response. */
void httpproxy_proceed(struct session *s);

#endif
