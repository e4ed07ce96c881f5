/* The Engine.IO close packet, POSTed to the backend for a polling sid
 * the gateway ended (siosid.c). A client that closes sends exactly this;
 * engine.io then closes the session and socket.io runs its disconnect
 * handlers. */
#include "eioclose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "config.h"
#include "http.h"
#include "log.h"
#include "tls.h"
#include "util.h"

struct eioclose {
    struct eioclose *prev, *next;   /* the closes under way */
    struct bufferevent *bev;
    struct event *timer;
    struct config *cfg;
    char *sid;
    char *where;                    /* the upstream's address, for the log */
    void (*done)(void *arg, int ok);
    void *arg;
};

/* Only the thread that calls eioclose_send touches the list. */
static struct eioclose *live;

static void release(struct eioclose *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    event_free(c->timer);
    config_unref(c->cfg);
    free(c->sid);
    free(c->where);
    free(c);
}

void eioclose_abort_all(void)
{
    while (live)
        release(live);
}

static void finish(struct eioclose *c, int ok, const char *why)
{
    if (ok)
        log_msg(LOG_DEBUG, "socket.io sid %s: backend %s told of its close", c->sid, c->where);
    else
        log_msg(LOG_WARNING, "socket.io sid %s: backend %s not told of its close: %s", c->sid,
                c->where, why);
    if (c->done)
        c->done(c->arg, ok);
    release(c);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct eioclose *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    const char *p;
    int status;

    if (len < 12)
        return;
    p = (const char *)evbuffer_pullup(in, 12);
    if (memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ') {
        finish(c, 0, "not an HTTP response");
        return;
    }
    status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    /* 400 is engine.io's answer for a sid it no longer has: the poll we
     * cut may have ended it first. Either way it is closed. */
    if ((status >= 200 && status < 300) || status == 400)
        finish(c, 1, NULL);
    else {
        char why[48];
        snprintf(why, sizeof(why), "it answered %d", status);
        finish(c, 0, why);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct eioclose *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    finish(c, 0, what & BEV_EVENT_EOF ? "connection closed" : "connection failed");
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    finish(arg, 0, "no answer in time");
}

int eioclose_send(struct event_base *base, struct config *cfg, const struct route *r,
                  unsigned upstream, const char *path, const char *sid,
                  void (*done)(void *arg, int ok), void *arg)
{
    const struct sockaddr_text *a;
    struct eioclose *c;
    struct evbuffer *out;
    int64_t ms;
    struct timeval tv;

    if (!r || r->nupstreams == 0)
        return -1;
    a = &r->upstreams[upstream % r->nupstreams];
    c = util_xcalloc(1, sizeof(*c));
    if (a->tls) {
        SSL *ssl = r->tls_ctx ? tls_client_ssl_new(r->tls_ctx, a->host) : NULL;
        c->bev = ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    c->timer = evtimer_new(base, on_timeout, c);
    if (!c->bev || !c->timer) {
        if (c->bev)
            bufferevent_free(c->bev);
        if (c->timer)
            event_free(c->timer);
        free(c);
        return -1;
    }
    c->cfg = config_ref(cfg);
    c->sid = util_xstrdup(sid);
    c->where = util_xstrdup(a->text);
    c->done = done;
    c->arg = arg;
    c->next = live;
    if (live)
        live->prev = c;
    live = c;
    out = bufferevent_get_output(c->bev);
    /* siosid_valid() keeps the sid to characters a query carries as they are. */
    evbuffer_add_printf(out,
                        "POST %s?EIO=4&transport=polling&sid=%s HTTP/1.1\r\n"
                        "Host: %s\r\n"
                        "Content-Type: text/plain;charset=UTF-8\r\n"
                        "Content-Length: 1\r\n"
                        "Connection: close\r\n"
                        "\r\n"
                        "1",
                        path, sid, a->tls && a->host ? a->host : a->text);
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    ms = cfg->upstream_connect_timeout_ms + cfg->upstream_read_timeout_ms;
    if (ms <= 0 || ms > 60000)
        ms = 60000;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
    evtimer_add(c->timer, &tv);
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)&a->ss, (int)a->len) < 0) {
        /* Immediate failure: no event callback follows. */
        c->done = NULL;
        finish(c, 0, "connect failed");
        return -1;
    }
    return 0;
}
