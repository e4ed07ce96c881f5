/* The frame pump: moves WebSocket frames from one evbuffer to another as
 * chain moves, tracking frame boundaries (ws.c) so that a close can be put
 * between frames and a bad client frame dropped, and reports what it saw.
 * Pure: no session, no sockets, no clock; relay.c acts on the reports. */
#ifndef WSGATE_PUMP_H
#define WSGATE_PUMP_H

#include <stddef.h>
#include <stdint.h>

#include "ws.h"

struct evbuffer;
struct event;

/* One direction: frames from a source buffer to a sink buffer. */
struct pump_dir {
    struct ws_tracker t;
    int paused;                     /* the sink was over the high mark: source reading off */
    int inject_code;                /* close code to send the sink at the next boundary */
    int injected;                   /* our close frame went to the sink */
    int discard;                    /* the current frame is dropped, not forwarded */
    int peer_closed;                /* the source answered our close with its own */
    uint64_t bytes;                 /* bytes forwarded to the sink */
    int fd;                         /* the source's socket when it is plain TCP, else -1 */
    struct event *rd;               /* relay.c: reads that plain source itself, or NULL */
};

/* Results of a frame hook (a layer looking at client messages). */
#define PUMP_PASS 0                 /* relay the frame; the hook began the tracker */
#define PUMP_HOLD 1                 /* nothing consumed: stop until called again */
#define PUMP_TAKEN 2                /* the hook consumed or holds the frame */

struct pump_hooks {
    /* At each frame boundary of the direction, before the next frame:
     * frames owed to the sink go out (a layer's answers, our close). */
    void (*boundary)(void *arg, struct pump_dir *d, struct evbuffer *sink);
    /* NULL, or at the start of each frame not after our close (header
     * parsed, its bytes at the head of in), before the tracker: PUMP_PASS,
     * PUMP_HOLD, PUMP_TAKEN or a close code (>= 1000). */
    int (*frame)(void *arg, const struct ws_frame *f, struct evbuffer *in);
    /* After PUMP_TAKEN: 1 when the caller no longer relays (stop at once). */
    int (*stopped)(void *arg);
};

/* Why pump_frames returned. */
enum pump_stop {
    PUMP_IDLE,                      /* everything complete was moved; more input needed */
    PUMP_FULL,                      /* the sink holds high_water bytes: d->paused is set */
    PUMP_BAD_FRAME,                 /* a client frame broke the rules: *bad_code, d->discard set */
    PUMP_BAD_HEADER,                /* a header that cannot be framed: the input was dropped */
    PUMP_STOPPED                    /* the frame hook ended the relaying */
};

struct pump_report {
    uint64_t moved;                 /* bytes appended to the sink (also added to d->bytes) */
    int bad_code;                   /* PUMP_BAD_FRAME: 1002, 1008 or 1009 */
    int close_code;                 /* code of the first close frame passed, 0 when none */
};

/* Moves from in to out. Frames after our close are dropped, except that a
 * close frame from the source marks d->peer_closed. */
enum pump_stop pump_frames(struct pump_dir *d, struct evbuffer *in, struct evbuffer *out,
                           size_t high_water, const struct pump_hooks *h, void *arg,
                           struct pump_report *rep);

#endif
