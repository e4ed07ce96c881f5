/* The PROXY protocol header parser (SPEC §13): v1 and v2, what is
 * accepted, what is refused, and that nothing past the header is read. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "proxyproto.h"
#include "tap.h"

static const unsigned char SIG[12] = "\r\n\r\n\0\r\nQUIT\n";

static size_t v2(unsigned char *out, int cmd, int fam, const unsigned char *body, size_t n)
{
    memcpy(out, SIG, 12);
    out[12] = (unsigned char)(0x20 | cmd);
    out[13] = (unsigned char)fam;
    out[14] = (unsigned char)(n >> 8);
    out[15] = (unsigned char)n;
    if (n)
        memcpy(out + 16, body, n);
    return 16 + n;
}

static const char *src_text(const struct proxyproto_result *r, char *buf, size_t len)
{
    if (r->src.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&r->src;
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(buf, len, "%s:%u", ip, ntohs(in->sin_port));
    } else if (r->src.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&r->src;
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, len, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
    return buf;
}

static int parse_str(const char *s, struct proxyproto_result *r, char *err, size_t errlen)
{
    return proxyproto_parse((const unsigned char *)s, strlen(s), r, err, errlen);
}

/* Every strict prefix of a valid header is incomplete. */
static int prefixes_incomplete(const unsigned char *h, size_t hl)
{
    struct proxyproto_result r;
    char err[96];

    for (size_t k = 0; k < hl; k++)
        if (proxyproto_parse(h, k, &r, err, sizeof(err)) != 0
            || k + proxyproto_wanted(h, k) > hl)
            return 0;
    return 1;
}

