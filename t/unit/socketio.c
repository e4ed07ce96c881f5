/* The socket.io CONNECT packet reader: what it takes apart, and what it
 * refuses to read rather than read differently from socket.io's decoder. */
#include <stdio.h>
#include <string.h>

#include "socketio.h"
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
    return tap_done();
}
