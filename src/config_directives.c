/* The directive table: one row per directive (name, context, arity,
 * flags, setter, field), generic setters for flags, numbers, durations,
 * sizes and strings, and the custom ones. */
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

#include <openssl/obj_mac.h>

#include "http.h"
#include "jwks.h"
#include "jwks_fetch.h"
#include "keys.h"
#include "log.h"
#include "origin.h"
#include "realip.h"
#include "tls.h"
#include "util.h"

/* ---- directive table ---------------------------------------------------- */


static int set_flag(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj)
{
    if (strcasecmp(a[1].s, "on") == 0)
        *AT(obj, d, int) = 1;
    else if (strcasecmp(a[1].s, "off") == 0)
        *AT(obj, d, int) = 0;
    else
        return conf_fail(ps, a[1].line, "invalid value \"%.200s\" for \"%s\": it must be \"on\" or \"off\"",
                    a[1].s, d->name);
    return 0;
}

static int set_long(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj)
{
    uint64_t v;

    if (conf_parse_u64(a[1].s, strlen(a[1].s), &v) < 0)
        return conf_fail(ps, a[1].line, "invalid number \"%.200s\"", a[1].s);
    if (v < (uint64_t)d->min || v > (uint64_t)d->max)
        return conf_fail(ps, a[1].line, "\"%s\" must be between %lld and %lld", d->name,
                    (long long)d->min, (long long)d->max);
    *AT(obj, d, long) = (long)v;
    return 0;
}

static int set_duration(struct parser *ps, const struct directive *d, struct word *a, int n,
                        void *obj)
{
    int64_t ms;
    char lo[32], hi[32];

    if (conf_parse_duration_ms(a[1].s, &ms) < 0)
        return conf_fail(ps, a[1].line, "invalid duration \"%.200s\"", a[1].s);
    if (ms < d->min || ms > d->max) {
        conf_duration_text(d->min, lo, sizeof(lo));
        conf_duration_text(d->max, hi, sizeof(hi));
        return conf_fail(ps, a[1].line, "\"%s\" must be between %s and %s", d->name, lo, hi);
    }
    *AT(obj, d, int64_t) = ms;
    return 0;
}

static int set_size(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj)
{
    uint64_t v;
    char lo[32], hi[32];

    if (conf_parse_size(a[1].s, &v) < 0)
        return conf_fail(ps, a[1].line, "invalid size \"%.200s\"", a[1].s);
    if (v < (uint64_t)d->min || v > (uint64_t)d->max) {
        conf_size_text((uint64_t)d->min, lo, sizeof(lo));
        conf_size_text((uint64_t)d->max, hi, sizeof(hi));
        return conf_fail(ps, a[1].line, "\"%s\" must be between %s and %s", d->name, lo, hi);
    }
    *AT(obj, d, size_t) = (size_t)v;
    return 0;
}

static int set_string(struct parser *ps, const struct directive *d, struct word *a, int n,
                      void *obj)
{
    char **dst = AT(obj, d, char *);

    if (!a[1].s[0])
        return conf_fail(ps, a[1].line, "\"%s\" must not be empty", d->name);
    free(*dst);
    *dst = util_xstrdup(a[1].s);
    return 0;
}

void conf_push_str(char ***arr, size_t *n, const char *s)
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
    int tls = 0, proxy = 0;

    for (int i = 2; i <= n; i++) {
        int *flag = strcmp(a[i].s, "tls") == 0 ? &tls
                    : strcmp(a[i].s, "proxy_protocol") == 0 ? &proxy : NULL;
        if (!flag || *flag)
            return conf_fail(ps, a[i].line, "invalid parameter \"%.200s\" for \"listen\"", a[i].s);
        *flag = 1;
    }
    if (conf_addr_parse(a[1].s, &addr, 1, &why) < 0)
        return conf_fail(ps, a[1].line, "listen \"%.200s\": %s", a[1].s, why);
    for (size_t i = 0; i < cfg->nlistens; i++) {
        if (conf_same_addr(&cfg->listens[i].addr, &addr)) {
            int first = cfg->listens[i].line;
            free(addr.text);
            return conf_fail(ps, a[1].line, "duplicate listen \"%.200s\" (first on line %d)", a[1].s,
                        first);
        }
    }
    cfg->listens = util_xrealloc(cfg->listens, (cfg->nlistens + 1) * sizeof(*cfg->listens));
    struct listen_conf *l = &cfg->listens[cfg->nlistens++];
    l->addr = addr;
    l->tls = tls;
    l->proxy_protocol = proxy;
    l->line = a[0].line;
    return 0;
}

