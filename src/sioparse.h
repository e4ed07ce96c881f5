/* The socket.io / Engine.IO wire, read the way the backend's libraries read
 * it (engine.io 6, engine.io-parser 5, socket.io-parser 4): the Engine.IO
 * query parameters of a request, the kind of a packet, and the parts of a
 * CONNECT packet. Pure: no I/O, no allocation. */
#ifndef WSGATE_SIOPARSE_H
#define WSGATE_SIOPARSE_H

#include <stddef.h>

/* The Engine.IO parameters of one request's query. */
struct sio_query {
    const char *eio, *transport, *sid; /* raw values, NULL when absent */
    size_t eio_len, transport_len, sid_len;
};

/* Reads EIO, transport, sid and j from a query string (without '?') as
 * engine.io does (URLSearchParams: '&'-separated, name up to the first
 * '=', '+' is a space, %XX decoded, last value wins), and refuses what
 * could be read two ways. Returns 0, or -1 with the reason in err: one of
 * the four names written with an escape or '+', one of them twice, an
 * escape or '+' in one of their values, a byte outside 0x21..0x7e or '#',
 * a j parameter (JSONP polling), or EIO missing or other than 4. */
int socketio_parse_query(const char *q, size_t n, struct sio_query *out,
                         char *err, size_t errlen);

/* What an Engine.IO packet means to socket.io's server. */
#define SIO_KIND_OTHER 0            /* not a socket.io CONNECT: relay as is */
#define SIO_KIND_CONNECT 1          /* "40...": check it */
#define SIO_KIND_BAD 2              /* could be read as a CONNECT: refuse */
#define SIO_KIND_MORE 3             /* more bytes needed to tell */
#define SIO_KIND_REAUTH 4           /* "42...[\"wsgate:reauth\"": wsgate's own event */

/* Longest namespace of a recognised re-auth event. */
#define SIO_REAUTH_MAX_NSP 255

/* Classifies the first n bytes of a text packet; complete: they are the
 * whole packet. socket.io-parser takes Number(first char) as the type, so
 * "4" followed by nothing, by whitespace (" ", "\t", U+00A0, U+FEFF ...)
 * or by the end reads as a CONNECT too: every "4x" but "41".."46" and
 * "40" is SIO_KIND_BAD. */
int socketio_packet_kind(const unsigned char *p, size_t n, int complete);

/* Splits a socket.io v5 CONNECT packet as an Engine.IO message ("40",
 * optional "/nsp,", optional JSON object). Returns 0 with the namespace
 * ("/" when absent, NUL-terminated in nsp) and the data (NULL when
 * absent), -1 when p is not a CONNECT packet, -2 when it is one we refuse
 * to read (a namespace with a space, control, non-ASCII, '?' or '#', an
 * ack id, anything but an object after the namespace). */
int socketio_parse_connect(const char *p, size_t n, char *nsp, size_t nspcap,
                           const char **data, size_t *datalen);

/* Whether the first n bytes of a text packet begin the reserved event
 * as socket.io-client writes it (42[/nsp,][ack]["wsgate:reauth"...):
 * SIO_KIND_REAUTH, SIO_KIND_MORE or SIO_KIND_OTHER. */
int socketio_reauth_kind(const unsigned char *p, size_t n, int complete);

/* The classifier of held messages on socketio routes (siohold.h):
 * socketio_packet_kind, and with reauth non-NULL the re-auth event too. */
int socketio_hold_kind(void *reauth, const unsigned char *p, size_t n, int complete);

/* Splits an EVENT packet "42[/nsp,][ack]<data>": 0 with the namespace
 * ("/" when absent), the ack id (-1 when none) and the data, -1 when p is
 * not one. */
int socketio_parse_event(const char *p, size_t n, char *nsp, size_t nspcap, long long *ack,
                         const char **data, size_t *datalen);

#endif
