/* socket.io / Engine.IO parsing for the CONNECT check. Each reader follows
 * the backend library's own (node_modules/engine.io/build/server.js
 * prepare(): new URL(req.url).searchParams; engine.io-parser decodePacket;
 * socket.io-parser Decoder.decodeString) and refuses whatever that library
 * could read differently from us. */
#include "sioparse.h"

#include <stdio.h>
#include <string.h>

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* URLSearchParams' decoding of one name into d (capacity cap): '+' is a
 * space, "%XX" with two hex digits a byte, any other '%' itself. Returns
 * the decoded length, or cap when it does not fit (no name we look for is
 * that long). */
static size_t form_decode(const char *s, size_t n, char *d, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o == cap)
            return cap;
        if (c == '+') {
            c = ' ';
        } else if (c == '%' && i + 2 < n && hexval((unsigned char)s[i + 1]) >= 0 &&
                   hexval((unsigned char)s[i + 2]) >= 0) {
            c = (unsigned char)(hexval((unsigned char)s[i + 1]) << 4 | hexval((unsigned char)s[i + 2]));
            i += 2;
        }
        d[o++] = (char)c;
    }
    return o;
}

static const char *const NAMES[] = { "EIO", "transport", "sid", "j" };

int socketio_parse_query(const char *q, size_t n, struct sio_query *out,
                         char *err, size_t errlen)
{
    const char *p = q, *end = q ? q + n : NULL;
    int seen[4] = { 0, 0, 0, 0 };

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; q && i < n; i++)
        if ((unsigned char)q[i] <= 0x20 || (unsigned char)q[i] >= 0x7f || q[i] == '#') {
            /* A URL parser strips some, ends the query at '#'. */
            snprintf(err, errlen, "invalid byte in the query");
            return -1;
        }
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ne = eq ? eq : pe;
        const char *v = eq ? eq + 1 : pe;
        size_t nl = (size_t)(ne - p), vl = (size_t)(pe - v);
        char dec[16];
        size_t dl = form_decode(p, nl, dec, sizeof(dec));

        for (int k = 0; k < 4; k++) {
            size_t kl = strlen(NAMES[k]);
            if (dl != kl || memcmp(dec, NAMES[k], kl) != 0)
                continue;
            if (nl != kl || memcmp(p, NAMES[k], kl) != 0) {
                snprintf(err, errlen, "encoded Engine.IO parameter %s", NAMES[k]);
                return -1;
            }
            if (seen[k]++) {
                snprintf(err, errlen, "duplicated Engine.IO parameter %s", NAMES[k]);
                return -1;
            }
            if (memchr(v, '%', vl) || memchr(v, '+', vl)) {
                snprintf(err, errlen, "encoded value of Engine.IO parameter %s", NAMES[k]);
                return -1;
            }
            if (k == 0) {
                out->eio = v;
                out->eio_len = vl;
            } else if (k == 1) {
                out->transport = v;
                out->transport_len = vl;
            } else if (k == 2) {
                out->sid = v;
                out->sid_len = vl;
            }
        }
        p = amp ? amp + 1 : end;
    }
    if (seen[3]) {
        snprintf(err, errlen, "JSONP polling is not supported");
        return -1;
    }
    if (!out->eio || out->eio_len != 1 || out->eio[0] != '4') {
        snprintf(err, errlen, "Engine.IO protocol 4 only");
        return -1;
    }
    return 0;
}

int socketio_packet_kind(const unsigned char *p, size_t n, int complete)
{
    if (n == 0)
        return complete ? SIO_KIND_OTHER : SIO_KIND_MORE;
    if (p[0] != '4')
        return SIO_KIND_OTHER;      /* not an Engine.IO message: socket.io never sees it */
    if (n == 1)
        return complete ? SIO_KIND_BAD : SIO_KIND_MORE;
    if (p[1] == '0')
        return SIO_KIND_CONNECT;
    if (p[1] >= '1' && p[1] <= '6')
        return SIO_KIND_OTHER;
    return SIO_KIND_BAD;
}

