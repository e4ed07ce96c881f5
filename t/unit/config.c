/* Configuration loader: every field of a full config and every default,
 * one exact "file:line: message" per kind of mistake, the shipped
 * conf/wsgate.conf, and the log module's file handling. */
#include "tap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "log.h"

static char dir[PATH_MAX];
static char conf[PATH_MAX + 32];
static char keys[PATH_MAX];             /* t/keys, absolute when WSGATE_UNIT_DATA is set */
static char err[1024];

/* Writes the formatted text to DIR/test.conf and loads it. */
static struct config *load(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static struct config *load(const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    FILE *f;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    f = fopen(conf, "w");
    if (!f) {
        printf("Bail out! cannot write %s\n", conf);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    err[0] = '\0';
    return config_load(conf, err, sizeof(err));
}

/* Expects the last load to have failed with "CONF:<where>". */
static void failed_with(struct config *c, const char *where, const char *name)
{
    char want[sizeof(conf) + sizeof(err)];

    snprintf(want, sizeof(want), "%s:%s", conf, where);
    /* One point: refused (1) with exactly this message. */
    is_err(c == NULL, 1, err, want, "%s", name);
    config_unref(c);
}

#define BAD(name, where, ...) failed_with(load(__VA_ARGS__), where, name)

/* Smallest valid config around a fragment: one listen, one public route. */
#define MIN_LISTEN "listen 127.0.0.1:8080;\n"
#define MIN_ROUTE "route / { upstream 127.0.0.1:9000; auth off; }\n"

static void test_full(void)
{
    char addr[INET6_ADDRSTRLEN];
    struct config *c = load(
        "# a comment on line 1\n"
        "listen 127.0.0.1:8080;   # trailing comment\n"
        "listen [::1]:8081;\n"
        "listen *:8082;\n"
        "workers 3;\n"
        "max_connections 500;\n"
        "handshake_timeout 250ms;\n"
        "upstream_connect_timeout 2m;\n"
        "idle_timeout 1h;\n"
        "max_message_size 64K;\n"
        "max_header_size 32k;\n"
        "shutdown_timeout 7;\n"
        "access_log %s/access.log json;\n"
        "error_log stderr debug;\n"
        "jwt {\n"
        "    key_file %s/rsa.pub;\n"
        "    key_file %s/ec256.pub;\n"
        "    hmac_secret_file %s/hmac.secret;\n"
        "    algorithms RS256 ES256 HS512;\n"
        "    issuer \"https://auth.example.com/\";\n"
        "    audience chat admin;\n"
        "    audience \"third aud\";\n"
        "    leeway 1500ms;\n"
        "    require_claims sub exp jti;\n"
        "    token_sources header:authorization header:X-Token cookie:at query:access_token subprotocol;\n"
        "    on_expiry ignore;\n"
        "}\n"
        "route /chat {\n"
        "    upstream 127.0.0.1:9000 [::1]:9001;\n"
        "    upstream localhost:9002;\n"
        "    origins \"HTTPS://App.Example.com:443\" https://*.example.com;\n"
        "    origins null;\n"
        "    require_claim roles chat;\n"
        "    require_claim tenant \"a b;c\";\n"
        "    identity_header sub X-Auth-Sub;\n"
        "    identity_header roles X-Auth-Roles;\n"
        "    claims_header X-Auth-Claims;\n"
        "    strip_credentials off;\n"
        "    auth on;\n"
        "}\n"
        "route / {\n"
        "    upstream 10.0.0.1:80;\n"
        "    origins any;\n"
        "    auth OFF;\n"
        "}\n"
        "route /chat/admin { upstream 127.0.0.1:9100; }\n",
        dir, keys, keys, keys);

    ok(c != NULL, "full config loads");
    if (!c) {
        printf("#   err: %s\n", err);
        return;
    }
    is_str(c->path, conf, "path kept");
    is_int(c->refs, 1, "one reference");
    is_int(c->nlistens, 3, "three listens");
    is_str(c->listens[0].addr.text, "127.0.0.1:8080", "listen text as written");
    is_int(c->listens[0].addr.ss.ss_family, AF_INET, "listen 0 is IPv4");
    is_int(ntohs(((struct sockaddr_in *)&c->listens[0].addr.ss)->sin_port), 8080, "listen 0 port");
    is_int(c->listens[0].addr.len, sizeof(struct sockaddr_in), "listen 0 socklen");
    is_int(c->listens[0].line, 2, "listen 0 line");
    is_int(c->listens[0].tls, 0, "no tls");
    is_int(c->listens[1].addr.ss.ss_family, AF_INET6, "listen 1 is IPv6");
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&c->listens[1].addr.ss)->sin6_addr, addr,
              sizeof(addr));
    is_str(addr, "::1", "listen 1 address");
    is_int(ntohs(((struct sockaddr_in6 *)&c->listens[1].addr.ss)->sin6_port), 8081, "listen 1 port");
    is_int(c->listens[1].addr.len, sizeof(struct sockaddr_in6), "listen 1 socklen");
    is_int(((struct sockaddr_in *)&c->listens[2].addr.ss)->sin_addr.s_addr, htonl(INADDR_ANY),
           "*:8082 is 0.0.0.0");
    is_str(c->listens[2].addr.text, "*:8082", "wildcard text as written");
    is_int(c->workers, 3, "workers");
    is_int(c->max_connections, 500, "max_connections");
    is_int(c->handshake_timeout_ms, 250, "handshake_timeout 250ms");
    is_int(c->upstream_connect_timeout_ms, 120000, "upstream_connect_timeout 2m");
    is_int(c->idle_timeout_ms, 3600000, "idle_timeout 1h");
    is_int(c->max_message_size, 65536, "max_message_size 64K");
    is_int(c->max_header_size, 32768, "max_header_size 32k");
    is_int(c->shutdown_timeout_ms, 7000, "bare number is seconds");
    is_int(c->access_log, LOGT_FILE, "access_log file");
    char want[PATH_MAX + 32];
    snprintf(want, sizeof(want), "%s/access.log", dir);
    is_str(c->access_log_path, want, "access_log path");
    is_int(c->access_log_json, 1, "access_log json");
    is_int(c->error_log, LOGT_STDERR, "error_log stderr");
    ok(c->error_log_path == NULL, "no error_log path");
    is_int(c->error_level, LOG_DEBUG, "error_log level debug");

    ok(c->keys != NULL, "key store");
    is_int(c->keys ? c->keys->nkeys : 0, 3, "three keys loaded");
    is_int(c->policy.algs, (1u << JWT_RS256) | (1u << JWT_ES256) | (1u << JWT_HS512), "algorithms");
    ok(c->policy.keys == c->keys, "policy points at the key store");
    is_str(c->issuer, "https://auth.example.com/", "issuer");
    ok(c->policy.issuer == c->issuer, "policy issuer");
    is_int(c->naudiences, 3, "audiences accumulate");
    is_str(c->audiences[0], "chat", "audience 0");
    is_str(c->audiences[1], "admin", "audience 1");
    is_str(c->audiences[2], "third aud", "audience 2, quoted with a space");
    ok(c->policy.audiences == c->audiences && c->policy.naudiences == 3, "policy audiences");
    is_int(c->policy.leeway, 2, "leeway 1500ms rounds up to 2s");
    is_int(c->nrequire_claims, 3, "require_claims");
    is_str(c->require_claims[2], "jti", "require_claims 2");
    ok(c->policy.require_claims == c->require_claims && c->policy.nrequire_claims == 3,
       "policy require_claims");
    is_int(c->nsources, 5, "token sources");
    is_int(c->sources[0].kind, TS_AUTHORIZATION, "header:authorization is the Bearer source");
    is_str(c->sources[0].name, "authorization", "its name as written");
    is_int(c->sources[1].kind, TS_HEADER, "header:X-Token");
    is_str(c->sources[1].name, "X-Token", "header name");
    is_int(c->sources[2].kind, TS_COOKIE, "cookie:at");
    is_str(c->sources[2].name, "at", "cookie name");
    is_int(c->sources[3].kind, TS_QUERY, "query:access_token");
    is_str(c->sources[3].name, "access_token", "query name");
    is_int(c->sources[4].kind, TS_SUBPROTOCOL, "subprotocol");
    ok(c->sources[4].name == NULL, "subprotocol has no name");
    is_int(c->on_expiry_close, 0, "on_expiry ignore");

    is_int(c->nroutes, 3, "three routes");
    is_str(c->routes[0].prefix, "/chat/admin", "sorted: longest first");
    is_str(c->routes[1].prefix, "/chat", "then /chat");
    is_str(c->routes[2].prefix, "/", "then /");
    const struct route *r = &c->routes[1];
    is_int(r->prefix_len, 5, "prefix_len");
    is_int(r->line, 28, "route line");
    is_int(r->nupstreams, 3, "upstreams accumulate");
    is_str(r->upstreams[1].text, "[::1]:9001", "upstream text");
    is_int(r->upstreams[1].ss.ss_family, AF_INET6, "IPv6 upstream");
    is_int(((struct sockaddr_in *)&r->upstreams[2].ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK),
           "localhost is 127.0.0.1");
    is_int(ntohs(((struct sockaddr_in *)&r->upstreams[2].ss)->sin_port), 9002, "localhost port");
    is_int(r->origins_any, 0, "no origins any");
    is_int(r->norigins, 3, "origins accumulate");
    is_str(r->origins[0], "https://app.example.com", "pattern normalised");
    is_str(r->origins[1], "https://*.example.com", "wildcard pattern");
    is_str(r->origins[2], "null", "null pattern");
    is_int(r->nrequire, 2, "require_claim");
    is_str(r->require[0].claim, "roles", "require_claim claim");
    is_str(r->require[1].value, "a b;c", "quoted value with space and ;");
    is_int(r->nidh, 2, "identity_header");
    is_str(r->idh[1].claim, "roles", "identity claim");
    is_str(r->idh[1].header, "X-Auth-Roles", "identity header");
    is_str(r->claims_header, "X-Auth-Claims", "claims_header");
    is_int(r->strip_credentials, 0, "strip_credentials off");
    is_int(r->auth, 1, "auth on");
    r = &c->routes[2];
    is_int(r->origins_any, 1, "origins any");
    is_int(r->auth, 0, "auth OFF (case-insensitive)");
    is_int(r->strip_credentials, 1, "strip_credentials default on");
    ok(r->claims_header == NULL, "claims_header default none");
    is_int(c->routes[0].norigins + c->routes[0].origins_any, 0, "origins default: none");

    ok(config_ref(c) == c, "config_ref returns the object");
    is_int(c->refs, 2, "two references");
    config_unref(c);
    is_int(c->refs, 1, "back to one");
    config_unref(c);
    ok(config_ref(NULL) == NULL, "config_ref(NULL)");
    config_unref(NULL);
}

