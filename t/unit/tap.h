/* Minimal TAP producer for the unit tests. */
#ifndef WSGATE_TAP_H
#define WSGATE_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

#define ok(cond, ...) do { \
    int ok_c_ = !!(cond); \
    printf("%sok %d - ", ok_c_ ? "" : "not ", ++tap_n); \
    printf(__VA_ARGS__); printf("\n"); \
    if (!ok_c_) { tap_failed++; printf("#   failed at %s:%d\n", __FILE__, __LINE__); } \
} while (0)

#define is_int(got, want, ...) do { \
    long long g_ = (long long)(got), w_ = (long long)(want); \
    ok(g_ == w_, __VA_ARGS__); \
    if (g_ != w_) printf("#   got %lld, want %lld\n", g_, w_); \
} while (0)

#define is_str(got, want, ...) do { \
    const char *g_ = (got), *w_ = (want); \
    int same_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_; \
    ok(same_, __VA_ARGS__); \
    if (!same_) printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

/* One point for a call that must fail: its result and its error text
 * (want_err NULL: any text). One case, one point, both parts shown when it
 * fails. */
#define is_err(got, want, got_err, want_err, ...) do { \
    long long g_ = (long long)(got), w_ = (long long)(want); \
    const char *ge_ = (got_err), *we_ = (want_err); \
    int same_ = g_ == w_ && (!we_ || (ge_ && strcmp(ge_, we_) == 0)); \
    ok(same_, __VA_ARGS__); \
    if (!same_) printf("#   got %lld \"%s\", want %lld \"%s\"\n", g_, ge_ ? ge_ : "(null)", \
                       w_, we_ ? we_ : "(any)"); \
} while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
