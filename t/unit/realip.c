/* real_ip_from / real_ip_header (SPEC §13): CIDR parsing, trust, and the
 * recursive right-to-left walk of nginx's realip module. */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "realip.h"
#include "tap.h"

static struct realip_net nets[4];
static size_t nnets;

static void trust(const char *cidr)
{
    char err[96];
    if (realip_parse_cidr(cidr, &nets[nnets], err, sizeof(err)) == 0)
        nnets++;
    else
        printf("# cannot parse %s: %s\n", cidr, err);
}

/* The client address for a request with these header lines from peer. */
static const char *resolve(const char *peer, const char *lines)
{
    static char head[2048], out[64];
    struct http_request req;
    char err[128];

    snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n", lines);
    if (http_parse_request(head, strlen(head), &req, err, sizeof(err)) != 0)
        return "(parse error)";
    if (!realip_resolve(nets, nnets, peer, &req, "X-Forwarded-For", out, sizeof(out)))
        return "(unchanged)";
    return out;
}

int main(void)
{
    struct realip_net n;
    char err[96];

    /* ---- parsing ---- */
    ok(realip_parse_cidr("10.0.0.0/8", &n, err, sizeof(err)) == 0 && n.bits == 8, "IPv4 CIDR");
    ok(realip_parse_cidr("2001:db8::/32", &n, err, sizeof(err)) == 0 && n.bits == 32, "IPv6 CIDR");
    ok(realip_parse_cidr("192.0.2.1", &n, err, sizeof(err)) == 0 && n.bits == 32, "a host");
    ok(realip_parse_cidr("0.0.0.0/0", &n, err, sizeof(err)) == 0 && n.bits == 0, "everything");
    is_err(realip_parse_cidr("10.0.0.1/8", &n, err, sizeof(err)), -1, err,
           "address has bits set beyond the prefix length", "host bits set");
    is_err(realip_parse_cidr("10.0.0.0/33", &n, err, sizeof(err)), -1, err,
           "prefix length too long for the address", "prefix over 32");
    is_err(realip_parse_cidr("10.0.0.0/", &n, err, sizeof(err)), -1, err,
           "invalid prefix length", "empty prefix");
    is_err(realip_parse_cidr("10.0.0.0/08", &n, err, sizeof(err)), -1, err,
           "invalid prefix length", "prefix with a leading zero");
    is_err(realip_parse_cidr("example.com", &n, err, sizeof(err)), -1, err,
           "not an address or CIDR network", "a name");
    is_err(realip_parse_cidr("/8", &n, err, sizeof(err)), -1, err,
           "not an address or CIDR network", "no address");

    trust("10.0.0.0/8");
    trust("192.168.1.0/24");
    trust("2001:db8::/32");
    trust("172.16.0.7");

    /* ---- trust ---- */
    ok(realip_trusted(nets, nnets, "10.1.2.3"), "10.1.2.3 in 10/8");
    ok(!realip_trusted(nets, nnets, "11.0.0.1"), "11.0.0.1 not trusted");
    ok(realip_trusted(nets, nnets, "192.168.1.255") && !realip_trusted(nets, nnets, "192.168.2.1"),
       "/24 boundaries");
    ok(realip_trusted(nets, nnets, "2001:db8:ffff::1") && !realip_trusted(nets, nnets, "2001:db9::1"),
       "IPv6 /32");
    ok(realip_trusted(nets, nnets, "172.16.0.7") && !realip_trusted(nets, nnets, "172.16.0.8"),
       "a single host");
    ok(realip_trusted(nets, nnets, "::ffff:10.0.0.1"), "IPv4-mapped IPv6 reads as IPv4");
    ok(!realip_trusted(nets, 0, "10.0.0.1"), "nothing trusted without real_ip_from");

    /* ---- the walk ---- */
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n"), "203.0.113.7",
           "one hop: the header's address");
    is_str(resolve("11.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n"), "(unchanged)",
           "an untrusted peer's header is ignored");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.0.0.2\r\n"),
           "203.0.113.7", "right-most untrusted address, trusted hops skipped");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 1.1.1.1, 203.0.113.7\r\n"), "203.0.113.7",
           "what the client wrote to the left is not believed");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 10.0.0.3, 192.168.1.9\r\n"), "10.0.0.3",
           "all trusted: the left-most");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 203.0.113.7, junk, 10.0.0.2\r\n"), "10.0.0.2",
           "an entry that is no address ends the walk at the last address");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: junk\r\n"), "(unchanged)",
           "no address at all: unchanged");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 10.0.0.9\r\n"),
           "198.51.100.1", "several header lines: the last line first");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 2001:db9::5 ,  2001:db8::1\r\n"), "2001:db9::5",
           "IPv6 entries, spaces around commas");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: ::ffff:203.0.113.7\r\n"), "203.0.113.7",
           "an IPv4-mapped entry is written as IPv4");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 203.0.113.7,,\r\n"), "203.0.113.7",
           "empty entries carry nothing");
    is_str(resolve("10.0.0.1", "X-Real-IP: 203.0.113.7\r\n"), "(unchanged)",
           "another header is not read");
    is_str(resolve("10.0.0.1", "x-forwarded-for: 203.0.113.8\r\n"), "203.0.113.8",
           "the header name is case-insensitive");
    is_str(resolve("10.0.0.1", "X-Forwarded-For: 203.0.113.7:4000\r\n"), "(unchanged)",
           "an address with a port is not an address");
    return tap_done();
}