static void test_defaults(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    struct config *c = load(MIN_LISTEN "route / { upstream 127.0.0.1:9000; }\n"
                            "jwt { key_file %s/rsa.pub; }\n", keys);

    ok(c != NULL, "minimal config loads");
    if (!c) {
        printf("#   err: %s\n", err);
        return;
    }
    is_int(c->workers, cpus < 1 ? 1 : cpus > 64 ? 64 : cpus, "workers default auto");
    is_int(c->max_connections, 10000, "max_connections default");
    is_int(c->handshake_timeout_ms, 10000, "handshake_timeout default");
    is_int(c->upstream_connect_timeout_ms, 5000, "upstream_connect_timeout default");
    is_int(c->idle_timeout_ms, 0, "idle_timeout default");
    is_int(c->shutdown_timeout_ms, 10000, "shutdown_timeout default");
    is_int(c->max_message_size, 1024 * 1024, "max_message_size default");
    is_int(c->max_header_size, 16 * 1024, "max_header_size default");
    is_int(c->access_log, LOGT_STDERR, "access_log default stderr");
    is_int(c->access_log_json, 0, "access_log default plain text");
    is_int(c->error_log, LOGT_STDERR, "error_log default stderr");
    is_int(c->error_level, LOG_INFO, "error_log default info");
    is_int(c->route_case_insensitive, 0, "route_case default sensitive");
    is_int(c->underscores_in_headers, 0, "underscores_in_headers default off");
    is_int(c->policy.algs, (1u << JWT_RS256) | (1u << JWT_ES256), "algorithms default RS256 ES256");
    ok(c->issuer == NULL && c->policy.issuer == NULL, "issuer default unchecked");
    is_int(c->naudiences, 0, "audience default none");
    is_int(c->policy.leeway, 0, "leeway default 0");
    is_int(c->nrequire_claims, 1, "require_claims default");
    is_str(c->nrequire_claims ? c->require_claims[0] : NULL, "exp", "require_claims default exp");
    is_int(c->nsources, 1, "token_sources default");
    is_int(c->sources[0].kind, TS_AUTHORIZATION, "token_sources default header:Authorization");
    is_str(c->sources[0].name, "Authorization", "its name");
    is_int(c->on_expiry_close, 1, "on_expiry default close");
    is_int(c->routes[0].auth, 1, "auth default on");
    is_int(c->routes[0].strip_credentials, 1, "strip_credentials default on");
    is_int(c->routes[0].reauth, 0, "reauth default off");
    is_int(c->routes[0].socketio_connect_timeout_ms, 10000, "socketio_connect_timeout default 10s");
    is_int(c->redis, 0, "no revocation store");
    is_str(c->redis_prefix, "wsgate:", "redis_prefix default in place");
    is_int(c->revocation_sweep_ms, 1000, "revocation_sweep default in place");
    is_int(c->redis_failure_allow, 0, "redis_failure default reject");
    is_int(c->redis_timeout_ms, 500, "redis_timeout default 500ms");
    config_unref(c);

    c = load(MIN_LISTEN MIN_ROUTE "redis 127.0.0.1:6390;\nredis_prefix \"gw1:\";\n"
             "redis_failure allow;\nredis_timeout 250ms;\nrevocation_sweep 2s;\n");
    ok(c && c->redis && c->redis_host && strcmp(c->redis_host, "127.0.0.1") == 0 &&
       c->redis_port == 6390, "redis host:port");
    ok(c && strcmp(c->redis_prefix, "gw1:") == 0 && c->redis_failure_allow &&
       c->redis_timeout_ms == 250 && c->revocation_sweep_ms == 2000, "redis settings");
    config_unref(c);
    c = load(MIN_LISTEN MIN_ROUTE "redis unix:/run/redis.sock;\n");
    ok(c && c->redis && c->redis_unix && strcmp(c->redis_unix, "/run/redis.sock") == 0 &&
       !c->redis_host, "redis unix:PATH");
    config_unref(c);

    /* The redis directive once freed status_listen's address text. */
    c = load(MIN_LISTEN MIN_ROUTE "status_listen 127.0.0.1:9090;\nredis 127.0.0.1:6390;\n");
    ok(c && c->status_listen && c->status_addr.text &&
       strcmp(c->status_addr.text, "127.0.0.1:9090") == 0 && c->redis_port == 6390,
       "status_listen before redis: both addresses intact");
    config_unref(c);

    c = load(MIN_LISTEN MIN_ROUTE "jwt { hmac_secret_file %s/hmac.secret; }\n", keys);
    ok(c && c->policy.algs == ((1u << JWT_RS256) | (1u << JWT_ES256) | (1u << JWT_HS256)),
       "HS256 joins the default when a secret is loaded");
    config_unref(c);

    c = load(MIN_LISTEN MIN_ROUTE);
    ok(c != NULL, "no jwt block and no keys: fine when no route needs auth");
    ok(c && c->keys && c->keys->nkeys == 0, "empty key store");
    ok(c && c->policy.keys == c->keys, "policy still has a key store");
    config_unref(c);

    c = load(MIN_LISTEN MIN_ROUTE "workers auto; access_log off; error_log %s/e.log;\n"
             "jwt { require_claims none; leeway 0; }\n", dir);
    ok(c != NULL, "workers auto, access_log off, require_claims none");
    if (c) {
        is_int(c->workers, cpus < 1 ? 1 : cpus > 64 ? 64 : cpus, "workers auto");
        is_int(c->access_log, LOGT_OFF, "access_log off");
        is_int(c->error_log, LOGT_FILE, "error_log file");
        is_int(c->error_level, LOG_INFO, "error_log level defaults to info");
        is_int(c->nrequire_claims, 0, "require_claims none empties the list");
    }
    config_unref(c);

    c = load("listen 8080; route \"/a b\\\"c\\\\\" { upstream 127.0.0.1:1; auth off; }\n"
             "route /x#y { upstream 127.0.0.1:1; auth off; }#comment\n");
    ok(c == NULL, "a route prefix with a space is refused");
    config_unref(c);
    c = load("listen 8080;route /x{upstream 127.0.0.1:1;auth off;}#c\njwt{issuer a#b;}#c\n"
             "route \"/q\\\"\" { upstream 127.0.0.1:1; auth off; require_claim r \"b\\\\s\"; }");
    ok(c != NULL, "tight syntax, '#' inside a word, escapes, no trailing newline");
    if (!c)
        printf("#   err: %s\n", err);
    if (c) {
        is_int(((struct sockaddr_in *)&c->listens[0].addr.ss)->sin_addr.s_addr,
               htonl(INADDR_ANY), "bare port listens on 0.0.0.0");
        is_str(c->routes[0].prefix, "/q\"", "escaped quote in a quoted string");
        is_str(c->routes[0].nrequire ? c->routes[0].require[0].value : NULL, "b\\s",
               "escaped backslash in a quoted string");
        is_str(c->routes[1].prefix, "/x", "route");
        is_str(c->issuer, "a#b", "'#' inside a word is not a comment");
    }
    config_unref(c);
}

