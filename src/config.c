/* Configuration loader: an nginx-like tokenizer, one directive table with
 * generic and custom setters, and the cross-directive checks that turn the
 * parsed text into the immutable, refcounted struct config. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/obj_mac.h>

#include "http.h"
#include "jwks.h"
#include "jwks_fetch.h"
#include "keys.h"
#include "log.h"
#include "origin.h"
#include "tls.h"
#include "util.h"

/* A configuration file is small; anything larger is a mistake (a log or a
 * binary passed with -c), refused before it is parsed. */
#define CONF_MAX_BYTES (4 * 1024 * 1024)
#define WORKERS_MAX 64

/* ---- tokenizer ---------------------------------------------------------- */

enum tok { T_WORD, T_SEMI, T_OPEN, T_CLOSE, T_EOF, T_ERR };

struct word {
    char *s;
    int line;
};

struct parser {
    const char *file;
    const char *p, *end;
    int line;
    struct config *cfg;
    char *err;
    size_t errlen;
    int jwt_line;                   /* line of the jwt block, 0 when absent */
    int algorithms_line;            /* 0 when the default applies */
    int tls_certificate_line;       /* 0 when not set */
    int tls_certificate_key_line;
    int upstream_ca_line;           /* main context's upstream_ca_file */
};

static int fail(struct parser *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parser *ps, int line, const char *fmt, ...)
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
        return fail(ps, ps->line, "invalid character 0x%02x", c);
    return 0;
}

/* Next token; a T_WORD's text is malloc'd into w->s. '#' starts a comment
 * only where a token could start, as in nginx, so "a#b" is one word. */
static enum tok lex(struct parser *ps, struct word *w)
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
                fail(ps, start, "unterminated string");
                return T_ERR;
            }
            char c = *p;
            if (c == '"')
                break;
            if (c == '\\') {
                if (p + 1 == end) {
                    free(buf);
                    fail(ps, start, "unterminated string");
                    return T_ERR;
                }
                if (p[1] != '"' && p[1] != '\\') {
                    free(buf);
                    if (bad_char(ps, (unsigned char)p[1]) == 0)
                        fail(ps, ps->line, "invalid escape \"\\%c\" in string (only \\\" and \\\\)",
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
            fail(ps, ps->line, "unexpected character after a quoted string");
            return T_ERR;
        }
        ps->p = p;
        w->s = buf;
        return T_WORD;
    }

    const char *s = p;
    for (; p < end && !is_space((unsigned char)*p) && *p != ';' && *p != '{' && *p != '}'; p++) {
        if (*p == '"') {
            fail(ps, ps->line, "unexpected '\"' inside a word (quote the whole argument)");
            return T_ERR;
        }
        if (bad_char(ps, (unsigned char)*p) < 0)
            return T_ERR;
    }
    ps->p = p;
    w->s = util_strndup(s, (size_t)(p - s));
    return T_WORD;
}

static void words_free(struct word *w, int n)
{
    for (int i = 0; i < n; i++)
        free(w[i].s);
    free(w);
}

/* ---- value parsers (no context: they return a static reason) ------------ */

/* Decimal digits only: no sign, no spaces, no hex. */
static int parse_u64(const char *s, size_t n, uint64_t *out)
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
static int parse_duration_ms(const char *s, int64_t *ms)
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
    if (parse_u64(s, digits, &v) < 0 || v > (uint64_t)INT64_MAX / mult)
        return -1;
    *ms = (int64_t)(v * mult);
    return 0;
}

/* "512", "64k", "1m", "1g" (suffix case-insensitive). */
static int parse_size(const char *s, uint64_t *out)
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
    if (parse_u64(s, n, &v) < 0 || v > SIZE_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

/* Sizes in messages are shown the way an operator writes them. */
static void size_text(uint64_t v, char *buf, size_t len)
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

static void duration_text(int64_t ms, char *buf, size_t len)
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

static int is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!is_tchar((unsigned char)*s))
            return 0;
    return 1;
}

/* Query parameter names we can match byte for byte: RFC 3986 unreserved. */
static int is_query_name(const char *s)
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

/* Addresses: numeric IPv4 "a.b.c.d:port", IPv6 "[addr]:port", and
 * "localhost" as 127.0.0.1. wildcard additionally allows "*:port" and a
 * bare "port" (listen only). */
static int addr_parse(const char *s, struct sockaddr_text *out, int wildcard, const char **why)
{
    char host[INET6_ADDRSTRLEN + 8];
    const char *port_s;
    size_t hl;
    uint64_t port;

    memset(out, 0, sizeof(*out));
    if (wildcard && parse_u64(s, strlen(s), &port) == 0) {
        strcpy(host, "*");
        port_s = s;
        goto have_port;
    }
    if (strncasecmp(s, "tls://", 6) == 0) {
        *why = "tls:// is only allowed in upstream";
        return -1;
    }
    if (strstr(s, "://")) {
        *why = "no scheme allowed, write host:port";
        return -1;
    }
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb) {
            *why = "missing \"]\"";
            return -1;
        }
        hl = (size_t)(rb - s - 1);
        if (hl == 0 || hl >= sizeof(host)) {
            *why = "invalid IPv6 address";
            return -1;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (rb[1] != ':') {
            *why = "missing port";
            return -1;
        }
        port_s = rb + 2;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            *why = "invalid IPv6 address";
            return -1;
        }
        sin6->sin6_family = AF_INET6;
        out->len = sizeof(*sin6);
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) {
            *why = "missing port";
            return -1;
        }
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl)) {
            *why = "IPv6 addresses go in brackets, as in [::1]:8080";
            return -1;
        }
        if (hl == 0) {
            *why = "missing host";
            return -1;
        }
        if (hl >= sizeof(host)) {
            *why = "only numeric addresses are supported";
            return -1;
        }
        memcpy(host, s, hl);
        host[hl] = '\0';
        port_s = colon + 1;
    }
have_port:
    if (parse_u64(port_s, strlen(port_s), &port) < 0 || port == 0 || port > 65535) {
        *why = "invalid port";
        return -1;
    }
    if (out->len == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
        if (strcmp(host, "*") == 0) {
            if (!wildcard) {
                *why = "\"*\" is only allowed in listen";
                return -1;
            }
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
        } else if (strcasecmp(host, "localhost") == 0) {
            sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            *why = "only numeric addresses are supported";
            return -1;
        }
        sin->sin_family = AF_INET;
        out->len = sizeof(*sin);
        sin->sin_port = htons((uint16_t)port);
    } else {
        ((struct sockaddr_in6 *)&out->ss)->sin6_port = htons((uint16_t)port);
    }
    out->text = util_xstrdup(s);
    return 0;
}

int config_parse_addr(const char *s, struct sockaddr_text *out, char *err, size_t errlen)
{
    const char *why = "invalid address";

    if (addr_parse(s, out, 0, &why) == 0)
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "\"%.200s\": %s", s, why);
    return -1;
}

