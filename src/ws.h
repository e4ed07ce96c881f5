/* WebSocket frame-header tracking (RFC 6455 §5.2). The relay never unmasks
 * or re-frames payloads; it only needs to know where frames start and end,
 * how long a message is, and how to write its own close frames. */
#ifndef WSGATE_WS_H
#define WSGATE_WS_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

#define WS_OP_CONT 0x0
#define WS_OP_TEXT 0x1
#define WS_OP_BINARY 0x2
#define WS_OP_CLOSE 0x8
#define WS_OP_PING 0x9
#define WS_OP_PONG 0xA

#define WS_MAX_HEADER 14

struct ws_frame {
    int fin;
    int rsv;                        /* the three RSV bits */
    int opcode;
    int masked;
    uint64_t payload_len;
    size_t header_len;              /* including the masking key */
};

/* Parses a frame header from the n bytes at p. Returns 1 with f filled, 0
 * when more bytes are needed, -1 when the header is malformed (64-bit
 * length with the top bit set). */
int ws_parse_header(const unsigned char *p, size_t n, struct ws_frame *f);

/* Per-direction state: where the current frame ends and how large the
 * current (possibly fragmented) message has grown. */
struct ws_tracker {
    int from_client;                /* frames must be masked */
    uint64_t max_message;           /* 0 = unlimited */
    uint64_t left;                  /* bytes of the current frame still to pass */
    int in_message;                 /* a fragmented data message is open */
    uint64_t message_size;
    int last_opcode;                /* opcode of the frame being passed */
};

/* Validates a parsed header against the tracker's state and advances it.
 * Returns 0, or the close code to answer: 1002 protocol error, 1009
 * message too big. */
int ws_tracker_begin(struct ws_tracker *t, const struct ws_frame *f);

/* Appends a close frame with code and reason (≤ 123 bytes). masked: as a
 * client must send it (toward the backend), with a random key. */
void ws_write_close(struct evbuffer *out, int code, const char *reason, int masked);
/* Appends one unfragmented text frame holding payload; masked: toward the
 * backend, with a random key. For wsgate's own messages (re-auth answers,
 * a replayed graphql-ws connection_init). */
void ws_write_text(struct evbuffer *out, const void *payload, size_t n, int masked);

/* Reads the status code of a close frame whose header is f from the first
 * bytes of buf (payload possibly masked); 1005 when it carries none. */
int ws_close_code(const unsigned char *payload, size_t n, const struct ws_frame *f,
                  const unsigned char *mask);

#endif
