/* Access log records, JSON or plain text: one line per rejected request and
 * per ended session. Token query values are redacted; tokens never appear. */
#include "accesslog.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <event2/buffer.h>

#include "config.h"
#include "log.h"
#include "http.h"
#include "util.h"

static void json_str(struct evbuffer *b, const char *s, size_t n)
{
    evbuffer_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            evbuffer_add_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            evbuffer_add_printf(b, "\\u%04x", c);
        else
            evbuffer_add(b, &s[i], 1);
    }
    evbuffer_add(b, "\"", 1);
}

void accesslog_json_string(struct evbuffer *b, const char *s, size_t n)
{
    if (s)
        json_str(b, s, n);
    else
        evbuffer_add(b, "null", 4);
}

static void json_cstr(struct evbuffer *b, const char *s)
{
    if (s)
        json_str(b, s, strlen(s));
    else
        evbuffer_add(b, "null", 4);
}

/* A field of the plain format: fields are separated by spaces, so spaces,
 * quotes, backslashes and control bytes are written as \xNN; a claim can
 * neither split a field nor start a line of its own. */
static void plain_str(struct evbuffer *b, const char *s)
{
    if (!s || !*s) {
        evbuffer_add(b, "-", 1);
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\')
            evbuffer_add_printf(b, "\\x%02x", c);
        else
            evbuffer_add(b, s, 1);
    }
}

static int is_token_param(const struct config *cfg, const char *name, size_t len)
{
    for (size_t i = 0; i < cfg->nsources; i++)
        if (cfg->sources[i].kind == TS_QUERY && strlen(cfg->sources[i].name) == len &&
            memcmp(cfg->sources[i].name, name, len) == 0)
            return 1;
    return 0;
}

/* path?query with the value of every query token source replaced. */
static void redacted_target(struct evbuffer *b, const struct config *cfg,
                            const struct http_request *r)
{
    char tmp[4096];
    size_t o = 0;

    if (r->path_len >= sizeof(tmp))
        goto plain;
    memcpy(tmp, r->path, r->path_len);
    o = r->path_len;
    if (r->query) {
        const char *q = r->query, *end = r->query + r->query_len;
        tmp[o++] = '?';
        while (q < end) {
            const char *amp = memchr(q, '&', (size_t)(end - q));
            const char *stop = amp ? amp : end;
            const char *eq = memchr(q, '=', (size_t)(stop - q));
            size_t namelen = (size_t)((eq ? eq : stop) - q);
            const char *piece = q;
            size_t plen = (size_t)(stop - q);
            char red[512];
            if (eq && is_token_param(cfg, q, namelen) && namelen < sizeof(red) - 10) {
                memcpy(red, q, namelen);
                memcpy(red + namelen, "=REDACTED", 9);
                piece = red;
                plen = namelen + 9;
            }
            if (o + plen + 2 >= sizeof(tmp))
                goto plain;
            memcpy(tmp + o, piece, plen);
            o += plen;
            if (amp)
                tmp[o++] = '&';
            q = amp ? amp + 1 : end;
        }
    }
    json_str(b, tmp, o);
    return;
plain:
    json_str(b, r->path, r->path_len > 1024 ? 1024 : r->path_len);
}

void accesslog_write(const struct config *cfg, const struct access_record *a)
{
    const struct http_request *req = a->req;
    struct evbuffer *b;
    char ts[40];
    struct timeval tv;
    struct tm tm;

    if (cfg->access_log == LOGT_OFF)
        return;
    /* Connections that never sent a request are not worth a line. */
    if (!req && a->status == 0)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03dZ", (int)(tv.tv_usec / 1000) % 1000);
    b = evbuffer_new();
    if (!b)
        return;
    if (cfg->access_log_json) {
        evbuffer_add_printf(b, "{\"time\":\"%s\",\"remote\":", ts);
        json_cstr(b, a->peer);
        evbuffer_add_printf(b, ",\"method\":");
        if (req)
            json_str(b, req->method, req->method_len);
        else
            json_cstr(b, NULL);
        evbuffer_add_printf(b, ",\"path\":");
        if (req)
            redacted_target(b, cfg, req);
        else
            json_cstr(b, NULL);
        evbuffer_add_printf(b, ",\"route\":");
        json_cstr(b, a->route);
        evbuffer_add_printf(b, ",\"status\":%d,\"reason\":", a->status);
        json_cstr(b, a->reason);
        evbuffer_add_printf(b, ",\"sub\":");
        json_cstr(b, a->sub);
        evbuffer_add_printf(b, ",\"jti\":");
        json_cstr(b, a->jti);
        evbuffer_add_printf(b, ",\"duration_ms\":%lld,\"bytes_in\":%llu,\"bytes_out\":%llu,\"close_code\":",
                            (long long)a->duration_ms, (unsigned long long)a->bytes_in,
                            (unsigned long long)a->bytes_out);
        if (a->close_code)
            evbuffer_add_printf(b, "%d}\n", a->close_code);
        else
            evbuffer_add_printf(b, "null}\n");
    } else {
        evbuffer_add_printf(b, "%s %s \"", ts, a->peer);
        if (req) {
            evbuffer_add(b, req->method, req->method_len);
            evbuffer_add(b, " ", 1);
            /* The normalised path may hold a raw '"', which would end the
             * quoted field; nothing else it can hold needs escaping. */
            for (size_t i = 0; i < req->path_len; i++) {
                if (req->path[i] == '"')
                    evbuffer_add(b, "\\x22", 4);
                else
                    evbuffer_add(b, req->path + i, 1);
            }
        }
        evbuffer_add_printf(b, "\" %d %s route=%s sub=", a->status, a->reason ? a->reason : "-",
                            a->route ? a->route : "-");
        plain_str(b, a->sub);
        evbuffer_add(b, " jti=", 5);
        plain_str(b, a->jti);
        evbuffer_add_printf(b, " %lldms in=%llu out=%llu close=%d\n", (long long)a->duration_ms,
                            (unsigned long long)a->bytes_in, (unsigned long long)a->bytes_out,
                            a->close_code);
    }
    size_t len = evbuffer_get_length(b);
    const char *line = (const char *)evbuffer_pullup(b, -1);
    if (line)
        log_access_line(line, len);
    evbuffer_free(b);
}