/* real_ip_from CIDR...; accumulates. */
static int set_real_ip_from(struct parser *ps, const struct directive *d, struct word *a, int n,
                            void *obj)
{
    struct config *cfg = obj;
    char err[96];

    (void)d;
    for (int i = 1; i <= n; i++) {
        struct realip_net net;
        if (realip_parse_cidr(a[i].s, &net, err, sizeof(err)) < 0)
            return conf_fail(ps, a[i].line, "real_ip_from \"%.200s\": %s", a[i].s, err);
        cfg->real_ip_from = util_xrealloc(cfg->real_ip_from,
                                          (cfg->nreal_ip_from + 1) * sizeof(*cfg->real_ip_from));
        cfg->real_ip_from[cfg->nreal_ip_from++] = net;
    }
    return 0;
}

/* real_ip_header NAME; a header name. */
static int set_real_ip_header(struct parser *ps, const struct directive *d, struct word *a, int n,
                              void *obj)
{
    struct config *cfg = obj;

    (void)d;
    (void)n;
    if (!conf_is_token(a[1].s))
        return conf_fail(ps, a[1].line, "real_ip_header \"%.200s\": not a header name", a[1].s);
    free(cfg->real_ip_header);
    cfg->real_ip_header = util_xstrdup(a[1].s);
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
    if (conf_parse_u64(a[1].s, strlen(a[1].s), &v) < 0)
        return conf_fail(ps, a[1].line, "invalid number \"%.200s\" (or \"auto\")", a[1].s);
    if (v < 1 || v > WORKERS_MAX)
        return conf_fail(ps, a[1].line, "\"workers\" must be between 1 and %d", WORKERS_MAX);
    cfg->workers = (int)v;
    return 0;
}

