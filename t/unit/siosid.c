/* The socket.io sid table (siosid.c): states, binding, one subject per
 * sid, the goodbye, queued answers, the re-auth rate, slots, and what a
 * full table gives way to: never a sid with an identity. */
#include "tap.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/thread.h>
#include <jansson.h>

#include "config.h"
#include "connlimit.h"
#include "siosid.h"
#include "util.h"

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

/* Claims as jwt_verify would leave them, for sub and jti. */
static void make_claims(struct jwt_claims *c, const char *sub, const char *jti, int64_t exp)
{
    memset(c, 0, sizeof(*c));
    c->payload = json_pack("{s:s, s:s, s:I}", "sub", sub, "jti", jti, "exp", (json_int_t)exp);
    c->payload_raw = json_dumps(c->payload, JSON_COMPACT);
    c->payload_raw_len = strlen(c->payload_raw);
    c->sub = json_string_value(json_object_get(c->payload, "sub"));
    c->jti = json_string_value(json_object_get(c->payload, "jti"));
    c->exp = exp;
    c->has_exp = 1;
}

static enum siosid_state state(const char *sid)
{
    struct siosid_info i;
    enum siosid_state st = siosid_get(sid, strlen(sid), &i, 0);
    return st;
}

static int open_sid(struct config *cfg, const char *sid, const struct jwt_claims *c, int64_t deadline)
{
    struct siosid_open o;

    memset(&o, 0, sizeof(o));
    o.cfg = cfg;
    o.route = &cfg->routes[0];
    o.path = "/socket.io/";
    o.claims = c;
    o.connect_deadline_ms = util_now_ms() + deadline;
    o.idle_ms = 60000;
    return siosid_open(sid, strlen(sid), &o);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    struct config *cfg;
    struct jwt_claims alice, bob, alice2;
    struct siosid_info info;
    struct siosid_stats st;
    char *q, *slot;
    size_t n;
    int64_t far = (int64_t)time(NULL) + 3600;

    evthread_use_pthreads();
    limits_init();
    snprintf(dir, sizeof(dir), "%s/wsgate-siosid-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    snprintf(conf, sizeof(conf), "%s/siosid.conf", dir);
    /* The upstream refuses connections: the closes POSTed fail, quietly. */
    cfg = load("listen 127.0.0.1:8080;\nerror_log stderr error;\n"
               "route /socket.io/ { upstream 127.0.0.1:1; auth off; socketio on; }\n");
    if (!cfg) {
        printf("Bail out! config\n");
        return 1;
    }

    ok(siosid_valid("abc-_.~XYZ09", 12), "engine.io's alphabet is a valid sid");
    ok(!siosid_valid("a&b", 3) && !siosid_valid("a%20", 4) && !siosid_valid("", 0),
       "a sid that a query would carry differently is not");
    ok(!siosid_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 65),
       "nor one over %d bytes", SIOSID_MAX_LEN);
    is_int(state("nope"), SIOSID_UNKNOWN, "a sid never opened is unknown");

    make_claims(&alice, "alice", "j1", far);
    make_claims(&alice2, "alice", "j2", far + 60);
    make_claims(&bob, "bob", "j3", far);

    siosid_set_max_entries(3);
    is_int(open_sid(cfg, "a", NULL, 1000), 0, "open a");
    is_int(open_sid(cfg, "a", NULL, 1000), -2, "a sid in use cannot be opened again");
    is_int(open_sid(cfg, "b", NULL, 2000), 0, "open b");
    is_int(open_sid(cfg, "c", NULL, 3000), 0, "open c");
    is_int(state("a"), SIOSID_PENDING, "an opened sid waits for its CONNECT");

    /* Full: the pending sid nearest its deadline gives way. */
    is_int(open_sid(cfg, "d", NULL, 4000), 0, "a full table still opens d");
    is_int(state("a"), SIOSID_UNKNOWN, "... by dropping a, the pending sid nearest its deadline");

    is_int(siosid_bind("b", 1, &alice, "/", NULL), 0, "a CONNECT binds b to alice");
    is_int(state("b"), SIOSID_BOUND, "b is bound");
    is_int(siosid_bind("b", 1, &bob, "/chat", NULL), -1, "one sid, one subject: bob cannot join b");
    is_int(siosid_bind("b", 1, &alice2, "/chat", NULL), 0, "alice joins /chat on b");
    is_int(siosid_bind("b", 1, NULL, "/chat", NULL), 0, "a namespace joined twice is kept once");
    is_int(siosid_bind("c", 1, &bob, "/", NULL), 0, "bob binds c");
    is_int(siosid_bind("d", 1, &bob, "/", NULL), 0, "bob binds d");
    ok(siosid_get("b", 1, &info, 1) == SIOSID_BOUND && info.have_claims && info.claims.jti &&
       strcmp(info.claims.jti, "j1") == 0, "the sid keeps its first token (jti j1)");
    jwt_claims_clear(&info.claims);

    is_int(open_sid(cfg, "e", NULL, 1000), -1, "a table full of sids with an identity refuses a handshake");
    siosid_get_stats(&st);
    is_int((long)st.full, 1, "... and counts it");

    is_int(siosid_set_claims("b", 1, &bob), -1, "a re-auth cannot move b to another subject");
    is_int(siosid_set_claims("b", 1, &alice2), 0, "a re-auth moves b to alice's new token");
    ok(siosid_get("b", 1, &info, 1) == SIOSID_BOUND && info.claims.jti && strcmp(info.claims.jti, "j2") == 0,
       "b now follows jti j2");
    jwt_claims_clear(&info.claims);
    is_int(siosid_reauth_allowed("b", 1), 1, "a first re-auth may run");
    is_int(siosid_reauth_allowed("b", 1), 0, "a second within the second may not");

    is_int(siosid_queue("b", 1, "431[{}]", 7), 0, "an answer waits for b's client");
    is_int(siosid_queue("b", 1, "432[{}]", 7), 0, "and another");
    q = siosid_take_queued("b", 1, &n);
    ok(q && n == 15 && memcmp(q, "431[{}]\x1e" "432[{}]", 15) == 0, "both come out, separated by 0x1e");
    free(q);
    ok(siosid_take_queued("b", 1, &n) == NULL && n == 0, "once");
    {
        char big[SIOSID_MAX_QUEUED];
        memset(big, 'x', sizeof(big));
        is_int(siosid_queue("b", 1, big, sizeof(big)), -1, "what waits is bounded (%d bytes)", SIOSID_MAX_QUEUED);
    }

    is_int(siosid_end("b", 1, OC_TOKEN_REVOKED), 1, "b ends (revoked)");
    is_int(siosid_end("b", 1, OC_TOKEN_EXPIRED), 0, "an ended sid does not end twice");
    ok(siosid_get("b", 1, &info, 1) == SIOSID_ENDED && info.end_cause == OC_TOKEN_REVOKED && !info.have_claims,
       "b is ended, revoked, and keeps no claims");
    ok(info.goodbye_len == 13 && memcmp(info.goodbye, "41\x1e" "41/chat,\x1e" "1", 13) == 0,
       "its goodbye: a DISCONNECT per namespace, then the close packet");
    is_int(siosid_bind("b", 1, &alice, "/", NULL), -1, "an ended sid cannot be bound again");
    is_int(siosid_queue("b", 1, "x", 1), -1, "nor queue answers");

    is_int(open_sid(cfg, "e", NULL, 1000), 0, "an ended sid makes room for a new one");
    is_int(state("b"), SIOSID_UNKNOWN, "... b is forgotten");
    ok(siosid_get("e", 1, &info, 0) == SIOSID_PENDING && info.goodbye_len == 4 &&
       memcmp(info.goodbye, "41\x1e" "1", 4) == 0, "a sid that joined no namespace says goodbye for /");

    /* Slots: the sid holds the one its CONNECT took, and hands it over. */
    siosid_set_max_entries(0);
    ok(countmap_take(limits_per_subject, "carol", 1), "carol's slot is taken for her CONNECT");
    {
        struct jwt_claims carol;
        make_claims(&carol, "carol", "j4", far);
        is_int(open_sid(cfg, "f", NULL, 5000), 0, "open f");
        is_int(siosid_bind("f", 1, &carol, "/", "carol"), 0, "f is bound to carol and holds her slot");
        is_int(countmap_get(limits_per_subject, "carol"), 1, "one slot for carol");
        siosid_upgraded("f", 1, &slot);
        ok(slot && strcmp(slot, "carol") == 0, "the upgrade hands the slot to the websocket session");
        is_int(state("f"), SIOSID_UPGRADED, "f is upgraded");
        is_int(siosid_end("f", 1, OC_TOKEN_REVOKED), 0, "an upgraded sid is the websocket's to end");
        countmap_release(limits_per_subject, slot);
        free(slot);
        ok(countmap_take(limits_per_subject, "carol", 1), "carol's slot again, for g");
        is_int(open_sid(cfg, "g", NULL, 5000), 0, "open g");
        is_int(siosid_bind("g", 1, &carol, "/", "carol"), 0, "g holds it");
        siosid_forget("g", 1);
        is_int(countmap_get(limits_per_subject, "carol"), 0, "the client's close packet frees the slot");
        is_int(state("g"), SIOSID_UNKNOWN, "and the sid");
        jwt_claims_clear(&carol);
    }

    /* The sweeper ends a sid whose connect deadline passed. */
    is_int(open_sid(cfg, "h", NULL, 50), 0, "open h with a 50 ms deadline");
    {
        int64_t dl = util_now_ms() + 3000;
        while (state("h") != SIOSID_ENDED && util_now_ms() < dl)
            usleep(10000);
    }
    ok(siosid_get("h", 1, &info, 0) == SIOSID_ENDED && info.end_cause == OC_AUTH_TIMEOUT,
       "the sweeper ended h: authentication timeout");

    jwt_claims_clear(&alice);
    jwt_claims_clear(&alice2);
    jwt_claims_clear(&bob);
    siosid_shutdown();
    limits_shutdown();
    config_unref(cfg);
    unlink(conf);
    rmdir(dir);
    return tap_done();
}
