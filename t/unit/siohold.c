/* Message-level holding on socketio routes: a CONNECT is held whole however
 * it is fragmented, anything else is released unchanged, and the bounds. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "siohold.h"
#include "sioparse.h"
#include "tap.h"
#include "ws.h"

static void frame(struct evbuffer *b, int fin, int rsv, int op, const char *p)
{
    static const unsigned char key[4] = { 1, 2, 3, 4 };
    unsigned char h[4] = { (unsigned char)((fin ? 0x80 : 0) | rsv << 4 | op), 0, 0, 0 };
    size_t n = strlen(p);

    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
        evbuffer_add(b, h, 2);
    } else {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        evbuffer_add(b, h, 4);
    }
    evbuffer_add(b, key, 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i] ^ key[i & 3];
        evbuffer_add(b, &c, 1);
    }
}

static const char prefix[] = "{\"type\":\"wsgate.reauth\",\"token\":\"";

static int prefix_kind(void *arg, const unsigned char *p, size_t n, int complete)
{
    size_t k = n < sizeof(prefix) - 1 ? n : sizeof(prefix) - 1;

    (void)arg;
    if (memcmp(p, prefix, k) != 0)
        return SIO_KIND_OTHER;
    if (n < sizeof(prefix) - 1)
        return complete ? SIO_KIND_OTHER : SIO_KIND_MORE;
    return 4;
}

/* Runs the relay's loop over in; returns the last siohold result. */
static int pump(struct sio_hold *h, struct ws_tracker *t, struct evbuffer *in, struct evbuffer *sink)
{
    int r = SIOHOLD_WAIT;

    for (;;) {
        unsigned char hb[WS_MAX_HEADER];
        struct ws_frame f;
        size_t n = evbuffer_get_length(in);

        if (t->left) {
            size_t k = n < t->left ? n : (size_t)t->left;
            if (!k)
                return r;
            evbuffer_remove_buffer(in, sink, k);
            t->left -= k;
            continue;
        }
        n = n < sizeof(hb) ? n : sizeof(hb);
        evbuffer_copyout(in, hb, n);
        if (ws_parse_header(hb, n, &f) != 1)
            return r;
        r = siohold_frame(h, t, &f, in, sink);
        if (r == SIOHOLD_WAIT || r == SIOHOLD_READY || r >= 1000)
            return r;
    }
}