static int set_access_log(struct parser *ps, const struct directive *d, struct word *a, int n,
                          void *obj)
{
    struct config *cfg = obj;

    if (n == 2 && strcmp(a[2].s, "json") != 0)
        return conf_fail(ps, a[2].line, "invalid parameter \"%.200s\" for \"access_log\" (only \"json\")",
                    a[2].s);
    free(cfg->access_log_path);
    cfg->access_log_path = NULL;
    cfg->access_log_json = n == 2;
    if (strcmp(a[1].s, "off") == 0) {
        if (n == 2)
            return conf_fail(ps, a[2].line, "\"json\" makes no sense with \"access_log off\"");
        cfg->access_log = LOGT_OFF;
    } else if (strcmp(a[1].s, "stderr") == 0) {
        cfg->access_log = LOGT_STDERR;
    } else if (!a[1].s[0]) {
        return conf_fail(ps, a[1].line, "\"access_log\" must not be empty");
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
        return conf_fail(ps, a[2].line,
                    "invalid level \"%.200s\" (error, warn, notice, info or debug)", a[2].s);
    /* nginx writes to a file named "off" here; refuse instead of surprising. */
    if (strcmp(a[1].s, "off") == 0)
        return conf_fail(ps, a[1].line, "\"error_log\" cannot be off; use a level such as \"error\"");
    if (!a[1].s[0])
        return conf_fail(ps, a[1].line, "\"error_log\" must not be empty");
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

static int set_jwt(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj)
{
    ps->jwt_line = a[0].line;
    return conf_parse_block(ps, CTX_JWT, obj);
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
        return conf_fail(ps, a[1].line, "%s: %s", d->name, why[0] ? why : "cannot load");
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
        return conf_fail(ps, a[1].line, "jwks_url \"%.200s\": %s", a[1].s, why);
    jwks_url_clear(&u);
    cfg->jwks_url = util_xstrdup(a[1].s);
    return 0;
}

static int set_oidc_discovery(struct parser *ps, const struct directive *d, struct word *a,
                              int n, void *obj)
{
    struct config *cfg = obj;
    struct jwks_url u;
    char why[200];

    if (jwks_url_parse(a[1].s, &u, why, sizeof(why)) < 0)
        return conf_fail(ps, a[1].line, "oidc_discovery \"%.200s\": %s", a[1].s, why);
    jwks_url_clear(&u);
    cfg->oidc_discovery = util_xstrdup(a[1].s);
    return 0;
}

static int set_jwks_ca_file(struct parser *ps, const struct directive *d, struct word *a, int n,
                            void *obj)
{
    struct config *cfg = obj;
    char why[384];

    if (!a[1].s[0])
        return conf_fail(ps, a[1].line, "\"jwks_ca_file\" must not be empty");
    if (jwks_check_ca_file(a[1].s, why, sizeof(why)) < 0)
        return conf_fail(ps, a[1].line, "jwks_ca_file: %s", why);
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
            return conf_fail(ps, a[i].line, "\"none\" can never be allowed");
        int alg = jwt_alg_from_name(a[i].s);
        if (alg < 0 || alg >= JWT_ALG_COUNT)
            return conf_fail(ps, a[i].line, "unknown algorithm \"%.200s\"", a[i].s);
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
            return conf_fail(ps, a[i].line, "\"audience\" must not be empty");
        conf_push_str(&cfg->audiences, &cfg->naudiences, a[i].s);
    }
    return 0;
}

static int set_leeway(struct parser *ps, const struct directive *d, struct word *a, int n,
                      void *obj)
{
    struct config *cfg = obj;
    int64_t ms;

    if (conf_parse_duration_ms(a[1].s, &ms) < 0)
        return conf_fail(ps, a[1].line, "invalid duration \"%.200s\"", a[1].s);
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
            return conf_fail(ps, a[i].line, "empty claim name");
        conf_push_str(&cfg->require_claims, &cfg->nrequire_claims, a[i].s);
    }
    return 0;
}

