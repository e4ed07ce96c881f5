/* The chunked-body tracker of the plain HTTP proxy: strict framing, size
 * lines re-emitted bare, trailers kept or dropped, input split anywhere,
 * and the output bound respected. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "httpframe.h"
#include "tap.h"

/* Feeds src in pieces of step bytes; returns the pump's last result and
 * the output in out (NUL-terminated). */
static int feed(const char *src, size_t step, int keep, char *out, size_t cap, char *err)
{
    struct http_chunked c;
    struct evbuffer *in = evbuffer_new(), *o = evbuffer_new();
    size_t len = strlen(src), pos = 0;
    uint64_t moved = 0;
    int r = 0;

    http_chunked_init(&c, keep, 256);
    err[0] = '\0';
    while (pos < len && r == 0) {
        size_t n = len - pos < step ? len - pos : step;
        evbuffer_add(in, src + pos, n);
        pos += n;
        r = http_chunked_pump(&c, in, o, 1 << 20, &moved, err, 128);
    }
    size_t ol = evbuffer_get_length(o);
    if (ol >= cap)
        ol = cap - 1;
    evbuffer_remove(o, out, ol);
    out[ol] = '\0';
    if (r == 1 && moved != ol)
        r = -99;
    evbuffer_free(in);
    evbuffer_free(o);
    return r;
}

static void good(const char *src, int keep, const char *want, const char *name)
{
    char out[1024], err[128], nm[200];

    for (size_t step = 1; step <= strlen(src); step = step * 2 + 1) {
        int r = feed(src, step, keep, out, sizeof(out), err);
        snprintf(nm, sizeof(nm), "%s (pieces of %zu)", name, step);
        if (r != 1 || strcmp(out, want) != 0) {
            is_int(r, 1, "%s", nm);
            is_str(out, want, "%s", nm);
            return;
        }
    }
    ok(1, "%s", name);
}

static void bad(const char *src, const char *name)
{
    char out[1024], err[128];

    is_int(feed(src, strlen(src), 0, out, sizeof(out), err), -1, "%s", name);
}

int main(void)
{
    char out[1024], err[128];

    good("5\r\nhello\r\n0\r\n\r\n", 0, "5\r\nhello\r\n0\r\n\r\n", "one chunk");
    good("5;a=b\r\nhello\r\n6 ; q=\"x y\"\r\n world\r\n0;z\r\n\r\n", 0,
         "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "extensions dropped");
    good("A\r\n0123456789\r\n0\r\n\r\n", 0, "a\r\n0123456789\r\n0\r\n\r\n", "upper-case hex");
    good("0003\r\nabc\r\n0\r\n\r\n", 0, "3\r\nabc\r\n0\r\n\r\n", "leading zeros normalised");
    good("3\r\nabc\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", 0, "3\r\nabc\r\n0\r\n\r\n",
         "request trailers dropped");
    good("3\r\nabc\r\n0\r\nX-A: 1\r\n\r\n", 1, "3\r\nabc\r\n0\r\nX-A: 1\r\n\r\n",
         "response trailers kept");
    good("0\r\n\r\n", 0, "0\r\n\r\n", "empty body");

    bad("zz\r\nabc\r\n0\r\n\r\n", "non-hex size");
    bad("-3\r\nabc\r\n0\r\n\r\n", "negative size");
    bad("+3\r\nabc\r\n0\r\n\r\n", "signed size");
    bad("0x3\r\nabc\r\n0\r\n\r\n", "0x prefix");
    bad(" 3\r\nabc\r\n0\r\n\r\n", "leading space");
    bad("3 \r\nabc\r\n0\r\n\r\n", "trailing space without extension");
    bad("\r\nabc\r\n0\r\n\r\n", "empty size line");
    bad("3\nabc\r\n0\r\n\r\n", "bare LF after size");
    bad("3\r\nabcd\r\n0\r\n\r\n", "data longer than the size");
    bad("3\r\nabc\n0\r\n\r\n", "bare LF after data");
    bad("3;a\x01\r\nabc\r\n0\r\n\r\n", "control character in an extension");
    bad("1000000000000000\r\n", "size of 16 hex digits");
    bad("0\r\nX A: 1\r\n\r\n", "malformed trailer name");
    bad("0\r\n X-A: 1\r\n\r\n", "obs-fold in the trailer");
    bad("0\r\nX-A: 1\nX-B: 2\r\n\r\n", "bare LF in the trailer");

    /* trailer section bound (256 in feed) */
    char big[600];
    snprintf(big, sizeof(big), "0\r\nX-A: %0300d\r\n\r\n", 0);
    is_int(feed(big, strlen(big), 1, out, sizeof(out), err), -1, "trailer section over the bound");
    is_str(err, "trailer section too large", "trailer bound reason");

    /* a size line that never ends is bounded too */
    {
        struct http_chunked c;
        struct evbuffer *in = evbuffer_new(), *o = evbuffer_new();
        uint64_t moved = 0;
        char line[HTTPFRAME_CHUNK_LINE_MAX + 10];
        memset(line, 'a', sizeof(line));
        line[0] = '1';
        line[1] = ';';
        http_chunked_init(&c, 0, 256);
        evbuffer_add(in, line, sizeof(line));
        is_int(http_chunked_pump(&c, in, o, 1 << 20, &moved, err, sizeof(err)), -1,
               "endless size line refused");
        evbuffer_free(in);
        evbuffer_free(o);
    }

    /* the output bound: nothing more is moved once out holds limit bytes */
    {
        struct http_chunked c;
        struct evbuffer *in = evbuffer_new(), *o = evbuffer_new();
        uint64_t moved = 0;
        char data[5000];
        memset(data, 'x', sizeof(data));
        http_chunked_init(&c, 0, 256);
        evbuffer_add_printf(in, "%x\r\n", (unsigned)sizeof(data));
        evbuffer_add(in, data, sizeof(data));
        evbuffer_add(in, "\r\n0\r\n\r\n", 7);
        is_int(http_chunked_pump(&c, in, o, 1000, &moved, err, sizeof(err)), 0,
               "stops at the output bound");
        ok(evbuffer_get_length(o) == 1000, "output holds exactly the bound");
        evbuffer_drain(o, evbuffer_get_length(o));
        int r = 0;
        for (int i = 0; i < 10 && r == 0; i++) {
            r = http_chunked_pump(&c, in, o, 1000, &moved, err, sizeof(err));
            evbuffer_drain(o, evbuffer_get_length(o));
        }
        is_int(r, 1, "finishes once the output drains");
        ok(moved == 5000 + 6 + 2 + 5, "every byte counted");
        evbuffer_free(in);
        evbuffer_free(o);
    }
    return tap_done();
}
