/* libFuzzer harness for the client frame path of socketio routes: the frame
 * tracker (ws.c) and message holding (siohold.c), driven the way relay.c
 * drives them, on arbitrary frame sequences (any opcode, FIN and RSV bits,
 * masked or not, empty fragments, control frames between fragments)
 * arriving in arbitrary chunks. Build and run, e.g.:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc t/fuzz/frames_fuzz.c \
 *       src/siohold.c src/sioparse.c src/ws.c src/util.c -levent -lcrypto -o /tmp/frames_fuzz
 *   /tmp/frames_fuzz -max_total_time=30 t/fuzz/corpus/frames
 * Input: a chunk-size seed byte, then records [flags][len][payload...]:
 * flags bit 0 FIN, bits 1-3 RSV, bit 4 unmasked, bits 4-7 also pick the
 * opcode. Invariants: what reaches the backend side (the sink) is a valid
 * frame sequence in which no text message that socket.io could read as a
 * CONNECT appears unchecked ("40...", "4", "4" and white space); every
 * message handed over for checking is one; held bytes stay bounded. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "siohold.h"
#include "sioparse.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); abort(); } } while (0)

static const int OPS[16] = { 0, 1, 2, 8, 9, 10, 1, 0, 1, 0, 3, 11, 1, 0, 2, 9 };

static void encode(struct evbuffer *out, int fin, int rsv, int op, int masked,
                   const unsigned char *p, size_t n, unsigned seed)
{
    unsigned char h[14];
    size_t hl = 0;
    unsigned char key[4] = { (unsigned char)seed, (unsigned char)(seed >> 3), 0x5a, (unsigned char)(n * 7) };

    h[hl++] = (unsigned char)((fin ? 0x80 : 0) | (rsv << 4) | op);
    if (n < 126) {
        h[hl++] = (unsigned char)((masked ? 0x80 : 0) | n);
    } else {
        h[hl++] = (unsigned char)((masked ? 0x80 : 0) | 126);
        h[hl++] = (unsigned char)(n >> 8);
        h[hl++] = (unsigned char)n;
    }
    if (masked) {
        memcpy(h + hl, key, 4);
        hl += 4;
    }
    evbuffer_add(out, h, hl);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = masked ? p[i] ^ key[i & 3] : p[i];
        evbuffer_add(out, &c, 1);
    }
}

/* The sink as the backend would read it: a valid client frame sequence;
 * every text message's beginning is no CONNECT. */
static void check_sink(struct evbuffer *sink)
{
    size_t len = evbuffer_get_length(sink), pos = 0;
    const unsigned char *b = len ? evbuffer_pullup(sink, -1) : NULL;
    struct ws_tracker t;
    unsigned char first[2];
    size_t known = 0;
    int text = 0;

    memset(&t, 0, sizeof(t));
    t.from_client = 1;
    while (pos < len) {
        struct ws_frame f;
        size_t avail = len - pos;
        int r = ws_parse_header(b + pos, avail < WS_MAX_HEADER ? avail : WS_MAX_HEADER, &f);
        if (r == 0)
            break;                  /* a frame still on its way */
        CHECK(r == 1);
        CHECK(ws_tracker_begin(&t, &f) == 0);
        CHECK(f.rsv == 0);
        size_t have = avail - f.header_len < f.payload_len ? avail - f.header_len : (size_t)f.payload_len;
        if (f.opcode == WS_OP_TEXT || f.opcode == WS_OP_BINARY) {
            text = f.opcode == WS_OP_TEXT;
            known = 0;
        }
        if (f.opcode < 8 && text) {
            for (size_t i = 0; i < have && known < 2; i++)
                first[known++] = b[pos + f.header_len + i] ^ b[pos + f.header_len - 4 + (i & 3)];
            int complete = f.fin && have == f.payload_len;
            int kind = socketio_packet_kind(first, known, complete);
            CHECK(kind != SIO_KIND_CONNECT && kind != SIO_KIND_BAD);
        }
        if (have < f.payload_len)
            break;
        pos += f.header_len + (size_t)f.payload_len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct evbuffer *stream, *in, *sink;
    struct sio_hold *h;
    struct ws_tracker t;
    size_t pos = 1, chunk;
    int closed = 0;

    if (size < 1)
        return 0;
    chunk = (size_t)(data[0] % 32) + 1;
    stream = evbuffer_new();
    in = evbuffer_new();
    sink = evbuffer_new();
    h = siohold_new(socketio_hold_kind, NULL);
    memset(&t, 0, sizeof(t));
    t.from_client = 1;
    t.max_message = (data[0] & 0x80) ? 64 : 0;

    while (pos + 2 <= size) {
        int fl = data[pos], n = data[pos + 1];
        pos += 2;
        if ((size_t)n > size - pos)
            n = (int)(size - pos);
        encode(stream, fl & 1, (fl >> 1) & 7, OPS[(fl >> 4) & 15], !((fl & 0x10) && (fl & 0x20)),
               data + pos, (size_t)n, (unsigned)pos);
        pos += (size_t)n;
    }

    /* The relay's loop, fed chunk by chunk. */
    while (!closed && (evbuffer_get_length(stream) || evbuffer_get_length(in))) {
        size_t before = evbuffer_get_length(in);
        evbuffer_remove_buffer(stream, in, chunk);
        for (;;) {
            if (t.left) {
                size_t k = evbuffer_get_length(in) < t.left ? evbuffer_get_length(in) : (size_t)t.left;
                if (!k)
                    break;
                evbuffer_remove_buffer(in, sink, k);
                t.left -= k;
                continue;
            }
            unsigned char hb[WS_MAX_HEADER];
            struct ws_frame f;
            size_t avail = evbuffer_get_length(in);
            size_t n = avail < sizeof(hb) ? avail : sizeof(hb);
            evbuffer_copyout(in, hb, n);
            int r = ws_parse_header(hb, n, &f);
            if (r == 0)
                break;
            if (r < 0) {
                closed = 1;
                break;
            }
            int sr = siohold_frame(h, &t, &f, in, sink);
            if (sr == SIOHOLD_WAIT) {
                size_t ml;
                int kind;
                unsigned char key[4];
                if (siohold_message(h, &ml, &kind, key)) {
                    /* A verdict came (the check is socketio.c's). */
                    siohold_done(h);
                    continue;
                }
                break;
            }
            if (sr >= 1000) {
                closed = 1;
                break;
            }
            if (sr == SIOHOLD_READY) {
                size_t ml;
                int kind;
                unsigned char key[4];
                const unsigned char *m = siohold_message(h, &ml, &kind, key);
                CHECK(m != NULL || ml == 0);
                CHECK(kind == SIO_KIND_CONNECT || kind == SIO_KIND_BAD);
                CHECK(ml <= SIO_HOLD_MAX_PAYLOAD);
                CHECK(socketio_packet_kind(m, ml, 1) == kind);
                siohold_done(h);
            }
            CHECK(siohold_held(h) <= SIO_HOLD_MAX_PAYLOAD + SIO_HOLD_MAX_FRAMES * WS_MAX_HEADER);
        }
        if (!evbuffer_get_length(stream) && evbuffer_get_length(in) == before)
            break;                  /* nothing more will come */
    }
    check_sink(sink);
    siohold_free(h);
    evbuffer_free(stream);
    evbuffer_free(in);
    evbuffer_free(sink);
    return 0;
}