void conf_sources_free(struct config *cfg)
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
    static const char expect[] = "expected header:NAME, cookie:NAME, query:NAME, subprotocol or graphql_ws";
    struct config *cfg = obj;

    conf_sources_free(cfg);
    for (int i = 1; i <= n; i++) {
        const char *s = a[i].s, *name = NULL;
        struct token_source src = { TS_SUBPROTOCOL, NULL };
        int good;

        if (strcmp(s, "subprotocol") == 0) {
            good = 1;
        } else if (strcmp(s, "graphql_ws") == 0) {
            src.kind = TS_GRAPHQL_WS;
            good = 1;
        } else if (strncmp(s, "header:", 7) == 0) {
            name = s + 7;
            src.kind = strcasecmp(name, "Authorization") == 0 ? TS_AUTHORIZATION : TS_HEADER;
            good = conf_is_token(name);
        } else if (strncmp(s, "cookie:", 7) == 0) {
            name = s + 7;
            src.kind = TS_COOKIE;
            good = conf_is_token(name);
        } else if (strncmp(s, "query:", 6) == 0) {
            name = s + 6;
            src.kind = TS_QUERY;
            good = conf_is_query_name(name);
        } else {
            return conf_fail(ps, a[i].line, "invalid token source \"%.200s\": %s", s, expect);
        }
        if (!good)
            return conf_fail(ps, a[i].line, "invalid token source \"%.200s\": %s", s,
                        *name ? "bad character in name" : "empty name");
        src.name = name ? util_xstrdup(name) : NULL;
        for (size_t j = 0; j < cfg->nsources; j++) {
            if (same_source(&cfg->sources[j], &src)) {
                free(src.name);
                return conf_fail(ps, a[i].line, "duplicate token source \"%.200s\"", s);
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
        return conf_fail(ps, a[1].line, "invalid value \"%.200s\" for \"on_expiry\": it must be "
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
        return conf_fail(ps, a[1].line, "status_listen %s", err);
    cfg->status_listen = 1;
    return 0;
}

/* revocation */

void conf_sentinels_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->redis_nsentinels; i++)
        free(cfg->redis_sentinel_hosts[i]);
    free(cfg->redis_sentinel_hosts);
    free(cfg->redis_sentinel_ports);
    free(cfg->redis_sentinel);
    free(cfg->redis_master_name);
    cfg->redis_sentinel_hosts = NULL;
    cfg->redis_sentinel_ports = NULL;
    cfg->redis_sentinel = cfg->redis_master_name = NULL;
    cfg->redis_nsentinels = 0;
}

#define MAX_SENTINELS 16

/* sentinel://HOST:PORT[,HOST:PORT...]/MASTER */
static int set_redis_sentinel(struct parser *ps, struct config *cfg, const struct word *w)
{
    const char *spec = w->s + strlen("sentinel://"), *slash = strrchr(spec, '/');
    char err[256], host[INET6_ADDRSTRLEN];

    if (!slash || slash == spec || !slash[1] || strpbrk(slash + 1, " \t,/"))
        return conf_fail(ps, w->line, "redis \"%.200s\": expected "
                         "sentinel://HOST:PORT[,HOST:PORT...]/MASTER", w->s);
    cfg->redis_sentinel = util_xstrdup(spec);
    cfg->redis_master_name = util_xstrdup(slash + 1);
    for (const char *p = spec; p < slash;) {
        const char *comma = memchr(p, ',', (size_t)(slash - p));
        const char *end = comma ? comma : slash;
        struct sockaddr_text addr;
        char *one = util_strndup(p, (size_t)(end - p));
        int rc = config_parse_addr(one, &addr, err, sizeof(err));
        free(one);
        if (rc < 0)
            return conf_fail(ps, w->line, "redis sentinel %s", err);
        free(addr.text);
        if (cfg->redis_nsentinels == MAX_SENTINELS)
            return conf_fail(ps, w->line, "redis: at most %d sentinels", MAX_SENTINELS);
        if (addr.ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&addr.ss)->sin6_addr, host,
                      sizeof(host));
        else
            inet_ntop(AF_INET, &((const struct sockaddr_in *)&addr.ss)->sin_addr, host,
                      sizeof(host));
        cfg->redis_sentinel_hosts = util_xrealloc(cfg->redis_sentinel_hosts,
                                                  (cfg->redis_nsentinels + 1) * sizeof(char *));
        cfg->redis_sentinel_ports = util_xrealloc(cfg->redis_sentinel_ports,
                                                  (cfg->redis_nsentinels + 1) * sizeof(int));
        cfg->redis_sentinel_hosts[cfg->redis_nsentinels] = util_xstrdup(host);
        cfg->redis_sentinel_ports[cfg->redis_nsentinels++] = addr.ss.ss_family == AF_INET6
            ? ntohs(((const struct sockaddr_in6 *)&addr.ss)->sin6_port)
            : ntohs(((const struct sockaddr_in *)&addr.ss)->sin_port);
        p = comma ? comma + 1 : slash;
        if (comma && p == slash)
            return conf_fail(ps, w->line, "redis \"%.200s\": empty sentinel address", w->s);
    }
    cfg->redis = 1;
    return 0;
}