int socketio_parse_connect(const char *p, size_t n, char *nsp, size_t nspcap,
                           const char **data, size_t *datalen)
{
    size_t i = 2;

    if (n < 2 || p[0] != '4' || p[1] != '0')
        return -1;
    *data = NULL;
    *datalen = 0;
    if (i < n && p[i] == '/') {
        size_t start = i;
        while (i < n && p[i] != ',')
            i++;
        if (i - start >= nspcap)
            return -2;
        /* socket.io 4 takes the namespace verbatim; protocol 3 read it as
         * a URL ("/admin?x=1" joined /admin). Nothing a URL reader could
         * split, nothing whitespace-like. */
        for (size_t k = start; k < i; k++) {
            unsigned char c = (unsigned char)p[k];
            if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#')
                return -2;
        }
        memcpy(nsp, p + start, i - start);
        nsp[i - start] = '\0';
        if (i < n)
            i++;                    /* the comma */
    } else {
        if (nspcap < 2)
            return -2;
        memcpy(nsp, "/", 2);
    }
    if (i == n)
        return 0;
    /* socket.io's decoder takes digits, and whitespace (Number(" ") is 0),
     * here as an ack id: a CONNECT has none, and we read nothing we could
     * read differently. */
    if (p[i] != '{')
        return -2;
    *data = p + i;
    *datalen = n - i;
    return 0;
}

/* "42", an optional "/nsp,", an optional ack id, then the event array as
 * socket.io-client writes it for emitWithAck("wsgate:reauth", jwt). */
static const char reauth_event[] = "[\"wsgate:reauth\"";

int socketio_reauth_kind(const unsigned char *p, size_t n, int complete)
{
    size_t i = 2, k;

    if (n < 2)
        return complete ? SIO_KIND_OTHER : SIO_KIND_MORE;
    if (p[0] != '4' || p[1] != '2')
        return SIO_KIND_OTHER;
    if (i < n && p[i] == '/') {
        while (i < n && p[i] != ',') {
            if (i - 2 >= SIO_REAUTH_MAX_NSP || p[i] <= 0x20 || p[i] >= 0x7f)
                return SIO_KIND_OTHER;
            i++;
        }
        if (i == n)
            return complete ? SIO_KIND_OTHER : SIO_KIND_MORE;
        i++;
    }
    for (k = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
        if (++k > 15)
            return SIO_KIND_OTHER;
    for (k = 0; k < sizeof(reauth_event) - 1; k++, i++) {
        if (i == n)
            return complete ? SIO_KIND_OTHER : SIO_KIND_MORE;
        if (p[i] != (unsigned char)reauth_event[k])
            return SIO_KIND_OTHER;
    }
    return SIO_KIND_REAUTH;
}

int socketio_hold_kind(void *reauth, const unsigned char *p, size_t n, int complete)
{
    int k = socketio_packet_kind(p, n, complete);

    if (k != SIO_KIND_OTHER || !reauth || n < 2 || p[1] != '2')
        return k;
    return socketio_reauth_kind(p, n, complete);
}

int socketio_parse_event(const char *p, size_t n, char *nsp, size_t nspcap, long long *ack,
                         const char **data, size_t *datalen)
{
    size_t i = 2;

    if (n < 2 || p[0] != '4' || p[1] != '2' || nspcap < 2)
        return -1;
    memcpy(nsp, "/", 2);
    if (i < n && p[i] == '/') {
        size_t start = i;
        while (i < n && p[i] != ',')
            i++;
        if (i == n || i - start >= nspcap)
            return -1;
        memcpy(nsp, p + start, i - start);
        nsp[i - start] = '\0';
        i++;
    }
    *ack = -1;
    if (i < n && p[i] >= '0' && p[i] <= '9') {
        long long a = 0;
        size_t digits = 0;
        for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
            if (++digits > 15)
                return -1;
            a = a * 10 + (p[i] - '0');
        }
        *ack = a;
    }
    *data = p + i;
    *datalen = n - i;
    return 0;
}
