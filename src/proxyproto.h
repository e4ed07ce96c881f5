/* The PROXY protocol header (HAProxy's proxy-protocol.txt, v1 and v2) that
 * a load balancer sends before anything else: a pure parser, no I/O. */
#ifndef WSGATE_PROXYPROTO_H
#define WSGATE_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXYPROTO_V1_MAX 107           /* the spec's bound, CRLF included */
#define PROXYPROTO_V2_MAX (16 + 2048)   /* our cap: addresses plus TLVs */

struct proxyproto_result {
    int version;                    /* 1 or 2 */
    int local;                      /* v1 UNKNOWN, v2 LOCAL or UNSPEC: keep the real peer */
    struct sockaddr_storage src;    /* the client, when !local */
    socklen_t srclen;
};

/* Parses a header at the start of buf[0..len). Returns its length once it
 * is complete and valid (r filled), 0 while the bytes so far are a valid
 * beginning, -1 (err filled) when they can be no header. Never reads past
 * the header: what follows it is the client's. */
int proxyproto_parse(const unsigned char *buf, size_t len, struct proxyproto_result *r,
                     char *err, size_t errlen);

/* How many more bytes a reader may take without reading past the header:
 * for v2 the exact count still missing, for v1 (or before the first byte)
 * 0, meaning "peek, and take through the first LF". */
size_t proxyproto_wanted(const unsigned char *buf, size_t len);

#endif