static void test_errors(void)
{
    char want[sizeof(conf) + sizeof(keys) + 256];
    struct config *c;

    c = config_load("/nonexistent/wsgate.conf", err, sizeof(err));
    is_err(c == NULL, 1, err, "/nonexistent/wsgate.conf: cannot open: No such file or directory",
           "missing file refused");
    c = config_load(dir, err, sizeof(err));
    snprintf(want, sizeof(want), "%s: cannot open: Is a directory", dir);
    is_err(c == NULL, 1, err, want, "directory refused");
    config_unref(c);

    /* Grammar */
    BAD("route_case value", "1: invalid value \"yes\" for \"route_case\": it must be "
        "\"sensitive\" or \"insensitive\"", "route_case yes;\n" MIN_LISTEN MIN_ROUTE);
    BAD("route_case in a route", "2: \"route_case\" is not allowed in the route context",
        MIN_LISTEN "route / { route_case insensitive; upstream 127.0.0.1:9000; auth off; }\n");
    BAD("routes equal but for case under route_case insensitive",
        "4: duplicate route \"/Admin\" under route_case insensitive (first on line 3)",
        MIN_LISTEN MIN_ROUTE "route /admin { upstream 127.0.0.1:9000; auth off; }\n"
        "route /Admin { upstream 127.0.0.1:9000; auth off; }\nroute_case insensitive;\n");
    BAD("underscores_in_headers value", "1: invalid value \"yes\" for \"underscores_in_headers\": "
        "it must be \"on\" or \"off\"", "underscores_in_headers yes;\n" MIN_LISTEN MIN_ROUTE);
    BAD("route prefix not normalised: escape", "2: route prefix \"/%61dmin\" is not a normalised "
        "path (requests are matched on \"/admin\")",
        MIN_LISTEN "route /%%61dmin { upstream 127.0.0.1:9000; auth off; }\n");
    BAD("route prefix not normalised: dot segment", "2: route prefix \"/a/../b\" is not a "
        "normalised path (requests are matched on \"/b\")",
        MIN_LISTEN "route /a/../b { upstream 127.0.0.1:9000; auth off; }\n");
    BAD("route prefix not normalised: double slash", "2: route prefix \"//a\" is not a "
        "normalised path (requests are matched on \"/a\")",
        MIN_LISTEN "route //a { upstream 127.0.0.1:9000; auth off; }\n");
    BAD("route prefix not normalised: lower-case hex", "2: route prefix \"/caf%c3%a9\" is not a "
        "normalised path (requests are matched on \"/caf%C3%A9\")",
        MIN_LISTEN "route /caf%%c3%%a9 { upstream 127.0.0.1:9000; auth off; }\n");
    BAD("route prefix with an encoded slash", "2: route prefix \"/a%2Fb\": encoded slash or "
        "backslash in path", MIN_LISTEN "route /a%%2Fb { upstream 127.0.0.1:9000; auth off; }\n");
    BAD("route prefix with a backslash", "2: route prefix \"/a\\b\": backslash in path",
        MIN_LISTEN "route \"/a\\\\b\" { upstream 127.0.0.1:9000; auth off; }\n");
    BAD("unknown directive", "2: unknown directive \"lisen\"",
        MIN_LISTEN "lisen 1;\n" MIN_ROUTE);
    BAD("bad status_listen", "1: status_listen \"nohost\": missing port",
        "status_listen nohost;\n" MIN_LISTEN MIN_ROUTE);
    BAD("redis_failure value", "1: invalid value \"maybe\" for \"redis_failure\": it must be "
        "\"reject\" or \"allow\"", "redis_failure maybe;\n" MIN_LISTEN MIN_ROUTE);
    BAD("redis unix path", "1: redis \"unix:rel\": unix: needs an absolute path",
        "redis unix:rel;\n" MIN_LISTEN MIN_ROUTE);
    BAD("redis sentinel without master", "1: redis \"sentinel://127.0.0.1:26379\": expected "
        "sentinel://HOST:PORT[,HOST:PORT...]/MASTER",
        "redis sentinel://127.0.0.1:26379;\n" MIN_LISTEN MIN_ROUTE);
    BAD("redis sentinel empty master", "1: redis \"sentinel://127.0.0.1:26379/\": expected "
        "sentinel://HOST:PORT[,HOST:PORT...]/MASTER", "redis sentinel://127.0.0.1:26379/;\n" MIN_LISTEN MIN_ROUTE);
    BAD("redis sentinel bad address", "1: redis sentinel \"sentinel.local:26379\": only numeric "
        "addresses are supported", "redis sentinel://sentinel.local:26379/m;\n" MIN_LISTEN MIN_ROUTE);
    BAD("redis sentinel empty entry", "1: redis \"sentinel://127.0.0.1:1,/m\": empty sentinel address", "redis sentinel://127.0.0.1:1,/m;\n" MIN_LISTEN MIN_ROUTE);
    BAD("real_ip_header not a name", "1: real_ip_header \"X Real\": not a header name",
        "real_ip_header \"X Real\";\n" MIN_LISTEN MIN_ROUTE);
    BAD("real_ip_from host bits", "1: real_ip_from \"10.0.0.1/8\": address has bits set beyond "
        "the prefix length", "real_ip_from 10.0.0.1/8;\n" MIN_LISTEN MIN_ROUTE);
    BAD("unknown in a block", "4: unknown directive \"jwks_uri\"",
        MIN_LISTEN MIN_ROUTE "jwt {\n jwks_uri x; }\n");
    BAD("arity 1", "1: \"handshake_timeout\" takes 1 argument",
        "handshake_timeout 1 2;\n" MIN_LISTEN MIN_ROUTE);
    BAD("arity 1 to 3", "1: \"listen\" takes 1 to 3 arguments", "listen;\n" MIN_ROUTE);
    BAD("listen flag twice", "1: invalid parameter \"tls\" for \"listen\"",
        "listen 127.0.0.1:1 tls tls;\n" MIN_ROUTE);
    BAD("arity at least 1", "2: \"upstream\" takes at least 1 argument",
        MIN_LISTEN "route / { upstream; }\n");
    BAD("arity 2", "3: \"require_claim\" takes 2 arguments",
        MIN_LISTEN "route / {\n require_claim roles; upstream 127.0.0.1:1; }\n");
    BAD("block without args", "1: \"jwt\" takes no arguments", "jwt x { }\n" MIN_LISTEN MIN_ROUTE);
    BAD("block missing", "1: \"jwt\" must be followed by a block { ... }",
        "jwt;\n" MIN_LISTEN MIN_ROUTE);
    BAD("block where none belongs", "1: \"listen\" does not take a block; missing \";\"?",
        "listen 127.0.0.1:80 { }\n" MIN_ROUTE);
    BAD("wrong context main", "2: \"upstream\" is not allowed in the main context",
        MIN_LISTEN "upstream 127.0.0.1:9000;\n" MIN_ROUTE);
    BAD("wrong context route", "3: \"listen\" is not allowed in the route context",
        MIN_LISTEN "route / { upstream 127.0.0.1:1;\n listen 127.0.0.1:2; }\n");
    BAD("wrong context jwt", "4: \"route\" is not allowed in the jwt context",
        MIN_LISTEN "jwt {\n\n route /x { upstream 127.0.0.1:1; }\n}\n" MIN_ROUTE);
    BAD("key_file in main", "1: \"key_file\" is not allowed in the main context",
        "key_file x;\n" MIN_LISTEN MIN_ROUTE);
    BAD("unterminated block", "5: unexpected end of file, expecting \"}\"",
        MIN_LISTEN "route / {\n upstream 127.0.0.1:1;\n auth off;\n");
    BAD("missing semicolon at eof", "2: unexpected end of file, expecting \";\" or \"}\"",
        MIN_ROUTE "listen 127.0.0.1:80");
    BAD("missing semicolon before }", "2: unexpected \"}\"",
        MIN_LISTEN "route / { upstream 127.0.0.1:1 }\n" MIN_ROUTE);
    BAD("stray }", "2: unexpected \"}\"", MIN_LISTEN "}\n" MIN_ROUTE);
    BAD("stray ;", "2: unexpected \";\"", MIN_LISTEN ";\n" MIN_ROUTE);
    BAD("stray {", "2: unexpected \"{\"", MIN_LISTEN "{ }\n" MIN_ROUTE);
    BAD("unterminated string", "3: unterminated string",
        MIN_LISTEN MIN_ROUTE "jwt { issuer \"abc;\n}\n\n");
    BAD("bad escape", "2: invalid escape \"\\n\" in string (only \\\" and \\\\)",
        MIN_LISTEN "jwt { issuer \"a\\n\"; }\n" MIN_ROUTE);
    BAD("quote inside a word", "2: unexpected '\"' inside a word (quote the whole argument)",
        MIN_LISTEN "jwt { issuer ab\"c\"; }\n" MIN_ROUTE);
    BAD("text glued to a quoted string", "2: unexpected character after a quoted string",
        MIN_LISTEN "jwt { issuer \"ab\"c; }\n" MIN_ROUTE);
    BAD("control character", "2: invalid character 0x01",
        MIN_LISTEN "jwt { issuer a\001; }\n" MIN_ROUTE);
    BAD("duplicate single-valued", "3: duplicate \"handshake_timeout\" (first on line 2)",
        MIN_LISTEN "handshake_timeout 1s;\nhandshake_timeout 2s;\n" MIN_ROUTE);
    BAD("duplicate jwt", "3: duplicate \"jwt\" (first on line 2)",
        MIN_LISTEN "jwt { }\njwt { }\n" MIN_ROUTE);
    BAD("duplicate in a route", "4: duplicate \"auth\" (first on line 3)",
        MIN_LISTEN "route / { upstream 127.0.0.1:1;\n auth off;\n auth off; }\n");

    /* Values */
    BAD("bad duration", "2: invalid duration \"10x\"",
        MIN_LISTEN "handshake_timeout 10x;\n" MIN_ROUTE);
    BAD("duration upper-case unit", "1: invalid duration \"10S\"",
        "idle_timeout 10S;\n" MIN_LISTEN MIN_ROUTE);
    BAD("duration fraction", "1: invalid duration \"1.5s\"", "idle_timeout 1.5s;\n" MIN_LISTEN MIN_ROUTE);
    BAD("duration negative", "1: invalid duration \"-1\"", "idle_timeout -1;\n" MIN_LISTEN MIN_ROUTE);
    BAD("duration empty", "1: invalid duration \"\"", "idle_timeout \"\";\n" MIN_LISTEN MIN_ROUTE);
    BAD("duration overflow", "1: invalid duration \"99999999999999999999h\"",
        "idle_timeout 99999999999999999999h;\n" MIN_LISTEN MIN_ROUTE);
    BAD("duration zero where not allowed", "1: \"handshake_timeout\" must be between 1ms and 720h",
        "handshake_timeout 0;\n" MIN_LISTEN MIN_ROUTE);
    BAD("bad size", "1: invalid size \"1q\"", "max_message_size 1q;\n" MIN_LISTEN MIN_ROUTE);
    BAD("size with space suffix", "1: invalid size \"k\"", "max_message_size k;\n" MIN_LISTEN MIN_ROUTE);
    BAD("size range", "1: \"max_header_size\" must be between 1k and 1m",
        "max_header_size 512;\n" MIN_LISTEN MIN_ROUTE);
    BAD("size range top", "1: \"max_header_size\" must be between 1k and 1m",
        "max_header_size 2m;\n" MIN_LISTEN MIN_ROUTE);
    BAD("bad number", "1: invalid number \"lots\"", "max_connections lots;\n" MIN_LISTEN MIN_ROUTE);
    BAD("number range", "1: \"max_connections\" must be between 1 and 10000000",
        "max_connections 0;\n" MIN_LISTEN MIN_ROUTE);
    BAD("workers range", "1: \"workers\" must be between 1 and 64", "workers 65;\n" MIN_LISTEN MIN_ROUTE);
    BAD("workers bad", "1: invalid number \"many\" (or \"auto\")", "workers many;\n" MIN_LISTEN MIN_ROUTE);
    BAD("bad flag", "3: invalid value \"yes\" for \"auth\": it must be \"on\" or \"off\"",
        MIN_LISTEN "route / { upstream 127.0.0.1:1;\n auth yes; }\n");
    BAD("access_log bad parameter", "1: invalid parameter \"xml\" for \"access_log\" (only \"json\")",
        "access_log stderr xml;\n" MIN_LISTEN MIN_ROUTE);
    BAD("access_log off json", "1: \"json\" makes no sense with \"access_log off\"",
        "access_log off json;\n" MIN_LISTEN MIN_ROUTE);
    BAD("error_log level", "1: invalid level \"loud\" (error, warn, notice, info or debug)",
        "error_log stderr loud;\n" MIN_LISTEN MIN_ROUTE);
    BAD("error_log off", "1: \"error_log\" cannot be off; use a level such as \"error\"",
        "error_log off;\n" MIN_LISTEN MIN_ROUTE);
    BAD("on_expiry", "2: invalid value \"later\" for \"on_expiry\": it must be \"close\" or \"ignore\"",
        MIN_LISTEN "jwt { on_expiry later; }\n" MIN_ROUTE);
    BAD("empty issuer", "2: \"issuer\" must not be empty",
        MIN_LISTEN "jwt { issuer \"\"; }\n" MIN_ROUTE);

    /* listen and upstream addresses */
    BAD("listen hostname", "1: listen \"example.com:80\": only numeric addresses are supported",
        "listen example.com:80;\n" MIN_ROUTE);
    BAD("listen missing port", "1: listen \"127.0.0.1\": missing port", "listen 127.0.0.1;\n" MIN_ROUTE);
    BAD("listen bad port", "1: listen \"127.0.0.1:70000\": invalid port",
        "listen 127.0.0.1:70000;\n" MIN_ROUTE);
    BAD("listen port 0", "1: listen \"127.0.0.1:0\": invalid port", "listen 127.0.0.1:0;\n" MIN_ROUTE);
    BAD("listen bare IPv6", "1: listen \"::1:80\": IPv6 addresses go in brackets, as in [::1]:8080",
        "listen ::1:80;\n" MIN_ROUTE);
    BAD("listen bad IPv6", "1: listen \"[::g]:80\": invalid IPv6 address", "listen [::g]:80;\n" MIN_ROUTE);
    BAD("listen IPv6 no port", "1: listen \"[::1]\": missing port", "listen [::1];\n" MIN_ROUTE);
    BAD("listen bad IPv4", "1: listen \"1.2.3:80\": only numeric addresses are supported",
        "listen 1.2.3:80;\n" MIN_ROUTE);
    BAD("listen tls without a certificate",
        "1: \"tls\" listener 127.0.0.1:443 needs \"tls_certificate\" and \"tls_certificate_key\"",
        "listen 127.0.0.1:443 tls;\n" MIN_ROUTE);
    BAD("listen other flag", "1: invalid parameter \"ssl\" for \"listen\"",
        "listen 127.0.0.1:443 ssl;\n" MIN_ROUTE);
    BAD("listen duplicate", "2: duplicate listen \"*:80\" (first on line 1)",
        "listen 0.0.0.0:80;\nlisten *:80;\n" MIN_ROUTE);
    BAD("upstream hostname", "3: upstream \"name:80\": only numeric addresses are supported",
        MIN_LISTEN "route / {\n upstream 127.0.0.1:1 name:80; }\n");
    BAD("upstream wildcard", "2: upstream \"*:80\": \"*\" is only allowed in listen",
        MIN_LISTEN "route / { upstream *:80; }\n");
    BAD("upstream tls without port", "2: upstream \"tls://10.0.0.1\": missing port",
        MIN_LISTEN "route / { upstream tls://10.0.0.1; auth off; }\n");
    BAD("upstream scheme", "2: upstream \"http://10.0.0.1:80\": no scheme allowed, write host:port",
        MIN_LISTEN "route / { upstream http://10.0.0.1:80; }\n");

    /* Routes */
    BAD("route without upstream", "2: route \"/x\" has no \"upstream\"",
        MIN_LISTEN "route /x {\n auth off;\n}\n");
    BAD("duplicate route", "3: duplicate route \"/a\" (first on line 2)",
        MIN_LISTEN "route /a { upstream 127.0.0.1:1; auth off; }\nroute /a { upstream 127.0.0.1:2; }\n");
    BAD("route prefix without /", "2: route prefix \"chat\" must start with \"/\"",
        MIN_LISTEN "route chat { upstream 127.0.0.1:1; }\n");
    BAD("route prefix with ?", "2: route prefix \"/a?b\" has a character no path can hold",
        MIN_LISTEN "route /a?b { upstream 127.0.0.1:1; }\n");
    BAD("bad origin pattern",
        "3: bad origin pattern \"http://a.com/\": path not allowed (not even a trailing slash)",
        MIN_LISTEN "route / { upstream 127.0.0.1:1; auth off;\n origins http://a.com/; }\n");
    BAD("origin scheme", "1: bad origin pattern \"*\": scheme must be http or https",
        "route / { origins *; upstream 127.0.0.1:1; auth off; }\n" MIN_LISTEN);
    BAD("origins any mixed", "4: \"origins any\" cannot be combined with origin patterns",
        MIN_LISTEN "route / { upstream 127.0.0.1:1; auth off;\n origins https://a.com;\n origins any; }\n");
    BAD("identity header name", "1: invalid header name \"X Auth\"",
        "route / { upstream 127.0.0.1:1; auth off; identity_header sub \"X Auth\"; }\n" MIN_LISTEN);
    BAD("identity header X-Real-IP", "3: header \"x-real-ip\" is reserved and cannot be injected",
        MIN_LISTEN "route / { upstream 127.0.0.1:9000; auth off;\n identity_header sub x-real-ip; }\n");
    BAD("identity header reserved", "1: header \"Host\" is reserved and cannot be injected",
        "route / { upstream 127.0.0.1:1; auth off; identity_header sub Host; }\n" MIN_LISTEN);
    BAD("identity header websocket", "1: header \"sec-websocket-key\" is reserved and cannot be injected",
        "route / { upstream 127.0.0.1:1; auth off; claims_header sec-websocket-key; }\n" MIN_LISTEN);
    BAD("identity header twice", "2: header \"x-a\" is already injected",
        "route / { upstream 127.0.0.1:1; auth off; identity_header sub X-A;\n"
        " identity_header jti x-a; }\n" MIN_LISTEN);
    BAD("claims header clash", "2: header \"X-A\" is already injected",
        "route / { upstream 127.0.0.1:1; auth off; claims_header X-A;\n"
        " identity_header jti X-A; }\n" MIN_LISTEN);

    /* jwt */
    snprintf(want, sizeof(want), "2: key_file: %s/nope.pub: No such file or directory", keys);
    BAD("missing key_file", want, MIN_LISTEN "jwt { key_file %s/nope.pub; }\n" MIN_ROUTE, keys);
    snprintf(want, sizeof(want), "4: hmac_secret_file: %s/nope.secret: No such file or directory", keys);
    BAD("missing hmac_secret_file", want,
        MIN_LISTEN "jwt {\n\n hmac_secret_file %s/nope.secret; }\n" MIN_ROUTE, keys);
    c = load(MIN_LISTEN "jwt { key_file %s/bad-withpriv.pem; }\n" MIN_ROUTE, keys);
    snprintf(want, sizeof(want), "%s:2: key_file: %s/bad-withpriv.pem", conf, keys);
    ok(c == NULL && strncmp(err, want, strlen(want)) == 0, "bad key file: keys' reason after the path");
    config_unref(c);
    BAD("algorithms none", "2: \"none\" can never be allowed",
        MIN_LISTEN "jwt { algorithms RS256 none; }\n" MIN_ROUTE);
    BAD("algorithms NONE", "2: \"none\" can never be allowed",
        MIN_LISTEN "jwt { algorithms NONE; }\n" MIN_ROUTE);
    BAD("algorithms unknown", "2: unknown algorithm \"PS257\"",
        MIN_LISTEN "jwt { algorithms PS257; }\n" MIN_ROUTE);
    BAD("algorithms: EdDSA is case-sensitive", "2: unknown algorithm \"EDDSA\"",
        MIN_LISTEN "jwt { algorithms EDDSA; }\n" MIN_ROUTE);
    BAD("algorithms lower-case", "2: unknown algorithm \"rs256\"",
        MIN_LISTEN "jwt { algorithms rs256; }\n" MIN_ROUTE);
    c = load(MIN_LISTEN "jwt { token_sources header:Authorization graphql_ws; }\n"
             "route / {\n    upstream 127.0.0.1:9;\n    auth off;\n    reauth on;\n    socketio_connect_timeout 2500ms;\n}\n");
    ok(c != NULL, "reauth, socketio_connect_timeout and the graphql_ws source load");
    if (c) {
        is_int(c->nsources, 2, "two token sources");
        is_int(c->sources[1].kind, TS_GRAPHQL_WS, "graphql_ws source");
        is_int(c->routes[0].reauth, 1, "reauth on");
        is_int(c->routes[0].socketio_connect_timeout_ms, 2500, "socketio_connect_timeout 2500ms");
        config_unref(c);
    }
    BAD("bad token source", "2: invalid token source \"foo:bar\": expected header:NAME, cookie:NAME, "
        "query:NAME, subprotocol or graphql_ws",
        MIN_LISTEN "jwt { token_sources header:Authorization foo:bar; }\n" MIN_ROUTE);
    BAD("token source empty name", "2: invalid token source \"cookie:\": empty name",
        MIN_LISTEN "jwt { token_sources cookie:; }\n" MIN_ROUTE);
    BAD("token source bad header", "2: invalid token source \"header:X(Y)\": bad character in name",
        MIN_LISTEN "jwt { token_sources header:X(Y); }\n" MIN_ROUTE);
    BAD("token source bad query", "2: invalid token source \"query:a&b\": bad character in name",
        MIN_LISTEN "jwt { token_sources query:a&b; }\n" MIN_ROUTE);
    BAD("token source duplicate", "2: duplicate token source \"header:authorization\"",
        MIN_LISTEN "jwt { token_sources header:Authorization header:authorization; }\n" MIN_ROUTE);

    /* Whole-file checks */
    BAD("no listen", " no \"listen\" directive", MIN_ROUTE);
    BAD("no route", " no \"route\" block", MIN_LISTEN);
    BAD("empty file", " no \"listen\" directive", "# nothing\n");
    BAD("auth on without keys",
        "3: no keys configured (key_file, hmac_secret_file, jwks_url) but route \"/b\" requires auth",
        MIN_LISTEN "route /a { upstream 127.0.0.1:1; auth off; }\nroute /b { upstream 127.0.0.1:2; }\n");
    BAD("no key for any allowed algorithm", "3: no loaded key can verify any allowed algorithm (HS256 ES256)",
        MIN_LISTEN "jwt { key_file %s/rsa.pub;\n"
        " algorithms HS256 ES256; }\nroute / { upstream 127.0.0.1:1; }\n", keys);
    BAD("default algorithms vs EC P-384 key", "2: no loaded key can verify any allowed algorithm (RS256 ES256)",
        MIN_LISTEN "jwt { key_file %s/ec384.pub; }\nroute / { upstream 127.0.0.1:1; }\n", keys);
    c = load(MIN_LISTEN "jwt { key_file %s/rsa.pub;\n algorithms RS256 ES384; }\n"
             "route / { upstream 127.0.0.1:1; }\n", keys);
    ok(c != NULL, "one usable algorithm is enough");
    config_unref(c);

    /* oidc_discovery (SPEC §14) */
    BAD("oidc_discovery over http", "2: oidc_discovery \"http://idp.test/x\": only https:// URLs are allowed: keys must come over verified TLS",
        MIN_LISTEN "jwt { oidc_discovery http://idp.test/x; issuer i; }\n" MIN_ROUTE);
    BAD("oidc_discovery without issuer", "2: oidc_discovery needs issuer: the discovery document is only taken when its issuer equals it",
        MIN_LISTEN "jwt { oidc_discovery https://idp.test/.well-known/openid-configuration; }\n" MIN_ROUTE);
    BAD("oidc_discovery with jwks_url", "2: oidc_discovery and jwks_url exclude each other (the discovery document names the jwks_uri)",
        MIN_LISTEN "jwt { oidc_discovery https://idp.test/d; jwks_url https://idp.test/k; issuer i; }\n"
        MIN_ROUTE);
    c = load(MIN_LISTEN "jwt { oidc_discovery https://idp.test/.well-known/openid-configuration;\n"
             " issuer \"https://idp.test/\"; algorithms EdDSA PS256; }\nroute / { upstream 127.0.0.1:1; }\n");
    ok(c != NULL && c->oidc_discovery && !c->jwks_url &&
       !strcmp(c->oidc_discovery, "https://idp.test/.well-known/openid-configuration"),
       "oidc_discovery with issuer: a route may need auth without a local key");
    config_unref(c);

    c = load("listen 127.0.0.1:1;\nlisen 1;\n");
    ok(c == NULL && config_load(conf, NULL, 0) == NULL, "a NULL err buffer is accepted");
}

