/* The relay: frames moved between client and backend as evbuffer chains,
 * with frame-boundary tracking and bounded buffers in each direction. */
#ifndef WSGATE_RELAY_H
#define WSGATE_RELAY_H

#include "outcome.h"

struct evbuffer;
struct session;
struct session_ops;
struct pump_dir;
struct ws_frame;

/* A layer that reads client messages inside the relay (socket.io on
 * socketio routes): the relay calls it and knows nothing else of it. The
 * layer installs itself in s->layer. */
struct relay_layer {
    /* At the start of each client frame (header parsed, its bytes at the
     * head of in), before the frame tracker: PUMP_PASS with the tracker
     * begun by the layer, PUMP_HOLD (nothing consumed), PUMP_TAKEN (the
     * layer consumed or holds the frame), or a close code (>= 1000). */
    int (*client_frame)(struct session *s, const struct ws_frame *f, struct evbuffer *in);
    /* At a frame boundary of the backend-to-client stream: frames the
     * layer owes the client go out here. */
    void (*inject)(struct session *s, struct evbuffer *client_out);
    /* The client's output drained below the low mark. */
    void (*client_drained)(struct session *s);
    /* NULL, or once when the relay starts (before any frame moves). */
    void (*started)(struct session *s);
};

/* client_frame's results are the pump's (pump.h): PUMP_PASS, PUMP_HOLD,
 * PUMP_TAKEN, or a close code. */

/* The handler of a declined upgrade (S_RESPONSE): relay_response until
 * the backend's answer is through. */
extern const struct session_ops relay_response_ops;

/* Bytes queued toward one side before reading the other side pauses. */
#define RELAY_HIGH_WATER (256 * 1024)
#define RELAY_LOW_WATER (RELAY_HIGH_WATER / 2)

/* 101 relayed: start moving frames both ways. */
void relay_start(struct session *s);
/* Move what the direction's source has buffered to its sink. */
void relay_pump(struct session *s, struct pump_dir *d);
/* The direction's sink drained below the low mark. */
void relay_resume(struct session *s, struct pump_dir *d);
/* Gateway-initiated close: close frames to both sides at frame
 * boundaries, then wait for the replies (bounded). */
void relay_close(struct session *s, int code, const char *reason, enum outcome cause);
/* Idle timer fired: close with 1001 if nothing moved for idle_timeout. */
void relay_idle_check(struct session *s);
/* Backend declined the upgrade: pass its response through, then close. */
void relay_response(struct session *s);

#endif
