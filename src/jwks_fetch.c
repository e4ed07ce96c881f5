/* Remote JWKS, the fetcher: a small HTTPS GET client on the main thread's
 * event_base (evdns, bufferevent_openssl with certificate and host name
 * checks, the shared strict HTTP framer) that keeps a published set
 * (jwks.c) fresh. With oidc_discovery, each fetch first reads the OpenID
 * discovery document over the same client and takes its jwks_uri. A
 * failed fetch keeps the last good set. */
#include "jwks_fetch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "config.h"
#include "http.h"
#include "httpframe.h"
#include "jwks.h"
#include "keys.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

/* Head and chunk framing on top of the largest body we take. */
#define RESP_MAX (JWKS_MAX_BODY + 64 * 1024)
#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000
#define REAP_MS 100

/* ---- fetching ---------------------------------------------------------------- */

enum phase {
    F_IDLE,             /* waiting for the timer or a kick */
    F_RESOLVING,        /* evdns lookup under way */
    F_CONNECTING,       /* TCP connect and TLS handshake to one address */
    F_READING           /* request sent, reading the response */
};

/* A lookup can outlive a cancelled fetch: its callback frees this. */
struct dnsq {
    struct fetcher *f;              /* NULL once cancelled */
};

struct fetcher {
    struct event_base *base;
    struct jwks *j;                 /* one reference */
    char *url_text;                 /* the JWKS URL; NULL until discovery names one */
    struct jwks_url url;
    char *disc_text;                /* oidc_discovery URL, NULL without */
    struct jwks_url disc;
    char *issuer;                   /* oidc_discovery: the document's issuer must equal it */
    int discovering;                /* this attempt reads the discovery document */
    struct jwks_url *target;        /* what this attempt connects to: &disc or &url */
    const char *target_text;
    SSL_CTX *ctx;
    int64_t refresh_ms, min_refresh_ms;

    struct event *timer;            /* the next scheduled fetch */
    int64_t timer_at_ms;            /* when it fires; 0 when not armed */
    int timer_kick;                 /* the timer stands for a deferred kick */
    struct event *kick;             /* activated by jwks_kick from any thread */
    struct event *reap;             /* retired sets waiting for readers to leave */
    struct event *deadline;         /* JWKS_TIMEOUT_MS per phase of a fetch */

    enum phase phase;
    int64_t started_ms;             /* start of the last fetch, 0 before the first */
    struct dnsq *dns;
    struct evdns_getaddrinfo_request *dns_req;
    struct evutil_addrinfo *ai, *ai_next;
    char addr[64];                  /* address being tried, for messages */
    struct bufferevent *bev;
    char *resp;
    size_t resp_len, resp_cap;
    char conn_err[200];             /* why the last address failed */

    int failures;                   /* current failure streak */
    char last_err[400];             /* the reason already logged for it */
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digest_len;            /* 0 before the first document */
};

static struct fetcher *live;        /* the fetcher of the installed configuration */
static struct evdns_base *dns;
static struct event_base *dns_ev_base;
static int dns_orphans;             /* cancelled lookups whose callback is pending */

static void schedule(struct fetcher *f, int64_t delay_ms, int is_kick)
{
    struct timeval tv;

    if (delay_ms < 0)
        delay_ms = 0;
    tv.tv_sec = (time_t)(delay_ms / 1000);
    tv.tv_usec = (suseconds_t)((delay_ms % 1000) * 1000);
    evtimer_del(f->timer);
    evtimer_add(f->timer, &tv);
    f->timer_at_ms = util_now_ms() + delay_ms;
    f->timer_kick = is_kick;
}

static void arm_deadline(struct fetcher *f)
{
    struct timeval tv = { JWKS_TIMEOUT_MS / 1000, (JWKS_TIMEOUT_MS % 1000) * 1000 };

    evtimer_del(f->deadline);
    evtimer_add(f->deadline, &tv);
}

