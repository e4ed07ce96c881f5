/* Small helpers shared by every module: base64 variants, string lists,
 * case-insensitive comparison on counted strings. No state, no I/O. */
#ifndef WSGATE_UTIL_H
#define WSGATE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Decodes unpadded base64url (RFC 7515 §2). Rejects padding, whitespace and
 * any character outside the alphabet, and non-canonical trailing bits.
 * Returns a malloc'd buffer (NUL-terminated for convenience) or NULL. */
unsigned char *util_b64url_decode(const char *in, size_t len, size_t *outlen);
/* Encodes to unpadded base64url; malloc'd, NUL-terminated. */
char *util_b64url_encode(const unsigned char *in, size_t len);
/* Decodes standard padded base64 into out (capacity cap). Returns the
 * decoded length or -1 when malformed or too long. */
long util_b64_decode(const char *in, size_t len, unsigned char *out, size_t cap);
/* Standard padded base64, malloc'd, NUL-terminated. */
char *util_b64_encode(const unsigned char *in, size_t len);

/* Case-insensitive equality of a counted string and a C string. */
int util_strieq(const char *a, size_t alen, const char *b);
/* 1 if the comma-separated list (HTTP #list syntax) holds tok, ignoring
 * case and optional whitespace around elements. */
int util_list_has_token(const char *list, size_t len, const char *tok);

/* Narrows (*s, *n) past leading and trailing spaces and tabs (HTTP OWS). */
void util_trim_ows(const char **s, size_t *n);
/* Walks a list whose elements are separated by sep (',' for HTTP #lists,
 * ';' for cookie pairs): while *p < end, sets (*item, *len) to the next
 * element with OWS trimmed (possibly empty), moves *p past its separator
 * and returns 1; returns 0 at the end. */
int util_next_item(const char **p, const char *end, char sep, const char **item, size_t *len);

/* Formats into err (when err and errlen are set) and returns -1. */
int util_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

char *util_strndup(const char *s, size_t n);
void *util_xmalloc(size_t n); /* aborts on OOM: nothing sensible remains */
void *util_xcalloc(size_t n, size_t sz);
void *util_xrealloc(void *p, size_t n);
char *util_xstrdup(const char *s);

/* Milliseconds on the monotonic clock, and seconds of wall-clock time. */
int64_t util_now_ms(void);
int64_t util_now_us(void);
int64_t util_wall_s(void);

#endif
