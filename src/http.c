/* Strict HTTP/1.x head parsing (RFC 9112) for client requests and backend
 * responses, plus the JSON rejections wsgate answers itself. Anything a
 * lenient peer could read differently from us (smuggling shapes) is a 400:
 * we would rather refuse a sloppy client than disagree with the backend. */
#include "http.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "util.h"

#define SET_ERR(...) do { if (err && errlen) snprintf(err, errlen, __VA_ARGS__); } while (0)

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

int http_tchar(unsigned char c)
{
    return is_tchar(c);
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}

/* Finds the end of the line starting at pos. Every line must end in CRLF:
 * a bare CR or a bare LF is how request smuggling between a strict and a
 * lenient parser starts, so both are errors here. Returns 0 with *eol at
 * the CR, -1 (bad line ending) or -2 (no line end before len). */
static int next_line(const char *buf, size_t len, size_t pos, size_t *eol)
{
    for (size_t i = pos; i < len; i++) {
        if (buf[i] == '\n')
            return -1;
        if (buf[i] == '\r') {
            if (i + 1 < len && buf[i + 1] == '\n') {
                *eol = i;
                return 0;
            }
            return i + 1 < len ? -1 : -2;
        }
    }
    return -2;
}

static int line_error(int rc, char *err, size_t errlen)
{
    if (rc == -1)
        SET_ERR("line not terminated by CRLF");
    else
        SET_ERR("incomplete request head");
    return 400;
}

/* Parses header lines from pos up to and including the empty line. */
static int parse_headers(const char *buf, size_t len, size_t pos,
                         struct http_header *hdrs, size_t *nhdrs,
                         char *err, size_t errlen)
{
    size_t n = 0;

    for (;;) {
        size_t eol;
        int rc = next_line(buf, len, pos, &eol);
        if (rc < 0)
            return line_error(rc, err, errlen);
        if (eol == pos)
            break;                          /* the empty line ending the head */
        const char *line = buf + pos;
        size_t ll = eol - pos;
        pos = eol + 2;

        if (line[0] == ' ' || line[0] == '\t') {
            SET_ERR("obsolete line folding in header");
            return 400;
        }
        size_t i = 0;
        while (i < ll && is_tchar((unsigned char)line[i]))
            i++;
        if (i == ll) {
            SET_ERR("header line without colon");
            return 400;
        }
        if (line[i] != ':') {
            if (line[i] == ' ' || line[i] == '\t')
                SET_ERR("whitespace between header name and colon");
            else
                SET_ERR("invalid character in header name");
            return 400;
        }
        if (i == 0) {
            SET_ERR("empty header name");
            return 400;
        }
        size_t nlen = i++;
        for (size_t j = i; j < ll; j++) {
            unsigned char c = (unsigned char)line[j];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                SET_ERR("control character in header value");
                return 400;
            }
        }
        while (i < ll && (line[i] == ' ' || line[i] == '\t'))
            i++;
        size_t end = ll;
        while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t'))
            end--;
        if (n == HTTP_MAX_HEADERS) {
            SET_ERR("too many header fields");
            return 431;
        }
        hdrs[n].name = line;
        hdrs[n].name_len = nlen;
        hdrs[n].value = line + i;
        hdrs[n].value_len = end - i;
        n++;
    }
    *nhdrs = n;
    return 0;
}

static const struct http_header *find_header(const struct http_header *h, size_t n,
                                             const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (util_strieq(h[i].name, h[i].name_len, name))
            return &h[i];
    return NULL;
}

static size_t count_header(const struct http_header *h, size_t n, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (util_strieq(h[i].name, h[i].name_len, name))
            c++;
    return c;
}

/* Content-Length / Transfer-Encoding rules shared by requests and
 * responses: one framing, stated once, as plain digits. */