/* Ends the current attempt, whatever state it is in. */
static void attempt_clear(struct fetcher *f)
{
    if (f->dns) {
        f->dns->f = NULL;
        f->dns = NULL;
        if (f->dns_req) {
            dns_orphans++;
            evdns_getaddrinfo_cancel(f->dns_req);
        }
        f->dns_req = NULL;
    }
    if (f->bev) {
        /* Frees the SSL and closes the socket (BEV_OPT_CLOSE_ON_FREE). */
        bufferevent_free(f->bev);
        f->bev = NULL;
    }
    if (f->ai) {
        evutil_freeaddrinfo(f->ai);
        f->ai = f->ai_next = NULL;
    }
    free(f->resp);
    f->resp = NULL;
    f->resp_len = f->resp_cap = 0;
    evtimer_del(f->deadline);
    f->phase = F_IDLE;
    ERR_clear_error();
}

static int64_t backoff_ms(const struct fetcher *f)
{
    int64_t cap = f->refresh_ms < BACKOFF_MAX_MS ? f->refresh_ms : BACKOFF_MAX_MS;
    int64_t d = BACKOFF_FIRST_MS;

    for (int i = 1; i < f->failures && d < cap; i++)
        d *= 2;
    return d < cap ? d : cap;
}

__attribute__((format(printf, 2, 3)))
static void attempt_failed(struct fetcher *f, const char *fmt, ...)
{
    char msg[sizeof(f->last_err)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    attempt_clear(f);
    f->failures++;
    /* Once per failure streak (and when the reason changes), not per retry. */
    if (f->failures == 1 || strcmp(msg, f->last_err) != 0)
        log_warn("jwks: fetching %s failed (%s): %s", f->target_text,
                 jwks_ready(f->j) ? "keeping the last good key set" : "no key set yet", msg);
    else
        log_debug("jwks: fetching %s failed again (%d in a row): %s", f->target_text, f->failures, msg);
    snprintf(f->last_err, sizeof(f->last_err), "%s", msg);
    schedule(f, backoff_ms(f), 0);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    struct fetcher *f = arg;
    struct timeval tv = { 0, REAP_MS * 1000 };

    (void)fd;
    (void)what;
    if (jwks_reclaim(f->j))
        evtimer_add(f->reap, &tv);
}

static void kid_list(const struct keystore *ks, char *buf, size_t cap)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < ks->nkeys && o + 1 < cap; i++) {
        int n = snprintf(buf + o, cap - o, "%s%s", o ? " " : "",
                         ks->keys[i].kid ? ks->keys[i].kid : "(no kid)");
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

static void use_target(struct fetcher *f, int discovering);
static void attempt_start(struct fetcher *f);

/* The OpenID discovery document (OpenID Connect Discovery 1.0 §3, §4.3):
 * its issuer must be ours exactly, and its jwks_uri an https URL, which
 * the JWKS stage of this fetch then reads. A refused document keeps the
 * last good set. */
static void got_discovery(struct fetcher *f, const char *body, size_t len)
{
    json_error_t je;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    const json_t *iss = json_object_get(doc, "issuer"), *ju = json_object_get(doc, "jwks_uri");
    struct jwks_url u;
    char why[200];

    if (!json_is_object(doc)) {
        json_decref(doc);
        attempt_failed(f, "%s: discovery document is not a JSON object", f->addr);
        return;
    }
    if (!json_is_string(iss) || strcmp(json_string_value(iss), f->issuer) != 0) {
        char got[80];
        int has = json_is_string(iss);
        /* A provider's text in our log: bounded, printable. */
        snprintf(got, sizeof(got), "%.64s", has ? json_string_value(iss) : "");
        for (char *c = got; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e || *c == '"')
                *c = '?';
        json_decref(doc);
        if (has)
            attempt_failed(f, "%s: discovery document refused: its issuer \"%s\" is not the "
                           "configured issuer \"%s\"", f->addr, got, f->issuer);
        else
            attempt_failed(f, "%s: discovery document refused: it has no issuer", f->addr);
        return;
    }
    if (!json_is_string(ju) || jwks_url_parse(json_string_value(ju), &u, why, sizeof(why)) != 0) {
        if (!json_is_string(ju))
            snprintf(why, sizeof(why), "is missing");
        json_decref(doc);
        attempt_failed(f, "%s: discovery document refused: jwks_uri %s", f->addr, why);
        return;
    }
    if (!f->url_text || strcmp(f->url_text, json_string_value(ju)) != 0) {
        log_notice("jwks: %s names jwks_uri %s", f->disc_text, json_string_value(ju));
        jwks_url_clear(&f->url);
        free(f->url_text);
        f->url = u;
        f->url_text = util_xstrdup(json_string_value(ju));
    } else {
        jwks_url_clear(&u);
    }
    json_decref(doc);
    attempt_clear(f);
    use_target(f, 0);
    attempt_start(f);
}

static void got_document(struct fetcher *f, const char *body, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    char why[400], kids[200];
    int recovered = f->failures;

    if (EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL) != 1)
        mdlen = 0;
    ERR_clear_error();
    if (mdlen && mdlen == f->digest_len && memcmp(md, f->digest, mdlen) == 0 && jwks_ready(f->j)) {
        log_debug("jwks: %s unchanged", f->url_text);
    } else {
        struct keystore *ks = keystore_new();
        if (keystore_add_jwks(ks, body, len, f->url_text, why, sizeof(why)) != 0) {
            /* The reason starts with the source, the URL the log line has already. */
            size_t ul = strlen(f->url_text);
            const char *w = strncmp(why, f->url_text, ul) == 0 && why[ul] == ':' ? why + ul + 1 : why;
            keystore_free(ks);
            attempt_failed(f, "%s: not a usable key set:%s%s", f->addr, *w == ' ' ? "" : " ", w);
            return;
        }
        kid_list(ks, kids, sizeof(kids));
        log_notice("jwks: %s: %zu key%s loaded (%s)", f->url_text, ks->nkeys,
                   ks->nkeys == 1 ? "" : "s", kids);
        jwks_publish(f->j, ks);
        memcpy(f->digest, md, mdlen);
        f->digest_len = mdlen;
        if (jwks_reclaim(f->j)) {
            struct timeval tv = { 0, REAP_MS * 1000 };
            evtimer_add(f->reap, &tv);
        }
    }
    attempt_clear(f);
    if (recovered)
        log_notice("jwks: fetching %s works again after %d failed attempt%s",
                   f->disc_text ? f->disc_text : f->url_text,
                   recovered, recovered == 1 ? "" : "s");
    f->failures = 0;
    f->last_err[0] = '\0';
    schedule(f, f->refresh_ms, 0);
}