int main(void)
{
    struct sio_hold *h = siohold_new(socketio_hold_kind, NULL);
    struct evbuffer *in = evbuffer_new(), *sink = evbuffer_new();
    struct ws_tracker t;
    const unsigned char *m;
    unsigned char key[4];
    size_t n;
    int kind;

    memset(&t, 0, sizeof(t));
    t.from_client = 1;

    frame(in, 0, 0, WS_OP_TEXT, "");
    frame(in, 0, 0, WS_OP_CONT, "4");
    frame(in, 1, 0, WS_OP_PING, "x");
    frame(in, 0, 0, WS_OP_CONT, "0{\"to");
    frame(in, 1, 0, WS_OP_CONT, "ken\":1}");
    is_int(pump(h, &t, in, sink), SIOHOLD_READY, "a CONNECT in 4 fragments with a ping among them is held whole");
    m = siohold_message(h, &n, &kind, key);
    ok(m && n == 13 && memcmp(m, "40{\"token\":1}", 13) == 0, "the held message, unmasked and joined");
    is_int(kind, SIO_KIND_CONNECT, "its kind is CONNECT");
    ok(memcmp(key, "\x01\x02\x03\x04", 4) == 0, "the first frame's key is kept for the rewritten frame");
    is_int((int)evbuffer_get_length(sink), 6 + 1, "only the ping went through");
    frame(in, 1, 0, WS_OP_TEXT, "42[]");
    is_int(pump(h, &t, in, sink), SIOHOLD_WAIT, "nothing overtakes a message awaiting its verdict");
    siohold_done(h);
    evbuffer_drain(sink, evbuffer_get_length(sink));
    is_int(pump(h, &t, in, sink), SIOHOLD_PASS, "after the verdict the next message passes");
    is_int((int)evbuffer_get_length(sink), 6 + 4, "... as it came");

    evbuffer_drain(sink, evbuffer_get_length(sink));
    frame(in, 0, 0, WS_OP_TEXT, "4");
    frame(in, 0, 0, WS_OP_CONT, "");
    frame(in, 1, 0, WS_OP_CONT, "2[\"chat\"]");
    is_int(pump(h, &t, in, sink), SIOHOLD_PASS, "an EVENT split after one byte is released");
    is_int((int)evbuffer_get_length(sink), 7 + 6 + 15, "... with its held fragments, unchanged");
    ok(siohold_held(h) == 0, "nothing stays held");

    frame(in, 1, 0, WS_OP_TEXT, "4 {}");
    is_int(pump(h, &t, in, sink), SIOHOLD_READY, "'4 ' (a CONNECT to socket.io) is held");
    siohold_message(h, &n, &kind, key);
    is_int(kind, SIO_KIND_BAD, "... as a look-alike to refuse");
    siohold_done(h);

    frame(in, 1, 4, WS_OP_TEXT, "40{}");
    is_int(pump(h, &t, in, sink), 1002, "RSV1 is a protocol error");
    evbuffer_drain(in, evbuffer_get_length(in));
    siohold_free(h);

    h = siohold_new(socketio_hold_kind, NULL);
    memset(&t, 0, sizeof(t));
    t.from_client = 1;
    frame(in, 0, 0, WS_OP_TEXT, "");
    for (int i = 0; i < SIO_HOLD_MAX_FRAMES; i++)
        frame(in, 0, 0, WS_OP_CONT, "");
    is_int(pump(h, &t, in, sink), 1008, "too many fragments before the verdict: 1008");
    evbuffer_drain(in, evbuffer_get_length(in));
    siohold_free(h);

    h = siohold_new(socketio_hold_kind, NULL);
    memset(&t, 0, sizeof(t));
    t.from_client = 1;
    frame(in, 0, 0, WS_OP_TEXT, "40");
    {
        static char big[SIO_HOLD_MAX_PAYLOAD / 4 + 1];
        memset(big, 'x', sizeof(big) - 1);
        for (int i = 0; i < 5; i++)
            frame(in, 0, 0, WS_OP_CONT, big);
    }
    is_int(pump(h, &t, in, sink), 1009, "a held CONNECT over the limit: 1009");
    evbuffer_drain(in, evbuffer_get_length(in));
    siohold_free(h);

    h = siohold_new(socketio_hold_kind, NULL);
    memset(&t, 0, sizeof(t));
    t.from_client = 1;
    {
        struct evbuffer *whole = evbuffer_new();
        frame(whole, 1, 0, WS_OP_TEXT, "40{}");
        evbuffer_remove_buffer(whole, in, 7);
        is_int(pump(h, &t, in, sink), SIOHOLD_WAIT, "a CONNECT frame not all here: wait");
        ok(t.left == 0 && !t.in_message, "... with the tracker untouched");
        evbuffer_add_buffer(in, whole);
        is_int(pump(h, &t, in, sink), SIOHOLD_READY, "the rest arrives: held whole");
        evbuffer_free(whole);
    }
    siohold_free(h);

    /* A classifier that needs more than the first frame's bytes (the plain
     * re-auth prefix), and the release of a held message that is not it. */
    h = siohold_new(prefix_kind, NULL);
    memset(&t, 0, sizeof(t));
    t.from_client = 1;
    evbuffer_drain(sink, evbuffer_get_length(sink));
    frame(in, 0, 0, WS_OP_TEXT, "{\"type\":");
    frame(in, 0, 0, WS_OP_CONT, "\"wsgate.re");
    is_int(pump(h, &t, in, sink), SIOHOLD_TAKEN, "long prefix split over fragments: held, waiting");
    is_int((int)evbuffer_get_length(sink), 0, "... nothing released yet");
    frame(in, 1, 0, WS_OP_CONT, "auth\",\"token\":\"x\"}");
    is_int(pump(h, &t, in, sink), SIOHOLD_READY, "the prefix completes: held whole");
    {
        size_t mlen;
        int mkind;
        unsigned char mkey[4];
        const unsigned char *msg = siohold_message(h, &mlen, &mkind, mkey);
        ok(msg && mlen == 36 && memcmp(msg, "{\"type\":\"wsgate.reauth\",\"token\":\"x\"}", 36) == 0,
           "the held message, unmasked and joined");
        is_int(mkind, 4, "its kind is the classifier's verdict on the whole");
        size_t held = siohold_held(h) - mlen;
        siohold_release(h, sink);
        is_int((int)evbuffer_get_length(sink), (int)held, "released: the raw frames go to the sink as they came");
    }
    evbuffer_drain(sink, evbuffer_get_length(sink));
    frame(in, 0, 0, WS_OP_TEXT, "{\"type\":");
    frame(in, 1, 0, WS_OP_CONT, "\"chat\"}");
    is_int(pump(h, &t, in, sink), SIOHOLD_PASS, "another message: decided at its first differing byte");
    is_int((int)evbuffer_get_length(sink), 6 + 8 + 6 + 7, "... and both its frames passed");
    siohold_free(h);
    evbuffer_free(in);
    evbuffer_free(sink);
    return tap_done();
}
