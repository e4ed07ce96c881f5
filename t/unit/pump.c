/* The frame pump on its own: evbuffers in, evbuffers out, reports checked. */
#include <string.h>

#include <event2/buffer.h>

#include "pump.h"
#include "tap.h"

static int boundaries;

static void count_boundary(void *arg, struct pump_dir *d, struct evbuffer *sink)
{
    (void)arg;
    boundaries++;
    if (d->inject_code && !d->injected) {
        ws_write_close(sink, d->inject_code, "bye", !d->t.from_client);
        d->injected = 1;
    }
}

static const struct pump_hooks hooks = { .boundary = count_boundary };

static void dir_init(struct pump_dir *d, int from_client, uint64_t max)
{
    memset(d, 0, sizeof(*d));
    d->t.from_client = from_client;
    d->t.max_message = max;
    d->fd = -1;
}

int main(void)
{
    struct evbuffer *in = evbuffer_new(), *out = evbuffer_new();
    struct pump_dir d;
    struct pump_report rep;
    enum pump_stop st;
    /* Masked "hi" (key 1 2 3 4), then a masked close 1000. */
    const unsigned char text[] = { 0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2 };
    const unsigned char close_[] = { 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8 };
    const unsigned char unmasked[] = { 0x81, 0x02, 'n', 'o' };
    unsigned char got[64];

    dir_init(&d, 1, 0);
    evbuffer_add(in, text, 3);
    st = pump_frames(&d, in, out, 1 << 20, &hooks, NULL, &rep);
    ok(st == PUMP_IDLE && evbuffer_get_length(out) == 0, "a partial header waits, nothing moves");
    evbuffer_add(in, text + 3, sizeof(text) - 3);
    evbuffer_add(in, close_, sizeof(close_));
    st = pump_frames(&d, in, out, 1 << 20, &hooks, NULL, &rep);
    evbuffer_remove(out, got, sizeof(got));
    ok(st == PUMP_IDLE && rep.moved == sizeof(text) + sizeof(close_) &&
       memcmp(got, text, sizeof(text)) == 0 && memcmp(got + sizeof(text), close_, sizeof(close_)) == 0,
       "whole frames move unchanged, byte for byte");
    is_int(rep.close_code, 1000, "the close frame's code is reported");
    is_int(d.bytes, sizeof(text) + sizeof(close_), "the direction counts the bytes");

    dir_init(&d, 1, 0);
    evbuffer_add(in, unmasked, sizeof(unmasked));
    evbuffer_add(in, text, sizeof(text));
    st = pump_frames(&d, in, out, 1 << 20, &hooks, NULL, &rep);
    ok(st == PUMP_BAD_FRAME && rep.bad_code == 1002 && d.discard && rep.moved == 0,
       "an unmasked client frame: 1002 reported, nothing of it moved");
    d.inject_code = 1002;
    st = pump_frames(&d, in, out, 1 << 20, &hooks, NULL, &rep);
    ok(st == PUMP_IDLE && evbuffer_get_length(in) == 0 && d.injected,
       "after it, the bad frame and what follows are dropped, and the close goes out at the boundary");
    evbuffer_remove(out, got, sizeof(got));
    ok(got[0] == 0x88 && got[2] == 0x03 && got[3] == 0xEA, "the injected close carries 1002");
    evbuffer_drain(out, evbuffer_get_length(out));

    dir_init(&d, 1, 4);
    {
        const unsigned char big[] = { 0x81, 0x85, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 'e' };
        evbuffer_add(in, big, sizeof(big));
    }
    st = pump_frames(&d, in, out, 1 << 20, &hooks, NULL, &rep);
    ok(st == PUMP_BAD_FRAME && rep.bad_code == 1009, "a message over the limit: 1009");
    evbuffer_drain(in, evbuffer_get_length(in));

    dir_init(&d, 0, 0);
    {
        unsigned char frame[2 + 100];
        frame[0] = 0x82;
        frame[1] = 100;
        memset(frame + 2, 'x', 100);
        for (int i = 0; i < 5; i++)
            evbuffer_add(in, frame, sizeof(frame));
    }
    st = pump_frames(&d, in, out, 250, &hooks, NULL, &rep);
    {
        size_t first = evbuffer_get_length(out);
        ok(st == PUMP_FULL && d.paused && first >= 250 && first < 5 * 102 &&
           evbuffer_get_length(in) == 5 * 102 - first,
           "the sink at its high mark: the pump stops and pauses the direction");
        evbuffer_drain(out, first);
        d.paused = 0;
        st = pump_frames(&d, in, out, 1 << 20, &hooks, NULL, &rep);
        ok(st == PUMP_IDLE && evbuffer_get_length(in) == 0 && first + rep.moved == 5 * 102 &&
           evbuffer_get_length(out) == rep.moved, "once drained it resumes and moves the rest");
    }
    evbuffer_drain(out, evbuffer_get_length(out));

    dir_init(&d, 0, 0);
    {
        const unsigned char bad[] = { 0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0 };
        evbuffer_add(in, bad, sizeof(bad));
        evbuffer_add(in, "junk", 4);
    }
    st = pump_frames(&d, in, out, 1 << 20, &hooks, NULL, &rep);
    ok(st == PUMP_BAD_HEADER && evbuffer_get_length(in) == 0 && evbuffer_get_length(out) == 0,
       "a 64-bit length with the top bit set cannot be framed: input dropped");

    boundaries = 0;
    dir_init(&d, 0, 0);
    {
        const unsigned char two[] = { 0x81, 0x01, 'a', 0x81, 0x01, 'b' };
        evbuffer_add(in, two, sizeof(two));
    }
    pump_frames(&d, in, out, 1 << 20, &hooks, NULL, &rep);
    is_int(boundaries, 3, "the boundary hook runs before each frame and at the end");

    evbuffer_free(in);
    evbuffer_free(out);
    return tap_done();
}