static int set_redis(struct parser *ps, const struct directive *d, struct word *a, int n,
                     void *obj)
{
    struct config *cfg = obj;
    struct sockaddr_text addr;
    char err[256], host[INET6_ADDRSTRLEN];

    free(cfg->redis_host);
    free(cfg->redis_unix);
    cfg->redis_host = cfg->redis_unix = NULL;
    conf_sentinels_free(cfg);
    if (strncmp(a[1].s, "sentinel://", 11) == 0)
        return set_redis_sentinel(ps, cfg, &a[1]);
    if (strncmp(a[1].s, "unix:", 5) == 0) {
        if (a[1].s[5] != '/')
            return conf_fail(ps, a[1].line, "redis \"%.200s\": unix: needs an absolute path", a[1].s);
        cfg->redis_unix = util_xstrdup(a[1].s + 5);
        cfg->redis = 1;
        return 0;
    }
    if (config_parse_addr(a[1].s, &addr, err, sizeof(err)) < 0)
        return conf_fail(ps, a[1].line, "redis %s", err);
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
        return conf_fail(ps, a[1].line, "invalid value \"%.200s\" for \"redis_failure\": it must be "
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
        return conf_fail(ps, a[1].line, "invalid value \"%.200s\" for \"route_case\": it must be "
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
        return conf_fail(ps, a[1].line, "\"%s\" must not be empty", d->name);
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
        return conf_fail(ps, a[1].line, "\"%s\" must not be empty", d->name);
    ctx = tls_client_ctx_new(a[1].s, why, sizeof(why));
    if (!ctx)
        return conf_fail(ps, a[1].line, "upstream_ca_file \"%.200s\": %s", a[1].s, why);
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

/* The one place a directive is declared. Names here, in wsgate.conf(5) and
 * in conf/wsgate.conf are the same words. */
#define DUR_MAX ((int64_t)30 * 24 * 3600 * 1000)

static const struct directive directives[] = {
    /* main */
    { "listen", CTX_MAIN, 1, 3, D_MULTI, set_listen, 0, 0, 0 },
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
    { "token_cache", CTX_MAIN, 1, 1, 0, set_long, FIELD(config, token_cache), 0, 1000000 },
    { "redis", CTX_MAIN, 1, 1, 0, set_redis, 0, 0, 0 },
    { "revocation_channel", CTX_MAIN, 1, 1, 0, set_string, FIELD(config, revocation_channel), 0, 0 },
    { "real_ip_from", CTX_MAIN, 1, ARGS_ANY, D_MULTI, set_real_ip_from, 0, 0, 0 },
    { "real_ip_header", CTX_MAIN, 1, 1, 0, set_real_ip_header, 0, 0, 0 },
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
    { "route", CTX_MAIN, 1, 1, D_MULTI | D_BLOCK, conf_set_route, 0, 0, 0 },

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
    { "oidc_discovery", CTX_JWT, 1, 1, 0, set_oidc_discovery, 0, 0, 0 },
    { "jwks_ca_file", CTX_JWT, 1, 1, 0, set_jwks_ca_file, 0, 0, 0 },
    { "jwks_refresh", CTX_JWT, 1, 1, 0, set_duration, FIELD(config, jwks_refresh_ms), 1000,
      DUR_MAX },
    { "jwks_min_refresh", CTX_JWT, 1, 1, 0, set_duration, FIELD(config, jwks_min_refresh_ms), 100,
      DUR_MAX },
    { "jwks_startup_wait", CTX_JWT, 1, 1, 0, set_duration, FIELD(config, jwks_startup_wait_ms), 0,
      600000 },

    /* route PREFIX { } */
    { "upstream", CTX_ROUTE, 1, ARGS_ANY, D_MULTI, conf_set_upstream, 0, 0, 0 },
    { "origins", CTX_ROUTE, 1, ARGS_ANY, D_MULTI, conf_set_origins, 0, 0, 0 },
    { "require_claim", CTX_ROUTE, 2, 2, D_MULTI, conf_set_require_claim, 0, 0, 0 },
    { "identity_header", CTX_ROUTE, 2, 2, D_MULTI, conf_set_identity_header, 0, 0, 0 },
    { "claims_header", CTX_ROUTE, 1, 1, 0, conf_set_claims_header, 0, 0, 0 },
    { "strip_credentials", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, strip_credentials), 0, 0 },
    { "auth", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, auth), 0, 0 },
    { "upstream_ca_file", CTX_ROUTE | CTX_MAIN, 1, 1, 0, set_upstream_ca_file, 0, 0, 0 },
    { "plain_http", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, plain_http), 0, 0 },
    { "socketio", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, socketio), 0, 0 },
    { "socketio_require_claim", CTX_ROUTE, 3, 3, D_MULTI, conf_set_nsp_claim, 0, 0, 0 },
    { "cors", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, cors), 0, 0 },
    { "reauth", CTX_ROUTE, 1, 1, 0, set_flag, FIELD(route, reauth), 0, 0 },
    { "socketio_connect_timeout", CTX_ROUTE, 1, 1, 0, set_duration,
      FIELD(route, socketio_connect_timeout_ms), 1, DUR_MAX },
};

#define NDIRECTIVES (sizeof(directives) / sizeof(directives[0]))