/* 1: the attempt is over (done or failed), 0: more bytes needed. */
static int consume(struct fetcher *f, int eof, const char *ioerr)
{
    struct jwks_http_resp r;
    char why[200];
    int rc = jwks_http_parse(f->resp ? f->resp : "", f->resp_len, eof, JWKS_MAX_BODY, &r,
                             why, sizeof(why));

    if (rc == 0)
        return 0;
    if (rc < 0) {
        if (ioerr)
            attempt_failed(f, "%s: %s (%s)", f->addr, why, ioerr);
        else
            attempt_failed(f, "%s: %s", f->addr, why);
        return 1;
    }
    if (r.status != 200) {
        attempt_failed(f, "%s: HTTP status %d", f->addr, r.status);
    } else if (f->discovering) {
        got_discovery(f, r.body, r.body_len);
        free(r.body);
    } else {
        got_document(f, r.body, r.body_len);
        free(r.body);
    }
    return 1;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct fetcher *f = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);

    if (n == 0)
        return;
    if (f->resp_len + n > RESP_MAX) {
        attempt_failed(f, "%s: response larger than %d KiB", f->addr, RESP_MAX / 1024);
        return;
    }
    if (f->resp_len + n > f->resp_cap) {
        size_t cap = f->resp_cap ? f->resp_cap : 16384;
        while (cap < f->resp_len + n)
            cap *= 2;
        f->resp = util_xrealloc(f->resp, cap);
        f->resp_cap = cap;
    }
    evbuffer_remove(in, f->resp + f->resp_len, n);
    f->resp_len += n;
    consume(f, 0, NULL);
}

