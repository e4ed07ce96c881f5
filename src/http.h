/* Strict HTTP/1.1 head parsing for requests and upstream responses, and the
 * rejection responses wsgate sends itself. Pure: works on a contiguous copy
 * of the head. */
#ifndef WSGATE_HTTP_H
#define WSGATE_HTTP_H

#include <stddef.h>

struct evbuffer;

#define HTTP_MAX_HEADERS 128

struct http_header {
    const char *name;
    size_t name_len;
    const char *value;              /* leading/trailing OWS removed */
    size_t value_len;
};

struct http_request {
    const char *method;
    size_t method_len;
    const char *target;             /* as sent */
    size_t target_len;
    const char *path;               /* origin-form path (from absolute-form too), no query */
    size_t path_len;
    const char *query;              /* after '?', NULL when absent */
    size_t query_len;
    int version_minor;              /* HTTP/1.x */
    const char *host;               /* Host header value */
    size_t host_len;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t nheaders;
};

struct http_response {
    int status;
    int version_minor;
    struct http_header headers[HTTP_MAX_HEADERS];
    size_t nheaders;
};

/* buf/len is the complete head including the final CRLFCRLF. Returns 0, or
 * the status to answer (400, 431 for too many headers) with a reason in err.
 * Enforces: request line syntax, HTTP/1.x, header name token chars, no
 * whitespace before ':', no obs-fold, no CTL/NUL in values, exactly one
 * Host, not both Content-Length and Transfer-Encoding, a single valid
 * Content-Length, absolute-form only to the Host given, no dot segments in
 * the path (plain or percent-encoded). */
int http_parse_request(const char *buf, size_t len, struct http_request *req,
                       char *err, size_t errlen);
int http_parse_response(const char *buf, size_t len, struct http_response *resp,
                        char *err, size_t errlen);

/* First header with this name (case-insensitive), or NULL. */
const struct http_header *http_request_header(const struct http_request *req, const char *name);
const struct http_header *http_response_header(const struct http_response *resp, const char *name);
/* Number of headers with this name. */
size_t http_request_header_count(const struct http_request *req, const char *name);

/* Writes a complete rejection: status line, Content-Type: application/json,
 * Connection: close, Content-Length, the optional extra header lines
 * (each "Name: value", no CRLF; NULL-terminated array, may be NULL), and
 * body {"error":code,"error_description":desc} (JSON-escaped). */
int http_write_reject(struct evbuffer *out, int status, const char *code,
                      const char *desc, const char *const *extra_headers);
const char *http_reason(int status);

/* Offset just past the CRLFCRLF ending a head in buf, or 0 if absent. */
size_t http_head_end(const char *buf, size_t len);

#endif