static int check_framing(const struct http_header *h, size_t n, int request,
                         char *err, size_t errlen)
{
    size_t ncl = count_header(h, n, "Content-Length");
    size_t nte = count_header(h, n, "Transfer-Encoding");

    if (ncl && nte) {
        SET_ERR("both Content-Length and Transfer-Encoding");
        return 400;
    }
    if (ncl > 1) {
        SET_ERR("multiple Content-Length");
        return 400;
    }
    if (ncl) {
        const struct http_header *cl = find_header(h, n, "Content-Length");
        if (cl->value_len == 0 || cl->value_len > 18) {
            SET_ERR("invalid Content-Length");
            return 400;
        }
        for (size_t i = 0; i < cl->value_len; i++)
            if (cl->value[i] < '0' || cl->value[i] > '9') {
                SET_ERR("invalid Content-Length");
                return 400;
            }
    }
    if (nte > 1) {
        SET_ERR("multiple Transfer-Encoding");
        return 400;
    }
    if (nte && request) {
        /* Only chunked alone: any other coding list is a framing a backend
         * might read differently from us. */
        const struct http_header *te = find_header(h, n, "Transfer-Encoding");
        if (!util_strieq(te->value, te->value_len, "chunked")) {
            SET_ERR("unsupported Transfer-Encoding");
            return 400;
        }
    }
    return 0;
}

/* Host = uri-host [ ":" port ]: reg-name or IP-literal, no userinfo. */
static int valid_host(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0)
        return 0;
    if (s[0] == '[') {
        for (i = 1; i < n && s[i] != ']'; i++)
            if (!is_hex((unsigned char)s[i]) && s[i] != ':' && s[i] != '.')
                return 0;
        if (i == n || i == 1)
            return 0;
        i++;
    } else {
        for (; i < n && s[i] != ':'; i++) {
            unsigned char c = (unsigned char)s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || (c != '\0' && strchr("-._~!$&'()*+,;=", c))))
                return 0;
        }
        if (i == 0)
            return 0;
    }
    if (i == n)
        return 1;
    if (s[i] != ':' || n - i - 1 == 0 || n - i - 1 > 5)
        return 0;
    for (i++; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* RFC 3986 unreserved: the only characters whose percent-encoded and
 * plain spellings every server treats as the same, so the only ones we
 * decode. */
static int is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '-' || c == '.' || c == '_' || c == '~';
}

/* What a decoded segment does to the path: "" (from "//") and "." are
 * dropped, ".." removes the segment before it, anything else is kept. A
 * segment that is empty, "." or ".." once its ';' parameters are cut off
 * is refused: Tomcat and Jetty strip path parameters before resolving
 * dots, so "/..;/admin" is "/admin" to them and "/;x/admin" is too. */
enum seg_kind { SEG_KEEP, SEG_DROP, SEG_UP, SEG_BAD };

static enum seg_kind segment_kind(const char *seg, size_t sl)
{
    const char *semi = memchr(seg, ';', sl);
    size_t bare = semi ? (size_t)(semi - seg) : sl;
    int dots = bare <= 2 && (bare == 0 || (seg[0] == '.' && (bare == 1 || seg[1] == '.')));

    if (!dots)
        return SEG_KEEP;
    if (semi)
        return SEG_BAD;
    return sl == 2 ? SEG_UP : SEG_DROP;
}

