/* The core's own reads of plain sockets, without the ioctl(FIONREAD)
 * that libevent's bufferevents make before every read (sockread.c): a
 * client's first request head, then parked until the relay's event takes
 * the socket over; a plain upstream's connect and its answer head; and
 * both sides' lingering after our half-close. What is read lands in the
 * bufferevent's input and reaches the handler as the bufferevent's
 * callbacks would have (session_report_read, session_report_event). TLS
 * sides always stay on their bufferevents. */
#include "session.h"

#include <errno.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "config.h"
#include "sockread.h"

#define LINGER_READ (64 * 1024) /* what one lingering read takes, to drop it */

static void on_client_raw(evutil_socket_t fd, short what, void *arg);
static void on_up_raw(evutil_socket_t fd, short what, void *arg);

int session_watch_client(struct session *s)
{
    s->crd = event_new(s->env->base, bufferevent_getfd(s->client), EV_READ | EV_PERSIST,
                       on_client_raw, s);
    if (s->crd && event_add(s->crd, NULL) == 0)
        return 0;
    session_release_client_read(s);
    return -1;
}

int session_watch_linger(struct session *s, struct bufferevent *bev)
{
    struct event **ev = bev == s->client ? &s->crd : &s->urd;

    if (bufferevent_openssl_get_ssl(bev))
        return -1;
    if (*ev && event_get_events(*ev) != (EV_READ | EV_PERSIST)) {
        event_free(*ev);            /* a connect's watch, still on */
        *ev = NULL;
    }
    if (!*ev)
        *ev = event_new(s->env->base, bufferevent_getfd(bev), EV_READ | EV_PERSIST,
                        bev == s->client ? on_client_raw : on_up_raw, s);
    return *ev && event_add(*ev, NULL) == 0 ? 0 : -1;
}

void session_release_client_read(struct session *s)
{
    if (s->crd) {
        event_free(s->crd);
        s->crd = NULL;
    }
}

int session_watch_upstream(struct session *s)
{
    if (!s->upstream || bufferevent_openssl_get_ssl(s->upstream))
        return -1;
    if (!s->urd)
        s->urd = event_new(s->env->base, bufferevent_getfd(s->upstream), EV_READ | EV_PERSIST,
                           on_up_raw, s);
    return s->urd && event_add(s->urd, NULL) == 0 ? 0 : -1;
}

int session_watch_upstream_connect(struct session *s)
{
    session_release_upstream_read(s);
    /* Readable too: a failed connect is both (EPOLLERR), a completed one
     * only writable, unless the backend spoke first. */
    s->urd = event_new(s->env->base, bufferevent_getfd(s->upstream), EV_READ | EV_WRITE,
                       on_up_raw, s);
    return s->urd && event_add(s->urd, NULL) == 0 ? 0 : -1;
}

static void connect_done(struct session *s, short what)
{
    int err = 0;
    socklen_t len = sizeof(err);

    /* The one-shot connect watch goes; the handler's reads get their own. */
    session_release_upstream_read(s);
    if (what & EV_READ) {
        if (getsockopt(bufferevent_getfd(s->upstream), SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            errno = err;
            session_report_connected(s, BEV_EVENT_ERROR | BEV_EVENT_WRITING);
            return;
        }
    }
    session_report_connected(s, BEV_EVENT_CONNECTED);
}

void session_release_upstream_read(struct session *s)
{
    if (s->urd) {
        event_free(s->urd);
        s->urd = NULL;
    }
}

/* Reads a head into bev's input with our own event ev, within the
 * head's limit, and hands it on as the bufferevent's read would; the end
 * of file or an error goes to the handler as the bufferevent's event. */
static void head_read(struct session *s, struct bufferevent *bev, struct event *ev,
                      void (*on_read)(struct session *, struct bufferevent *))
{
    struct evbuffer *in = bufferevent_get_input(bev);
    enum session_state st = s->state;
    size_t cap = s->cfg->max_header_size + 1;
    int r;

    evbuffer_unfreeze(in, 0);
    r = sockread(in, bufferevent_getfd(bev), cap, 4096, cap, cap);
    evbuffer_freeze(in, 0);
    if (r > 0)
        on_read(s, bev);
    /* The handler may have moved on, freed ev, or ended the session. */
    if (s->state != st || (bev == s->client ? s->crd : s->urd) != ev)
        return;
    if (r <= 0) {
        event_del(ev);
        session_report_event(s, bev, BEV_EVENT_READING | (r < 0 ? BEV_EVENT_ERROR : BEV_EVENT_EOF));
    } else if (evbuffer_get_length(in) >= cap) {
        event_del(ev);          /* the handler answers the oversized head */
    }
}

/* Lingering on a plain side: what comes is read and dropped until the end
 * of file, which the flush handler hears as the bufferevent's. */
static void linger_read(struct session *s, struct bufferevent *bev, struct event *ev)
{
    struct evbuffer *in = bufferevent_get_input(bev);
    int r;

    evbuffer_unfreeze(in, 0);
    r = sockread(in, bufferevent_getfd(bev), LINGER_READ, LINGER_READ, LINGER_READ, LINGER_READ);
    evbuffer_freeze(in, 0);
    evbuffer_drain(in, evbuffer_get_length(in));
    if (r <= 0) {
        event_del(ev);
        session_report_event(s, bev, BEV_EVENT_READING | (r < 0 ? BEV_EVENT_ERROR : BEV_EVENT_EOF));
    }
}

/* The core's own read of a plain client: the first request head (within
 * max_header_size + 1 bytes, as the bufferevent's watermark did), then,
 * parked, nothing: what the client sends before the relay stays in the
 * kernel; in S_FLUSH the linger. */
static void on_client_raw(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    if (s->state == S_FLUSH && s->client_shut)
        linger_read(s, s->client, s->crd);
    else if (s->state == S_HEAD)
        head_read(s, s->client, s->crd, session_report_read);
    else
        event_del(s->crd);
}

static void on_up_raw(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    if (s->state == S_CONNECTING && s->upstream)
        connect_done(s, what);
    else if (s->state == S_FLUSH && s->upstream_shut && s->upstream)
        linger_read(s, s->upstream, s->urd);
    else if (s->state == S_UPSTREAM_HEAD && s->upstream)
        head_read(s, s->upstream, s->urd, session_report_read);
    else
        event_del(s->urd);
}
