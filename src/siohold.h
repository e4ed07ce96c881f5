/* Client text messages on "socketio on" routes (and "reauth on" routes),
 * held at message level until wsgate knows whether the backend would read
 * them as a CONNECT (or they are a re-auth, which the backend never sees): however the
 * client fragments a message, no byte of a CONNECT reaches the backend
 * before it is checked (SPEC §10). Pure: frames in, frames out. */
#ifndef WSGATE_SIOHOLD_H
#define WSGATE_SIOHOLD_H

#include <stddef.h>

struct evbuffer;
struct ws_frame;
struct ws_tracker;
struct sio_hold;

/* Largest CONNECT message read, and most frames one may be split into
 * (empty fragments included): what is held per connection is bounded by
 * SIO_HOLD_MAX_PAYLOAD + SIO_HOLD_MAX_FRAMES * 14 bytes. */
#define SIO_HOLD_MAX_PAYLOAD (16 * 1024)
#define SIO_HOLD_MAX_FRAMES 64

/* Results of siohold_frame; any value >= 1000 is a close code. */
#define SIOHOLD_PASS 0              /* relay this frame as usual */
#define SIOHOLD_TAKEN 1             /* the frame is held */
#define SIOHOLD_WAIT 2              /* more bytes, or the held message's verdict, needed */
#define SIOHOLD_READY 3             /* the frame completed a held message: check it */

/* Most payload bytes a classifier is shown before the message is held
 * whole: a socket.io re-auth event ("42/namespace,12[\"wsgate:reauth\"")
 * is told within that. */
#define SIO_HOLD_PEEK 300

/* What the first n payload bytes of a text message are (complete: they are
 * all of it): SIO_KIND_OTHER (released as it came), SIO_KIND_MORE (more
 * bytes needed), anything else (held whole; siohold_message reports the
 * classifier's verdict on the whole message). */
typedef int (*siohold_classify)(void *arg, const unsigned char *p, size_t n, int complete);

struct sio_hold *siohold_new(siohold_classify classify, void *arg);
void siohold_free(struct sio_hold *h);

/* At the start of client frame f (header parsed, its bytes at the head of
 * in). Runs the frame tracker t on it (restored when the result is
 * SIOHOLD_WAIT), so a close code may come from it (1002, 1009), from an
 * RSV bit (1002: nothing is negotiated on these routes), from a held
 * message over SIO_HOLD_MAX_PAYLOAD (1009) or SIO_HOLD_MAX_FRAMES (1008).
 * On SIOHOLD_PASS the frames held before f, if any, were appended to sink
 * unchanged (they began a message that is no CONNECT); on SIOHOLD_TAKEN
 * and SIOHOLD_READY f was removed from in and t->left is 0; on a close
 * code t->left covers f, to be discarded. */
int siohold_frame(struct sio_hold *h, struct ws_tracker *t, const struct ws_frame *f,
                  struct evbuffer *in, struct evbuffer *sink);

/* siohold_frame for a relay layer's frame hook: its result in the pump's
 * terms (pump.h: PUMP_PASS, PUMP_TAKEN, PUMP_HOLD, or a close code), with
 * a complete held message handed to decide(arg), which returns 0 while it
 * waits (a lookup under way) and 1 once the message is dealt with. */
int siohold_pump_frame(struct sio_hold *h, struct ws_tracker *t, const struct ws_frame *f,
                       struct evbuffer *in, struct evbuffer *sink, int (*decide)(void *arg),
                       void *arg);

/* After SIOHOLD_READY: the whole message unmasked, its socketio_packet_kind
 * (SIO_KIND_CONNECT or SIO_KIND_BAD) and the masking key of its first
 * frame. Frames wait (SIOHOLD_WAIT) until siohold_done(). */
const unsigned char *siohold_message(const struct sio_hold *h, size_t *len, int *kind,
                                     unsigned char key[4]);
/* The held message was forwarded rewritten or refused: forget it. */
void siohold_done(struct sio_hold *h);
/* The held message is relayed after all: its frames go to sink as they
 * came, and it is forgotten. */
void siohold_release(struct sio_hold *h, struct evbuffer *sink);
/* Bytes held (raw frames), for bounds checks. */
size_t siohold_held(const struct sio_hold *h);

#endif