int http_normalize_path(const char *in, size_t n, char *out, size_t outcap, size_t *outlen,
                        char *err, size_t errlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0, i = 0;
    int trailing = 0;

    if (err && errlen)
        err[0] = '\0';
    if (outcap < n + 1 || outcap < 2) {
        SET_ERR("path too long");
        return -1;
    }
    if (n > 0 && in[0] != '/') {
        SET_ERR("path must start with \"/\"");
        return -1;
    }
    /* out[0..o) is the path kept so far: "/seg" pieces. The next segment
     * is decoded at out + o + 1, leaving room for its '/'; since no byte
     * of output is longer than the input it came from, the writing never
     * overtakes the reading and n + 1 bytes always suffice. */
    while (i < n) {
        size_t start = o + 1, w = start;
        i++;                                /* the '/' */
        while (i < n && in[i] != '/') {
            unsigned char c = (unsigned char)in[i];
            if (c == '%') {
                if (i + 2 >= n || !is_hex((unsigned char)in[i + 1])
                    || !is_hex((unsigned char)in[i + 2])) {
                    SET_ERR("invalid percent-encoding in path");
                    return -1;
                }
                c = (unsigned char)(hex_val((unsigned char)in[i + 1]) << 4
                                    | hex_val((unsigned char)in[i + 2]));
                i += 3;
                if (c == '\0') {
                    SET_ERR("NUL in path");
                    return -1;
                }
                /* Decoded, either would be a separator to some backend and
                 * part of a segment to us (and to others). */
                if (c == '/' || c == '\\') {
                    SET_ERR("encoded slash or backslash in path");
                    return -1;
                }
                if (is_unreserved(c)) {
                    out[w++] = (char)c;
                } else {
                    out[w++] = '%';
                    out[w++] = hex[c >> 4];
                    out[w++] = hex[c & 15];
                }
                continue;
            }
            if (c == '\\') {
                SET_ERR("backslash in path");
                return -1;
            }
            if (c == '\0') {
                SET_ERR("NUL in path");
                return -1;
            }
            /* http_parse_request() lets none of these into a path; refused
             * here too so the function stands alone. */
            if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#') {
                SET_ERR("invalid character in path");
                return -1;
            }
            out[w++] = (char)c;
            i++;
        }
        switch (segment_kind(out + start, w - start)) {
        case SEG_BAD:
            SET_ERR("path parameter on an empty or dot segment");
            return -1;
        case SEG_UP:
            if (o == 0) {
                SET_ERR("path climbs above the root");
                return -1;
            }
            while (out[--o] != '/')
                ;
            trailing = 1;
            break;
        case SEG_DROP:
            trailing = 1;
            break;
        case SEG_KEEP:
            out[o] = '/';
            o = w;
            trailing = 0;
            break;
        }
    }
    /* "/a/", "/a/." and "/a/b/.." all name the directory: "/a/". */
    if (o == 0 || trailing)
        out[o++] = '/';
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return 0;
}

int http_request_normalize(struct http_request *req, char *buf, size_t cap,
                           char *err, size_t errlen)
{
    size_t len;

    if (http_normalize_path(req->path, req->path_len, buf, cap, &len, err, errlen) < 0)
        return 400;
    req->path = buf;
    req->path_len = len;
    req->path_normalized = 1;
    return 0;
}

static int parse_target(struct http_request *req, const char **authority, size_t *alen,
                        char *err, size_t errlen)
{
    const char *t = req->target;
    size_t n = req->target_len;
    size_t i = 0;

    *authority = NULL;
    *alen = 0;
    if (memchr(t, '#', n)) {
        SET_ERR("fragment in request target");
        return 400;
    }
    if (t[0] != '/') {
        size_t slen;
        if (n > 7 && strncasecmp(t, "http://", 7) == 0)
            slen = 7;
        else if (n > 8 && strncasecmp(t, "https://", 8) == 0)
            slen = 8;
        else {
            SET_ERR(n == 1 && t[0] == '*' ? "asterisk-form target not supported"
                                          : "request target must be origin-form");
            return 400;
        }
        i = slen;
        while (i < n && t[i] != '/' && t[i] != '?')
            i++;
        *authority = t + slen;
        *alen = i - slen;
        if (memchr(*authority, '@', *alen) || !valid_host(*authority, *alen)) {
            SET_ERR("invalid authority in request target");
            return 400;
        }
    }
    const char *q = memchr(t + i, '?', n - i);
    size_t pend = q ? (size_t)(q - t) : n;
    if (pend == i) {
        /* absolute-form without a path: "http://host" means "/" */
        req->path = "/";
        req->path_len = 1;
    } else {
        req->path = t + i;
        req->path_len = pend - i;
    }
    if (q) {
        req->query = q + 1;
        req->query_len = n - pend - 1;
    } else {
        req->query = NULL;
        req->query_len = 0;
    }
    return 0;
}

