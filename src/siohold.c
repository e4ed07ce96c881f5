/* Message-level holding of client text messages (socketio routes, and
 * plain WebSocket routes with reauth on). The
 * relay normally moves frames without reading payloads; here the first two
 * payload bytes (up to SIO_HOLD_PEEK) of every text message are unmasked, across fragments if it
 * comes to that, because socket.io (and a re-auth) is decided on the message, not the frame.
 * A message that is no CONNECT is released as it came (held frames moved
 * unchanged, the rest relayed); a CONNECT, or anything socket.io could read
 * as one, is held whole (bounded) and handed to socketio.c. */
#include "siohold.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "pump.h"
#include "sioparse.h"
#include "util.h"
#include "ws.h"

enum hold_state {
    H_IDLE,                         /* between messages */
    H_PEEK,                         /* text message begun, fewer than 2 payload bytes seen */
    H_WHOLE,                        /* a CONNECT (or look-alike): holding to its last frame */
    H_PASS,                         /* a message that is no CONNECT: its frames pass */
    H_READY                         /* complete held message awaiting its verdict */
};

struct sio_hold {
    enum hold_state state;
    struct evbuffer *held;          /* the message's frames so far, raw */
    unsigned char first[SIO_HOLD_PEEK]; /* its first payload bytes, unmasked */
    size_t known;
    size_t nframes;
    size_t payload;                 /* payload bytes held */
    unsigned char key[4];           /* first frame's masking key */
    unsigned char *msg;             /* H_READY: the payload, unmasked */
    size_t msglen;
    int kind;
    siohold_classify classify;      /* what the message is, from its first bytes */
    void *arg;
};

struct sio_hold *siohold_new(siohold_classify classify, void *arg)
{
    struct sio_hold *h = util_xcalloc(1, sizeof(*h));

    h->classify = classify;
    h->arg = arg;
    h->held = evbuffer_new();
    if (!h->held) {
        free(h);
        return NULL;
    }
    return h;
}

void siohold_free(struct sio_hold *h)
{
    if (!h)
        return;
    evbuffer_free(h->held);
    free(h->msg);
    free(h);
}

size_t siohold_held(const struct sio_hold *h)
{
    return evbuffer_get_length(h->held) + h->msglen;
}

static void reset(struct sio_hold *h)
{
    evbuffer_drain(h->held, evbuffer_get_length(h->held));
    free(h->msg);
    h->msg = NULL;
    h->msglen = 0;
    h->known = h->nframes = h->payload = 0;
    h->state = H_IDLE;
}

/* The held frames, unmasked and joined. They were all validated (masked,
 * lengths) when they were taken. */
static void assemble(struct sio_hold *h)
{
    size_t len = evbuffer_get_length(h->held), pos = 0;
    const unsigned char *raw = evbuffer_pullup(h->held, -1);

    h->msg = util_xmalloc(h->payload ? h->payload : 1);
    h->msglen = 0;
    while (pos < len) {
        struct ws_frame f;
        size_t avail = len - pos;
        if (ws_parse_header(raw + pos, avail < WS_MAX_HEADER ? avail : WS_MAX_HEADER, &f) != 1)
            break;                  /* cannot happen: we took whole frames only */
        const unsigned char *mask = raw + pos + f.header_len - 4;
        for (size_t i = 0; i < f.payload_len; i++)
            h->msg[h->msglen + i] = raw[pos + f.header_len + i] ^ mask[i & 3];
        h->msglen += (size_t)f.payload_len;
        pos += f.header_len + (size_t)f.payload_len;
    }
    h->kind = h->classify(h->arg, h->msg, h->msglen, 1);
}

int siohold_frame(struct sio_hold *h, struct ws_tracker *t, const struct ws_frame *f,
                  struct evbuffer *in, struct evbuffer *sink)
{
    struct ws_tracker saved = *t;
    enum hold_state saved_state = h->state;
    size_t saved_known = h->known;
    size_t flen;
    int code;