static void try_next_address(struct fetcher *f);

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct fetcher *f = arg;
    int sockerr = EVUTIL_SOCKET_ERROR();
    unsigned long e, last = 0;
    long vr;
    SSL *ssl;

    if (what & BEV_EVENT_CONNECTED) {
        f->phase = F_READING;
        arm_deadline(f);
        evbuffer_add_printf(bufferevent_get_output(bev),
                            "GET %s HTTP/1.1\r\n"
                            "Host: %s\r\n"
                            "Accept: application/jwk-set+json, application/json\r\n"
                            "User-Agent: wsgate/%s\r\n"
                            "Connection: close\r\n\r\n",
                            f->target->path, f->target->authority, PACKAGE_VERSION);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    /* libevent queues SSL_get_error() codes (library 0) next to OpenSSL's
     * own error codes; errno comes with OpenSSL's system errors. */
    while ((e = bufferevent_get_openssl_error(bev)) != 0) {
        if (ERR_GET_LIB(e) == ERR_LIB_SYS)
            sockerr = ERR_GET_REASON(e);
        else if (ERR_GET_LIB(e) != 0)
            last = e;
    }
    if (f->phase == F_READING) {
        /* Whatever is still buffered, then judge the response as a whole:
         * a server that closes without close_notify after a complete body
         * has answered. */
        on_read(bev, f);
        if (f->phase != F_READING)
            return;
        char io[160] = "";
        if (what & BEV_EVENT_ERROR) {
            const char *r = last ? ERR_reason_error_string(last) : NULL;
            snprintf(io, sizeof(io), "%s", last ? (r ? r : "TLS error")
                                           : sockerr ? evutil_socket_error_to_string(sockerr)
                                                     : "connection error");
        }
        consume(f, 1, io[0] ? io : NULL);
        return;
    }
    ssl = bufferevent_openssl_get_ssl(bev);
    vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (vr != X509_V_OK) {
        attempt_failed(f, "%s: TLS handshake: certificate verification failed: %s", f->addr,
                       X509_verify_cert_error_string(vr));
        return;
    }
    if (last) {
        char r[160];
        ERR_error_string_n(last, r, sizeof(r));
        attempt_failed(f, "%s: TLS handshake failed: %s", f->addr, r);
        return;
    }
    /* Nothing from TLS itself: the TCP connection failed, try the next address. */
    snprintf(f->conn_err, sizeof(f->conn_err), "%s: %s", f->addr,
             sockerr ? evutil_socket_error_to_string(sockerr)
                     : "connection closed during the TLS handshake");
    bufferevent_free(f->bev);
    f->bev = NULL;
    ERR_clear_error();
    try_next_address(f);
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";

    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        evutil_inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(buf, cap, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        evutil_inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(buf, cap, "%s:%u", ip, ntohs(s4->sin_port));
    }
}

