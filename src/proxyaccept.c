/* The accept-time reader of the PROXY header. It reads from the raw socket
 * and never past the header (v2 says its length, v1 is peeked up to its
 * LF), so a TLS ClientHello or a request head that follows stays in the
 * socket for whoever reads next. Until the header is read there is no
 * session: nothing is answered, a bad or late header just closes. */
#include "proxyaccept.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "proxyproto.h"
#include "util.h"

struct proxyaccept {
    struct proxyaccept *prev, *next;
    struct proxyaccept **list;
    int fd;
    struct event *ev;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    proxyaccept_done done;
    void *arg, *user;
    int tag;
    int64_t deadline_ms;            /* handshake_timeout from the accept */
    size_t have;
    unsigned char buf[PROXYPROTO_V2_MAX];
};

static void unlink_free(struct proxyaccept *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        *p->list = p->next;
    if (p->next)
        p->next->prev = p->prev;
    event_free(p->ev);
    free(p);
}

static void finish(struct proxyaccept *p, int ok, const struct sockaddr *sa, socklen_t salen,
                   enum outcome why)
{
    proxyaccept_done done = p->done;
    void *arg = p->arg, *user = p->user;
    int tag = p->tag;
    struct sockaddr_storage ss;
    int fd = p->fd;

    if (ok)
        memcpy(&ss, sa, salen);
    else
        close(fd);
    unlink_free(p);
    done(arg, ok, fd, ok ? (struct sockaddr *)&ss : NULL, ok ? salen : 0, why, user, tag);
}

/* Reads what belongs to the header. 1: more may come later, 0: EOF,
 * -1: error. */
static int read_some(struct proxyaccept *p)
{
    size_t want = proxyproto_wanted(p->buf, p->have);
    ssize_t n;

    if (want == 0) {
        /* v1, or the first bytes: peek, then take through the first LF. */
        size_t room = PROXYPROTO_V1_MAX - (p->have < PROXYPROTO_V1_MAX ? p->have : PROXYPROTO_V1_MAX);
        unsigned char *lf;
        if (room == 0)
            return -1;
        n = recv(p->fd, p->buf + p->have, room, MSG_PEEK);
        if (n <= 0)
            return n == 0 ? 0 : (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 1 : -1;
        lf = memchr(p->buf + p->have, '\n', (size_t)n);
        want = lf ? (size_t)(lf - (p->buf + p->have)) + 1 : (size_t)n;
    }
    if (want > sizeof(p->buf) - p->have)
        return -1;
    n = recv(p->fd, p->buf + p->have, want, 0);
    if (n <= 0)
        return n == 0 ? 0 : (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 1 : -1;
    p->have += (size_t)n;
    return 1;
}

/* Anyone can send a bad header: one log line per second at most, with
 * the count of those not logged. */
static void log_refusal(const char *why)
{
    static int64_t last_s;
    static unsigned long quiet;
    int64_t now = util_now_ms() / 1000, prev = __atomic_load_n(&last_s, __ATOMIC_RELAXED);

    if (now == prev || !__atomic_compare_exchange_n(&last_s, &prev, now, 0, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&quiet, 1, __ATOMIC_RELAXED);
        return;
    }
    log_info("PROXY header refused (%s), connection closed; %lu more not logged", why,
             __atomic_exchange_n(&quiet, 0, __ATOMIC_RELAXED));
}

static int rearm(struct proxyaccept *p)
{
    int64_t left = p->deadline_ms - util_now_ms();
    struct timeval tv;

    if (left < 0)
        left = 0;
    tv.tv_sec = (time_t)(left / 1000);
    tv.tv_usec = (suseconds_t)((left % 1000) * 1000);
    return event_add(p->ev, &tv);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    struct proxyaccept *p = arg;
    struct proxyproto_result r;
    char err[96];

    (void)fd;
    if (what & EV_TIMEOUT) {
        log_refusal("not received within handshake_timeout");
        finish(p, 0, NULL, 0, OC_PROXY_HEADER_TIMEOUT);
        return;
    }
    for (;;) {
        size_t before = p->have;
        int rd = read_some(p);
        int st = rd < 0 ? -1 : proxyproto_parse(p->buf, p->have, &r, err, sizeof(err));
        if (rd < 0)
            snprintf(err, sizeof(err), "read error");
        if (st < 0 || (st == 0 && rd == 0)) {
            log_refusal(st < 0 ? err : "connection closed before the header ended");
            finish(p, 0, NULL, 0, OC_BAD_PROXY_HEADER);
            return;
        }
        if (st > 0) {
            if (r.local)
                finish(p, 1, (struct sockaddr *)&p->peer, p->peerlen, OC_NONE);
            else
                finish(p, 1, (struct sockaddr *)&r.src, r.srclen, OC_NONE);
            return;
        }
        if (p->have == before) {
            /* Nothing more in the socket yet. */
            if (rearm(p) < 0)
                finish(p, 0, NULL, 0, OC_INTERNAL_ERROR);
            return;
        }
    }
}

int proxyaccept_start(struct event_base *base, struct proxyaccept **list, int fd,
                      const struct sockaddr *sa, socklen_t salen, int64_t timeout_ms,
                      proxyaccept_done done, void *arg, void *user, int tag)
{
    struct proxyaccept *p = calloc(1, sizeof(*p));
    if (!p)
        return -1;
    if ((size_t)salen > sizeof(p->peer))
        salen = sizeof(p->peer);
    memcpy(&p->peer, sa, (size_t)salen);
    p->peerlen = salen;
    p->fd = fd;
    p->done = done;
    p->arg = arg;
    p->user = user;
    p->tag = tag;
    p->list = list;
    p->deadline_ms = util_now_ms() + timeout_ms;
    p->ev = event_new(base, fd, EV_READ, on_event, p);
    if (!p->ev || rearm(p) < 0) {
        if (p->ev)
            event_free(p->ev);
        free(p);
        return -1;
    }
    p->next = *list;
    if (*list)
        (*list)->prev = p;
    *list = p;
    return 0;
}

void proxyaccept_drop_all(struct proxyaccept **list)
{
    while (*list)
        finish(*list, 0, NULL, 0, OC_SHUTDOWN);
}
