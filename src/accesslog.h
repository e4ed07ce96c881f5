/* Access log records: one line per rejected request and per ended
 * session (or plain HTTP exchange), JSON or plain text. Token query values
 * are redacted; tokens never appear. */
#ifndef WSGATE_ACCESSLOG_H
#define WSGATE_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct evbuffer;
struct http_request;

/* What one line says; the session core fills it. */
struct access_record {
    const char *peer;                   /* "ip:port" */
    const struct http_request *req;     /* NULL when no request was read */
    const char *route;                  /* the route's prefix, NULL before routing */
    int status;                         /* HTTP status the client got, 0 when none */
    const char *reason;                 /* end cause or rejection reason */
    const char *sub, *jti;              /* the verified token's, or NULL */
    int64_t duration_ms;
    uint64_t bytes_in, bytes_out;       /* client to backend, backend to client */
    int close_code;                     /* WebSocket close code, 0 when none */
};

void accesslog_write(const struct config *cfg, const struct access_record *a);
/* Appends s (n bytes) as a JSON string, or null for NULL. */
void accesslog_json_string(struct evbuffer *b, const char *s, size_t n);

#endif
