/* libFuzzer harness for the PROXY protocol header parser (SPEC §13).
 * Besides memory safety (the input is an exact-size heap block) it checks
 * what the accept-time reader relies on: an accepted header is no longer
 * than the input, at most 107 bytes for v1 and the cap for v2, every
 * shorter prefix of it is "incomplete" (never refused, never accepted),
 * the parse of the header alone gives the same result (nothing past it
 * is read), the reader's byte count never reaches past the header, and a
 * refusal always says why. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

static void prefix_incomplete(const unsigned char *in, size_t k, size_t hl)
{
    struct proxyproto_result r;
    char err[96];

    CHECK(proxyproto_parse(in, k, &r, err, sizeof(err)) == 0);
    CHECK(k + proxyproto_wanted(in, k) <= hl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *in = malloc(size ? size : 1);
    struct proxyproto_result r, r2;
    char err[96];
    int n;

    memcpy(in, data, size);
    err[0] = '\0';
    n = proxyproto_parse(in, size, &r, err, sizeof(err));
    CHECK(n >= -1 && (n < 0 || (size_t)n <= size));
    if (n < 0) {
        CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)));
    } else if (n > 0) {
        size_t hl = (size_t)n;
        CHECK(r.version == 1 || r.version == 2);
        CHECK(r.version != 1 || hl <= PROXYPROTO_V1_MAX);
        CHECK(hl <= PROXYPROTO_V2_MAX);
        if (!r.local) {
            CHECK((r.src.ss_family == AF_INET && r.srclen == sizeof(struct sockaddr_in))
                  || (r.src.ss_family == AF_INET6 && r.srclen == sizeof(struct sockaddr_in6)));
        }
        /* The header alone parses the same. */
        unsigned char *h = malloc(hl);
        memcpy(h, in, hl);
        CHECK(proxyproto_parse(h, hl, &r2, err, sizeof(err)) == n);
        CHECK(r2.local == r.local && r2.version == r.version);
        if (!r.local)
            CHECK(r2.srclen == r.srclen && memcmp(&r2.src, &r.src, r.srclen) == 0);
        size_t ks[] = { 1, 6, 12, 13, 15, 16, hl / 2, hl - 1 };
        for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++)
            if (ks[i] < hl)
                prefix_incomplete(h, ks[i], hl);
        free(h);
    } else {
        /* Incomplete: the reader may not be told to read past the cap. */
        CHECK(size + proxyproto_wanted(in, size) <= PROXYPROTO_V2_MAX);
    }
    free(in);
    return 0;
}
