/* HTTP/1.1 message framing, one reader for every part of wsgate that reads
 * HTTP off a connection: the client's request head, the backend's response
 * head (upgrade and plain proxying), request and response bodies, the
 * socket.io POST check and the JWKS fetcher. Pure evbuffer code: no
 * session, no logging. */
#ifndef WSGATE_HTTPFRAME_H
#define WSGATE_HTTPFRAME_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct http_header;
struct http_response;

/* Looks for the CRLFCRLF that ends a head at the start of in. *scanned
 * carries how far an earlier call searched (start at 0), so that each byte
 * is searched about once however the head arrives. Returns 1 with
 * *head_len (CRLFCRLF included) when the head is there and no longer than
 * max, 0 when more bytes are needed, -1 when the head is (or will be)
 * longer than max. */
int httpframe_find_head(struct evbuffer *in, size_t *scanned, size_t max, size_t *head_len);

/* httpframe_find_head, then the head taken out of in: *head is a malloc'd,
 * NUL-terminated copy of *head_len bytes (CRLFCRLF included) for the
 * caller to free. Same results as httpframe_find_head. */
int httpframe_take_head(struct evbuffer *in, size_t *scanned, size_t max, char **head,
                        size_t *head_len);

/* A Content-Length value: 1 to 18 plain digits (http.c's rule). 0 with
 * *len, or -1. */
int httpframe_content_length(const char *v, size_t n, uint64_t *len);

/* How a response body is delimited (RFC 9112 §6.3). */
enum httpframe_body {
    HTTPFRAME_NONE,                 /* no body: HEAD, 1xx, 204, 304, Content-Length: 0 */
    HTTPFRAME_LENGTH,               /* *len bytes */
    HTTPFRAME_CHUNKED,              /* chunked is the final transfer coding */
    HTTPFRAME_CLOSE                 /* up to the end of the connection */
};

/* The framing of a response head http_parse_response accepted; head_method:
 * the request was HEAD. */
enum httpframe_body httpframe_response_body(const struct http_response *r, int head_method,
                                            uint64_t *len);

/* Longest chunk-size line (size and extensions) we accept. */
#define HTTPFRAME_CHUNK_LINE_MAX 4096

/* A chunked body in transit. Chunk data moves as evbuffer chains; the
 * size lines are re-emitted bare ("%x\r\n", extensions dropped) so the
 * receiver can only read the framing the way we did. */
struct http_chunked {
    int state;                      /* internal */
    uint64_t left;                  /* bytes of the current chunk still to move */
    size_t trailer_bytes;           /* trailer section read so far */
    size_t max_trailer;             /* bound on the trailer section */
    int keep_trailers;              /* pass trailer fields on (responses) or drop them (requests) */
    int decode;                     /* write only the chunk data to out (a body we read ourselves) */
};

/* keep_trailers: re-emit the trailer fields; decode: out gets the payload
 * alone, without any framing. */
void http_chunked_init(struct http_chunked *c, int keep_trailers, size_t max_trailer);
void http_chunked_init_decode(struct http_chunked *c, size_t max_trailer);
/* Moves what is complete from in to out while out holds fewer than limit
 * bytes; *moved grows by the bytes written to out. Returns 1 once the last
 * chunk and the trailer section are through, 0 when it needs more input
 * or room, -1 on malformed framing (reason in err). Strict: hex size
 * without sign, prefix or overflow; CRLF line ends only; CRLF after every
 * chunk's data; well-formed trailer fields within max_trailer. */
int http_chunked_pump(struct http_chunked *c, struct evbuffer *in, struct evbuffer *out,
                      size_t limit, uint64_t *moved, char *err, size_t errlen);

#endif