static int same_addr(const struct sockaddr_text *a, const struct sockaddr_text *b)
{
    return a->len == b->len && a->ss.ss_family == b->ss.ss_family &&
           memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* ---- directive table ---------------------------------------------------- */

#define CTX_MAIN 1u
#define CTX_JWT 2u
#define CTX_ROUTE 4u

#define D_MULTI 1u   /* may appear more than once in its context */
#define D_BLOCK 2u   /* followed by { ... } */

#define ARGS_ANY -1

struct directive;

/* Setters get the directive, its arguments (args[0] is the name itself) and
 * the object of the current context: struct config for main and jwt,
 * struct route for a route block. */
struct directive {
    const char *name;
    unsigned ctx;
    int min_args, max_args;         /* not counting the name */
    unsigned flags;
    int (*set)(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj);
    size_t off;                     /* field for the generic setters */
    int64_t min, max;               /* bounds for the generic number setters */
};

/* Setters share one signature and most use only part of it. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

#define FIELD(type, field) offsetof(struct type, field)
#define AT(obj, d, type) ((type *)(void *)((char *)(obj) + (d)->off))

static int set_flag(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj)
{
    if (strcasecmp(a[1].s, "on") == 0)
        *AT(obj, d, int) = 1;
    else if (strcasecmp(a[1].s, "off") == 0)
        *AT(obj, d, int) = 0;
    else
        return fail(ps, a[1].line, "invalid value \"%.200s\" for \"%s\": it must be \"on\" or \"off\"",
                    a[1].s, d->name);
    return 0;
}

static int set_long(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj)
{
    uint64_t v;

    if (parse_u64(a[1].s, strlen(a[1].s), &v) < 0)
        return fail(ps, a[1].line, "invalid number \"%.200s\"", a[1].s);
    if (v < (uint64_t)d->min || v > (uint64_t)d->max)
        return fail(ps, a[1].line, "\"%s\" must be between %lld and %lld", d->name,
                    (long long)d->min, (long long)d->max);
    *AT(obj, d, long) = (long)v;
    return 0;
}

static int set_duration(struct parser *ps, const struct directive *d, struct word *a, int n,
                        void *obj)
{
    int64_t ms;
    char lo[32], hi[32];

    if (parse_duration_ms(a[1].s, &ms) < 0)
        return fail(ps, a[1].line, "invalid duration \"%.200s\"", a[1].s);
    if (ms < d->min || ms > d->max) {
        duration_text(d->min, lo, sizeof(lo));
        duration_text(d->max, hi, sizeof(hi));
        return fail(ps, a[1].line, "\"%s\" must be between %s and %s", d->name, lo, hi);
    }
    *AT(obj, d, int64_t) = ms;
    return 0;
}

static int set_size(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj)
{
    uint64_t v;
    char lo[32], hi[32];

    if (parse_size(a[1].s, &v) < 0)
        return fail(ps, a[1].line, "invalid size \"%.200s\"", a[1].s);
    if (v < (uint64_t)d->min || v > (uint64_t)d->max) {
        size_text((uint64_t)d->min, lo, sizeof(lo));
        size_text((uint64_t)d->max, hi, sizeof(hi));
        return fail(ps, a[1].line, "\"%s\" must be between %s and %s", d->name, lo, hi);
    }
    *AT(obj, d, size_t) = (size_t)v;
    return 0;
}

static int set_string(struct parser *ps, const struct directive *d, struct word *a, int n,
                      void *obj)
{
    char **dst = AT(obj, d, char *);

    if (!a[1].s[0])
        return fail(ps, a[1].line, "\"%s\" must not be empty", d->name);
    free(*dst);
    *dst = util_xstrdup(a[1].s);
    return 0;
}

static void push_str(char ***arr, size_t *n, const char *s)
{
    *arr = util_xrealloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = util_xstrdup(s);
}

/* main */

static int set_listen(struct parser *ps, const struct directive *d, struct word *a, int n,
                      void *obj)
{
    struct config *cfg = obj;
    struct sockaddr_text addr;
    const char *why = "invalid address";

    if (n == 2 && strcmp(a[2].s, "tls") != 0)
        return fail(ps, a[2].line, "invalid parameter \"%.200s\" for \"listen\"", a[2].s);
    if (addr_parse(a[1].s, &addr, 1, &why) < 0)
        return fail(ps, a[1].line, "listen \"%.200s\": %s", a[1].s, why);
    for (size_t i = 0; i < cfg->nlistens; i++) {
        if (same_addr(&cfg->listens[i].addr, &addr)) {
            int first = cfg->listens[i].line;
            free(addr.text);
            return fail(ps, a[1].line, "duplicate listen \"%.200s\" (first on line %d)", a[1].s,
                        first);
        }
    }
    cfg->listens = util_xrealloc(cfg->listens, (cfg->nlistens + 1) * sizeof(*cfg->listens));
    struct listen_conf *l = &cfg->listens[cfg->nlistens++];
    l->addr = addr;
    l->tls = n == 2;
    l->line = a[0].line;
    return 0;
}

static int set_workers(struct parser *ps, const struct directive *d, struct word *a, int n,
                       void *obj)
{
    struct config *cfg = obj;

    if (strcmp(a[1].s, "auto") == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->workers = cpus < 1 ? 1 : cpus > WORKERS_MAX ? WORKERS_MAX : (int)cpus;
        return 0;
    }
    uint64_t v;
    if (parse_u64(a[1].s, strlen(a[1].s), &v) < 0)
        return fail(ps, a[1].line, "invalid number \"%.200s\" (or \"auto\")", a[1].s);
    if (v < 1 || v > WORKERS_MAX)
        return fail(ps, a[1].line, "\"workers\" must be between 1 and %d", WORKERS_MAX);
    cfg->workers = (int)v;
    return 0;
}

static int set_access_log(struct parser *ps, const struct directive *d, struct word *a, int n,
                          void *obj)
{
    struct config *cfg = obj;

    if (n == 2 && strcmp(a[2].s, "json") != 0)
        return fail(ps, a[2].line, "invalid parameter \"%.200s\" for \"access_log\" (only \"json\")",
                    a[2].s);
    free(cfg->access_log_path);
    cfg->access_log_path = NULL;
    cfg->access_log_json = n == 2;
    if (strcmp(a[1].s, "off") == 0) {
        if (n == 2)
            return fail(ps, a[2].line, "\"json\" makes no sense with \"access_log off\"");
        cfg->access_log = LOGT_OFF;
    } else if (strcmp(a[1].s, "stderr") == 0) {
        cfg->access_log = LOGT_STDERR;
    } else if (!a[1].s[0]) {
        return fail(ps, a[1].line, "\"access_log\" must not be empty");
    } else {
        cfg->access_log = LOGT_FILE;
        cfg->access_log_path = util_xstrdup(a[1].s);
    }
    return 0;
}

static int set_error_log(struct parser *ps, const struct directive *d, struct word *a, int n,
                         void *obj)
{
    struct config *cfg = obj;
    int level = LOG_INFO;

    if (n == 2 && (level = log_level_from_name(a[2].s)) < 0)
        return fail(ps, a[2].line,
                    "invalid level \"%.200s\" (error, warn, notice, info or debug)", a[2].s);
    /* nginx writes to a file named "off" here; refuse instead of surprising. */
    if (strcmp(a[1].s, "off") == 0)
        return fail(ps, a[1].line, "\"error_log\" cannot be off; use a level such as \"error\"");
    if (!a[1].s[0])
        return fail(ps, a[1].line, "\"error_log\" must not be empty");
    free(cfg->error_log_path);
    cfg->error_log_path = NULL;
    if (strcmp(a[1].s, "stderr") == 0) {
        cfg->error_log = LOGT_STDERR;
    } else {
        cfg->error_log = LOGT_FILE;
        cfg->error_log_path = util_xstrdup(a[1].s);
    }
    cfg->error_level = level;
    return 0;
}

static int parse_block(struct parser *ps, unsigned ctx, void *obj);

static int set_jwt(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj)
{
    ps->jwt_line = a[0].line;
    return parse_block(ps, CTX_JWT, obj);
}

/* jwt */

static int set_key_file(struct parser *ps, const struct directive *d, struct word *a, int n,
                        void *obj)
{
    struct config *cfg = obj;
    char why[384];

    why[0] = '\0';
    int rc = strcmp(d->name, "key_file") == 0
                 ? keystore_add_key_file(cfg->keys, a[1].s, why, sizeof(why))
                 : keystore_add_secret_file(cfg->keys, a[1].s, why, sizeof(why));
    if (rc < 0)
        return fail(ps, a[1].line, "%s: %s", d->name, why[0] ? why : "cannot load");
    return 0;
}

/* Checked here so that -t and a reload refuse a bad URL or CA file; the
 * fetch itself starts when the configuration is installed (jwks.c). */
static int set_jwks_url(struct parser *ps, const struct directive *d, struct word *a, int n,
                        void *obj)
{
    struct config *cfg = obj;
    struct jwks_url u;
    char why[200];

    if (jwks_url_parse(a[1].s, &u, why, sizeof(why)) < 0)
        return fail(ps, a[1].line, "jwks_url \"%.200s\": %s", a[1].s, why);
    jwks_url_clear(&u);
    cfg->jwks_url = util_xstrdup(a[1].s);
    return 0;
}

static int set_jwks_ca_file(struct parser *ps, const struct directive *d, struct word *a, int n,
                            void *obj)
{
    struct config *cfg = obj;
    char why[384];

    if (!a[1].s[0])
        return fail(ps, a[1].line, "\"jwks_ca_file\" must not be empty");
    if (jwks_check_ca_file(a[1].s, why, sizeof(why)) < 0)
        return fail(ps, a[1].line, "jwks_ca_file: %s", why);
    cfg->jwks_ca_file = util_xstrdup(a[1].s);
    return 0;
}

static int set_algorithms(struct parser *ps, const struct directive *d, struct word *a, int n,
                          void *obj)
{
    struct config *cfg = obj;
    unsigned algs = 0;

    for (int i = 1; i <= n; i++) {
        if (strcasecmp(a[i].s, "none") == 0)
            return fail(ps, a[i].line, "\"none\" can never be allowed");
        int alg = jwt_alg_from_name(a[i].s);
        if (alg < 0 || alg >= JWT_ALG_COUNT)
            return fail(ps, a[i].line, "unknown algorithm \"%.200s\"", a[i].s);
        algs |= 1u << alg;
    }
    cfg->policy.algs = algs;
    ps->algorithms_line = a[0].line;
    return 0;
}

static int set_audience(struct parser *ps, const struct directive *d, struct word *a, int n,
                        void *obj)
{
    struct config *cfg = obj;

    for (int i = 1; i <= n; i++) {
        if (!a[i].s[0])
            return fail(ps, a[i].line, "\"audience\" must not be empty");
        push_str(&cfg->audiences, &cfg->naudiences, a[i].s);
    }
    return 0;
}

static int set_leeway(struct parser *ps, const struct directive *d, struct word *a, int n,
                      void *obj)
{
    struct config *cfg = obj;
    int64_t ms;

    if (parse_duration_ms(a[1].s, &ms) < 0)
        return fail(ps, a[1].line, "invalid duration \"%.200s\"", a[1].s);
    /* Claims are whole seconds: 250ms of leeway must still be some leeway. */
    cfg->policy.leeway = (ms + 999) / 1000;
    return 0;
}

static int set_require_claims(struct parser *ps, const struct directive *d, struct word *a, int n,
                              void *obj)
{
    struct config *cfg = obj;

    for (size_t i = 0; i < cfg->nrequire_claims; i++)
        free(cfg->require_claims[i]);
    free(cfg->require_claims);
    cfg->require_claims = NULL;
    cfg->nrequire_claims = 0;
    /* "none" alone empties the list (exp is required by default). */
    if (n == 1 && strcmp(a[1].s, "none") == 0)
        return 0;
    for (int i = 1; i <= n; i++) {
        if (!a[i].s[0])
            return fail(ps, a[i].line, "empty claim name");
        push_str(&cfg->require_claims, &cfg->nrequire_claims, a[i].s);
    }
    return 0;
}

static void sources_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->nsources; i++)
        free(cfg->sources[i].name);
    free(cfg->sources);
    cfg->sources = NULL;
    cfg->nsources = 0;
}

