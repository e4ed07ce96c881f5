/* The configuration tokenizer (nginx-like words, quoted strings, blocks,
 * comments) and the value parsers for numbers, durations and sizes. */
#include "config_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

int conf_fail(struct parser *ps, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!ps->err || !ps->errlen)
        return -1;
    if (line > 0)
        snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->file, line, msg);
    else
        snprintf(ps->err, ps->errlen, "%s: %s", ps->file, msg);
    return -1;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Control characters other than whitespace have no business in a config
 * file and would make error messages unreadable. */
static int bad_char(struct parser *ps, unsigned char c)
{
    if ((c < 0x20 && !is_space(c)) || c == 0x7f)
        return conf_fail(ps, ps->line, "invalid character 0x%02x", c);
    return 0;
}

/* Next token; a T_WORD's text is malloc'd into w->s. '#' starts a comment
 * only where a token could start, as in nginx, so "a#b" is one word. */
enum tok conf_lex(struct parser *ps, struct word *w)
{
    const char *p = ps->p, *end = ps->end;

    w->s = NULL;
    for (;;) {
        while (p < end && is_space((unsigned char)*p)) {
            if (*p == '\n')
                ps->line++;
            p++;
        }
        if (p < end && *p == '#') {
            while (p < end && *p != '\n')
                p++;
            continue;
        }
        break;
    }
    ps->p = p;
    w->line = ps->line;
    if (p == end)
        return T_EOF;
    switch (*p) {
    case ';': ps->p = p + 1; return T_SEMI;
    case '{': ps->p = p + 1; return T_OPEN;
    case '}': ps->p = p + 1; return T_CLOSE;
    default: break;
    }

    if (*p == '"') {
        size_t cap = 16, n = 0;
        char *buf = util_xmalloc(cap);
        int start = ps->line;

        for (p++;; p++) {
            if (p == end) {
                free(buf);
                conf_fail(ps, start, "unterminated string");
                return T_ERR;
            }
            char c = *p;
            if (c == '"')
                break;
            if (c == '\\') {
                if (p + 1 == end) {
                    free(buf);
                    conf_fail(ps, start, "unterminated string");
                    return T_ERR;
                }
                if (p[1] != '"' && p[1] != '\\') {
                    free(buf);
                    if (bad_char(ps, (unsigned char)p[1]) == 0)
                        conf_fail(ps, ps->line, "invalid escape \"\\%c\" in string (only \\\" and \\\\)",
                             p[1]);
                    return T_ERR;
                }
                c = *++p;
            } else if (c == '\n') {
                ps->line++;
            } else if (bad_char(ps, (unsigned char)c) < 0) {
                free(buf);
                return T_ERR;
            }
            if (n + 1 >= cap) {
                cap *= 2;
                buf = util_xrealloc(buf, cap);
            }
            buf[n++] = c;
        }
        buf[n] = '\0';
        p++;
        if (p < end && !is_space((unsigned char)*p) && *p != ';' && *p != '{' && *p != '}' &&
            *p != '#') {
            free(buf);
            conf_fail(ps, ps->line, "unexpected character after a quoted string");
            return T_ERR;
        }
        ps->p = p;
        w->s = buf;
        return T_WORD;
    }

    const char *s = p;
    for (; p < end && !is_space((unsigned char)*p) && *p != ';' && *p != '{' && *p != '}'; p++) {
        if (*p == '"') {
            conf_fail(ps, ps->line, "unexpected '\"' inside a word (quote the whole argument)");
            return T_ERR;
        }
        if (bad_char(ps, (unsigned char)*p) < 0)
            return T_ERR;
    }
    ps->p = p;
    w->s = util_strndup(s, (size_t)(p - s));
    return T_WORD;
}

void conf_words_free(struct word *w, int n)
{
    for (int i = 0; i < n; i++)
        free(w[i].s);
    free(w);
}

/* ---- value parsers (no context: they return a static reason) ------------ */

/* Decimal digits only: no sign, no spaces, no hex. */
int conf_parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "0", "250ms", "10s", "5m", "1h"; a bare number is seconds. */
int conf_parse_duration_ms(const char *s, int64_t *ms)
{
    size_t n = strlen(s), digits = 0;
    uint64_t v, mult;

    while (digits < n && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    const char *unit = s + digits;
    if (strcmp(unit, "ms") == 0)
        mult = 1;
    else if (*unit == '\0' || strcmp(unit, "s") == 0)
        mult = 1000;
    else if (strcmp(unit, "m") == 0)
        mult = 60 * 1000;
    else if (strcmp(unit, "h") == 0)
        mult = 3600 * 1000;
    else
        return -1;
    if (conf_parse_u64(s, digits, &v) < 0 || v > (uint64_t)INT64_MAX / mult)
        return -1;
    *ms = (int64_t)(v * mult);
    return 0;
}

/* "512", "64k", "1m", "1g" (suffix case-insensitive). */
int conf_parse_size(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    uint64_t v, mult = 1;

    if (n == 0)
        return -1;
    switch (s[n - 1]) {
    case 'k': case 'K': mult = 1024; n--; break;
    case 'm': case 'M': mult = 1024 * 1024; n--; break;
    case 'g': case 'G': mult = 1024 * 1024 * 1024; n--; break;
    default: break;
    }
    if (conf_parse_u64(s, n, &v) < 0 || v > SIZE_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

/* Sizes in messages are shown the way an operator writes them. */
void conf_size_text(uint64_t v, char *buf, size_t len)
{
    if (v && v % (1024 * 1024 * 1024) == 0)
        snprintf(buf, len, "%llug", (unsigned long long)(v >> 30));
    else if (v && v % (1024 * 1024) == 0)
        snprintf(buf, len, "%llum", (unsigned long long)(v >> 20));
    else if (v && v % 1024 == 0)
        snprintf(buf, len, "%lluk", (unsigned long long)(v >> 10));
    else
        snprintf(buf, len, "%llu", (unsigned long long)v);
}

void conf_duration_text(int64_t ms, char *buf, size_t len)
{
    if (ms && ms % 3600000 == 0)
        snprintf(buf, len, "%lldh", (long long)(ms / 3600000));
    else if (ms && ms % 60000 == 0)
        snprintf(buf, len, "%lldm", (long long)(ms / 60000));
    else if (ms % 1000 == 0)
        snprintf(buf, len, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, len, "%lldms", (long long)ms);
}

/* RFC 9110 token: what a header name (and a cookie name) may consist of. */
static int is_tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int conf_is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* Query parameter names we can match byte for byte: RFC 3986 unreserved. */
int conf_is_query_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++) {
        int c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~'))
            return 0;
    }
    return 1;
}

