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
    int path_normalized;            /* path is http_request_normalize()'s result */
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
 * Content-Length, absolute-form only to the Host given. req->path is the
 * path as sent: http_request_normalize() makes it the one wsgate routes
 * on and forwards (SPEC §3a). */
int http_parse_request(const char *buf, size_t len, struct http_request *req,
                       char *err, size_t errlen);
int http_parse_response(const char *buf, size_t len, struct http_response *resp,
                        char *err, size_t errlen);

/* SPEC §3a: writes the normalised form of the path in[0..n) to out (NUL-
 * terminated; outcap must be at least n + 1 and 2; out must not overlap
 * in) and its length to *outlen. Percent-encoded unreserved characters
 * (A-Z a-z 0-9 - . _ ~) are decoded, other escapes get upper-case hex,
 * repeated '/' are merged, "." and ".." segments resolved; the result
 * starts with '/' and an empty path is "/". Returns -1 with a reason in
 * err (the request is a 400) for an encoded '/' or '\', a raw '\', a NUL
 * (raw or %00), a malformed escape, a ".." above the root, a path
 * parameter on an empty or dot segment ("/..;/"), or a byte no request
 * line can carry. */
int http_normalize_path(const char *in, size_t n, char *out, size_t outcap, size_t *outlen,
                        char *err, size_t errlen);
/* Normalises req->path into buf (cap >= req->path_len + 2), points
 * req->path at it and sets req->path_normalized. Returns 0, or 400 with a
 * reason in err. The query is left as sent. */
int http_request_normalize(struct http_request *req, char *buf, size_t cap,
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
/* The same answer; close 0: without "Connection: close", for an answer
 * after which the connection stays open (keep-alive). */
int http_write_error(struct evbuffer *out, int status, const char *code, const char *desc,
                     const char *const *extra_headers, int close);
const char *http_reason(int status);
/* 1 for a character of an RFC 9110 token (a header or method name). */
int http_tchar(unsigned char c);

/* Offset just past the CRLFCRLF ending a head in buf, or 0 if absent. */
size_t http_head_end(const char *buf, size_t len);

#endif