static const char *ctx_name(unsigned ctx)
{
    return ctx == CTX_MAIN ? "main" : ctx == CTX_JWT ? "jwt" : "route";
}

static int arity_error(struct parser *ps, const struct directive *d, int line)
{
    if (d->min_args == d->max_args && d->min_args == 0)
        return conf_fail(ps, line, "\"%s\" takes no arguments", d->name);
    if (d->min_args == d->max_args)
        return conf_fail(ps, line, "\"%s\" takes %d argument%s", d->name, d->min_args,
                    d->min_args == 1 ? "" : "s");
    if (d->max_args == ARGS_ANY)
        return conf_fail(ps, line, "\"%s\" takes at least %d argument%s", d->name, d->min_args,
                    d->min_args == 1 ? "" : "s");
    return conf_fail(ps, line, "\"%s\" takes %d %s %d arguments", d->name, d->min_args,
                     d->max_args == d->min_args + 1 ? "or" : "to", d->max_args);
}

/* Parses directives until the matching "}" (or end of file in the main
 * context). seen[] holds the line each single-valued directive was first
 * set on, per block instance. */
int conf_parse_block(struct parser *ps, unsigned ctx, void *obj)
{
    int seen[NDIRECTIVES] = { 0 };

    for (;;) {
        struct word w, *args = NULL;
        int nargs = 0, rc;
        enum tok t = conf_lex(ps, &w);

        if (t == T_ERR)
            return -1;
        if (t == T_EOF) {
            if (ctx == CTX_MAIN)
                return 0;
            return conf_fail(ps, w.line, "unexpected end of file, expecting \"}\"");
        }
        if (t == T_CLOSE) {
            if (ctx == CTX_MAIN)
                return conf_fail(ps, w.line, "unexpected \"}\"");
            return 0;
        }
        if (t != T_WORD)
            return conf_fail(ps, w.line, "unexpected \"%c\"", t == T_SEMI ? ';' : '{');

        /* Collect the directive up to its ";" or "{". */
        args = util_xmalloc(sizeof(*args));
        args[nargs++] = w;
        for (;;) {
            t = conf_lex(ps, &w);
            if (t == T_WORD) {
                args = util_xrealloc(args, (size_t)(nargs + 1) * sizeof(*args));
                args[nargs++] = w;
                continue;
            }
            break;
        }
        if (t == T_ERR || t == T_EOF || t == T_CLOSE) {
            if (t == T_EOF)
                conf_fail(ps, w.line, "unexpected end of file, expecting \";\" or \"}\"");
            else if (t == T_CLOSE)
                conf_fail(ps, w.line, "unexpected \"}\"");
            conf_words_free(args, nargs);
            return -1;
        }

        const struct directive *d = NULL;
        for (size_t i = 0; i < NDIRECTIVES; i++)
            if (strcmp(directives[i].name, args[0].s) == 0)
                d = &directives[i];
        if (!d)
            rc = conf_fail(ps, args[0].line, "unknown directive \"%.200s\"", args[0].s);
        else if (!(d->ctx & ctx))
            rc = conf_fail(ps, args[0].line, "\"%s\" is not allowed in the %s context", d->name,
                      ctx_name(ctx));
        else if ((d->flags & D_BLOCK) && t != T_OPEN)
            rc = conf_fail(ps, args[0].line, "\"%s\" must be followed by a block { ... }", d->name);
        else if (!(d->flags & D_BLOCK) && t == T_OPEN)
            rc = conf_fail(ps, args[0].line, "\"%s\" does not take a block; missing \";\"?", d->name);
        else if (nargs - 1 < d->min_args || (d->max_args != ARGS_ANY && nargs - 1 > d->max_args))
            rc = arity_error(ps, d, args[0].line);
        else if (!(d->flags & D_MULTI) && seen[d - directives])
            rc = conf_fail(ps, args[0].line, "duplicate \"%s\" (first on line %d)", d->name,
                      seen[d - directives]);
        else {
            seen[d - directives] = args[0].line;
            rc = d->set(ps, d, args, nargs - 1, obj);
        }
        conf_words_free(args, nargs);
        if (rc < 0)
            return -1;
    }
}

