/* The relay: frames moved between client and backend as evbuffer chains,
 * with frame-boundary tracking and bounded buffers in each direction. */
#ifndef WSGATE_RELAY_H
#define WSGATE_RELAY_H

struct session;
struct session_ops;
struct relay_dir;

/* The handler of a declined upgrade (S_RESPONSE): relay_response until
 * the backend's answer is through. */
extern const struct session_ops relay_response_ops;

/* Bytes queued toward one side before reading the other side pauses. */
#define RELAY_HIGH_WATER (256 * 1024)
#define RELAY_LOW_WATER (RELAY_HIGH_WATER / 2)

/* 101 relayed: start moving frames both ways. */
void relay_start(struct session *s);
/* Move what the direction's source has buffered to its sink. */
void relay_pump(struct session *s, struct relay_dir *d);
/* The direction's sink drained below the low mark. */
void relay_resume(struct session *s, struct relay_dir *d);
/* Gateway-initiated close: close frames to both sides at frame
 * boundaries, then wait for the replies (bounded). */
void relay_close(struct session *s, int code, const char *reason, const char *cause);
/* Idle timer fired: close with 1001 if nothing moved for idle_timeout. */
void relay_idle_check(struct session *s);
/* Backend declined the upgrade: pass its response through, then close. */
void relay_response(struct session *s);

#endif
