/* Origin allow-list (RFC 6454 serialised origins). Patterns and request
 * Origin values go through the same parser, so "https://EXAMPLE.com:443"
 * and "https://example.com" compare equal while anything with a path,
 * userinfo, spaces or an odd shape never matches. */
#include "origin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util.h"

/* Longest host we accept: DNS names stop at 253 octets. */
#define ORIGIN_HOST_MAX 255

struct origin_parts {
    int is_null;
    int https;
    int wildcard;                   /* pattern only: host is the domain after "*." */
    char host[ORIGIN_HOST_MAX + 1]; /* lower-cased */
    unsigned port;                  /* 0 = scheme default */
};

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Parses "scheme://host[:port]" or "null". pattern allows the "*." first
 * label. Returns 0 or -1 with a reason (static text) in *why. */
static int origin_parse(const char *s, size_t n, int pattern, struct origin_parts *o,
                        const char **why)
{
    size_t i, hl = 0;

    memset(o, 0, sizeof(*o));
    if (n == 4 && util_strieq(s, n, "null")) {
        o->is_null = 1;
        return 0;
    }
    if (n >= 7 && util_strieq(s, 7, "http://")) {
        i = 7;
    } else if (n >= 8 && util_strieq(s, 8, "https://")) {
        o->https = 1;
        i = 8;
    } else {
        *why = "scheme must be http or https";
        return -1;
    }
    if (pattern && n - i >= 2 && s[i] == '*' && s[i + 1] == '.') {
        o->wildcard = 1;
        i += 2;
    }
    if (i < n && s[i] == '[') {
        if (o->wildcard) {
            *why = "wildcard on an IP address";
            return -1;
        }
        /* IPv6 literal: hex digits, ':' and '.' (embedded IPv4). */
        o->host[hl++] = '[';
        for (i++; i < n && s[i] != ']'; i++) {
            int c = lower((unsigned char)s[i]);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.')) {
                *why = "bad IPv6 address";
                return -1;
            }
            if (hl >= ORIGIN_HOST_MAX - 1) {
                *why = "host too long";
                return -1;
            }
            o->host[hl++] = (char)c;
        }
        if (i == n || hl == 1) {
            *why = "bad IPv6 address";
            return -1;
        }
        o->host[hl++] = ']';
        i++;
    } else {
        /* DNS name: LDH labels (plus '_', seen in the wild), no empty
         * label, so no leading, doubled or trailing dot. Non-ASCII is
         * refused: browsers send IDNs as punycode. */
        size_t label = 0;
        for (; i < n && s[i] != ':' && s[i] != '/'; i++) {
            int c = lower((unsigned char)s[i]);
            if (c == '.') {
                if (label == 0) {
                    *why = "empty label in host";
                    return -1;
                }
                label = 0;
            } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
                label++;
            } else if (c == '@') {
                *why = "userinfo not allowed";
                return -1;
            } else if (c >= 0x80) {
                *why = "non-ASCII host (use the xn-- punycode form)";
                return -1;
            } else {
                *why = "bad character in host";
                return -1;
            }
            if (hl >= ORIGIN_HOST_MAX) {
                *why = "host too long";
                return -1;
            }
            o->host[hl++] = (char)c;
        }
        if (hl == 0) {
            *why = "missing host";
            return -1;
        }
        if (label == 0) {
            *why = "empty label in host";
            return -1;
        }
    }
    o->host[hl] = '\0';
    if (i < n && s[i] == ':') {
        unsigned port = 0;
        size_t digits = 0;
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            port = port * 10 + (unsigned)(s[i] - '0');
            if (port > 65535)
                break;
        }
        if (digits == 0 || port == 0 || port > 65535) {
            *why = "bad port";
            return -1;
        }
        if (port != (o->https ? 443u : 80u))
            o->port = port;
    }
    if (i < n) {
        *why = s[i] == '/' ? "path not allowed (not even a trailing slash)"
                           : "unexpected character after host";
        return -1;
    }
    return 0;
}

char *origin_pattern_normalize(const char *pattern, char *err, size_t errlen)
{
    struct origin_parts o;
    const char *why = "malformed";
    char buf[ORIGIN_HOST_MAX + 32];

    if (origin_parse(pattern, strlen(pattern), 1, &o, &why) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "bad origin pattern \"%.200s\": %s", pattern, why);
        return NULL;
    }
    if (o.is_null)
        return util_xstrdup("null");
    int n = snprintf(buf, sizeof(buf), "%s://%s%s", o.https ? "https" : "http",
                     o.wildcard ? "*." : "", o.host);
    if (o.port)
        snprintf(buf + n, sizeof(buf) - (size_t)n, ":%u", o.port);
    return util_xstrdup(buf);
}

/* The wildcard domain must sit on a label boundary and leave at least one
 * label in front: "*.example.com" takes "a.example.com" and
 * "a.b.example.com", never "example.com" nor "evilexample.com". */
static int host_matches(const struct origin_parts *pat, const struct origin_parts *org)
{
    if (!pat->wildcard)
        return strcmp(pat->host, org->host) == 0;
    size_t pl = strlen(pat->host), ol = strlen(org->host);
    return org->host[0] != '[' && ol > pl + 1 && org->host[ol - pl - 1] == '.'
        && memcmp(org->host + ol - pl, pat->host, pl) == 0;
}

int origin_serialized(const char *origin, size_t len)
{
    struct origin_parts o;
    const char *why;

    return origin_parse(origin, len, 0, &o, &why) == 0;
}

int origin_allowed(const struct route *r, const char *origin, size_t len)
{
    struct origin_parts org, pat;
    const char *why;

    if (r->origins_any)
        return 1;
    if (!origin || origin_parse(origin, len, 0, &org, &why) < 0)
        return 0;
    for (size_t i = 0; i < r->norigins; i++) {
        if (origin_parse(r->origins[i], strlen(r->origins[i]), 1, &pat, &why) < 0)
            continue;
        if (pat.is_null || org.is_null) {
            if (pat.is_null && org.is_null)
                return 1;
            continue;
        }
        if (pat.https == org.https && pat.port == org.port && host_matches(&pat, &org))
            return 1;
    }
    return 0;
}