static void test_parse_addr(void)
{
    struct sockaddr_text a;

    memset(&a, 0, sizeof(a));
    is_int(config_parse_addr("127.0.0.1:9000", &a, err, sizeof(err)), 0, "parse_addr IPv4");
    is_str(a.text, "127.0.0.1:9000", "parse_addr text");
    free(a.text);
    is_int(config_parse_addr("[2001:db8::1]:443", &a, err, sizeof(err)), 0, "parse_addr IPv6");
    is_int(a.ss.ss_family, AF_INET6, "parse_addr IPv6 family");
    free(a.text);
    is_int(config_parse_addr("localhost:80", &a, err, sizeof(err)), 0, "parse_addr localhost");
    free(a.text);
    is_err(config_parse_addr("db.internal:5432", &a, err, sizeof(err)), -1, err,
           "\"db.internal:5432\": only numeric addresses are supported", "parse_addr name");
    is_int(config_parse_addr("*:80", &a, err, sizeof(err)), -1, "parse_addr wildcard");
    is_err(config_parse_addr("8080", &a, err, sizeof(err)), -1, err, "\"8080\": missing port",
           "parse_addr bare port");
    is_err(config_parse_addr("1.2.3.4:", &a, err, sizeof(err)), -1, err, "\"1.2.3.4:\": invalid port",
           "parse_addr empty port");
    is_err(config_parse_addr(":80", &a, err, sizeof(err)), -1, err, "\":80\": missing host",
           "parse_addr empty host");
    is_int(config_parse_addr("[::1]x", &a, err, sizeof(err)), -1, "parse_addr junk after ]");
}

