/* Addresses in the configuration: listen and upstream addresses, unix
 * sockets, and tls:// upstreams with the host name kept for SNI. */
#include "config_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/* Addresses: numeric IPv4 "a.b.c.d:port", IPv6 "[addr]:port", and
 * "localhost" as 127.0.0.1. wildcard additionally allows "*:port" and a
 * bare "port" (listen only). */
int conf_addr_parse(const char *s, struct sockaddr_text *out, int wildcard, const char **why)
{
    char host[INET6_ADDRSTRLEN + 8];
    const char *port_s;
    size_t hl;
    uint64_t port;

    memset(out, 0, sizeof(*out));
    if (wildcard && conf_parse_u64(s, strlen(s), &port) == 0) {
        strcpy(host, "*");
        port_s = s;
        goto have_port;
    }
    if (strncasecmp(s, "tls://", 6) == 0) {
        *why = "tls:// is only allowed in upstream";
        return -1;
    }
    if (strstr(s, "://")) {
        *why = "no scheme allowed, write host:port";
        return -1;
    }
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb) {
            *why = "missing \"]\"";
            return -1;
        }
        hl = (size_t)(rb - s - 1);
        if (hl == 0 || hl >= sizeof(host)) {
            *why = "invalid IPv6 address";
            return -1;
        }
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (rb[1] != ':') {
            *why = "missing port";
            return -1;
        }
        port_s = rb + 2;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
            *why = "invalid IPv6 address";
            return -1;
        }
        sin6->sin6_family = AF_INET6;
        out->len = sizeof(*sin6);
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon) {
            *why = "missing port";
            return -1;
        }
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl)) {
            *why = "IPv6 addresses go in brackets, as in [::1]:8080";
            return -1;
        }
        if (hl == 0) {
            *why = "missing host";
            return -1;
        }
        if (hl >= sizeof(host)) {
            *why = "only numeric addresses are supported";
            return -1;
        }
        memcpy(host, s, hl);
        host[hl] = '\0';
        port_s = colon + 1;
    }
have_port:
    if (conf_parse_u64(port_s, strlen(port_s), &port) < 0 || port == 0 || port > 65535) {
        *why = "invalid port";
        return -1;
    }
    if (out->len == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
        if (strcmp(host, "*") == 0) {
            if (!wildcard) {
                *why = "\"*\" is only allowed in listen";
                return -1;
            }
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
        } else if (strcasecmp(host, "localhost") == 0) {
            sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
            *why = "only numeric addresses are supported";
            return -1;
        }
        sin->sin_family = AF_INET;
        out->len = sizeof(*sin);
        sin->sin_port = htons((uint16_t)port);
    } else {
        ((struct sockaddr_in6 *)&out->ss)->sin6_port = htons((uint16_t)port);
    }
    out->text = util_xstrdup(s);
    return 0;
}

int config_parse_addr(const char *s, struct sockaddr_text *out, char *err, size_t errlen)
{
    const char *why = "invalid address";

    if (conf_addr_parse(s, out, 0, &why) == 0)
        return 0;
    if (err && errlen)
        snprintf(err, errlen, "\"%.200s\": %s", s, why);
    return -1;
}

int conf_same_addr(const struct sockaddr_text *a, const struct sockaddr_text *b)
{
    return a->len == b->len && a->ss.ss_family == b->ss.ss_family &&
           memcmp(&a->ss, &b->ss, a->len) == 0;
}


/* Host names we hand to the resolver and to certificate matching. */
int conf_is_dns_name(const char *h)
{
    size_t n = strlen(h);

    if (n == 0 || n > 253 || h[0] == '.' || h[0] == '-')
        return 0;
    for (; *h; h++) {
        int c = (unsigned char)*h;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_'))
            return 0;
    }
    return 1;
}

/* tls://HOST:PORT. An IP literal (or localhost, which is 127.0.0.1 as
 * everywhere in this file) is taken as is; a DNS name is resolved now,
 * once, to its first address (a reload resolves again). HOST is kept for
 * certificate verification and SNI. */
int conf_tls_upstream_parse(const char *s, struct sockaddr_text *out, char *why, size_t whylen)
{
    const char *hp = s + 6, *w = "invalid address", *colon;
    char host[256];
    size_t hl;
    struct in_addr a4;

    memset(out, 0, sizeof(*out));
    if (hp[0] == '[') {
        if (conf_addr_parse(hp, out, 0, &w) < 0) {
            snprintf(why, whylen, "%s", w);
            return -1;
        }
        hl = (size_t)(strchr(hp, ']') - hp - 1);
        memcpy(host, hp + 1, hl);
        host[hl] = '\0';
    } else {
        colon = strrchr(hp, ':');
        if (!colon) {
            snprintf(why, whylen, "missing port");
            return -1;
        }
        hl = (size_t)(colon - hp);
        if (hl == 0 || hl >= sizeof(host)) {
            snprintf(why, whylen, hl ? "host name too long" : "missing host");
            return -1;
        }
        memcpy(host, hp, hl);
        host[hl] = '\0';
        if (inet_pton(AF_INET, host, &a4) == 1 || strcasecmp(host, "localhost") == 0 ||
            strchr(host, ':')) {
            if (conf_addr_parse(hp, out, 0, &w) < 0) {
                snprintf(why, whylen, "%s", w);
                return -1;
            }
        } else {
            struct addrinfo hints, *res = NULL;
            uint64_t port;
            char port_s[8];
            int rc;

            if (!conf_is_dns_name(host)) {
                snprintf(why, whylen, "invalid host name");
                return -1;
            }
            if (conf_parse_u64(colon + 1, strlen(colon + 1), &port) < 0 || port == 0 || port > 65535) {
                snprintf(why, whylen, "invalid port");
                return -1;
            }
            snprintf(port_s, sizeof(port_s), "%u", (unsigned)port);
            memset(&hints, 0, sizeof(hints));
            hints.ai_family = AF_UNSPEC;
            hints.ai_socktype = SOCK_STREAM;
            hints.ai_flags = AI_NUMERICSERV;
            rc = getaddrinfo(host, port_s, &hints, &res);
            if (rc != 0 || !res) {
                snprintf(why, whylen, "cannot resolve \"%s\": %s", host,
                         rc ? gai_strerror(rc) : "no address");
                if (res)
                    freeaddrinfo(res);
                return -1;
            }
            memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
            out->len = (socklen_t)res->ai_addrlen;
            freeaddrinfo(res);
        }
    }
    free(out->text);
    out->text = util_xstrdup(s);
    out->tls = 1;
    out->host = util_xstrdup(host);
    return 0;
}

/* route */

