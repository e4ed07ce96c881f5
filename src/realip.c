/* real_ip_from / real_ip_header: what nginx's realip module does with
 * "real_ip_recursive on". Only the headers of trusted peers are read, and
 * only as far as the chain of trusted hops goes: the first address added
 * by a hop we do not trust is the client, whatever lies to its left. */
#include "realip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http.h"

static int fail(char *err, size_t errlen, const char *why)
{
    if (errlen)
        snprintf(err, errlen, "%s", why);
    return -1;
}

/* Text to family and bytes; IPv4-mapped IPv6 reads as IPv4, as the peer
 * of a dual-stack listener would. */
static int to_bin(const char *s, int *family, unsigned char *a)
{
    if (inet_pton(AF_INET, s, a) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a) == 1) {
        static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        if (memcmp(a, mapped, 12) == 0) {
            memmove(a, a + 12, 4);
            *family = AF_INET;
        } else {
            *family = AF_INET6;
        }
        return 0;
    }
    return -1;
}

int realip_parse_cidr(const char *s, struct realip_net *out, char *err, size_t errlen)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    int max;

    if (alen == 0 || alen >= sizeof(buf))
        return fail(err, errlen, "not an address or CIDR network");
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, buf, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, out->addr) == 1)
        out->family = AF_INET6;
    else
        return fail(err, errlen, "not an address or CIDR network");
    max = out->family == AF_INET ? 32 : 128;
    out->bits = max;
    if (slash) {
        const char *p = slash + 1;
        int v = 0;
        if (!*p || strlen(p) > 3 || (p[0] == '0' && p[1]))
            return fail(err, errlen, "invalid prefix length");
        for (; *p; p++) {
            if (*p < '0' || *p > '9')
                return fail(err, errlen, "invalid prefix length");
            v = v * 10 + (*p - '0');
        }
        if (v > max)
            return fail(err, errlen, "prefix length too long for the address");
        out->bits = v;
    }
    /* Host bits set are a typo more often than not: refuse them. */
    for (int i = out->bits; i < max; i++)
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return fail(err, errlen, "address has bits set beyond the prefix length");
    return 0;
}

static int in_net(const struct realip_net *n, int family, const unsigned char *a)
{
    int full = n->bits / 8, rest = n->bits % 8;

    if (n->family != family)
        return 0;
    if (memcmp(n->addr, a, (size_t)full) != 0)
        return 0;
    if (rest && ((a[full] ^ n->addr[full]) & (0xff << (8 - rest)) & 0xff))
        return 0;
    return 1;
}

static int trusted_bin(const struct realip_net *nets, size_t n, int family, const unsigned char *a)
{
    for (size_t i = 0; i < n; i++)
        if (in_net(&nets[i], family, a))
            return 1;
    return 0;
}

int realip_trusted(const struct realip_net *nets, size_t n, const char *ip)
{
    unsigned char a[16];
    int family;

    if (!n || to_bin(ip, &family, a) < 0)
        return 0;
    return trusted_bin(nets, n, family, a);
}

int realip_resolve(const struct realip_net *nets, size_t n, const char *peer_ip,
                   const struct http_request *req, const char *header, char *out, size_t outlen)
{
    size_t hlen = strlen(header);
    unsigned char found[16];
    int found_family = 0;

    if (!realip_trusted(nets, n, peer_ip))
        return 0;
    for (size_t h = req->nheaders; h-- > 0;) {
        const struct http_header *hd = &req->headers[h];
        if (hd->name_len != hlen || strncasecmp(hd->name, header, hlen) != 0)
            continue;
        /* Entries right to left, separated by ',' and optional spaces. */
        size_t end = hd->value_len;
        while (end > 0) {
            size_t start = end;
            while (start > 0 && hd->value[start - 1] != ',')
                start--;
            size_t a = start, b = end;
            while (a < b && (hd->value[a] == ' ' || hd->value[a] == '\t'))
                a++;
            while (b > a && (hd->value[b - 1] == ' ' || hd->value[b - 1] == '\t'))
                b--;
            end = start ? start - 1 : 0;
            if (a == b)
                continue;       /* an empty entry ("a,,b") carries nothing */
            char ip[64];
            unsigned char bin[16];
            int family;
            if (b - a >= sizeof(ip))
                goto done;
            memcpy(ip, hd->value + a, b - a);
            ip[b - a] = '\0';
            if (to_bin(ip, &family, bin) < 0)
                goto done;      /* not an address: keep what was found */
            memcpy(found, bin, sizeof(bin));
            found_family = family;
            if (!trusted_bin(nets, n, family, bin))
                goto done;
        }
    }
done:
    if (!found_family)
        return 0;
    return inet_ntop(found_family, found, out, (socklen_t)outlen) ? 1 : 0;
}