    if (h->state == H_READY)
        return SIOHOLD_WAIT;        /* nothing overtakes a message under check */
    code = ws_tracker_begin(t, f);
    if (code)
        return code;
    if (f->rsv)
        return 1002;                /* no extension is negotiated on socketio routes */
    if (f->opcode >= 0x8)
        return SIOHOLD_PASS;        /* control frames may sit between fragments */
    flen = f->header_len + (size_t)f->payload_len;
    if (f->opcode != WS_OP_CONT) {
        /* The tracker saw to it that no message is open. */
        reset(h);
        if (f->opcode != WS_OP_TEXT) {
            /* Binary messages are attachments or errors to socket.io. */
            h->state = f->fin ? H_IDLE : H_PASS;
            return SIOHOLD_PASS;
        }
        h->state = H_PEEK;
    }
    if (h->state == H_PASS || h->state == H_IDLE) {
        if (f->fin)
            h->state = H_IDLE;
        return SIOHOLD_PASS;
    }
    if (h->state == H_PEEK) {
        size_t need = SIO_HOLD_PEEK - h->known;
        unsigned char hb[WS_MAX_HEADER + SIO_HOLD_PEEK];
        int complete, kind;

        if (need > f->payload_len)
            need = (size_t)f->payload_len;
        if (evbuffer_get_length(in) < f->header_len + need) {
            *t = saved;
            return SIOHOLD_WAIT;
        }
        evbuffer_copyout(in, hb, f->header_len + need);
        for (size_t i = 0; i < need; i++)
            h->first[h->known + i] = hb[f->header_len + i] ^ hb[f->header_len - 4 + (i & 3)];
        h->known += need;
        complete = f->fin && need == f->payload_len;
        kind = h->classify(h->arg, h->first, h->known, complete);
        if (kind == SIO_KIND_OTHER) {
            /* Released as it came, then the rest of the message passes. */
            evbuffer_add_buffer(sink, h->held);
            h->nframes = h->payload = 0;
            h->state = f->fin ? H_IDLE : H_PASS;
            return SIOHOLD_PASS;
        }
        /* SIO_KIND_MORE with this frame's payload all in first[]: it is
         * taken whole below like the frames of a CONNECT. A classifier
         * still undecided after SIO_HOLD_PEEK bytes has the message held. */
        if (kind != SIO_KIND_MORE || need < f->payload_len)
            h->state = H_WHOLE;
    }
    if (h->payload + f->payload_len > SIO_HOLD_MAX_PAYLOAD)
        return 1009;
    if (h->nframes + 1 > SIO_HOLD_MAX_FRAMES)
        return 1008;
    if (evbuffer_get_length(in) < flen) {
        *t = saved;
        h->state = saved_state;
        h->known = saved_known;
        return SIOHOLD_WAIT;
    }
    if (h->nframes == 0) {
        unsigned char hb[WS_MAX_HEADER];
        evbuffer_copyout(in, hb, f->header_len);
        memcpy(h->key, hb + f->header_len - 4, 4);
    }
    evbuffer_remove_buffer(in, h->held, flen);
    h->nframes++;
    h->payload += (size_t)f->payload_len;
    t->left = 0;
    if (!f->fin)
        return SIOHOLD_TAKEN;
    assemble(h);
    h->state = H_READY;
    return SIOHOLD_READY;
}

const unsigned char *siohold_message(const struct sio_hold *h, size_t *len, int *kind,
                                     unsigned char key[4])
{
    if (h->state != H_READY) {
        *len = 0;
        *kind = SIO_KIND_OTHER;
        return NULL;
    }
    *len = h->msglen;
    *kind = h->kind;
    memcpy(key, h->key, 4);
    return h->msg;
}

void siohold_done(struct sio_hold *h)
{
    reset(h);
}

void siohold_release(struct sio_hold *h, struct evbuffer *sink)
{
    evbuffer_add_buffer(sink, h->held);
    reset(h);
}

int siohold_pump_frame(struct sio_hold *h, struct ws_tracker *t, const struct ws_frame *f,
                       struct evbuffer *in, struct evbuffer *sink, int (*decide)(void *arg),
                       void *arg)
{
    int r = siohold_frame(h, t, f, in, sink);

    switch (r) {
    case SIOHOLD_PASS:
        return PUMP_PASS;
    case SIOHOLD_TAKEN:
        return PUMP_TAKEN;
    case SIOHOLD_WAIT:
        return PUMP_HOLD;
    case SIOHOLD_READY:
        return decide(arg) ? PUMP_TAKEN : PUMP_HOLD;
    default:
        return r;                   /* a close code */
    }
}
