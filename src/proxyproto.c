/* The PROXY protocol header, v1 (text) and v2 (binary), read strictly:
 * a header that is anything but what HAProxy's specification describes is
 * refused, since whoever can forge it chooses the client address that
 * limits, logs and the backend's X-Forwarded-For trust. */
#include "proxyproto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const unsigned char v2sig[12] = "\r\n\r\n\0\r\nQUIT\n";

static int fail(char *err, size_t errlen, const char *why)
{
    if (errlen)
        snprintf(err, errlen, "%s", why);
    return -1;
}

size_t proxyproto_wanted(const unsigned char *buf, size_t len)
{
    if (len == 0 || buf[0] != '\r')
        return 0;
    if (len < 16)
        return 16 - len;
    size_t total = 16 + (((size_t)buf[14] << 8) | buf[15]);
    if (total > PROXYPROTO_V2_MAX)
        return 0;           /* the parser refuses it */
    return total > len ? total - len : 0;
}

/* One decimal port: 1 to 5 digits, no sign, no leading zero, <= 65535. */
static int v1_port(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = v;
    return 0;
}

/* line is the header without its CRLF, NUL-terminated by the caller. */
static int v1_fields(char *line, struct proxyproto_result *r, char *err, size_t errlen)
{
    char *f[5];
    int fam, nf = 0;
    unsigned sport, dport;
    unsigned char dst[16];
    char *p;

    if (strncmp(line, "PROXY UNKNOWN", 13) == 0 && (line[13] == '\0' || line[13] == ' ')) {
        /* The sender does not know the client: keep the real peer. */
        r->local = 1;
        return 0;
    }
    if (strncmp(line, "PROXY TCP4 ", 11) == 0)
        fam = AF_INET;
    else if (strncmp(line, "PROXY TCP6 ", 11) == 0)
        fam = AF_INET6;
    else
        return fail(err, errlen, "v1: unknown protocol");
    /* Exactly four fields, each separated by one space. */
    p = line + 11;
    for (;;) {
        if (nf == 5)
            return fail(err, errlen, "v1: too many fields");
        f[nf++] = p;
        char *sp = strchr(p, ' ');
        if (!sp)
            break;
        *sp = '\0';
        p = sp + 1;
    }
    if (nf != 4)
        return fail(err, errlen, "v1: wrong number of fields");
    if (v1_port(f[2], strlen(f[2]), &sport) < 0 || v1_port(f[3], strlen(f[3]), &dport) < 0)
        return fail(err, errlen, "v1: invalid port");
    memset(&r->src, 0, sizeof(r->src));
    if (fam == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&r->src;
        if (inet_pton(AF_INET, f[0], &in->sin_addr) != 1 || inet_pton(AF_INET, f[1], dst) != 1)
            return fail(err, errlen, "v1: invalid IPv4 address");
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)sport);
        r->srclen = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&r->src;
        if (inet_pton(AF_INET6, f[0], &in6->sin6_addr) != 1 || inet_pton(AF_INET6, f[1], dst) != 1)
            return fail(err, errlen, "v1: invalid IPv6 address");
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)sport);
        r->srclen = sizeof(*in6);
    }
    return 0;
}

static int parse_v1(const unsigned char *buf, size_t len, struct proxyproto_result *r,
                    char *err, size_t errlen)
{
    char line[PROXYPROTO_V1_MAX + 1];
    size_t n = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX;
    const unsigned char *lf;

    if (memcmp(buf, "PROXY ", len < 6 ? len : 6) != 0)
        return fail(err, errlen, "v1: no PROXY signature");
    lf = memchr(buf, '\n', n);
    if (!lf) {
        if (len >= PROXYPROTO_V1_MAX)
            return fail(err, errlen, "v1: header longer than 107 bytes");
        /* Only printable ASCII may come before the CRLF. */
        for (size_t i = 0; i < len; i++)
            if ((buf[i] < 0x20 || buf[i] > 0x7e) && !(buf[i] == '\r' && i == len - 1))
                return fail(err, errlen, "v1: invalid byte");
        return 0;
    }
    size_t hl = (size_t)(lf - buf) + 1;
    if (hl < 8 || buf[hl - 2] != '\r')
        return fail(err, errlen, "v1: header not ended by CRLF");
    for (size_t i = 0; i < hl - 2; i++)
        if (buf[i] < 0x20 || buf[i] > 0x7e)
            return fail(err, errlen, "v1: invalid byte");
    memcpy(line, buf, hl - 2);
    line[hl - 2] = '\0';
    r->version = 1;
    r->local = 0;
    if (v1_fields(line, r, err, errlen) < 0)
        return -1;
    return (int)hl;
}

static int parse_v2(const unsigned char *buf, size_t len, struct proxyproto_result *r,
                    char *err, size_t errlen)
{
    size_t total, addrlen, off;
    unsigned cmd, fam;

    if (memcmp(buf, v2sig, len < 12 ? len : 12) != 0)
        return fail(err, errlen, "v2: no PROXY signature");
    if (len >= 13) {
        if ((buf[12] >> 4) != 2)
            return fail(err, errlen, "v2: unsupported version");
        if ((buf[12] & 0x0f) > 1)
            return fail(err, errlen, "v2: unknown command");
    }
    if (len < 16)
        return 0;
    total = 16 + (((size_t)buf[14] << 8) | buf[15]);
    if (total > PROXYPROTO_V2_MAX)
        return fail(err, errlen, "v2: header too long");
    if (len < total)
        return 0;
    cmd = buf[12] & 0x0f;
    fam = buf[13];
    r->version = 2;
    r->local = 0;
    if (cmd == 0 || fam == 0x00) {
        /* LOCAL (the balancer's own health check) or an unspecified
         * family: the real peer is the client; the rest is ignored. */
        r->local = 1;
        return (int)total;
    }
    memset(&r->src, 0, sizeof(r->src));
    if (fam == 0x11) {          /* TCP over IPv4 */
        struct sockaddr_in *in = (struct sockaddr_in *)&r->src;
        addrlen = 12;
        if (total - 16 < addrlen)
            return fail(err, errlen, "v2: address block too short");
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, buf + 16, 4);
        memcpy(&in->sin_port, buf + 24, 2);
        r->srclen = sizeof(*in);
    } else if (fam == 0x21) {   /* TCP over IPv6 */
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&r->src;
        addrlen = 36;
        if (total - 16 < addrlen)
            return fail(err, errlen, "v2: address block too short");
        in6->sin6_family = AF_INET6;
        memcpy(&in6->sin6_addr, buf + 16, 16);
        memcpy(&in6->sin6_port, buf + 48, 2);
        r->srclen = sizeof(*in6);
    } else {
        return fail(err, errlen, "v2: unsupported address family or transport");
    }
    /* TLVs are skipped, but each must lie inside the header exactly. */
    for (off = 16 + addrlen; off < total;) {
        size_t vlen;
        if (total - off < 3)
            return fail(err, errlen, "v2: truncated TLV");
        vlen = ((size_t)buf[off + 1] << 8) | buf[off + 2];
        if (total - off - 3 < vlen)
            return fail(err, errlen, "v2: TLV past the header");
        off += 3 + vlen;
    }
    return (int)total;
}

int proxyproto_parse(const unsigned char *buf, size_t len, struct proxyproto_result *r,
                     char *err, size_t errlen)
{
    if (len == 0)
        return 0;
    if (buf[0] == 'P')
        return parse_v1(buf, len, r, err, errlen);
    if (buf[0] == '\r')
        return parse_v2(buf, len, r, err, errlen);
    return fail(err, errlen, "no PROXY protocol header");
}