static int same_source(const struct token_source *x, const struct token_source *y)
{
    if (x->kind != y->kind)
        return 0;
    if (!x->name || !y->name)
        return x->name == y->name;
    /* Header names are case-insensitive, cookie and query names are not. */
    if (x->kind == TS_AUTHORIZATION || x->kind == TS_HEADER)
        return strcasecmp(x->name, y->name) == 0;
    return strcmp(x->name, y->name) == 0;
}

static int set_token_sources(struct parser *ps, const struct directive *d, struct word *a, int n,
                             void *obj)
{
    static const char expect[] = "expected header:NAME, cookie:NAME, query:NAME or subprotocol";
    struct config *cfg = obj;

    sources_free(cfg);
    for (int i = 1; i <= n; i++) {
        const char *s = a[i].s, *name = NULL;
        struct token_source src = { TS_SUBPROTOCOL, NULL };
        int good;

        if (strcmp(s, "subprotocol") == 0) {
            good = 1;
        } else if (strncmp(s, "header:", 7) == 0) {
            name = s + 7;
            src.kind = strcasecmp(name, "Authorization") == 0 ? TS_AUTHORIZATION : TS_HEADER;
            good = is_token(name);
        } else if (strncmp(s, "cookie:", 7) == 0) {
            name = s + 7;
            src.kind = TS_COOKIE;
            good = is_token(name);
        } else if (strncmp(s, "query:", 6) == 0) {
            name = s + 6;
            src.kind = TS_QUERY;
            good = is_query_name(name);
        } else {
            return fail(ps, a[i].line, "invalid token source \"%.200s\": %s", s, expect);
        }
        if (!good)
            return fail(ps, a[i].line, "invalid token source \"%.200s\": %s", s,
                        *name ? "bad character in name" : "empty name");
        src.name = name ? util_xstrdup(name) : NULL;
        for (size_t j = 0; j < cfg->nsources; j++) {
            if (same_source(&cfg->sources[j], &src)) {
                free(src.name);
                return fail(ps, a[i].line, "duplicate token source \"%.200s\"", s);
            }
        }
        cfg->sources = util_xrealloc(cfg->sources, (cfg->nsources + 1) * sizeof(*cfg->sources));
        cfg->sources[cfg->nsources++] = src;
    }
    return 0;
}

static int set_on_expiry(struct parser *ps, const struct directive *d, struct word *a, int n,
                         void *obj)
{
    struct config *cfg = obj;

    if (strcmp(a[1].s, "close") == 0)
        cfg->on_expiry_close = 1;
    else if (strcmp(a[1].s, "ignore") == 0)
        cfg->on_expiry_close = 0;
    else
        return fail(ps, a[1].line, "invalid value \"%.200s\" for \"on_expiry\": it must be "
                    "\"close\" or \"ignore\"", a[1].s);
    return 0;
}

static int set_status_listen(struct parser *ps, const struct directive *d, struct word *a, int n,
                             void *obj)
{
    struct config *cfg = obj;
    char err[256];

    free(cfg->status_addr.text);
    cfg->status_addr.text = NULL;
    if (config_parse_addr(a[1].s, &cfg->status_addr, err, sizeof(err)) < 0)
        return fail(ps, a[1].line, "status_listen %s", err);
    cfg->status_listen = 1;
    return 0;
}

/* revocation */

static int set_redis(struct parser *ps, const struct directive *d, struct word *a, int n,
                     void *obj)
{
    struct config *cfg = obj;
    struct sockaddr_text addr;
    char err[256], host[INET6_ADDRSTRLEN];

    free(cfg->redis_host);
    free(cfg->redis_unix);
    cfg->redis_host = cfg->redis_unix = NULL;
    if (strncmp(a[1].s, "unix:", 5) == 0) {
        if (a[1].s[5] != '/')
            return fail(ps, a[1].line, "redis \"%.200s\": unix: needs an absolute path", a[1].s);
        cfg->redis_unix = util_xstrdup(a[1].s + 5);
        cfg->redis = 1;
        return 0;
    }
    if (config_parse_addr(a[1].s, &addr, err, sizeof(err)) < 0)
        return fail(ps, a[1].line, "redis %s", err);
    if (addr.ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr.ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        cfg->redis_port = ntohs(in6->sin6_port);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&addr.ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        cfg->redis_port = ntohs(in->sin_port);
    }
    free(addr.text);
    cfg->redis_host = util_xstrdup(host);
    cfg->redis = 1;
    return 0;
}

