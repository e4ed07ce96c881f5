/* revocation_channel messages (SPEC §13): what is a revocation and what is
 * ignored. */
#include <string.h>

#include "revoke.h"
#include "tap.h"

static int parse(const char *s, size_t len, struct revoke_msg *m)
{
    return revoke_parse_message(s, len, m);
}

#define P(s, m) parse((s), sizeof(s) - 1, (m))

int main(void)
{
    struct revoke_msg m;

    ok(P("jti:abc", &m) == 'j' && m.key_len == 3 && memcmp(m.key, "abc", 3) == 0, "jti:<jti>");
    ok(P("jti:a:b", &m) == 'j' && m.key_len == 3, "a jti may hold ':'");
    ok(P("sub:alice:1700000000", &m) == 's' && m.key_len == 5 && memcmp(m.key, "alice", 5) == 0 &&
       m.cutoff_len == 10 && memcmp(m.cutoff, "1700000000", 10) == 0, "sub:<sub>:<cutoff>");
    ok(P("sub:urn:user:7:5", &m) == 's' && m.key_len == 10 && memcmp(m.key, "urn:user:7", 10) == 0,
       "the cutoff is after the last ':'");
    ok(P("sub:0:0", &m) == 's', "cutoff 0");
    is_int(P("jti:", &m), 0, "empty jti");
    is_int(P("sub:alice", &m), 0, "sub without a cutoff");
    is_int(P("sub:alice:", &m), 0, "empty cutoff");
    is_int(P("sub::5", &m), 0, "empty sub");
    is_int(P("sub:alice:12x", &m), 0, "cutoff not digits");
    is_int(P("sub:alice:-5", &m), 0, "negative cutoff");
    is_int(P("sub:alice: 5", &m), 0, "cutoff with a space");
    is_int(P("sub:alice:12345678901234567890", &m), 0, "cutoff over 19 digits");
    is_int(P("JTI:abc", &m), 0, "upper-case kind");
    is_int(P("jti:ab\0c", &m), 0, "a NUL inside");
    is_int(P("", &m), 0, "empty message");
    is_int(P("hello", &m), 0, "anything else");
    return tap_done();
}
