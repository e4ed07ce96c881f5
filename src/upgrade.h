/* The WebSocket upgrade exchange with the backend, up to the relay. */
#ifndef WSGATE_UPGRADE_H
#define WSGATE_UPGRADE_H

struct session;

/* An admitted upgrade: connect upstream, send the request, read the answer. */
void upgrade_proceed(struct session *s);

#endif