static int set_redis_failure(struct parser *ps, const struct directive *d, struct word *a, int n,
                             void *obj)
{
    struct config *cfg = obj;

    if (strcmp(a[1].s, "reject") == 0)
        cfg->redis_failure_allow = 0;
    else if (strcmp(a[1].s, "allow") == 0)
        cfg->redis_failure_allow = 1;
    else
        return fail(ps, a[1].line, "invalid value \"%.200s\" for \"redis_failure\": it must be "
                    "\"reject\" or \"allow\"", a[1].s);
    return 0;
}

/* SPEC §3a: how route prefixes compare with the path. */
static int set_route_case(struct parser *ps, const struct directive *d, struct word *a, int n,
                          void *obj)
{
    struct config *cfg = obj;

    if (strcmp(a[1].s, "sensitive") == 0)
        cfg->route_case_insensitive = 0;
    else if (strcmp(a[1].s, "insensitive") == 0)
        cfg->route_case_insensitive = 1;
    else
        return fail(ps, a[1].line, "invalid value \"%.200s\" for \"route_case\": it must be "
                    "\"sensitive\" or \"insensitive\"", a[1].s);
    return 0;
}

/* tls */

/* tls_certificate, tls_certificate_key: loaded once both are known
 * (validate_tls), and problems reported at these lines. */
static int set_tls_file(struct parser *ps, const struct directive *d, struct word *a, int n,
                        void *obj)
{
    struct config *cfg = obj;
    int key = strcmp(d->name, "tls_certificate_key") == 0;
    char **dst = key ? &cfg->tls_certificate_key : &cfg->tls_certificate;

    if (!a[1].s[0])
        return fail(ps, a[1].line, "\"%s\" must not be empty", d->name);
    free(*dst);
    *dst = util_xstrdup(a[1].s);
    if (key)
        ps->tls_certificate_key_line = a[1].line;
    else
        ps->tls_certificate_line = a[1].line;
    return 0;
}

/* Main context: the default CA file of every route, loaded here once to
 * report a bad file at its line even when no route needs it. Route
 * context: the route's own client context, built here. */
static int set_upstream_ca_file(struct parser *ps, const struct directive *d, struct word *a,
                                int n, void *obj)
{
    struct ssl_ctx_st *ctx;
    char why[300];

    if (!a[1].s[0])
        return fail(ps, a[1].line, "\"%s\" must not be empty", d->name);
    ctx = tls_client_ctx_new(a[1].s, why, sizeof(why));
    if (!ctx)
        return fail(ps, a[1].line, "upstream_ca_file \"%.200s\": %s", a[1].s, why);
    if (obj == ps->cfg) {
        struct config *cfg = obj;
        tls_ctx_free(ctx);
        free(cfg->upstream_ca_file);
        cfg->upstream_ca_file = util_xstrdup(a[1].s);
        ps->upstream_ca_line = a[1].line;
    } else {
        struct route *r = obj;
        r->tls_ctx = ctx;
        r->upstream_ca_file = util_xstrdup(a[1].s);
    }
    return 0;
}

/* Host names we hand to the resolver and to certificate matching. */
static int is_dns_name(const char *h)
{
    size_t n = strlen(h);

    if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
        return 0;
    for (; *h; h++) {
        int c = (unsigned char)*h;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return 0;
    }
    return 1;
}

/* tls://HOST:PORT. An IP literal (or localhost, which is 127.0.0.1 as
 * everywhere in this file) is taken as is; a DNS name is resolved now,
 * once, to its first address (a reload resolves again). HOST is kept for
 * certificate verification and SNI. */
static int tls_upstream_parse(const char *s, struct sockaddr_text *out, char *why, size_t whylen)
{
    const char *hp = s + 6, *w = "invalid address", *colon;
    char host[256];
    size_t hl;
    struct in_addr a4;

    memset(out, 0, sizeof(*out));
    if (hp[0] == '[') {
        if (addr_parse(hp, out, 0, &w) < 0) {
            snprintf(why, whylen, "%s", w);
            return -1;
        }
        hl = (size_t)(strchr(hp, ']') - hp - 1);
        memcpy(host, hp + 1, hl);
        host[hl] = '\0';
    } else {
        colon = strrchr(hp, ':');
        if (!colon) {
            snprintf(why, whylen, "missing port");
            return -1;
        }
        hl = (size_t)(colon - hp);
        if (hl == 0 || hl >= sizeof(host)) {
            snprintf(why, whylen, hl ? "host name too long" : "missing host");
            return -1;
        }
        memcpy(host, hp, hl);
        host[hl] = '\0';
        if (inet_pton(AF_INET, host, &a4) == 1 || strcasecmp(host, "localhost") == 0 ||
            strchr(host, ':')) {
            if (addr_parse(hp, out, 0, &w) < 0) {
                snprintf(why, whylen, "%s", w);
                return -1;
            }
        } else {
            struct addrinfo hints, *res = NULL;
            uint64_t port;
            char port_s[8];
            int rc;

            if (!is_dns_name(host)) {
                snprintf(why, whylen, "invalid host name");
                return -1;
            }
            if (parse_u64(colon + 1, strlen(colon + 1), &port) < 0 || port == 0 || port > 65535) {
                snprintf(why, whylen, "invalid port");
                return -1;
            }
            snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
            memset(&hints, 0, sizeof(hints));
            hints.ai_family = AF_UNSPEC;
            hints.ai_socktype = SOCK_STREAM;
            hints.ai_flags = AI_NUMERICSERV;
            rc = getaddrinfo(host, port_s, &hints, &res);
            if (rc != 0 || !res) {
                snprintf(why, whylen, "cannot resolve \"%s\": %s", host,
                         rc ? gai_strerror(rc) : "no address");
                if (res)
                    freeaddrinfo(res);
                return -1;
            }
            memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
            out->len = (socklen_t)res->ai_addrlen;
            freeaddrinfo(res);
        }
    }
    free(out->text);
    out->text = util_xstrdup(s);
    out->tls = 1;
    out->host = util_xstrdup(host);
    return 0;
}

/* route */

static void route_clear(struct route *r)
{
    free(r->prefix);
    for (size_t i = 0; i < r->nupstreams; i++) {
        free(r->upstreams[i].text);
        free(r->upstreams[i].host);
    }
    free(r->upstreams);
    free(r->upstream_ca_file);
    tls_ctx_free(r->tls_ctx);
    for (size_t i = 0; i < r->norigins; i++)
        free(r->origins[i]);
    free(r->origins);
    for (size_t i = 0; i < r->nrequire; i++) {
        free(r->require[i].claim);
        free(r->require[i].value);
    }
    free(r->require);
    for (size_t i = 0; i < r->nidh; i++) {
        free(r->idh[i].claim);
        free(r->idh[i].header);
    }
    free(r->idh);
    free(r->claims_header);
    for (size_t i = 0; i < r->nnsp_require; i++) {
        free(r->nsp_require[i].nsp);
        free(r->nsp_require[i].claim);
        free(r->nsp_require[i].value);
    }
    free(r->nsp_require);
}