static void try_next_address(struct fetcher *f)
{
    while (f->ai_next) {
        struct evutil_addrinfo *a = f->ai_next;
        SSL *ssl;
        int ok;

        f->ai_next = a->ai_next;
        if (a->ai_family != AF_INET && a->ai_family != AF_INET6)
            continue;
        addr_text(a->ai_addr, f->addr, sizeof(f->addr));
        if (!(ssl = SSL_new(f->ctx))) {
            attempt_failed(f, "cannot create a TLS connection");
            return;
        }
        /* SNI only for names; the certificate must name the URL's host. */
        if (f->target->host_is_ip)
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), f->target->host) == 1;
        else
            ok = SSL_set_tlsext_host_name(ssl, f->target->host) == 1 &&
                 SSL_set1_host(ssl, f->target->host) == 1;
        if (!ok) {
            SSL_free(ssl);
            attempt_failed(f, "cannot set up host name verification for %s", f->target->host);
            return;
        }
        f->bev = bufferevent_openssl_socket_new(f->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (!f->bev) {
            SSL_free(ssl);
            attempt_failed(f, "cannot create a TLS connection");
            return;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(f->bev, 1);
        bufferevent_setcb(f->bev, on_read, NULL, on_event, f);
        bufferevent_enable(f->bev, EV_READ | EV_WRITE);
        f->phase = F_CONNECTING;
        if (bufferevent_socket_connect(f->bev, a->ai_addr, (int)a->ai_addrlen) == 0)
            return;
        snprintf(f->conn_err, sizeof(f->conn_err), "%s: %s", f->addr,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        bufferevent_free(f->bev);
        f->bev = NULL;
    }
    attempt_failed(f, "cannot connect to %s", f->conn_err[0] ? f->conn_err : f->target->host);
}

static void on_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
    struct dnsq *q = arg;
    struct fetcher *f = q->f;

    free(q);
    if (!f) {
        dns_orphans--;
        if (ai)
            evutil_freeaddrinfo(ai);
        return;
    }
    f->dns = NULL;
    f->dns_req = NULL;
    if (result != 0 || !ai) {
        if (ai)
            evutil_freeaddrinfo(ai);
        attempt_failed(f, "cannot resolve %s: %s", f->target->host,
                       result ? evutil_gai_strerror(result) : "no address");
        return;
    }
    f->ai = f->ai_next = ai;
    f->phase = F_CONNECTING;
    try_next_address(f);
}

/* One GET of f->target: resolve, connect, TLS, request, response. */
static void attempt_start(struct fetcher *f)
{
    struct evutil_addrinfo hints;
    struct evdns_getaddrinfo_request *req;
    struct dnsq *q;
    char port[8];

    f->conn_err[0] = '\0';
    f->addr[0] = '\0';
    f->phase = F_RESOLVING;
    arm_deadline(f);

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    snprintf(port, sizeof(port), "%d", f->target->port);
    q = util_xcalloc(1, sizeof(*q));
    q->f = f;
    f->dns = q;
    /* A numeric host or one in /etc/hosts is answered at once: then the
     * callback has already run and req is NULL. */
    req = evdns_getaddrinfo(dns, f->target->host, port, &hints, on_resolved, q);
    if (req)
        f->dns_req = req;
}

static void use_target(struct fetcher *f, int discovering)
{
    f->discovering = discovering;
    f->target = discovering ? &f->disc : &f->url;
    f->target_text = discovering ? f->disc_text : f->url_text;
}

