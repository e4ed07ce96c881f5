/* HTTP/1.1 framing shared by every reader of HTTP in wsgate: head search,
 * Content-Length, response body delimitation (RFC 9112 §6.3) and the
 * strict chunked decoder. Pure evbuffer code. */
#include "httpframe.h"

#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "http.h"
#include "util.h"

#define SET_ERR(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)

/* ---- heads -------------------------------------------------------------- */

int httpframe_find_head(struct evbuffer *in, size_t *scanned, size_t max, size_t *head_len)
{
    size_t len = evbuffer_get_length(in);
    size_t from = *scanned > 3 ? *scanned - 3 : 0;
    struct evbuffer_ptr start, found;

    if (from > len)
        from = 0;
    evbuffer_ptr_set(in, &start, from, EVBUFFER_PTR_SET);
    found = evbuffer_search(in, "\r\n\r\n", 4, &start);
    if (found.pos < 0) {
        *scanned = len;
        return len > max ? -1 : 0;
    }
    *scanned = 0;
    *head_len = (size_t)found.pos + 4;
    return *head_len > max ? -1 : 1;
}

int httpframe_take_head(struct evbuffer *in, size_t *scanned, size_t max, char **head,
                        size_t *head_len)
{
    int r = httpframe_find_head(in, scanned, max, head_len);

    if (r != 1)
        return r;
    *head = util_xmalloc(*head_len + 1);
    evbuffer_remove(in, *head, *head_len);
    (*head)[*head_len] = '\0';
    return 1;
}

/* ---- bodies ------------------------------------------------------------- */

int httpframe_content_length(const char *v, size_t n, uint64_t *len)
{
    uint64_t x = 0;

    if (n == 0 || n > 18)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    *len = x;
    return 0;
}

/* Only a final "chunked" delimits the body; any other last coding means
 * the body runs to the end of the connection (RFC 9112 §6.3, rule 4). */
static int last_coding_chunked(const struct http_header *te)
{
    const char *v = te->value, *end = te->value + te->value_len, *last = v;

    for (const char *p = v; p < end; p++)
        if (*p == ',')
            last = p + 1;
    while (last < end && (*last == ' ' || *last == '\t'))
        last++;
    return util_strieq(last, (size_t)(end - last), "chunked");
}

enum httpframe_body httpframe_response_body(const struct http_response *r, int head_method,
                                            uint64_t *len)
{
    const struct http_header *te, *cl;

    *len = 0;
    if (head_method || r->status < 200 || r->status == 204 || r->status == 304)
        return HTTPFRAME_NONE;
    te = http_response_header(r, "Transfer-Encoding");
    if (te)
        return last_coding_chunked(te) ? HTTPFRAME_CHUNKED : HTTPFRAME_CLOSE;
    cl = http_response_header(r, "Content-Length");
    if (cl) {
        /* http_parse_response has checked the digits already. */
        if (httpframe_content_length(cl->value, cl->value_len, len) < 0)
            return HTTPFRAME_CLOSE;
        return *len ? HTTPFRAME_LENGTH : HTTPFRAME_NONE;
    }
    return HTTPFRAME_CLOSE;
}

/* ---- chunked ------------------------------------------------------------ */

enum { CH_SIZE, CH_DATA, CH_DATA_CRLF, CH_TRAILER, CH_DONE };

void http_chunked_init(struct http_chunked *c, int keep_trailers, size_t max_trailer)
{
    memset(c, 0, sizeof(*c));
    c->state = CH_SIZE;
    c->keep_trailers = keep_trailers;
    c->max_trailer = max_trailer;
}

void http_chunked_init_decode(struct http_chunked *c, size_t max_trailer)
{
    http_chunked_init(c, 0, max_trailer);
    c->decode = 1;
}