static int set_route(struct parser *ps, const struct directive *d, struct word *a, int n,
                     void *obj)
{
    struct config *cfg = obj;
    const char *prefix = a[1].s;

    if (prefix[0] != '/')
        return fail(ps, a[1].line, "route prefix \"%.200s\" must start with \"/\"", prefix);
    /* A request path never holds spaces, controls or a query: such a
     * prefix could not match anything. */
    for (const char *c = prefix; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '?' || *c == '#')
            return fail(ps, a[1].line, "route prefix \"%.200s\" has a character no path can hold",
                        prefix);
    /* Requests are routed on their normalised path (SPEC §3a), which a
     * prefix like "/%61dmin" or "/a/../b" could never equal. */
    size_t plen = strlen(prefix), nlen = 0;
    char *norm = util_xmalloc(plen + 2), why[96];
    int rc = 0;
    if (http_normalize_path(prefix, plen, norm, plen + 2, &nlen, why, sizeof(why)) < 0)
        rc = fail(ps, a[1].line, "route prefix \"%.200s\": %s", prefix, why);
    else if (nlen != plen || memcmp(norm, prefix, plen) != 0)
        rc = fail(ps, a[1].line, "route prefix \"%.200s\" is not a normalised path (requests "
                  "are matched on \"%.200s\")", prefix, norm);
    free(norm);
    if (rc)
        return rc;
    for (size_t i = 0; i < cfg->nroutes; i++)
        if (strcmp(cfg->routes[i].prefix, prefix) == 0)
            return fail(ps, a[1].line, "duplicate route \"%.200s\" (first on line %d)", prefix,
                        cfg->routes[i].line);

    cfg->routes = util_xrealloc(cfg->routes, (cfg->nroutes + 1) * sizeof(*cfg->routes));
    struct route *r = &cfg->routes[cfg->nroutes++];
    memset(r, 0, sizeof(*r));
    r->prefix = util_xstrdup(prefix);
    r->prefix_len = strlen(prefix);
    r->strip_credentials = 1;
    r->auth = 1;
    r->line = a[0].line;
    if (parse_block(ps, CTX_ROUTE, r) < 0)
        return -1;
    if (r->nupstreams == 0)
        return fail(ps, r->line, "route \"%.200s\" has no \"upstream\"", r->prefix);
    if (r->nnsp_require && (!r->socketio || !r->auth))
        return fail(ps, r->line,
                    "route \"%.200s\": \"socketio_require_claim\" needs \"socketio on\" and \"auth on\"",
                    r->prefix);
    if (r->socketio)
        r->plain_http = 1;          /* the polling transport is plain HTTP */
    return 0;
}

static int set_nsp_claim(struct parser *ps, const struct directive *d, struct word *a, int n,
                         void *obj)
{
    struct route *r = obj;

    if (a[1].s[0] != '/')
        return fail(ps, a[1].line, "socket.io namespace \"%.200s\" must start with \"/\"", a[1].s);
    for (const char *c = a[1].s; *c; c++)
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == ',')
            return fail(ps, a[1].line, "invalid socket.io namespace \"%.200s\"", a[1].s);
    if (!a[2].s[0])
        return fail(ps, a[2].line, "empty claim name");
    r->nsp_require = util_xrealloc(r->nsp_require, (r->nnsp_require + 1) * sizeof(*r->nsp_require));
    r->nsp_require[r->nnsp_require].nsp = util_xstrdup(a[1].s);
    r->nsp_require[r->nnsp_require].claim = util_xstrdup(a[2].s);
    r->nsp_require[r->nnsp_require].value = util_xstrdup(a[3].s);
    r->nnsp_require++;
    return 0;
}

static int set_upstream(struct parser *ps, const struct directive *d, struct word *a, int n,
                        void *obj)
{
    struct route *r = obj;

    for (int i = 1; i <= n; i++) {
        struct sockaddr_text addr;
        const char *why = "invalid address";
        char tls_why[300];
        if (strncasecmp(a[i].s, "tls://", 6) == 0) {
            if (tls_upstream_parse(a[i].s, &addr, tls_why, sizeof(tls_why)) < 0)
                return fail(ps, a[i].line, "upstream \"%.200s\": %s", a[i].s, tls_why);
        } else if (addr_parse(a[i].s, &addr, 0, &why) < 0) {
            return fail(ps, a[i].line, "upstream \"%.200s\": %s", a[i].s, why);
        }
        r->upstreams = util_xrealloc(r->upstreams, (r->nupstreams + 1) * sizeof(*r->upstreams));
        r->upstreams[r->nupstreams++] = addr;
    }
    return 0;
}

static int set_origins(struct parser *ps, const struct directive *d, struct word *a, int n,
                       void *obj)
{
    struct route *r = obj;
    char why[300];

    for (int i = 1; i <= n; i++) {
        if (strcmp(a[i].s, "any") == 0) {
            r->origins_any = 1;
        } else {
            char *pat = origin_pattern_normalize(a[i].s, why, sizeof(why));
            if (!pat)
                return fail(ps, a[i].line, "%s", why);
            r->origins = util_xrealloc(r->origins, (r->norigins + 1) * sizeof(*r->origins));
            r->origins[r->norigins++] = pat;
        }
        if (r->origins_any && r->norigins)
            return fail(ps, a[i].line, "\"origins any\" cannot be combined with origin patterns");
    }
    return 0;
}

static int set_require_claim(struct parser *ps, const struct directive *d, struct word *a, int n,
                             void *obj)
{
    struct route *r = obj;

    if (!a[1].s[0])
        return fail(ps, a[1].line, "empty claim name");
    r->require = util_xrealloc(r->require, (r->nrequire + 1) * sizeof(*r->require));
    r->require[r->nrequire].claim = util_xstrdup(a[1].s);
    r->require[r->nrequire].value = util_xstrdup(a[2].s);
    r->nrequire++;
    return 0;
}

/* Headers the gateway or the WebSocket handshake owns: injecting one of
 * them would break framing, routing or the upgrade itself. */
static int reserved_header(const char *h)
{
    static const char *const reserved[] = {
        "Host", "Connection", "Upgrade", "Content-Length", "Transfer-Encoding", "TE",
        "Trailer", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization", "Authorization",
        "Cookie", "Origin", "X-Forwarded-For", "X-Forwarded-Proto",
        "X-Real-IP",                /* set to the client address (SPEC §3a) */
        NULL,
    };
    for (int i = 0; reserved[i]; i++)
        if (strcasecmp(h, reserved[i]) == 0)
            return 1;
    return strncasecmp(h, "Sec-WebSocket-", 14) == 0;
}

static int check_injected(struct parser *ps, const struct route *r, const struct word *w)
{
    if (!is_token(w->s))
        return fail(ps, w->line, "invalid header name \"%.200s\"", w->s);
    if (reserved_header(w->s))
        return fail(ps, w->line, "header \"%.200s\" is reserved and cannot be injected", w->s);
    for (size_t i = 0; i < r->nidh; i++)
        if (strcasecmp(r->idh[i].header, w->s) == 0)
            return fail(ps, w->line, "header \"%.200s\" is already injected", w->s);
    if (r->claims_header && strcasecmp(r->claims_header, w->s) == 0)
        return fail(ps, w->line, "header \"%.200s\" is already injected", w->s);
    return 0;
}

static int set_identity_header(struct parser *ps, const struct directive *d, struct word *a,
                               int n, void *obj)
{
    struct route *r = obj;

    if (!a[1].s[0])
        return fail(ps, a[1].line, "empty claim name");
    if (check_injected(ps, r, &a[2]) < 0)
        return -1;
    r->idh = util_xrealloc(r->idh, (r->nidh + 1) * sizeof(*r->idh));
    r->idh[r->nidh].claim = util_xstrdup(a[1].s);
    r->idh[r->nidh].header = util_xstrdup(a[2].s);
    r->nidh++;
    return 0;
}

static int set_claims_header(struct parser *ps, const struct directive *d, struct word *a, int n,
                             void *obj)
{
    struct route *r = obj;

    if (check_injected(ps, r, &a[1]) < 0)
        return -1;
    r->claims_header = util_xstrdup(a[1].s);
    return 0;
}