/* "HTTP/1.0" or "HTTP/1.1" exactly. Returns the minor version, -1 for a
 * well-formed other version, -2 for garbage. */
static int parse_version(const char *s, size_t n)
{
    if (n != 8 || memcmp(s, "HTTP/", 5) != 0 || s[6] != '.'
        || s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9')
        return -2;
    if (s[5] == '1' && (s[7] == '0' || s[7] == '1'))
        return s[7] - '0';
    return -1;
}

int http_parse_request(const char *buf, size_t len, struct http_request *req,
                       char *err, size_t errlen)
{
    size_t pos = 0, eol;
    int rc;

    memset(req, 0, sizeof(*req));
    if (err && errlen)
        err[0] = '\0';
    /* RFC 9112 §2.2: ignore empty lines before the request line (stray
     * CRLF after a previous body on a keep-alive connection). */
    while (len - pos >= 2 && buf[pos] == '\r' && buf[pos + 1] == '\n')
        pos += 2;
    rc = next_line(buf, len, pos, &eol);
    if (rc < 0)
        return line_error(rc, err, errlen);
    const char *line = buf + pos;
    size_t ll = eol - pos, i = 0;

    while (i < ll && is_tchar((unsigned char)line[i]))
        i++;
    if (i == 0 || i == ll || line[i] != ' ') {
        SET_ERR("malformed request line");
        return 400;
    }
    req->method = line;
    req->method_len = i++;
    size_t ts = i;
    while (i < ll && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7f)
        i++;
    if (i == ts || i == ll || line[i] != ' ') {
        SET_ERR("malformed request line");
        return 400;
    }
    req->target = line + ts;
    req->target_len = i - ts;
    i++;
    int minor = parse_version(line + i, ll - i);
    if (minor == -1) {
        SET_ERR("unsupported HTTP version");
        return 400;
    }
    if (minor < 0) {
        SET_ERR("malformed request line");
        return 400;
    }
    req->version_minor = minor;

    rc = parse_headers(buf, len, eol + 2, req->headers, &req->nheaders, err, errlen);
    if (rc)
        return rc;

    const char *authority;
    size_t alen;
    rc = parse_target(req, &authority, &alen, err, errlen);
    if (rc)
        return rc;

    size_t nhost = http_request_header_count(req, "Host");
    if (nhost > 1) {
        SET_ERR("duplicate Host header");
        return 400;
    }
    if (nhost == 1) {
        const struct http_header *h = http_request_header(req, "Host");
        if (!valid_host(h->value, h->value_len)) {
            SET_ERR("invalid Host header");
            return 400;
        }
        req->host = h->value;
        req->host_len = h->value_len;
    } else if (req->version_minor == 1) {
        SET_ERR("missing Host header");
        return 400;
    }
    if (authority && (!req->host || alen != req->host_len
                      || strncasecmp(authority, req->host, alen) != 0)) {
        SET_ERR("absolute-form target to a foreign host");
        return 400;
    }
    rc = check_framing(req->headers, req->nheaders, 1, err, errlen);
    if (rc == 0 && req->version_minor == 0 && http_request_header(req, "Transfer-Encoding")) {
        /* RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has
         * faulty framing. */
        SET_ERR("Transfer-Encoding in an HTTP/1.0 request");
        return 400;
    }
    return rc;
}

int http_parse_response(const char *buf, size_t len, struct http_response *resp,
                        char *err, size_t errlen)
{
    size_t eol;
    int rc;

    memset(resp, 0, sizeof(*resp));
    if (err && errlen)
        err[0] = '\0';
    rc = next_line(buf, len, 0, &eol);
    if (rc < 0)
        return line_error(rc, err, errlen);
    /* status-line = HTTP-version SP 3DIGIT SP [ reason ]; a missing
     * "SP reason" is tolerated because some servers omit it. */
    if (eol < 12) {
        SET_ERR("malformed status line");
        return 400;
    }
    int minor = parse_version(buf, 8);
    if (minor < 0 || buf[8] != ' ') {
        SET_ERR(minor == -1 ? "unsupported HTTP version" : "malformed status line");
        return 400;
    }
    for (int i = 9; i < 12; i++)
        if (buf[i] < '0' || buf[i] > '9') {
            SET_ERR("malformed status line");
            return 400;
        }
    int status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    if (status < 100 || status > 599 || (eol > 12 && buf[12] != ' ')) {
        SET_ERR("malformed status line");
        return 400;
    }
    for (size_t i = 13; i < eol; i++) {
        unsigned char c = (unsigned char)buf[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            SET_ERR("control character in reason phrase");
            return 400;
        }
    }
    resp->status = status;
    resp->version_minor = minor;
    rc = parse_headers(buf, len, eol + 2, resp->headers, &resp->nheaders, err, errlen);
    if (rc)
        return rc;
    return check_framing(resp->headers, resp->nheaders, 0, err, errlen);
}

const struct http_header *http_request_header(const struct http_request *req, const char *name)
{
    return find_header(req->headers, req->nheaders, name);
}

const struct http_header *http_response_header(const struct http_response *resp, const char *name)
{
    return find_header(resp->headers, resp->nheaders, name);
}

size_t http_request_header_count(const struct http_request *req, const char *name)
{
    return count_header(req->headers, req->nheaders, name);
}

static int json_escape(struct evbuffer *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[7];
        int rc;
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            e[0] = '\\';
            e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
            rc = evbuffer_add(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(e, "\\u00", 4);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            rc = evbuffer_add(b, e, 6);
        } else {
            rc = evbuffer_add(b, s, 1);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

int http_write_reject(struct evbuffer *out, int status, const char *code,
                      const char *desc, const char *const *extra_headers)
{
    return http_write_error(out, status, code, desc, extra_headers, 1);
}

int http_write_error(struct evbuffer *out, int status, const char *code, const char *desc,
                     const char *const *extra_headers, int close)
{
    struct evbuffer *body = evbuffer_new();
    int rc = -1;

    if (!body)
        return -1;
    if (evbuffer_add(body, "{\"error\":\"", 10) < 0 || json_escape(body, code) < 0
        || evbuffer_add(body, "\",\"error_description\":\"", 23) < 0
        || json_escape(body, desc) < 0 || evbuffer_add(body, "\"}", 2) < 0)
        goto done;
    if (evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
                            "Content-Type: application/json\r\n"
                            "%s"
                            "Content-Length: %zu\r\n",
                            status, http_reason(status), close ? "Connection: close\r\n" : "",
                            evbuffer_get_length(body)) < 0)
        goto done;
    for (size_t i = 0; extra_headers && extra_headers[i]; i++) {
        /* A header line carrying CR or LF would split the response: drop
         * it rather than let a caller's mistake become an injection. */
        if (strpbrk(extra_headers[i], "\r\n"))
            continue;
        if (evbuffer_add_printf(out, "%s\r\n", extra_headers[i]) < 0)
            goto done;
    }
    if (evbuffer_add(out, "\r\n", 2) < 0 || evbuffer_add_buffer(out, body) < 0)
        goto done;
    rc = 0;
done:
    evbuffer_free(body);
    return rc;
}

const char *http_reason(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:  return "Unknown";
    }
}

size_t http_head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 4 <= len; i++) {
        const char *p = memchr(buf + i, '\r', len - i - 3);
        if (!p)
            return 0;
        i = (size_t)(p - buf);
        if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
            return i + 4;
    }
    return 0;
}