static void fetch_start(struct fetcher *f, const char *why)
{
    if (f->phase != F_IDLE)
        return;
    evtimer_del(f->timer);
    f->timer_at_ms = 0;
    f->timer_kick = 0;
    f->started_ms = util_now_ms();
    /* Every fetch asks the discovery document first: a provider that moves
     * its jwks_uri, or whose document stops naming our issuer, is seen at
     * the next refresh. */
    use_target(f, f->disc_text != NULL);
    log_debug("jwks: fetching %s (%s)", f->target_text, why);
    attempt_start(f);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fetcher *f = arg;

    (void)fd;
    (void)what;
    f->timer_at_ms = 0;
    if (f->timer_kick)
        log_info("jwks: refetching %s: a token named a key it does not have",
                 f->disc_text ? f->disc_text : f->url_text);
    fetch_start(f, f->timer_kick ? "unknown key" : f->failures ? "retry" : "refresh");
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct fetcher *f = arg;

    (void)fd;
    (void)what;
    if (f->phase == F_READING)
        attempt_failed(f, "%s: no complete response within %ds", f->addr, JWKS_TIMEOUT_MS / 1000);
    else if (f->phase == F_CONNECTING)
        attempt_failed(f, "%s: cannot connect within %ds", f->addr, JWKS_TIMEOUT_MS / 1000);
    else
        attempt_failed(f, "cannot resolve %s within %ds", f->target->host, JWKS_TIMEOUT_MS / 1000);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
    struct fetcher *f = arg;
    int64_t now = util_now_ms(), at;

    (void)fd;
    (void)what;
    jwks_kick_taken(f->j);
    /* A fetch under way answers the kick: a token still naming an unknown
     * key after it kicks again. */
    if (f->phase != F_IDLE)
        return;
    at = f->started_ms + f->min_refresh_ms;
    if (!f->started_ms || at <= now) {
        log_info("jwks: refetching %s: a token named a key it does not have",
                 f->disc_text ? f->disc_text : f->url_text);
        fetch_start(f, "unknown key");
    } else if (!f->timer_at_ms || at < f->timer_at_ms) {
        /* Too soon after the last fetch: once, at the end of the interval. */
        schedule(f, at - now, 1);
    }
}

/* The client context of tls:// upstreams serves the fetcher too: TLS 1.2
 * minimum, the peer verified against ca_file or the system store. */
static SSL_CTX *make_ctx(const char *ca_file, char *err, size_t errlen)
{
    char why[300];
    SSL_CTX *ctx = tls_client_ctx_new(ca_file, why, sizeof(why));

    if (!ctx)
        util_fail(err, errlen, "cannot load CA certificates%s%s: %s", ca_file ? " from " : "",
                  ca_file ? ca_file : "", why);
    return ctx;
}

int jwks_check_ca_file(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    SSL_CTX *ctx;

    if (!fp)
        return util_fail(err, errlen, "%s: %s", path, strerror(errno));
    fclose(fp);
    if (!(ctx = make_ctx(path, err, errlen)))
        return -1;
    SSL_CTX_free(ctx);
    return 0;
}

static void fetcher_free(struct fetcher *f)
{
    if (!f)
        return;
    jwks_set_kick_event(f->j, NULL);
    attempt_clear(f);
    event_free(f->kick);
    event_free(f->timer);
    event_free(f->reap);
    event_free(f->deadline);
    SSL_CTX_free(f->ctx);
    jwks_url_clear(&f->url);
    free(f->url_text);
    jwks_url_clear(&f->disc);
    free(f->disc_text);
    free(f->issuer);
    /* Retired sets still held by readers go with the last configuration. */
    jwks_unref(f->j);
    free(f);
}

