/* The verified-token cache on its own: hits copy the claims, misses on
 * another configuration or key set generation, expiry, bounded ways. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "jwt.h"
#include "tap.h"
#include "tokcache.h"

static void claims_of(struct jwt_claims *c, const char *sub)
{
    memset(c, 0, sizeof(*c));
    c->payload = json_pack("{s:s}", "sub", sub);
    c->sub = json_string_value(json_object_get(c->payload, "sub"));
    c->payload_raw = strdup("{}");
    c->payload_raw_len = 2;
}

int main(void)
{
    struct tokcache_key k = { 1, 7 }, other_cfg = { 2, 7 }, other_keys = { 1, 8 };
    struct jwt_claims c, got;
    struct tokcache_stats st;
    char tok[64];

    claims_of(&c, "alice");
    ok(!tokcache_get(16, &k, "a.b.c", 5, 100, &got), "an empty cache misses");
    tokcache_put(16, &k, "a.b.c", 5, 200, &c);
    ok(tokcache_get(16, &k, "a.b.c", 5, 150, &got) && got.sub && strcmp(got.sub, "alice") == 0 &&
       got.payload_raw != c.payload_raw, "the same token hits, with a copy of its claims");
    jwt_claims_clear(&got);
    ok(!tokcache_get(16, &k, "a.b.d", 5, 150, &got), "another token misses");
    ok(!tokcache_get(16, &other_cfg, "a.b.c", 5, 150, &got), "another configuration misses");
    tokcache_put(16, &k, "a.b.c", 5, 200, &c);
    ok(!tokcache_get(16, &other_keys, "a.b.c", 5, 150, &got), "another remote key set misses");
    tokcache_put(16, &k, "a.b.c", 5, 200, &c);
    ok(tokcache_get(16, &k, "a.b.c", 5, 200, &got), "valid up to expires_at");
    jwt_claims_clear(&got);
    ok(!tokcache_get(16, &k, "a.b.c", 5, 201, &got), "past expires_at it misses (and is dropped)");
    ok(!tokcache_get(0, &k, "a.b.c", 5, 150, &got), "size 0: off");
    for (int i = 0; i < 1000; i++) {
        snprintf(tok, sizeof(tok), "t%d.x.y", i);
        tokcache_put(16, &k, tok, strlen(tok), 1000, &c);
    }
    tokcache_stats(&st);
    ok(st.entries <= 16, "1000 tokens into a 16-entry cache keep at most 16 (%llu)",
       (unsigned long long)st.entries);
    snprintf(tok, sizeof(tok), "t%d.x.y", 999);
    ok(tokcache_get(16, &k, tok, strlen(tok), 150, &got), "the newest token is there");
    jwt_claims_clear(&got);
    tokcache_stats(&st);
    ok(st.hits >= 3 && st.misses >= 5 && st.bytes > 0, "hits, misses and bytes are counted");
    jwt_claims_clear(&c);
    tokcache_thread_free();
    tokcache_stats(&st);
    ok(st.entries == 0 && st.bytes == 0, "a thread's cache is freed whole");
    return tap_done();
}