#define DUR_MAX ((int64_t)30 * 24 * 3600 * 1000)

/* The one place a directive is declared. Names here, in wsgate.conf(5) and
 * in conf/wsgate.conf are the same words. */
static const struct directive directives[] = {
    /* main */
    { "listen", CTX_MAIN, 1, 2, D_MULTI, set_listen, 0, 0, 0 },
    { "workers", CTX_MAIN, 1, 1, 0, set_workers, 0, 0, 0 },
    { "max_connections", CTX_MAIN, 1, 1, 0, set_long, FIELD(config, max_connections), 1, 10000000 },
    { "handshake_timeout", CTX_MAIN, 1, 1, 0, set_duration,
      FIELD(config, handshake_timeout_ms), 1, DUR_MAX },
    { "upstream_connect_timeout", CTX_MAIN, 1, 1, 0, set_duration,
      FIELD(config, upstream_connect_timeout_ms), 1, DUR_MAX },
    { "idle_timeout", CTX_MAIN, 1, 1, 0, set_duration, FIELD(config, idle_timeout_ms), 0, DUR_MAX },
    { "keepalive_timeout", CTX_MAIN, 1, 1, 0, set_duration, FIELD(config, keepalive_timeout_ms), 0,
      DUR_MAX },
    { "upstream_read_timeout", CTX_MAIN, 1, 1, 0, set_duration,
      FIELD(config, upstream_read_timeout_ms), 1, DUR_MAX },
    { "shutdown_timeout", CTX_MAIN, 1, 1, 0, set_duration,
      FIELD(config, shutdown_timeout_ms), 0, DUR_MAX },
    { "max_message_size", CTX_MAIN, 1, 1, 0, set_size, FIELD(config, max_message_size), 0,
      INT64_MAX },
    { "max_header_size", CTX_MAIN, 1, 1, 0, set_size, FIELD(config, max_header_size), 1024,
      1024 * 1024 },
    { "access_log", CTX_MAIN, 1, 2, 0, set_access_log, 0, 0, 0 },
    { "error_log", CTX_MAIN, 1, 2, 0, set_error_log, 0, 0, 0 },
    { "status_listen", CTX_MAIN, 1, 1, 0, set_status_listen, 0, 0, 0 },
    { "max_connections_per_ip", CTX_MAIN, 1, 1, 0, set_long,
      FIELD(config, max_connections_per_ip), 0, 10000000 },
    { "max_sessions_per_subject", CTX_MAIN, 1, 1, 0, set_long,
      FIELD(config, max_sessions_per_subject), 0, 10000000 },
    { "redis", CTX_MAIN, 1, 1, 0, set_redis, 0, 0, 0 },
    { "redis_prefix", CTX_MAIN, 1, 1, 0, set_string, FIELD(config, redis_prefix), 0, 0 },
    { "redis_failure", CTX_MAIN, 1, 1, 0, set_redis_failure, 0, 0, 0 },
    { "redis_timeout", CTX_MAIN, 1, 1, 0, set_duration, FIELD(config, redis_timeout_ms), 1,
      60000 },
    { "revocation_sweep", CTX_MAIN, 1, 1, 0, set_duration, FIELD(config, revocation_sweep_ms), 10,
      DUR_MAX },
    { "tls_certificate", CTX_MAIN, 1, 1, 0, set_tls_file, 0, 0, 0 },
    { "tls_certificate_key", CTX_MAIN, 1, 1, 0, set_tls_file, 0, 0, 0 },
    { "route_case", CTX_MAIN, 1, 1, 0, set_route_case, 0, 0, 0 },
    { "underscores_in_headers", CTX_MAIN, 1, 1, 0, set_flag, FIELD(config, underscores_in_headers),
      0, 0 },
    { "jwt", CTX_MAIN, 0, 0, D_BLOCK, set_jwt, 0, 0, 0 },
    { "route", CTX_MAIN, 1, 1, D_MULTI | D_BLOCK, set_route, 0, 0, 0 },

    /* jwt { } */
    { "key_file", CTX_JWT, 1, 1, D_MULTI, set_key_file, 0, 0, 0 },
    { "hmac_secret_file", CTX_JWT, 1, 1, D_MULTI, set_key_file, 0, 0, 0 },
    { "algorithms", CTX_JWT, 1, ARGS_ANY, 0, set_algorithms, 0, 0, 0 },
    { "issuer", CTX_JWT, 1, 1, 0, set_string, FIELD(config, issuer), 0, 0 },
    { "audience", CTX_JWT, 1, ARGS_ANY, D_MULTI, set_audience, 0, 0, 0 },
    { "leeway", CTX_JWT, 1, 1, 0, set_leeway, 0, 0, 0 },
    { "require_claims", CTX_JWT, 1, ARGS_ANY, 0, set_require_claims, 0, 0, 0 },
    { "token_sources", CTX_JWT, 1, ARGS_ANY, 0, set_token_sources, 0, 0, 0 },
    { "on_expiry", CTX_JWT, 1, 1, 0, set_on_expiry, 0, 0, 0 },
    { "jwks_url", CTX_JWT, 1, 1, 0, set_jwks_url, 0, 0, 0 },
    { "jwks_ca_file", CTX_JWT, 1, 1, 0, set_jwks_ca_file, 0, 0, 0 },
    { "jwks_refresh", CTX_JWT, 1, 1, 0, set_duration, FIELD(config, jwks_refresh_ms), 1000,
      DUR_MAX },
    { "jwks_min_refresh", CTX_JWT, 1, 1, 0, set_duration, FIELD(config, jwks_min_refresh_ms), 100,
      DUR_MAX },
    { "jwks_startup_wait", CTX_JWT, 1, 1, 0, set_duration, FIELD(config, jwks_startup_wait_ms), 0,
      600000 },

    /* route PREFIX { } */
    { "upstream", CTX_ROUTE, 1, ARGS_ANY, D_MULTI, set_upstream, 0, 0, 0 },
    { "origins", CTX_ROUTE, 1, ARGS_ANY, D_MULTI, set_origins, 0, 0, 0 },
    { "require_claim", CTX_ROUTE, 2, 2, D_MULTI, set_require_claim, 0, 0, 0 },
    { "identity_header", CTX_ROUTE, 2, 2, D_MULTI, set_identity_header, 0, 0, 0 },
    { "claims_header", CTX_ROUTE, 1, 1, 0, set_claims_header, 0, 0, 0 },
    { "strip_credentials", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, strip_credentials), 0, 0 },
    { "auth", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, auth), 0, 0 },
    { "upstream_ca_file", CTX_ROUTE | CTX_MAIN, 1, 1, 0, set_upstream_ca_file, 0, 0, 0 },
    { "plain_http", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, plain_http), 0, 0 },
    { "socketio", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, socketio), 0, 0 },
    { "socketio_require_claim", CTX_ROUTE, 3, 3, D_MULTI, set_nsp_claim, 0, 0, 0 },
};

#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

static const char *ctx_name(unsigned ctx)
{
    return ctx == CTX_MAIN ? "main" : ctx == CTX_JWT ? "jwt" : "route";
}

static int arity_error(struct parser *ps, const struct directive *d, int line)
{
    if (d->min_args == d->max_args && d->min_args == 0)
        return fail(ps, line, "\"%s\" takes no arguments", d->name);
    if (d->min_args == d->max_args)
        return fail(ps, line, "\"%s\" takes %d argument%s", d->name, d->min_args,
                    d->min_args == 1 ? "" : "s");
    if (d->max_args == ARGS_ANY)
        return fail(ps, line, "\"%s\" takes at least %d argument%s", d->name, d->min_args,
                    d->min_args == 1 ? "" : "s");
    return fail(ps, line, "\"%s\" takes %d or %d arguments", d->name, d->min_args, d->max_args);
}

