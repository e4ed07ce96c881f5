/* Routing: longest path prefix wins, plain string prefixes as nginx's
 * prefix locations ("/chatroom" is under "/chat"), NULL when nothing fits. */
#include "tap.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[PATH_MAX], conf[PATH_MAX + 32], err[1024];

static struct config *load(const char *text)
{
    FILE *f = fopen(conf, "w");

    if (!f) {
        printf("Bail out! cannot write %s\n", conf);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    struct config *c = config_load(conf, err, sizeof(err));
    if (!c)
        printf("#   err: %s\n", err);
    return c;
}

static void route_is(const struct config *c, const char *path, const char *want)
{
    const struct route *r = config_route(c, path, strlen(path));
    is_str(r ? r->prefix : NULL, want, "%s -> %s", path, want ? want : "no route");
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    struct config *c;

    snprintf(dir, sizeof(dir), "%s/wsgate-route-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(conf, sizeof(conf), "%s/route.conf", dir);

    /* Declared shortest first on purpose: order in the file must not matter. */
    c = load("listen 127.0.0.1:8080;\n"
             "route / { upstream 127.0.0.1:9000; auth off; }\n"
             "route /chat { upstream 127.0.0.1:9001; auth off; }\n"
             "route /chat/admin { upstream 127.0.0.1:9002; auth off; }\n"
             "route /api/ { upstream 127.0.0.1:9003; auth off; }\n");
    ok(c != NULL, "three-route config loads");
    if (c) {
        is_int(c->nroutes, 4, "four routes");
        for (size_t i = 1; i < c->nroutes; i++)
            ok(c->routes[i - 1].prefix_len >= c->routes[i].prefix_len,
               "routes[%zu] no shorter than routes[%zu]", i - 1, i);
        route_is(c, "/", "/");
        route_is(c, "/x", "/");
        route_is(c, "/cha", "/");
        route_is(c, "/Chat", "/");
        route_is(c, "/chat", "/chat");
        route_is(c, "/chat/", "/chat");
        route_is(c, "/chatroom", "/chat");
        route_is(c, "/chat/admi", "/chat");
        route_is(c, "/chat/admin", "/chat/admin");
        route_is(c, "/chat/admin/users", "/chat/admin");
        route_is(c, "/chat/administrators", "/chat/admin");
        route_is(c, "/api", "/");
        route_is(c, "/api/v1", "/api/");
        route_is(c, "", NULL);
        route_is(c, "chat", NULL);

        /* The path is a counted string: bytes past len are not the path. */
        const struct route *r = config_route(c, "/chat/admin", 5);
        is_str(r ? r->prefix : NULL, "/chat", "counted: first 5 bytes of /chat/admin");
        r = config_route(c, "/chat/admin?x=1", 11);
        is_str(r ? r->prefix : NULL, "/chat/admin", "counted: query excluded by the caller");
        r = config_route(c, "/chatXYZ", 1);
        is_str(r ? r->prefix : NULL, "/", "counted: one byte");
        ok(config_route(c, NULL, 0) == NULL, "NULL path");
        ok(config_route(NULL, "/", 1) == NULL, "NULL config");

        /* Each route keeps its own settings after sorting. */
        r = config_route(c, "/chat/admin/x", 13);
        ok(r && r->nupstreams == 1 && strcmp(r->upstreams[0].text, "127.0.0.1:9002") == 0,
           "/chat/admin keeps its upstream");
        r = config_route(c, "/chatty", 7);
        ok(r && strcmp(r->upstreams[0].text, "127.0.0.1:9001") == 0, "/chat keeps its upstream");
    }
    config_unref(c);

    c = load("listen 127.0.0.1:8080;\n"
             "route /chat { upstream 127.0.0.1:9001; auth off; }\n"
             "route /chat/admin { upstream 127.0.0.1:9002; auth off; }\n");
    ok(c != NULL, "config without a / route loads");
    if (c) {
        route_is(c, "/x", NULL);
        route_is(c, "/", NULL);
        route_is(c, "/cha", NULL);
        route_is(c, "/chat", "/chat");
        route_is(c, "/chat/admin/x", "/chat/admin");
    }
    config_unref(c);

    /* route_case insensitive (SPEC §3a): for backends whose router ignores
     * case, "/ADMIN" must reach the /admin route's checks. */
    c = load("listen 127.0.0.1:8080;\n"
             "route_case insensitive;\n"
             "route / { upstream 127.0.0.1:9000; auth off; }\n"
             "route /Admin { upstream 127.0.0.1:9001; auth off; }\n"
             "route /api/v1 { upstream 127.0.0.1:9002; auth off; }\n");
    ok(c != NULL && c->route_case_insensitive, "route_case insensitive loads");
    if (c) {
        route_is(c, "/admin", "/Admin");
        route_is(c, "/ADMIN/users", "/Admin");
        route_is(c, "/aDmIn", "/Admin");
        route_is(c, "/API/V1/x", "/api/v1");
        route_is(c, "/api/v2", "/");
        route_is(c, "/adm", "/");
        route_is(c, "/%41dmin", "/");       /* callers pass normalised paths */
    }
    config_unref(c);
    c = load("listen 127.0.0.1:8080;\n"
             "route / { upstream 127.0.0.1:9000; auth off; }\n"
             "route /admin { upstream 127.0.0.1:9001; auth off; }\n"
             "route_case sensitive;\n");
    ok(c != NULL && !c->route_case_insensitive, "route_case sensitive loads");
    if (c) {
        route_is(c, "/admin/x", "/admin");
        route_is(c, "/ADMIN/x", "/");
        route_is(c, "/Admin", "/");
    }
    config_unref(c);

    /* Same length, different prefixes: only the matching one is taken. */
    c = load("listen 127.0.0.1:8080;\n"
             "route /bb { upstream 127.0.0.1:9002; auth off; }\n"
             "route /aa { upstream 127.0.0.1:9001; auth off; }\n");
    if (c) {
        route_is(c, "/aa/1", "/aa");
        route_is(c, "/bb/1", "/bb");
        route_is(c, "/cc/1", NULL);
    } else {
        ok(0, "equal-length config loads");
    }
    config_unref(c);

    unlink(conf);
    rmdir(dir);
    return tap_done();
}
