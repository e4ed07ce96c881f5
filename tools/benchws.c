/* benchws: RFC 6455 accept key, frame headers and masking for wsgate-bench. */
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "benchws.h"

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void bws_accept_key(const char *key, char out[29])
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char in[128];
    size_t kl = strlen(key);

    /* Keys are 24 bytes; a longer one cannot match any valid accept. */
    if (kl > sizeof in - sizeof ws_guid)
        kl = sizeof in - sizeof ws_guid;
    memcpy(in, key, kl);
    memcpy(in + kl, ws_guid, sizeof ws_guid - 1);
    EVP_Digest(in, kl + sizeof ws_guid - 1, md, NULL, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, sizeof md);
}

int bws_new_key(char out[25])
{
    unsigned char raw[16];

    if (RAND_bytes(raw, sizeof raw) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, raw, sizeof raw);
    return 0;
}

int bws_parse_header(const unsigned char *buf, size_t n, struct bws_frame *f)
{
    size_t need = 2;
    uint64_t len;

    if (n < 2)
        return 0;
    f->fin = buf[0] >> 7;
    f->rsv = (buf[0] >> 4) & 7;
    f->opcode = buf[0] & 0x0f;
    f->masked = buf[1] >> 7;
    len = buf[1] & 0x7f;
    if (len == 126)
        need += 2;
    else if (len == 127)
        need += 8;
    if (f->masked)
        need += 4;
    if (n < need)
        return 0;
    if (len == 126) {
        len = (uint64_t)buf[2] << 8 | buf[3];
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        if (len >> 63)
            return -1;
    }
    if ((f->opcode & 8) && (len > 125 || !f->fin))
        return -1;
    if (f->masked)
        memcpy(f->mask, buf + need - 4, 4);
    f->len = len;
    f->header_len = need;
    return 1;
}

size_t bws_write_header(unsigned char *out, int fin, int opcode, uint64_t len,
                        const unsigned char *mask)
{
    size_t n = 2;

    out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (unsigned char)len;
    } else if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        n = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void bws_mask(unsigned char *dst, const unsigned char *src, size_t n,
              const unsigned char mask[4], size_t off)
{
    size_t i = 0;

    /* Word at a time once aligned on the key: 64 KiB messages are masked
     * on the same core as the echo backend, so the byte loop would show. */
    while (i < n && ((i + off) & 3))
        dst[i] = src[i] ^ mask[(i + off) & 3], i++;
    if (n - i >= 8) {
        uint32_t k32;
        uint64_t k;

        memcpy(&k32, mask, 4);
        k = (uint64_t)k32 << 32 | k32;
        for (; n - i >= 8; i += 8) {
            uint64_t w;

            memcpy(&w, src + i, 8);
            w ^= k;
            memcpy(dst + i, &w, 8);
        }
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ mask[(i + off) & 3];
}

int bws_header_value(const char *head, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");

    while (p && p[2] != '\r') {
        const char *line = p + 2, *end = strstr(line, "\r\n");

        if (!end)
            return -1;
        if ((size_t)(end - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
            const char *v = line + nl + 1;

            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = end;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if ((size_t)(ve - v) >= outlen)
                return -1;
            memcpy(out, v, (size_t)(ve - v));
            out[ve - v] = 0;
            return 0;
        }
        p = end;
    }
    return -1;
}