/* Parses directives until the matching "}" (or end of file in the main
 * context). seen[] holds the line each single-valued directive was first
 * set on, per block instance. */
static int parse_block(struct parser *ps, unsigned ctx, void *obj)
{
    int seen[NDIRECTIVES] = { 0 };

    for (;;) {
        struct word w, *args = NULL;
        int nargs = 0, rc;
        enum tok t = lex(ps, &w);

        if (t == T_ERR)
            return -1;
        if (t == T_EOF) {
            if (ctx == CTX_MAIN)
                return 0;
            return fail(ps, w.line, "unexpected end of file, expecting \"}\"");
        }
        if (t == T_CLOSE) {
            if (ctx == CTX_MAIN)
                return fail(ps, w.line, "unexpected \"}\"");
            return 0;
        }
        if (t != T_WORD)
            return fail(ps, w.line, "unexpected \"%c\"", t == T_SEMI ? ';' : '{');

        /* Collect the directive up to its ";" or "{". */
        args = util_xmalloc(sizeof(*args));
        args[nargs++] = w;
        for (;;) {
            t = lex(ps, &w);
            if (t == T_WORD) {
                args = util_xrealloc(args, (size_t)(nargs + 1) * sizeof(*args));
                args[nargs++] = w;
                continue;
            }
            break;
        }
        if (t == T_ERR || t == T_EOF || t == T_CLOSE) {
            if (t == T_EOF)
                fail(ps, w.line, "unexpected end of file, expecting \";\" or \"}\"");
            else if (t == T_CLOSE)
                fail(ps, w.line, "unexpected \"}\"");
            words_free(args, nargs);
            return -1;
        }

        const struct directive *d = NULL;
        for (size_t i = 0; i < NDIRECTIVES; i++)
            if (strcmp(directives[i].name, args[0].s) == 0)
                d = &directives[i];
        if (!d)
            rc = fail(ps, args[0].line, "unknown directive \"%.200s\"", args[0].s);
        else if (!(d->ctx & ctx))
            rc = fail(ps, args[0].line, "\"%s\" is not allowed in the %s context", d->name,
                      ctx_name(ctx));
        else if ((d->flags & D_BLOCK) && t != T_OPEN)
            rc = fail(ps, args[0].line, "\"%s\" must be followed by a block { ... }", d->name);
        else if (!(d->flags & D_BLOCK) && t == T_OPEN)
            rc = fail(ps, args[0].line, "\"%s\" does not take a block; missing \";\"?", d->name);
        else if (nargs - 1 < d->min_args || (d->max_args != ARGS_ANY && nargs - 1 > d->max_args))
            rc = arity_error(ps, d, args[0].line);
        else if (!(d->flags & D_MULTI) && seen[d - directives])
            rc = fail(ps, args[0].line, "duplicate \"%s\" (first on line %d)", d->name,
                      seen[d - directives]);
        else {
            seen[d - directives] = args[0].line;
            rc = d->set(ps, d, args, nargs - 1, obj);
        }
        words_free(args, nargs);
        if (rc < 0)
            return -1;
    }
}

/* ---- whole-file checks -------------------------------------------------- */

static int alg_fits_key(int alg, const struct key *k)
{
    if (k->alg && strcmp(k->alg, jwt_alg_name(alg)) != 0)
        return 0;
    switch (alg) {
    case JWT_HS256: case JWT_HS384: case JWT_HS512:
        return k->type == KEY_HMAC;
    case JWT_RS256: case JWT_RS384: case JWT_RS512:
        return k->type == KEY_RSA;
    case JWT_ES256:
        return k->type == KEY_EC && k->curve_nid == NID_X9_62_prime256v1;
    case JWT_ES384:
        return k->type == KEY_EC && k->curve_nid == NID_secp384r1;
    case JWT_ES512:
        return k->type == KEY_EC && k->curve_nid == NID_secp521r1;
    default:
        return 0;
    }
}

static int route_cmp(const void *a, const void *b)
{
    const struct route *x = a, *y = b;

    if (x->prefix_len != y->prefix_len)
        return x->prefix_len > y->prefix_len ? -1 : 1;
    return strcmp(x->prefix, y->prefix);
}

static int validate(struct parser *ps)
{
    struct config *cfg = ps->cfg;
    const struct route *auth_route = NULL;
    int have_hmac = 0;

    if (cfg->nlistens == 0)
        return fail(ps, 0, "no \"listen\" directive");
    if (cfg->nroutes == 0)
        return fail(ps, 0, "no \"route\" block");
    for (size_t i = 0; i < cfg->nroutes && !auth_route; i++)
        if (cfg->routes[i].auth)
            auth_route = &cfg->routes[i];
    for (size_t i = 0; i < cfg->keys->nkeys; i++)
        if (cfg->keys->keys[i].type == KEY_HMAC)
            have_hmac = 1;

    if (!ps->algorithms_line) {
        cfg->policy.algs = (1u << JWT_RS256) | (1u << JWT_ES256);
        if (have_hmac)
            cfg->policy.algs |= 1u << JWT_HS256;
    }
    if (auth_route && cfg->keys->nkeys == 0 && !cfg->jwks_url)
        return fail(ps, auth_route->line,
                    "no keys configured (key_file, hmac_secret_file, jwks_url) but route \"%s\" "
                    "requires auth", auth_route->prefix);
    /* A remote set may bring keys for any allowed algorithm. */
    if (auth_route && !cfg->jwks_url) {
        int usable = 0;
        for (int alg = 0; alg < JWT_ALG_COUNT && !usable; alg++) {
            if (!(cfg->policy.algs & (1u << alg)))
                continue;
            for (size_t k = 0; k < cfg->keys->nkeys && !usable; k++)
                usable = alg_fits_key(alg, &cfg->keys->keys[k]);
        }
        if (!usable) {
            char list[128] = "";
            size_t o = 0;
            for (int alg = 0; alg < JWT_ALG_COUNT; alg++)
                if (cfg->policy.algs & (1u << alg))
                    o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", o ? " " : "",
                                          jwt_alg_name(alg));
            return fail(ps, ps->algorithms_line ? ps->algorithms_line : ps->jwt_line,
                        "no loaded key can verify any allowed algorithm (%s)", list);
        }
    }

    qsort(cfg->routes, cfg->nroutes, sizeof(*cfg->routes), route_cmp);
    /* Sorted by length: prefixes equal but for case are neighbours or
     * separated only by others of their length. */
    for (size_t i = 0; cfg->route_case_insensitive && i < cfg->nroutes; i++)
        for (size_t j = i + 1; j < cfg->nroutes && cfg->routes[j].prefix_len ==
                                                   cfg->routes[i].prefix_len; j++)
            if (strcasecmp(cfg->routes[i].prefix, cfg->routes[j].prefix) == 0) {
                const struct route *x = &cfg->routes[i], *y = &cfg->routes[j];
                if (x->line > y->line) {
                    const struct route *t = x;
                    x = y;
                    y = t;
                }
                return fail(ps, y->line, "duplicate route \"%.200s\" under route_case "
                            "insensitive (first on line %d)", y->prefix, x->line);
            }

    cfg->policy.keys = cfg->keys;
    cfg->policy.issuer = cfg->issuer;
    cfg->policy.audiences = cfg->audiences;
    cfg->policy.naudiences = cfg->naudiences;
    cfg->policy.require_claims = cfg->require_claims;
    cfg->policy.nrequire_claims = cfg->nrequire_claims;
    return 0;
}

/* The server context from tls_certificate and tls_certificate_key, and a
 * client context for every route with a tls:// upstream. Built whenever
 * configured, so wsgate -t and a reload check the files even when no
 * listener uses them yet. */
