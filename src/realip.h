/* The client address behind trusted HTTP proxies (real_ip_from,
 * real_ip_header; nginx's realip module with recursion). Pure: no I/O. */
#ifndef WSGATE_REALIP_H
#define WSGATE_REALIP_H

#include <stddef.h>

struct http_request;

struct realip_net {
    int family;                     /* AF_INET or AF_INET6 */
    unsigned char addr[16];         /* network, host bits cleared */
    int bits;                       /* prefix length */
};

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (a host). */
int realip_parse_cidr(const char *s, struct realip_net *out, char *err, size_t errlen);
/* ip (text, as in session.peer_ip) lies in one of the n networks. */
int realip_trusted(const struct realip_net *nets, size_t n, const char *ip);
/* The client address of a request that came from peer_ip: when peer_ip
 * is trusted, the right-most address of the header lines named header
 * (the last line first) that is not trusted; when all are trusted, the
 * left-most; an entry that is not an address ends the walk at the last
 * address found. Writes it to out in canonical form and returns 1; 0
 * (out untouched) when peer_ip is not trusted or the header gives no
 * address. */
int realip_resolve(const struct realip_net *nets, size_t n, const char *peer_ip,
                   const struct http_request *req, const char *header, char *out, size_t outlen);

#endif