static int is_hexdig(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Copies the next line (without its CRLF) into buf. Returns its length,
 * -2 when no complete line is buffered yet, -1 when the line is too long
 * or ends in anything but CRLF. */
static long next_line(struct evbuffer *in, char *buf, size_t cap)
{
    size_t avail = evbuffer_get_length(in);
    size_t n = avail < cap ? avail : cap;
    ev_ssize_t got = evbuffer_copyout(in, buf, n);

    if (got < 0)
        return -1;
    for (size_t i = 0; i < (size_t)got; i++) {
        if (buf[i] == '\n')
            return -1;
        if (buf[i] == '\r') {
            if (i + 1 == (size_t)got)
                return got == (ev_ssize_t)cap ? -1 : -2;
            return buf[i + 1] == '\n' ? (long)i : -1;
        }
    }
    return n == cap ? -1 : -2;
}

/* chunk-size [ chunk-ext ]: 1*HEXDIG, then optionally BWS ";" and
 * printable extension text that we drop. */
static int parse_size_line(const char *l, size_t n, uint64_t *size)
{
    size_t i = 0;
    uint64_t v = 0;

    while (i < n && is_hexdig((unsigned char)l[i])) {
        if (i >= 15)
            return -1;                      /* 2^60 bytes is no real chunk */
        v = v * 16 + (uint64_t)(l[i] <= '9' ? l[i] - '0' : (l[i] | 0x20) - 'a' + 10);
        i++;
    }
    if (i == 0)
        return -1;
    if (i < n) {
        /* BWS is allowed only in front of an extension. */
        while (i < n && (l[i] == ' ' || l[i] == '\t'))
            i++;
        if (i == n || l[i] != ';')
            return -1;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)l[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -1;
    }
    *size = v;
    return 0;
}

/* field-line of a trailer: token ":" value without controls. */
static int valid_field_line(const char *l, size_t n)
{
    size_t i = 0;

    while (i < n && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i == n || l[i] != ':')
        return 0;
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)l[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

int http_chunked_pump(struct http_chunked *c, struct evbuffer *in, struct evbuffer *out,
                      size_t limit, uint64_t *moved, char *err, size_t errlen)
{
    char line[HTTPFRAME_CHUNK_LINE_MAX + 2];
    long ll;

    for (;;) {
        switch (c->state) {
        case CH_DONE:
            return 1;
        case CH_SIZE: {
            uint64_t size;
            char hex[24];
            int hl;
            if (evbuffer_get_length(out) >= limit)
                return 0;
            ll = next_line(in, line, sizeof(line));
            if (ll == -2)
                return 0;
            if (ll < 0 || parse_size_line(line, (size_t)ll, &size) < 0) {
                SET_ERR("malformed chunk size line");
                return -1;
            }
            evbuffer_drain(in, (size_t)ll + 2);
            if (!c->decode) {
                hl = snprintf(hex, sizeof(hex), "%llx\r\n", (unsigned long long)size);
                evbuffer_add(out, hex, (size_t)hl);
                *moved += (uint64_t)hl;
            }
            c->left = size;
            c->state = size ? CH_DATA : CH_TRAILER;
            break;
        }
        case CH_DATA: {
            size_t avail = evbuffer_get_length(in), room, n;
            size_t have = evbuffer_get_length(out);
            if (avail == 0 || have >= limit)
                return 0;
            room = limit - have;
            n = avail < room ? avail : room;
            if (n > c->left)
                n = (size_t)c->left;
            evbuffer_remove_buffer(in, out, n);
            *moved += n;
            c->left -= n;
            if (c->left == 0)
                c->state = CH_DATA_CRLF;
            break;
        }
        case CH_DATA_CRLF: {
            char crlf[2];
            size_t avail = evbuffer_get_length(in);
            if (avail == 0)
                return 0;
            evbuffer_copyout(in, crlf, avail < 2 ? avail : 2);
            if (crlf[0] != '\r' || (avail >= 2 && crlf[1] != '\n')) {
                SET_ERR("chunk data not followed by CRLF");
                return -1;
            }
            if (avail < 2)
                return 0;
            evbuffer_drain(in, 2);
            if (!c->decode) {
                evbuffer_add(out, "\r\n", 2);
                *moved += 2;
            }
            c->state = CH_SIZE;
            break;
        }
        case CH_TRAILER:
            ll = next_line(in, line, sizeof(line));
            if (ll == -2)
                return 0;
            if (ll < 0) {
                SET_ERR("malformed trailer section");
                return -1;
            }
            c->trailer_bytes += (size_t)ll + 2;
            if (c->trailer_bytes > c->max_trailer) {
                SET_ERR("trailer section too large");
                return -1;
            }
            if (ll > 0 && !valid_field_line(line, (size_t)ll)) {
                SET_ERR("malformed trailer field");
                return -1;
            }
            evbuffer_drain(in, (size_t)ll + 2);
            if (!c->decode && (ll == 0 || c->keep_trailers)) {
                evbuffer_add(out, line, (size_t)ll);
                evbuffer_add(out, "\r\n", 2);
                *moved += (uint64_t)ll + 2;
            }
            if (ll == 0)
                c->state = CH_DONE;
            break;
        }
    }
}