static int validate_tls(struct parser *ps)
{
    struct config *cfg = ps->cfg;
    struct ssl_ctx_st *deflt = NULL;
    char why[300];

    if (cfg->tls_certificate && !cfg->tls_certificate_key)
        return fail(ps, ps->tls_certificate_line,
                    "\"tls_certificate\" needs \"tls_certificate_key\" too");
    if (cfg->tls_certificate_key && !cfg->tls_certificate)
        return fail(ps, ps->tls_certificate_key_line,
                    "\"tls_certificate_key\" needs \"tls_certificate\" too");
    for (size_t i = 0; i < cfg->nlistens; i++)
        if (cfg->listens[i].tls && !cfg->tls_certificate)
            return fail(ps, cfg->listens[i].line,
                        "\"tls\" listener %.200s needs \"tls_certificate\" and "
                        "\"tls_certificate_key\"", cfg->listens[i].addr.text);
    if (cfg->tls_certificate) {
        if (!(cfg->tls_ctx = tls_server_ctx_new(why, sizeof(why))))
            return fail(ps, ps->tls_certificate_line, "%s", why);
        if (tls_server_ctx_use_certificate(cfg->tls_ctx, cfg->tls_certificate, why,
                                           sizeof(why)) < 0)
            return fail(ps, ps->tls_certificate_line, "tls_certificate \"%.200s\": %s",
                        cfg->tls_certificate, why);
        if (tls_server_ctx_use_key(cfg->tls_ctx, cfg->tls_certificate_key, why, sizeof(why)) < 0)
            return fail(ps, ps->tls_certificate_key_line, "tls_certificate_key \"%.200s\": %s",
                        cfg->tls_certificate_key, why);
    }

    for (size_t i = 0; i < cfg->nroutes; i++) {
        struct route *r = &cfg->routes[i];
        int tls = 0;

        for (size_t u = 0; u < r->nupstreams; u++)
            tls |= r->upstreams[u].tls;
        if (!tls) {
            /* Nothing will connect with it. */
            tls_ctx_free(r->tls_ctx);
            r->tls_ctx = NULL;
            continue;
        }
        if (r->tls_ctx)
            continue;
        if (!deflt) {
            deflt = tls_client_ctx_new(cfg->upstream_ca_file, why, sizeof(why));
            if (!deflt) {
                if (cfg->upstream_ca_file)
                    return fail(ps, ps->upstream_ca_line, "upstream_ca_file \"%.200s\": %s",
                                cfg->upstream_ca_file, why);
                return fail(ps, r->line, "route \"%.200s\": %s", r->prefix, why);
            }
        }
        r->tls_ctx = tls_ctx_ref(deflt);
    }
    tls_ctx_free(deflt);
    return 0;
}

/* ---- object life -------------------------------------------------------- */

static void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    for (size_t i = 0; i < cfg->nlistens; i++)
        free(cfg->listens[i].addr.text);
    free(cfg->listens);
    free(cfg->access_log_path);
    free(cfg->error_log_path);
    keystore_free(cfg->keys);
    free(cfg->jwks_url);
    free(cfg->jwks_ca_file);
    jwks_unref(cfg->jwks);
    free(cfg->issuer);
    for (size_t i = 0; i < cfg->naudiences; i++)
        free(cfg->audiences[i]);
    free(cfg->audiences);
    for (size_t i = 0; i < cfg->nrequire_claims; i++)
        free(cfg->require_claims[i]);
    free(cfg->require_claims);
    sources_free(cfg);
    free(cfg->status_addr.text);
    free(cfg->redis_host);
    free(cfg->redis_unix);
    free(cfg->redis_prefix);
    for (size_t i = 0; i < cfg->nroutes; i++)
        route_clear(&cfg->routes[i]);
    free(cfg->routes);
    free(cfg->tls_certificate);
    free(cfg->tls_certificate_key);
    tls_ctx_free(cfg->tls_ctx);
    free(cfg->upstream_ca_file);
    free(cfg);
}

static struct config *config_defaults(const char *path)
{
    struct config *cfg = util_xcalloc(1, sizeof(*cfg));
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    cfg->refs = 1;
    cfg->path = util_xstrdup(path);
    cfg->workers = cpus < 1 ? 1 : cpus > WORKERS_MAX ? WORKERS_MAX : (int)cpus;
    cfg->max_connections = 10000;
    cfg->handshake_timeout_ms = 10000;
    cfg->upstream_connect_timeout_ms = 5000;
    cfg->idle_timeout_ms = 0;
    cfg->keepalive_timeout_ms = 60000;
    cfg->upstream_read_timeout_ms = 60000;
    cfg->shutdown_timeout_ms = 10000;
    cfg->max_message_size = 1024 * 1024;
    cfg->max_header_size = 16 * 1024;
    cfg->access_log = LOGT_STDERR;
    cfg->access_log_json = 0;
    cfg->error_log = LOGT_STDERR;
    cfg->error_level = LOG_INFO;
    cfg->keys = keystore_new();
    cfg->on_expiry_close = 1;
    cfg->jwks_refresh_ms = 10 * 60 * 1000;
    cfg->jwks_min_refresh_ms = 30 * 1000;
    cfg->jwks_startup_wait_ms = 5000;
    push_str(&cfg->require_claims, &cfg->nrequire_claims, "exp");
    cfg->sources = util_xcalloc(1, sizeof(*cfg->sources));
    cfg->sources[0].kind = TS_AUTHORIZATION;
    cfg->sources[0].name = util_xstrdup("Authorization");
    cfg->nsources = 1;
    /* Revocation stays off (redis == 0) until "redis" is given. */
    cfg->redis_prefix = util_xstrdup("wsgate:");
    cfg->redis_timeout_ms = 500;
    cfg->revocation_sweep_ms = 1000;
    return cfg;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    char *buf;
    size_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: cannot open: %s", path,
                 S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
        close(fd);
        return NULL;
    }
    if (st.st_size > CONF_MAX_BYTES) {
        snprintf(err, errlen, "%s: file too large (over %d bytes)", path, CONF_MAX_BYTES);
        close(fd);
        return NULL;
    }
    buf = util_xmalloc((size_t)st.st_size + 1);
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return NULL;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

struct config *config_load(const char *path, char *err, size_t errlen)
{
    char dummy[1];
    size_t len;
    char *text;
    struct parser ps;

    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    err[0] = '\0';
    if (!(text = read_file(path, &len, err, errlen)))
        return NULL;
    memset(&ps, 0, sizeof(ps));
    ps.file = path;
    ps.p = text;
    ps.end = text + len;
    ps.line = 1;
    ps.err = err;
    ps.errlen = errlen;
    ps.cfg = config_defaults(path);
    if (!ps.cfg->keys) {
        fail(&ps, 0, "cannot allocate the key store");
        goto bad;
    }
    if (parse_block(&ps, CTX_MAIN, ps.cfg) < 0 || validate(&ps) < 0 || validate_tls(&ps) < 0)
        goto bad;
    free(text);
    return ps.cfg;
bad:
    free(text);
    config_free(ps.cfg);
    return NULL;
}

struct config *config_ref(struct config *c)
{
    if (c)
        __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
    return c;
}

void config_unref(struct config *c)
{
    /* The last holder may be on another thread than the one that built
     * the object: acquire-release orders every use before the free. */
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
        config_free(c);
}

struct route *config_route(const struct config *c, const char *path, size_t len)
{
    if (!c || !path)
        return NULL;
    for (size_t i = 0; i < c->nroutes; i++) {
        struct route *r = &c->routes[i];
        if (r->prefix_len > len)
            continue;
        if (c->route_case_insensitive ? strncasecmp(r->prefix, path, r->prefix_len) == 0
                                      : memcmp(r->prefix, path, r->prefix_len) == 0)
            return r;
    }
    return NULL;
}
