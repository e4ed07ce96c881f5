/* Configuration loading: the file read, parsed (config_lex.c,
 * config_directives.c, config_addr.c), and checked as a whole, which
 * turns the text into the immutable, refcounted struct config. */
#include "config.h"
#include "config_parse.h"

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
    case JWT_PS256: case JWT_PS384: case JWT_PS512:
        return k->type == KEY_RSA;
    case JWT_EDDSA:
        return k->type == KEY_ED25519;
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
        return conf_fail(ps, 0, "no \"listen\" directive");
    if (cfg->nroutes == 0)
        return conf_fail(ps, 0, "no \"route\" block");
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
    if (cfg->oidc_discovery && cfg->jwks_url)
        return conf_fail(ps, ps->jwt_line, "oidc_discovery and jwks_url exclude each other "
                         "(the discovery document names the jwks_uri)");
    if (cfg->oidc_discovery && !cfg->issuer)
        return conf_fail(ps, ps->jwt_line, "oidc_discovery needs issuer: the discovery "
                         "document is only taken when its issuer equals it");
    if (auth_route && cfg->keys->nkeys == 0 && !cfg->jwks_url && !cfg->oidc_discovery)
        return conf_fail(ps, auth_route->line,
                    "no keys configured (key_file, hmac_secret_file, jwks_url) but route \"%s\" "
                    "requires auth", auth_route->prefix);
    /* A remote set may bring keys for any allowed algorithm. */
    if (auth_route && !cfg->jwks_url && !cfg->oidc_discovery) {
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
            return conf_fail(ps, ps->algorithms_line ? ps->algorithms_line : ps->jwt_line,
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
                return conf_fail(ps, y->line, "duplicate route \"%.200s\" under route_case "
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
        return conf_fail(ps, ps->tls_certificate_line,
                    "\"tls_certificate\" needs \"tls_certificate_key\" too");
    if (cfg->tls_certificate_key && !cfg->tls_certificate)
        return conf_fail(ps, ps->tls_certificate_key_line,
                    "\"tls_certificate_key\" needs \"tls_certificate\" too");
    for (size_t i = 0; i < cfg->nlistens; i++)
        if (cfg->listens[i].tls && !cfg->tls_certificate)
            return conf_fail(ps, cfg->listens[i].line,
                        "\"tls\" listener %.200s needs \"tls_certificate\" and "
                        "\"tls_certificate_key\"", cfg->listens[i].addr.text);
    if (cfg->tls_certificate) {
        if (!(cfg->tls_ctx = tls_server_ctx_new(why, sizeof(why))))
            return conf_fail(ps, ps->tls_certificate_line, "%s", why);
        if (tls_server_ctx_use_certificate(cfg->tls_ctx, cfg->tls_certificate, why,
                                           sizeof(why)) < 0)
            return conf_fail(ps, ps->tls_certificate_line, "tls_certificate \"%.200s\": %s",
                        cfg->tls_certificate, why);
        if (tls_server_ctx_use_key(cfg->tls_ctx, cfg->tls_certificate_key, why, sizeof(why)) < 0)
            return conf_fail(ps, ps->tls_certificate_key_line, "tls_certificate_key \"%.200s\": %s",
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
                    return conf_fail(ps, ps->upstream_ca_line, "upstream_ca_file \"%.200s\": %s",
                                cfg->upstream_ca_file, why);
                return conf_fail(ps, r->line, "route \"%.200s\": %s", r->prefix, why);
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
    free(cfg->oidc_discovery);
    free(cfg->jwks_ca_file);
    jwks_unref(cfg->jwks);
    free(cfg->issuer);
    for (size_t i = 0; i < cfg->naudiences; i++)
        free(cfg->audiences[i]);
    free(cfg->audiences);
    for (size_t i = 0; i < cfg->nrequire_claims; i++)
        free(cfg->require_claims[i]);
    free(cfg->require_claims);
    conf_sources_free(cfg);
    free(cfg->status_addr.text);
    free(cfg->redis_host);
    free(cfg->redis_unix);
    free(cfg->redis_prefix);
    free(cfg->real_ip_from);
    free(cfg->revocation_channel);
    conf_sentinels_free(cfg);
    free(cfg->real_ip_header);
    for (size_t i = 0; i < cfg->nroutes; i++)
        conf_route_clear(&cfg->routes[i]);
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

    static uint64_t loads;

    cfg->refs = 1;
    cfg->path = util_xstrdup(path);
    cfg->generation = __atomic_add_fetch(&loads, 1, __ATOMIC_RELAXED);
    cfg->token_cache = 1024;
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
    conf_push_str(&cfg->require_claims, &cfg->nrequire_claims, "exp");
    cfg->sources = util_xcalloc(1, sizeof(*cfg->sources));
    cfg->sources[0].kind = TS_AUTHORIZATION;
    cfg->sources[0].name = util_xstrdup("Authorization");
    cfg->nsources = 1;
    /* Revocation stays off (redis == 0) until "redis" is given. */
    cfg->redis_prefix = util_xstrdup("wsgate:");
    cfg->redis_timeout_ms = 500;
    cfg->revocation_sweep_ms = 1000;
    cfg->real_ip_header = util_xstrdup("X-Forwarded-For");
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
        conf_fail(&ps, 0, "cannot allocate the key store");
        goto bad;
    }
    if (conf_parse_block(&ps, CTX_MAIN, ps.cfg) < 0 || validate(&ps) < 0 || validate_tls(&ps) < 0)
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

