/* Unit tests of wsgate-bench's RFC 6455 helpers (tools/benchws.c) and its
 * latency histogram (tools/benchhist.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../tools/benchhist.h"
#include "../../tools/benchws.h"
#include "tap.h"

static void test_accept(void)
{
    char out[29], key[25], k2[25];

    /* The example of RFC 6455 section 1.3. */
    bws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    is_str(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "accept key of RFC 6455 1.3");
    ok(bws_new_key(key) == 0 && strlen(key) == 24 && key[22] == '=' && key[23] == '=',
       "a new key is 24 base64 characters of 16 bytes");
    ok(bws_new_key(k2) == 0 && strcmp(key, k2) != 0, "two new keys differ");
}

static void test_headers(void)
{
    static const uint64_t lens[] = { 0, 1, 125, 126, 127, 65535, 65536, 1ull << 40 };
    unsigned char buf[BWS_MAX_HEADER], mask[4] = { 1, 2, 3, 4 };
    struct bws_frame f;

    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        for (int m = 0; m < 2; m++) {
            size_t n = bws_write_header(buf, m, BWS_OP_BINARY, lens[i], m ? mask : NULL);
            int all = 1;

            for (size_t k = 0; k < n; k++)
                if (bws_parse_header(buf, k, &f) != 0)
                    all = 0;
            ok(all && bws_parse_header(buf, n, &f) == 1 && f.len == lens[i] &&
               f.header_len == n && f.masked == m && f.fin == m && f.opcode == BWS_OP_BINARY &&
               (!m || !memcmp(f.mask, mask, 4)),
               "length %llu, %s: round trip, incomplete until its %zu bytes",
               (unsigned long long)lens[i], m ? "masked" : "unmasked", n);
        }
    }
    unsigned char big[10] = { 0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0 };
    is_int(bws_parse_header(big, sizeof big, &f), -1, "64-bit length with the top bit: refused");
    unsigned char ctl[4] = { 0x89, 126, 0, 126 };
    is_int(bws_parse_header(ctl, sizeof ctl, &f), -1, "ping longer than 125: refused");
    unsigned char frag[2] = { 0x08, 0 };
    is_int(bws_parse_header(frag, sizeof frag, &f), -1, "fragmented close: refused");
    unsigned char rsv[2] = { 0xc1, 0 };
    ok(bws_parse_header(rsv, sizeof rsv, &f) == 1 && f.rsv == 4, "RSV1 is reported");
}

static void test_mask(void)
{
    unsigned char src[100], a[100], b[100], mask[4] = { 0xde, 0xad, 0xbe, 0xef };
    int good = 1;

    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char)(i * 7 + 3);
    /* Any split at any offset gives the byte-by-byte result. */
    for (size_t off = 0; off < 4; off++) {
        for (size_t i = 0; i < sizeof src; i++)
            a[i] = src[i] ^ mask[(i + off) & 3];
        for (size_t cut = 0; cut <= sizeof src; cut += 3) {
            bws_mask(b, src, cut, mask, off);
            bws_mask(b + cut, src + cut, sizeof src - cut, mask, (off + cut) & 3);
            if (memcmp(a, b, sizeof a))
                good = 0;
        }
    }
    ok(good, "masking in pieces at every offset matches the byte loop");
    memcpy(b, src, sizeof b);
    bws_mask(b, b, sizeof b, mask, 1);
    bws_mask(b, b, sizeof b, mask, 1);
    ok(!memcmp(b, src, sizeof b), "masking in place twice restores the bytes");
}

static void test_header_value(void)
{
    const char *head = "HTTP/1.1 101 Switching Protocols\r\nupgrade:  websocket \r\n"
                       "Sec-WebSocket-Accept: abc=\r\nX-Long: 0123456789abcdefgh\r\n\r";
    char v[16];

    ok(bws_header_value(head, "Upgrade", v, sizeof v) == 0 && !strcmp(v, "websocket"),
       "header names are case-insensitive, values trimmed");
    ok(bws_header_value(head, "sec-websocket-accept", v, sizeof v) == 0 && !strcmp(v, "abc="),
       "a later header");
    is_int(bws_header_value(head, "X-Long", v, sizeof v), -1, "a value longer than the buffer");
    is_int(bws_header_value(head, "Connection", v, sizeof v), -1, "an absent header");
    is_int(bws_header_value(head, "HTTP/1.1 101 Switching Protocols", v, sizeof v), -1,
           "the status line is not a header");
}

static void test_hist(void)
{
    struct bhist *h = calloc(1, sizeof *h);
    int good = 1;

    is_int(bhist_quantile(h, 0.5), 0, "empty histogram: 0");
    for (uint64_t v = 1; v <= 100000; v++)
        bhist_add(h, v * 1000);             /* 1 us .. 100 ms */
    is_int(h->count, 100000, "count");
    is_int(h->max, 100000000, "max");
    for (int i = 1; i <= 1000; i++) {
        double q = i / 1000.0, want = q * 100000 * 1000;
        double got = (double)bhist_quantile(h, q);

        if (got < want * 0.984 || got > want * 1.016)
            good = 0;
    }
    ok(good, "every quantile of a uniform 1 us .. 100 ms within 1.6 %%");
    is_int(bhist_quantile(h, 1.0), 100000000, "q = 1 is the max");
    memset(h, 0, sizeof *h);
    bhist_add(h, 5);
    bhist_add(h, 7);
    ok(bhist_quantile(h, 0.5) == 5 && bhist_quantile(h, 0.99) == 7,
       "small values are exact; nearest rank");
    bhist_add(h, UINT64_MAX / 2);
    ok(bhist_quantile(h, 1.0) == UINT64_MAX / 2 && bhist_quantile(h, 0.5) == 7,
       "a huge value lands in the last bucket; the others keep their place");
    free(h);
}

int main(void)
{
    test_accept();
    test_headers();
    test_mask();
    test_header_value();
    test_hist();
    return tap_done();
}