static struct fetcher *fetcher_new(struct event_base *base, const struct config *cfg,
                                   char *err, size_t errlen)
{
    struct fetcher *f = util_xcalloc(1, sizeof(*f));
    char why[200];

    if (cfg->oidc_discovery) {
        if (jwks_url_parse(cfg->oidc_discovery, &f->disc, why, sizeof(why)) != 0) {
            util_fail(err, errlen, "oidc_discovery %s: %s", cfg->oidc_discovery, why);
            free(f);
            return NULL;
        }
    } else if (jwks_url_parse(cfg->jwks_url, &f->url, why, sizeof(why)) != 0) {
        util_fail(err, errlen, "jwks_url %s: %s", cfg->jwks_url, why);
        free(f);
        return NULL;
    }
    if (!(f->ctx = make_ctx(cfg->jwks_ca_file, err, errlen))) {
        jwks_url_clear(&f->url);
        jwks_url_clear(&f->disc);
        free(f);
        return NULL;
    }
    f->base = base;
    if (cfg->oidc_discovery) {
        f->disc_text = util_xstrdup(cfg->oidc_discovery);
        f->issuer = util_xstrdup(cfg->issuer ? cfg->issuer : "");
    } else {
        f->url_text = util_xstrdup(cfg->jwks_url);
    }
    use_target(f, f->disc_text != NULL);
    f->refresh_ms = cfg->jwks_refresh_ms;
    f->min_refresh_ms = cfg->jwks_min_refresh_ms;
    f->j = jwks_new();
    f->timer = evtimer_new(base, on_timer, f);
    f->reap = evtimer_new(base, on_reap, f);
    f->deadline = evtimer_new(base, on_deadline, f);
    /* A persistent event with no fd only runs when activated. */
    f->kick = event_new(base, -1, EV_PERSIST, on_kick, f);
    event_add(f->kick, NULL);
    jwks_set_kick_event(f->j, f->kick);
    return f;
}

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The same key source: one jwks_url, or one discovery URL and issuer. */
static int same_source(const struct fetcher *a, const struct fetcher *b)
{
    if (a->disc_text || b->disc_text)
        return same_text(a->disc_text, b->disc_text) && same_text(a->issuer, b->issuer);
    return same_text(a->url_text, b->url_text);
}

int jwks_attach(struct event_base *base, struct config *cfg, char *err, size_t errlen)
{
    struct fetcher *f = NULL;

    if (cfg->jwks)
        return 0;
    if (cfg->jwks_url || cfg->oidc_discovery) {
        if (!dns) {
            dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
            if (!dns)
                return util_fail(err, errlen, "cannot create a DNS resolver");
            /* Missing or empty: evdns falls back to 127.0.0.1; /etc/hosts is read too. */
            evdns_base_resolv_conf_parse(dns, DNS_OPTIONS_ALL, "/etc/resolv.conf");
            dns_ev_base = base;
        }
        if (!(f = fetcher_new(base, cfg, err, errlen)))
            return -1;
        /* Same URL across a reload: serve the old set until the new fetch. */
        if (live && same_source(live, f)) {
            jwks_share(f->j, live->j);
            memcpy(f->digest, live->digest, sizeof(f->digest));
            f->digest_len = live->digest_len;
        }
        cfg->jwks = jwks_ref(f->j);
    }
    fetcher_free(live);
    live = f;
    if (f)
        fetch_start(f, "start");
    return 0;
}

static void on_wait_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

int jwks_wait_ready(struct event_base *base, struct config *cfg)
{
    struct timeval tv;
    struct event *t;
    int over = 0;

    if (!cfg->jwks || jwks_ready(cfg->jwks))
        return 1;
    if (cfg->jwks_startup_wait_ms > 0) {
        tv.tv_sec = (time_t)(cfg->jwks_startup_wait_ms / 1000);
        tv.tv_usec = (suseconds_t)((cfg->jwks_startup_wait_ms % 1000) * 1000);
        t = evtimer_new(base, on_wait_over, &over);
        evtimer_add(t, &tv);
        while (!over && !jwks_ready(cfg->jwks))
            event_base_loop(base, EVLOOP_ONCE);
        event_free(t);
    }
    if (jwks_ready(cfg->jwks))
        return 1;
    log_warn("jwks: no key set from %s yet; routes with auth answer 503 until the first "
             "successful fetch", cfg->jwks_url ? cfg->jwks_url : cfg->oidc_discovery);
    return 0;
}

void jwks_shutdown(void)
{
    fetcher_free(live);
    live = NULL;
    /* Cancelled lookups report through a deferred callback: let it run. */
    for (int i = 0; i < 10 && dns_orphans > 0 && dns_ev_base; i++)
        event_base_loop(dns_ev_base, EVLOOP_NONBLOCK);
    if (dns) {
        evdns_base_free(dns, 0);
        dns = NULL;
    }
    dns_ev_base = NULL;
}
