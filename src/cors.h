/* CORS on plain_http routes with "cors on" (SPEC §10): what a preflight
 * is, wsgate's own answer to one, and the headers that replace the
 * backend's on admitted responses. Pure: a parsed head in, bytes out. */
#ifndef WSGATE_CORS_H
#define WSGATE_CORS_H

#include <stddef.h>

struct evbuffer;
struct http_request;
struct http_response;

/* Preflights are answered for at most this long by the browser's cache. */
#define CORS_MAX_AGE 600

/* 1 when req is a CORS preflight: OPTIONS with Origin and
 * Access-Control-Request-Method. */
int cors_is_preflight(const struct http_request *req);
/* The request's Origin when it may be sent back as
 * Access-Control-Allow-Origin (one header, a serialised origin or "null"),
 * with its length in *len; else NULL. */
const char *cors_origin(const struct http_request *req, size_t *len);
/* The 204 answer to a preflight whose Origin the route allows: the
 * requested method when it is one of GET HEAD POST PUT PATCH DELETE, the
 * requested headers when every one is a header-name token, and nothing
 * else of the request. close adds "Connection: close". 0 or -1. */
int cors_write_preflight(struct evbuffer *out, const struct http_request *req, int close);
/* 1 for a backend response field that cors_write_response replaces. */
int cors_replaces(const char *name, size_t len);
/* Access-Control-Allow-Origin (the request's Origin),
 * Access-Control-Allow-Credentials: true, and one Vary line: the
 * backend's Vary fields of r with Origin added. 0 or -1. */
int cors_write_response(struct evbuffer *out, const struct http_request *req,
                        const struct http_response *r);

#endif
