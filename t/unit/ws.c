/* Frame-header parsing, message tracking and the close frames we write. */
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>

#include "tap.h"
#include "ws.h"

static int begin(struct ws_tracker *t, int fin, int op, int masked, uint64_t len)
{
    struct ws_frame f = { fin, 0, op, masked, len, 2 + (masked ? 4 : 0) };
    return ws_tracker_begin(t, &f);
}

int main(void)
{
    struct ws_frame f;
    unsigned char h[14];

    /* lengths: 7-bit, 16-bit, 64-bit */
    h[0] = 0x82; h[1] = 0x80 | 5;
    is_int(ws_parse_header(h, 5, &f), 0, "masked header needs 6 bytes");
    is_int(ws_parse_header(h, 6, &f), 1, "masked short header parses");
    is_int(f.payload_len, 5, "7-bit length");
    is_int(f.header_len, 6, "header length includes the mask");
    is_int(f.opcode, 2, "binary opcode");
    ok(f.fin && f.masked, "fin and mask bits");
    h[0] = 0x01; h[1] = 126; h[2] = 0x01; h[3] = 0x00;
    is_int(ws_parse_header(h, 3, &f), 0, "16-bit length needs 4 bytes");
    is_int(ws_parse_header(h, 4, &f), 1, "16-bit length parses");
    is_int(f.payload_len, 256, "16-bit length value");
    ok(!f.fin, "fin clear");
    h[0] = 0x82; h[1] = 127;
    memset(h + 2, 0, 8); h[5] = 0x01; /* 2^32 */
    is_int(ws_parse_header(h, 10, &f), 1, "64-bit length parses");
    is_int(f.payload_len, 4294967296LL, "64-bit length value");
    h[2] = 0x80;
    is_int(ws_parse_header(h, 10, &f), -1, "64-bit length with the top bit set is malformed");
    is_int(ws_parse_header(h, 1, &f), 0, "one byte is not a header");

    struct ws_tracker t = { .from_client = 1, .max_message = 100 };
    is_int(begin(&t, 1, WS_OP_TEXT, 0, 5), 1002, "unmasked client frame -> 1002");
    is_int(begin(&t, 1, WS_OP_TEXT, 1, 5), 0, "masked client frame ok");
    is_int(t.left, 11, "frame bytes to pass = header + payload");
    is_int(begin(&t, 1, WS_OP_CONT, 1, 5), 1002, "continuation without a message -> 1002");
    is_int(begin(&t, 0, WS_OP_BINARY, 1, 60), 0, "first fragment");
    is_int(begin(&t, 1, WS_OP_PING, 1, 4), 0, "ping between fragments");
    is_int(begin(&t, 1, WS_OP_TEXT, 1, 4), 1002, "new message inside a fragmented one -> 1002");
    t.in_message = 1; t.message_size = 60;
    is_int(begin(&t, 1, WS_OP_CONT, 1, 41), 1009, "fragments adding up over max -> 1009");
    t.in_message = 0;
    is_int(begin(&t, 1, WS_OP_BINARY, 1, 100), 0, "message of exactly max passes");
    is_int(begin(&t, 1, WS_OP_BINARY, 1, 101), 1009, "single frame over max -> 1009");
    t.in_message = 0;
    is_int(begin(&t, 0, WS_OP_PING, 1, 4), 1002, "fragmented control frame -> 1002");
    is_int(begin(&t, 1, WS_OP_PING, 1, 126), 1002, "control frame over 125 bytes -> 1002");
    is_int(begin(&t, 1, 0x3, 1, 1), 1002, "reserved opcode -> 1002");

    struct ws_tracker u = { .from_client = 0, .max_message = 0 };
    is_int(begin(&u, 1, WS_OP_BINARY, 0, 1u << 30), 0, "server frames are unmasked; 0 = unlimited");

    /* close frames */
    struct evbuffer *b = evbuffer_new();
    unsigned char out[64];
    ws_write_close(b, 4401, "token expired", 0);
    size_t n = evbuffer_get_length(b);
    evbuffer_remove(b, out, n);
    is_int(n, 2 + 2 + 13, "unmasked close frame length");
    ok(out[0] == 0x88 && out[1] == 15, "close opcode, fin, length");
    ok(out[2] == (4401 >> 8) && out[3] == (4401 & 0xff), "close code big-endian");
    ok(memcmp(out + 4, "token expired", 13) == 0, "close reason");
    ws_write_close(b, 4403, "token revoked", 1);
    n = evbuffer_get_length(b);
    evbuffer_remove(b, out, n);
    is_int(n, 2 + 4 + 2 + 13, "masked close frame length");
    ok(out[1] == (0x80 | 15), "mask bit set toward the backend");
    is_int(ws_parse_header(out, n, &f), 1, "our masked close parses");
    is_int(ws_close_code(out + 6, 2, &f, out + 2), 4403, "masked close code reads back");
    unsigned char plain[2] = { 0x03, 0xe8 };
    f.payload_len = 2;
    is_int(ws_close_code(plain, 2, &f, NULL), 1000, "unmasked close code reads");
    f.payload_len = 0;
    is_int(ws_close_code(plain, 0, &f, NULL), 1005, "empty close -> 1005");
    evbuffer_free(b);
    return tap_done();
}
