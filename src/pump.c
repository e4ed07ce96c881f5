/* The frame pump (pump.h). Payloads are never unmasked or copied: only
 * frame headers are read, and whole evbuffer chains move to the sink. */
#include "pump.h"

#include <string.h>

#include <event2/buffer.h>

enum pump_stop pump_frames(struct pump_dir *d, struct evbuffer *in, struct evbuffer *out,
                           size_t high_water, const struct pump_hooks *h, void *arg,
                           struct pump_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    for (;;) {
        size_t avail, n;

        if (d->t.left == 0) {
            unsigned char hb[WS_MAX_HEADER];
            struct ws_frame f;
            int r, code;

            if (h->boundary)
                h->boundary(arg, d, out);
            avail = evbuffer_get_length(in);
            if (avail == 0)
                return PUMP_IDLE;
            n = avail < sizeof(hb) ? avail : sizeof(hb);
            evbuffer_copyout(in, hb, n);
            r = ws_parse_header(hb, n, &f);
            if (r == 0)
                return PUMP_IDLE;
            if (r < 0) {
                /* Length unknown: nothing after this can be framed. */
                evbuffer_drain(in, avail);
                return PUMP_BAD_HEADER;
            }
            if (h->frame && !d->injected) {
                int sr = h->frame(arg, &f, in);
                if (sr == PUMP_HOLD)
                    return PUMP_IDLE;
                if (sr == PUMP_TAKEN) {
                    if (h->stopped && h->stopped(arg))
                        return PUMP_STOPPED;
                    continue;
                }
                code = sr;
            } else {
                code = ws_tracker_begin(&d->t, &f);
            }
            if (d->injected) {
                /* After our close only the peer's close matters. */
                d->discard = 1;
                if (f.opcode == WS_OP_CLOSE)
                    d->peer_closed = 1;
            } else if (code && d->t.from_client) {
                d->discard = 1;
                rep->bad_code = code;
                return PUMP_BAD_FRAME;
            } else {
                /* The backend's own framing is its business: pass it on. */
                d->discard = 0;
                if (f.opcode == WS_OP_CLOSE && !rep->close_code && d->t.left >= f.header_len + 2 &&
                    evbuffer_get_length(in) >= f.header_len + 2) {
                    unsigned char cb[WS_MAX_HEADER + 2];
                    evbuffer_copyout(in, cb, f.header_len + 2);
                    rep->close_code = ws_close_code(cb + f.header_len, 2, &f,
                                                    f.masked ? cb + f.header_len - 4 : NULL);
                }
            }
        }
        avail = evbuffer_get_length(in);
        if (avail == 0)
            return PUMP_IDLE;
        n = avail < d->t.left ? avail : (size_t)d->t.left;
        if (d->discard) {
            evbuffer_drain(in, n);
        } else {
            if (evbuffer_get_length(out) >= high_water) {
                d->paused = 1;
                return PUMP_FULL;
            }
            evbuffer_remove_buffer(in, out, n);
            d->bytes += n;
            rep->moved += n;
        }
        d->t.left -= n;
    }
}
