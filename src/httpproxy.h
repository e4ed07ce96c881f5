/* Plain HTTP/1.1 proxying (SPEC §10): one request at a time per client
 * connection, bodies streamed both ways with bounded buffers, keep-alive
 * on both sides, every request admitted on its own. */
#ifndef WSGATE_HTTPPROXY_H
#define WSGATE_HTTPPROXY_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct session;
struct http_exchange;

/* Longest chunk-size line (size and extensions) we accept. */
#define HTTPPROXY_CHUNK_LINE_MAX 4096

/* A chunked body in transit. Chunk data moves as evbuffer chains; the
 * size lines are re-emitted bare ("%x\r\n", extensions dropped) so the
 * receiver can only read the framing the way we did. */
struct http_chunked {
    int state;                      /* internal */
    uint64_t left;                  /* bytes of the current chunk still to move */
    size_t trailer_bytes;           /* trailer section read so far */
    size_t max_trailer;             /* bound on the trailer section */
    int keep_trailers;              /* pass trailer fields on (responses) or drop them (requests) */
};

void httpproxy_chunked_init(struct http_chunked *c, int keep_trailers, size_t max_trailer);
/* Moves what is complete from in to out while out holds fewer than limit
 * bytes; *moved grows by the bytes written to out. Returns 1 once the last
 * chunk and the trailer section are through, 0 when it needs more input
 * or room, -1 on malformed framing (reason in err). Strict: hex size
 * without sign, prefix or overflow; CRLF line ends only; CRLF after every
 * chunk's data; well-formed trailer fields within max_trailer. */
int httpproxy_chunked_pump(struct http_chunked *c, struct evbuffer *in, struct evbuffer *out,
                           size_t limit, uint64_t *moved, char *err, size_t errlen);

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
