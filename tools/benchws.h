/* benchws: the RFC 6455 pieces wsgate-bench's client and echo server share
 * (accept key, frame header codec, masking). Pure functions, no I/O, so the
 * load generator does not link the gateway's own parser: a bug there must
 * not hide behind the same bug here. */
#ifndef BENCHWS_H
#define BENCHWS_H

#include <stddef.h>
#include <stdint.h>

#define BWS_OP_CONT 0x0
#define BWS_OP_TEXT 0x1
#define BWS_OP_BINARY 0x2
#define BWS_OP_CLOSE 0x8
#define BWS_OP_PING 0x9
#define BWS_OP_PONG 0xA

/* Longest frame header: 2 + 8 (length) + 4 (mask). */
#define BWS_MAX_HEADER 14

struct bws_frame {
    int fin;
    int rsv;                /* the three RSV bits, 0 unless an extension */
    int opcode;
    int masked;
    unsigned char mask[4];
    uint64_t len;           /* payload length */
    size_t header_len;      /* bytes before the payload */
};

/* Sec-WebSocket-Accept for key (NUL-terminated): base64(SHA-1(key + GUID)),
 * written to out (at least 29 bytes) NUL-terminated. */
void bws_accept_key(const char *key, char out[29]);

/* A fresh random Sec-WebSocket-Key (base64 of 16 random bytes), 25 bytes
 * with the NUL. Returns 0, or -1 when the random generator fails. */
int bws_new_key(char out[25]);

/* Parses a frame header from buf[0..n). Returns 1 when complete (f filled),
 * 0 when more bytes are needed, -1 on a header no peer may send (64-bit
 * length with the top bit set, control frame longer than 125 bytes or
 * fragmented). */
int bws_parse_header(const unsigned char *buf, size_t n, struct bws_frame *f);

/* Writes a frame header for a payload of len bytes; mask NULL for an
 * unmasked (server) frame. Returns its length (<= BWS_MAX_HEADER). */
size_t bws_write_header(unsigned char *out, int fin, int opcode, uint64_t len,
                        const unsigned char *mask);

/* dst[i] = src[i] ^ mask[(i + off) % 4] for i < n; dst may equal src. */
void bws_mask(unsigned char *dst, const unsigned char *src, size_t n,
              const unsigned char mask[4], size_t off);

/* The value of header name (case-insensitive) in a response or request head
 * (NUL-terminated, lines ending in CRLF, first line skipped), trimmed and
 * copied to out. Returns 0, or -1 when absent or longer than outlen - 1. */
int bws_header_value(const char *head, const char *name, char *out, size_t outlen);

#endif