int main(void)
{
    struct proxyproto_result r;
    char err[96], txt[80];
    unsigned char b[4096];
    size_t n;

    /* ---- v1 ---- */
    const char *v1 = "PROXY TCP4 203.0.113.7 10.0.0.1 51234 8080\r\nGET / HTTP/1.1\r\n";
    is_int(parse_str(v1, &r, err, sizeof(err)), 44, "v1 TCP4: header length, the request not read");
    is_int(r.version, 1, "v1 TCP4: version");
    ok(!r.local, "v1 TCP4: an address");
    is_str(src_text(&r, txt, sizeof(txt)), "203.0.113.7:51234", "v1 TCP4: the source");
    ok(prefixes_incomplete((const unsigned char *)v1, 44), "v1 TCP4: every prefix is incomplete");

    is_int(parse_str("PROXY TCP6 2001:db8::7 ::1 4000 443\r\n", &r, err, sizeof(err)), 37, "v1 TCP6");
    is_str(src_text(&r, txt, sizeof(txt)), "[2001:db8::7]:4000", "v1 TCP6: the source");
    is_int(parse_str("PROXY UNKNOWN\r\n", &r, err, sizeof(err)), 15, "v1 UNKNOWN");
    ok(r.local, "v1 UNKNOWN keeps the real peer");
    ok(parse_str("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n", &r, err, sizeof(err)) > 0 && r.local,
       "v1 UNKNOWN with addresses: ignored");
    const char *v1max = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
    is_int(parse_str(v1max, &r, err, sizeof(err)), 104, "v1 at its longest");

    is_int(parse_str("PROXY TCP4 1.2.3.4", &r, err, sizeof(err)), 0, "v1 incomplete");
    is_int(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", &r, err, sizeof(err)), 0,
           "v1 incomplete before its LF");
    is_err(parse_str("GET / HTTP/1.1\r\n\r\n", &r, err, sizeof(err)), -1, err,
           "no PROXY protocol header", "a request without a header");
    is_err(parse_str("PROXZ", &r, err, sizeof(err)), -1, err, "v1: no PROXY signature",
           "a wrong signature is refused at once");
    is_err(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", &r, err, sizeof(err)), -1, err,
           "v1: header not ended by CRLF", "v1 with LF alone");
    is_err(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", &r, err, sizeof(err)), -1, err,
           NULL, "v1 with a CR inside");
    is_err(parse_str("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", &r, err, sizeof(err)), -1, err,
           NULL, "v1 with two spaces");
    is_err(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", &r, err, sizeof(err)), -1, err,
           NULL, "v1 with a trailing space");
    is_err(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", &r, err, sizeof(err)), -1, err,
           "v1: wrong number of fields", "v1 with three fields");
    is_err(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", &r, err, sizeof(err)), -1, err,
           "v1: wrong number of fields", "v1 with five fields");
    is_err(parse_str("PROXY TCP4 1 2 3 4 5 6 7\r\n", &r, err, sizeof(err)), -1, err,
           "v1: too many fields", "v1 with seven fields");
    is_err(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", &r, err, sizeof(err)), -1, err,
           "v1: invalid port", "v1 port over 65535");
    is_err(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", &r, err, sizeof(err)), -1, err,
           "v1: invalid port", "v1 port with a leading zero");
    is_err(parse_str("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", &r, err, sizeof(err)), -1, err,
           "v1: invalid port", "v1 negative port");
    is_err(parse_str("PROXY TCP4 ::1 ::1 1 2\r\n", &r, err, sizeof(err)), -1, err,
           "v1: invalid IPv4 address", "v1 TCP4 with IPv6 addresses");
    is_err(parse_str("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", &r, err, sizeof(err)), -1, err,
           "v1: invalid IPv6 address", "v1 TCP6 with IPv4 addresses");
    is_err(parse_str("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", &r, err, sizeof(err)), -1, err,
           "v1: invalid IPv4 address", "v1 octet over 255");
    is_err(parse_str("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", &r, err, sizeof(err)), -1, err,
           "v1: unknown protocol", "v1 UDP4");
    is_err(parse_str("PROXY TCP4 1.2.3.4\x01 5.6.7.8 1 2", &r, err, sizeof(err)), -1, err,
           "v1: invalid byte", "v1 control byte refused before the LF");
    memset(b, 'a', sizeof(b));
    memcpy(b, "PROXY UNKNOWN ", 14);
    is_err(proxyproto_parse(b, 107, &r, err, sizeof(err)), -1, err,
           "v1: header longer than 107 bytes", "v1 without LF in 107 bytes");
    b[105] = '\r';
    b[106] = '\n';
    is_int(proxyproto_parse(b, 200, &r, err, sizeof(err)), 107, "v1 of exactly 107 bytes");
    ok(proxyproto_wanted((const unsigned char *)"PROXY", 5) == 0, "v1: the reader peeks");

    /* ---- v2 ---- */
    unsigned char a4[12] = { 198, 51, 100, 9, 10, 0, 0, 1, 0xc8, 0x22, 0x1f, 0x90 };
    n = v2(b, 1, 0x11, a4, sizeof(a4));
    b[n] = 0x16;        /* a TLS ClientHello follows */
    is_int(proxyproto_parse(b, n + 1, &r, err, sizeof(err)), 28, "v2 TCP4: header length");
    is_int(r.version, 2, "v2 TCP4: version");
    is_str(src_text(&r, txt, sizeof(txt)), "198.51.100.9:51234", "v2 TCP4: the source");
    ok(prefixes_incomplete(b, n), "v2 TCP4: every prefix is incomplete");
    is_int(proxyproto_wanted(b, 5), 11, "v2: the reader takes the fixed part exactly");
    is_int(proxyproto_wanted(b, 16), 12, "v2: then the address block exactly");

    unsigned char a6[36] = { 0x20, 0x01, 0x0d, 0xb8 };
    a6[15] = 9;
    a6[31] = 1;
    a6[32] = 0x01; a6[33] = 0xbb; a6[34] = 0x20; a6[35] = 0xfb;
    n = v2(b, 1, 0x21, a6, sizeof(a6));
    is_int(proxyproto_parse(b, n, &r, err, sizeof(err)), 52, "v2 TCP6");
    is_str(src_text(&r, txt, sizeof(txt)), "[2001:db8::9]:443", "v2 TCP6: the source");

    n = v2(b, 0, 0x00, NULL, 0);
    ok(proxyproto_parse(b, n, &r, err, sizeof(err)) == 16 && r.local, "v2 LOCAL keeps the real peer");
    n = v2(b, 0, 0x11, a4, sizeof(a4));
    ok(proxyproto_parse(b, n, &r, err, sizeof(err)) == 28 && r.local,
       "v2 LOCAL with addresses: ignored");
    n = v2(b, 1, 0x00, NULL, 0);
    ok(proxyproto_parse(b, n, &r, err, sizeof(err)) == 16 && r.local, "v2 PROXY UNSPEC: real peer");

    unsigned char tl[12 + 13];
    memcpy(tl, a4, 12);
    memcpy(tl + 12, "\x01\x00\x02h2\x04\x00\x00\x20\x00\x02\x01\x00", 13);
    n = v2(b, 1, 0x11, tl, sizeof(tl));
    is_int(proxyproto_parse(b, n, &r, err, sizeof(err)), 16 + 25, "v2 with TLVs skipped");
    is_str(src_text(&r, txt, sizeof(txt)), "198.51.100.9:51234", "v2 with TLVs: the source");
    tl[12 + 2] = 3;     /* first TLV now overruns the header */
    n = v2(b, 1, 0x11, tl, sizeof(tl));
    is_err(proxyproto_parse(b, n, &r, err, sizeof(err)), -1, err, NULL, "v2 TLV overrunning");
    n = v2(b, 1, 0x11, tl, 12 + 2);
    is_err(proxyproto_parse(b, n, &r, err, sizeof(err)), -1, err, "v2: truncated TLV",
           "v2 truncated TLV");
    n = v2(b, 1, 0x11, a4, 8);
    is_err(proxyproto_parse(b, n, &r, err, sizeof(err)), -1, err, "v2: address block too short",
           "v2 TCP4 short address block");
    n = v2(b, 1, 0x21, a6, 20);
    is_err(proxyproto_parse(b, n, &r, err, sizeof(err)), -1, err, "v2: address block too short",
           "v2 TCP6 short address block");
    n = v2(b, 1, 0x12, a4, sizeof(a4));
    is_err(proxyproto_parse(b, n, &r, err, sizeof(err)), -1, err,
           "v2: unsupported address family or transport", "v2 UDP refused");
    n = v2(b, 1, 0x31, a6, sizeof(a6));
    is_err(proxyproto_parse(b, n, &r, err, sizeof(err)), -1, err,
           "v2: unsupported address family or transport", "v2 UNIX refused");
    n = v2(b, 1, 0x11, a4, sizeof(a4));
    b[12] = 0x11;
    is_err(proxyproto_parse(b, 13, &r, err, sizeof(err)), -1, err, "v2: unsupported version",
           "v2 version 1 refused at byte 13");
    b[12] = 0x22;
    is_err(proxyproto_parse(b, 13, &r, err, sizeof(err)), -1, err, "v2: unknown command",
           "v2 unknown command");
    b[12] = 0x21;
    b[14] = 0xff;
    b[15] = 0xff;
    is_err(proxyproto_parse(b, 16, &r, err, sizeof(err)), -1, err, "v2: header too long",
           "v2 length over the cap refused before reading it");
    b[3] = 'x';
    is_err(proxyproto_parse(b, 4, &r, err, sizeof(err)), -1, err, "v2: no PROXY signature",
           "v2 wrong signature");
    is_int(proxyproto_parse(b, 0, &r, err, sizeof(err)), 0, "nothing yet: incomplete");

    return tap_done();
}