static void test_shipped(void)
{
    const char *src = getenv("WSGATE_SRCDIR");
    char cwd[PATH_MAX];
    struct config *c;

    /* Its key paths are relative to the source tree, as in the README. */
    if (!getcwd(cwd, sizeof(cwd)) || chdir(src && *src ? src : ".") < 0) {
        ok(0, "cannot enter the source tree");
        return;
    }
    c = config_load("conf/wsgate.conf", err, sizeof(err));
    ok(c != NULL, "shipped conf/wsgate.conf loads");
    if (!c)
        printf("#   err: %s\n", err);
    if (c) {
        is_int(c->nlistens, 1, "shipped: one listen");
        is_int(c->nroutes, 1, "shipped: one route");
        ok(c->keys->nkeys >= 2, "shipped: demo keys loaded");
        is_int(c->nsources, 4, "shipped: four token sources");
        is_int(c->routes[0].nupstreams, 2, "shipped: two upstreams");
        is_int(c->routes[0].auth, 1, "shipped: auth on");
    }
    config_unref(c);
    if (chdir(cwd) < 0)
        ok(0, "cannot return to %s", cwd);
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = 0;

    buf[0] = '\0';
    if (f) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

static void test_log(void)
{
    char elog[PATH_MAX + 16], alog[PATH_MAX + 16], rotated[PATH_MAX + 16];
    const char *s;

    is_int(log_level_from_name("error"), LOG_ERR, "level error");
    is_int(log_level_from_name("warn"), LOG_WARNING, "level warn");
    is_int(log_level_from_name("notice"), LOG_NOTICE, "level notice");
    is_int(log_level_from_name("info"), LOG_INFO, "level info");
    is_int(log_level_from_name("debug"), LOG_DEBUG, "level debug");
    is_int(log_level_from_name("warning"), -1, "level warning unknown");
    is_int(log_level_from_name(NULL), -1, "level NULL");
    is_int(log_level, LOG_INFO, "default level info");

    snprintf(elog, sizeof(elog), "%s/error.log", dir);
    snprintf(alog, sizeof(alog), "%s/access.log", dir);
    snprintf(rotated, sizeof(rotated), "%s/error.log.1", dir);
    is_int(log_open(elog, err, sizeof(err)), 0, "log_open file");
    log_info("hello %d", 42);
    log_debug("not shown at info");
    log_warn("line\nbreak");
    s = slurp(elog);
    ok(strlen(s) > 25 && s[4] == '-' && s[10] == 'T' && s[19] == '.' && s[23] == 'Z' && s[24] == ' ',
       "timestamp shape: %.24s", s);
    ok(strstr(s, "Z info hello 42\n") != NULL, "info line");
    ok(strstr(s, "debug") == NULL, "debug filtered at info");
    ok(strstr(s, "Z warn line?break\n") != NULL, "newline in a message neutralised");

    /* Rotation: rename, reopen, new lines land in a new file. */
    is_int(rename(elog, rotated), 0, "rotate error log");
    log_reopen();
    log_err("after reopen");
    ok(strstr(slurp(elog), "Z error after reopen\n") != NULL, "reopen writes to the new file");
    ok(strstr(slurp(rotated), "after reopen") == NULL, "and not to the rotated one");
    is_err(log_open("/nonexistent/dir/e.log", err, sizeof(err)), -1, err,
           "/nonexistent/dir/e.log: No such file or directory", "log_open bad path");
    log_err("still here");
    ok(strstr(slurp(elog), "still here") != NULL, "a failed open keeps the old log");

    is_int(log_access_open(LOGT_FILE, alog, err, sizeof(err)), 0, "log_access_open file");
    log_access_line("{\"a\":1}\n", 8);
    log_access_line("plain", 5);
    is_str(slurp(alog), "{\"a\":1}\nplain\n", "access lines, newline added when missing");
    is_int(log_access_open(LOGT_OFF, NULL, err, sizeof(err)), 0, "access log off");
    log_access_line("dropped\n", 8);
    is_str(slurp(alog), "{\"a\":1}\nplain\n", "off writes nothing");
    is_int(log_access_open(LOGT_FILE, alog, err, sizeof(err)), 0, "access log back on");
    log_access_line("again\n", 6);
    is_str(slurp(alog), "{\"a\":1}\nplain\nagain\n", "appends");
    is_int(log_access_open(LOGT_FILE, NULL, err, sizeof(err)), -1, "file kind needs a path");
    is_int(log_open(NULL, err, sizeof(err)), 0, "error log back to stderr");
    is_int(log_access_open(LOGT_STDERR, NULL, err, sizeof(err)), 0, "access log back to stderr");
    unlink(elog);
    unlink(rotated);
    unlink(alog);
}

int main(void)
{
    const char *data = getenv("WSGATE_UNIT_DATA");
    const char *tmp = getenv("TMPDIR");

    snprintf(keys, sizeof(keys), "%s/keys", data && *data ? data : "t");
    snprintf(dir, sizeof(dir), "%s/wsgate-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(conf, sizeof(conf), "%s/test.conf", dir);

    test_full();
    test_defaults();
    test_errors();
    test_parse_addr();
    test_log();
    test_shipped();

    unlink(conf);
    rmdir(dir);
    return tap_done();
}
