/* WebSocket frame-header tracking and the close frames wsgate injects.
 * Payload bytes are never touched here; only headers are parsed. */
#include "ws.h"

#include <string.h>
#include <event2/buffer.h>
#include <openssl/rand.h>

int ws_parse_header(const unsigned char *p, size_t n, struct ws_frame *f)
{
    size_t need = 2;
    uint64_t len;

    if (n < 2)
        return 0;
    f->fin = p[0] >> 7;
    f->rsv = (p[0] >> 4) & 7;
    f->opcode = p[0] & 0x0f;
    f->masked = p[1] >> 7;
    len = p[1] & 0x7f;
    if (len == 126)
        need += 2;
    else if (len == 127)
        need += 8;
    if (f->masked)
        need += 4;
    if (n < need)
        return 0;
    if (len == 126) {
        len = (uint64_t)p[2] << 8 | p[3];
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        if (len >> 63)
            return -1;
    }
    f->payload_len = len;
    f->header_len = need;
    return 1;
}

int ws_tracker_begin(struct ws_tracker *t, const struct ws_frame *f)
{
    /* Set first: even a rejected frame must be skipped whole. */
    t->last_opcode = f->opcode;
    t->left = f->header_len + f->payload_len;
    if (t->from_client && !f->masked)
        return 1002;
    if (f->opcode >= 0x8) {
        /* Control frames may sit between fragments but never fragment. */
        if (!f->fin || f->payload_len > 125 || f->opcode > WS_OP_PONG)
            return 1002;
        return 0;
    }
    if (f->opcode == WS_OP_CONT) {
        if (!t->in_message)
            return 1002;
    } else if (f->opcode == WS_OP_TEXT || f->opcode == WS_OP_BINARY) {
        if (t->in_message)
            return 1002;
        t->in_message = 1;
        t->message_size = 0;
    } else {
        return 1002;
    }
    t->message_size += f->payload_len;
    if (t->max_message && t->message_size > t->max_message)
        return 1009;
    if (f->fin)
        t->in_message = 0;
    return 0;
}

void ws_write_close(struct evbuffer *out, int code, const char *reason, int masked)
{
    unsigned char frame[2 + 4 + 125];
    unsigned char payload[125];
    size_t rlen = reason ? strlen(reason) : 0, plen, o = 0;

    if (rlen > 123)
        rlen = 123;
    payload[0] = (unsigned char)(code >> 8);
    payload[1] = (unsigned char)code;
    if (rlen)
        memcpy(payload + 2, reason, rlen);
    plen = 2 + rlen;
    frame[o++] = 0x80 | WS_OP_CLOSE;
    frame[o++] = (unsigned char)((masked ? 0x80 : 0) | plen);
    if (masked) {
        unsigned char key[4];
        if (RAND_bytes(key, sizeof(key)) != 1)
            memset(key, 0x5a, sizeof(key));
        memcpy(frame + o, key, 4);
        o += 4;
        for (size_t i = 0; i < plen; i++)
            frame[o + i] = payload[i] ^ key[i & 3];
    } else {
        memcpy(frame + o, payload, plen);
    }
    evbuffer_add(out, frame, o + plen);
}

int ws_close_code(const unsigned char *payload, size_t n, const struct ws_frame *f,
                  const unsigned char *mask)
{
    unsigned char b[2];

    if (f->payload_len < 2 || n < 2)
        return 1005;
    b[0] = payload[0];
    b[1] = payload[1];
    if (mask) {
        b[0] ^= mask[0];
        b[1] ^= mask[1];
    }
    return b[0] << 8 | b[1];
}

void ws_write_text(struct evbuffer *out, const void *payload, size_t n, int masked)
{
    unsigned char h[14], key[4];
    size_t hl = 0;
    const unsigned char *p = payload;

    h[hl++] = 0x80 | WS_OP_TEXT;
    if (n < 126) {
        h[hl++] = (unsigned char)((masked ? 0x80 : 0) | n);
    } else if (n < 65536) {
        h[hl++] = (unsigned char)((masked ? 0x80 : 0) | 126);
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    } else {
        h[hl++] = (unsigned char)((masked ? 0x80 : 0) | 127);
        for (int i = 7; i >= 0; i--)
            h[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    if (!masked) {
        evbuffer_add(out, h, hl);
        evbuffer_add(out, payload, n);
        return;
    }
    if (RAND_bytes(key, sizeof(key)) != 1)
        memset(key, 0x5a, sizeof(key));
    memcpy(h + hl, key, 4);
    evbuffer_add(out, h, hl + 4);
    /* Masked in place in the output's own space: no copy of our own. */
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(out, (ev_ssize_t)(n ? n : 1), &v, 1) < 1)
        return;
    unsigned char *m = v.iov_base;
    for (size_t i = 0; i < n; i++)
        m[i] = p[i] ^ key[i & 3];
    v.iov_len = n;
    evbuffer_commit_space(out, &v, 1);
}
