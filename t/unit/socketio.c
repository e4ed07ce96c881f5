/* The socket.io CONNECT packet reader: what it takes apart, and what it
 * refuses to read rather than read differently from socket.io's decoder;
 * the packet classifier; the Engine.IO query reader, against what
 * URLSearchParams makes of the same bytes. */
#include <stdio.h>
#include <string.h>

#include "sioparse.h"
#include "tap.h"

static int parse(const char *p, char *nsp, char *data)
{
    const char *d;
    size_t dl;
    int r = socketio_parse_connect(p, strlen(p), nsp, 64, &d, &dl);

    data[0] = '\0';
    if (r == 0 && d) {
        memcpy(data, d, dl);
        data[dl] = '\0';
    }
    return r;
}

/* Any non-NULL classifier argument means "reauth on". */
static int reauth_on = 1;

int main(void)
{
    char nsp[64], data[256];

    is_int(parse("40", nsp, data), 0, "bare CONNECT");
    is_str(nsp, "/", "default namespace");
    is_str(data, "", "no data");
    is_int(parse("40{\"token\":\"x\"}", nsp, data), 0, "CONNECT with auth");
    is_str(nsp, "/", "main namespace");
    is_str(data, "{\"token\":\"x\"}", "auth object");
    is_int(parse("40/admin,{\"token\":\"x\"}", nsp, data), 0, "namespaced CONNECT with auth");
    is_str(nsp, "/admin", "namespace /admin");
    is_str(data, "{\"token\":\"x\"}", "namespaced auth object");
    is_int(parse("40/admin,", nsp, data), 0, "namespaced CONNECT without data");
    is_str(nsp, "/admin", "namespace without data");
    is_int(parse("40/admin", nsp, data), 0, "namespace without comma");
    is_str(nsp, "/admin", "namespace up to the end");

    is_int(parse("42[\"x\"]", nsp, data), -1, "an EVENT is no CONNECT");
    is_int(parse("4", nsp, data), -1, "too short");
    is_int(parse("30", nsp, data), -1, "not an Engine.IO message");
    is_int(parse("401{\"token\":\"x\"}", nsp, data), -2, "ack id digits refused");
    is_int(parse("40/a,1{}", nsp, data), -2, "ack id after namespace refused");
    is_int(parse("40[\"x\"]", nsp, data), -2, "array data refused");
    is_int(parse("40\"x\"", nsp, data), -2, "string data refused");
    is_int(parse("40/a b,{}", nsp, data), -2, "space in namespace refused");
    char longp[200];
    snprintf(longp, sizeof(longp), "40/%0100d,{}", 0);
    is_int(parse(longp, nsp, data), -2, "namespace longer than the buffer refused");
    is_int(parse("40/admin?x=1,{}", nsp, data), -2, "'?' in a namespace refused (protocol 3 read it as a URL)");
    is_int(parse("40/admin#x,{}", nsp, data), -2, "'#' in a namespace refused");
    is_int(parse("40/admin, {}", nsp, data), -2, "whitespace after the namespace (an ack id to socket.io) refused");
    is_int(parse("40 {}", nsp, data), -2, "whitespace before the data refused");

    const unsigned char *u = (const unsigned char *)"";
    is_int(socketio_packet_kind(u, 0, 0), SIO_KIND_MORE, "kind: nothing yet");
    is_int(socketio_packet_kind((const unsigned char *)"4", 1, 0), SIO_KIND_MORE, "kind: '4' alone, more to come");
    is_int(socketio_packet_kind((const unsigned char *)"4", 1, 1), SIO_KIND_BAD, "kind: '4' alone is refused");
    is_int(socketio_packet_kind((const unsigned char *)"40", 2, 0), SIO_KIND_CONNECT, "kind: 40 is a CONNECT");
    is_int(socketio_packet_kind((const unsigned char *)"4 {}", 4, 1), SIO_KIND_BAD, "kind: '4 ' reads as CONNECT: refused");
    is_int(socketio_packet_kind((const unsigned char *)"4\xc2\xa0", 3, 1), SIO_KIND_BAD, "kind: 4 NBSP refused");
    is_int(socketio_packet_kind((const unsigned char *)"42[]", 4, 1), SIO_KIND_OTHER, "kind: EVENT passes");
    is_int(socketio_packet_kind((const unsigned char *)"46", 2, 0), SIO_KIND_OTHER, "kind: BINARY_ACK passes");
    is_int(socketio_packet_kind((const unsigned char *)"2probe", 6, 1), SIO_KIND_OTHER, "kind: ping passes");
    is_int(socketio_packet_kind(u, 0, 1), SIO_KIND_OTHER, "kind: empty message passes");

    struct sio_query q;
    char err[128];
#define QUERY(s) socketio_parse_query(s, strlen(s), &q, err, sizeof(err))
    is_int(QUERY("EIO=4&transport=websocket"), 0, "query: EIO=4 websocket");
    ok(q.transport_len == 9 && memcmp(q.transport, "websocket", 9) == 0, "query: transport read");
    is_int(QUERY("transport=polling&EIO=4&sid=abc-_1"), 0, "query: with sid");
    ok(q.sid_len == 6 && memcmp(q.sid, "abc-_1", 6) == 0, "query: sid read");
    is_int(QUERY("EIO=3"), -1, "query: EIO=3 refused");
    is_int(QUERY("transport=polling"), -1, "query: missing EIO refused");
    is_int(QUERY("EIO=4&%45IO=3"), -1, "query: %%45IO (EIO to engine.io) refused");
    is_str(err, "encoded Engine.IO parameter EIO", "query: encoded name reason");
    is_int(QUERY("EIO=4&E%49O=3"), -1, "query: E%%49O refused");
    is_int(QUERY("EIO=4&EIO=4"), -1, "query: EIO twice refused");
    is_str(err, "duplicated Engine.IO parameter EIO", "query: duplicate reason");
    is_int(QUERY("EIO=4&%74ransport=polling"), -1, "query: %%74ransport refused");
    is_int(QUERY("EIO=4&sid=a&sid=b"), -1, "query: sid twice refused");
    is_int(QUERY("EIO=%34"), -1, "query: encoded EIO value refused");
    is_int(QUERY("EIO=4+"), -1, "query: '+' in the EIO value (\"4 \" to engine.io) refused");
    is_int(QUERY("EIO=4&j=0"), -1, "query: JSONP refused");
    is_str(err, "JSONP polling is not supported", "query: JSONP reason");
    is_int(QUERY("EIO=4&%6A=0"), -1, "query: encoded j refused");
    is_int(QUERY("EIO=4&j"), -1, "query: j without a value refused");
    is_int(QUERY("EIO=4&eio=3"), 0, "query: eio (another name to engine.io) is not EIO");
    is_int(QUERY("EIO=4&%zzEIO=3"), 0, "query: a malformed escape keeps its bytes (%%zzEIO is no EIO)");
    is_int(QUERY("EIO=4&EIO%=3"), 0, "query: EIO%% is no EIO");
    is_int(QUERY("EIO"), -1, "query: EIO without a value refused");
    is_int(QUERY("EIO=4&x=%41&y=a+b"), 0, "query: escapes elsewhere are none of our business");
    is_int(QUERY("EIO=4&&&"), 0, "query: empty pairs are skipped");
    is_int(QUERY("EIO=4&j#=0"), -1, "query: '#' (the end of the query to a URL parser) refused");
    is_int(socketio_parse_query(NULL, 0, &q, err, sizeof(err)), -1, "query: no query at all refused");

    /* the reserved re-auth event, as socket.io-client writes it */
#define RK(str, c) socketio_reauth_kind((const unsigned char *)(str), sizeof(str) - 1, (c))
    is_int(RK("421[\"wsgate:reauth\",\"x\"]", 1), SIO_KIND_REAUTH, "reauth: 42<ack>[\"wsgate:reauth\"");
    is_int(RK("42[\"wsgate:reauth\"", 0), SIO_KIND_REAUTH, "reauth: without an ack id");
    is_int(RK("42/chat,17[\"wsgate:reauth\",", 0), SIO_KIND_REAUTH, "reauth: on a namespace");
    is_int(RK("42/chat,17[\"wsgate:re", 0), SIO_KIND_MORE, "reauth: a prefix of it needs more");
    is_int(RK("42/chat", 0), SIO_KIND_MORE, "reauth: inside the namespace needs more");
    is_int(RK("42/chat,17[\"wsgate:re", 1), SIO_KIND_OTHER, "reauth: a complete message that is a prefix is not it");
    is_int(RK("42[\"wsgate:reauthx\"", 0), SIO_KIND_OTHER, "reauth: a longer event name is another event");
    is_int(RK("42[\"chat\",1]", 1), SIO_KIND_OTHER, "reauth: another event");
    is_int(RK("43[\"wsgate:reauth\"]", 1), SIO_KIND_OTHER, "reauth: an ACK is not it");
    is_int(RK("42 [\"wsgate:reauth\"]", 1), SIO_KIND_OTHER, "reauth: only the form socket.io-client writes");
    is_int(RK("421234567890123456[\"wsgate:reauth\"]", 1), SIO_KIND_OTHER, "reauth: an ack id over 15 digits");
    {
        char longnsp[300] = "42/";
        memset(longnsp + 3, 'a', 260);
        memcpy(longnsp + 263, ",[\"wsgate:reauth\"]", 18);
        is_int(socketio_reauth_kind((const unsigned char *)longnsp, 281, 1), SIO_KIND_OTHER,
               "reauth: a namespace over 255 bytes is not recognised");
    }
    is_int(socketio_hold_kind(NULL, (const unsigned char *)"42[\"wsgate:reauth\"]", 20, 1), SIO_KIND_OTHER,
           "hold kind: without reauth on, the event is the application's");
    is_int(socketio_hold_kind(&reauth_on, (const unsigned char *)"42[\"wsgate:reauth\"]", 20, 1), SIO_KIND_REAUTH,
           "hold kind: with reauth on it is held");
    is_int(socketio_hold_kind(&reauth_on, (const unsigned char *)"40", 2, 1), SIO_KIND_CONNECT, "hold kind: CONNECT still");
    {
        const char *evdata;
        size_t dlen;
        long long ack;
        char ns[64];
        const char ev[] = "42/chat,17[\"wsgate:reauth\",\"t\"]";
        is_int(socketio_parse_event(ev, sizeof(ev) - 1, ns, sizeof(ns), &ack, &evdata, &dlen), 0, "event: parsed");
        is_str(ns, "/chat", "event: namespace");
        is_int((int)ack, 17, "event: ack id");
        ok(dlen == 21 && memcmp(evdata, "[\"wsgate:reauth\",\"t\"]", 21) == 0, "event: data");
        is_int(socketio_parse_event("42[1]", 5, ns, sizeof(ns), &ack, &evdata, &dlen), 0, "event: root, no ack");
        is_str(ns, "/", "event: root namespace");
        is_int((int)ack, -1, "event: no ack id is -1");
        is_int(socketio_parse_event("40", 2, ns, sizeof(ns), &ack, &evdata, &dlen), -1, "event: a CONNECT is no event");
        is_int(socketio_parse_event("42/chat", 7, ns, sizeof(ns), &ack, &evdata, &dlen), -1, "event: an unterminated namespace");
    }
    return tap_done();
}
