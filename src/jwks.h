/* Remote JWKS (jwks_url), the published key set workers verify with.
 * Publication is lock-free for readers: see jwks_acquire. The fetcher that
 * keeps it fresh is jwks_fetch.h. */
#ifndef WSGATE_JWKS_H
#define WSGATE_JWKS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event;
struct jwt_claims;
struct keystore;

/* ---- the published set ---------------------------------------------------- */

/* Shared by the configurations that name the same fetcher and by the
 * fetcher itself; freed by the last jwks_unref, on any thread. */
struct jwks;

struct jwks *jwks_new(void);
struct jwks *jwks_ref(struct jwks *j);
void jwks_unref(struct jwks *j);

/* Any thread, no lock: the current remote key set (NULL before the first
 * successful fetch), valid until the matching jwks_release. A reader
 * announces itself before loading the pointer, so a replaced set is freed
 * only once the count of readers has been seen at zero after the swap. */
const struct keystore *jwks_acquire(struct jwks *j);
void jwks_release(struct jwks *j);
int jwks_ready(struct jwks *j);

/* Main thread: makes ks (owned from now on) the current set; the old one is
 * retired and freed by jwks_reclaim once no reader can hold it. */
void jwks_publish(struct jwks *j, struct keystore *ks);
/* Frees retired sets when no verification is under way; returns how many
 * are still waiting. */
size_t jwks_reclaim(struct jwks *j);

/* Any thread: a token named a key the set does not have; the fetcher
 * refetches at most once per jwks_min_refresh. A no-op without a fetcher. */
void jwks_kick(struct jwks *j);

/* Main thread, for the fetcher: the event jwks_kick activates (NULL:
 * none, kicks are dropped); a kick was taken, the next one wakes it again;
 * to serves from's current set until it publishes its own. */
void jwks_set_kick_event(struct jwks *j, struct event *ev);
void jwks_kick_taken(struct jwks *j);
void jwks_share(struct jwks *to, struct jwks *from);

/* ---- verification ------------------------------------------------------------ */

/* jwt_verify() with cfg's policy: its static keys plus, when jwks_url is
 * set, the current remote set. Any thread. "no matching key" asks the
 * fetcher for a refetch (jwks_kick). Returns 0, -1 with the 401 reason in
 * err, or -2 when no remote set exists yet and no static key matched (err:
 * "signing keys not available yet", a 503). */
int jwks_verify(const struct config *cfg, const char *token, size_t len, int64_t now,
                struct jwt_claims *out, char *err, size_t errlen);
/* The same, reporting each step to trace (explain mode; NULL: none). */
struct jwt_trace;
int jwks_verify_trace(const struct config *cfg, const char *token, size_t len, int64_t now,
                      struct jwt_claims *out, char *err, size_t errlen,
                      const struct jwt_trace *trace);

#endif
