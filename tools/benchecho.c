/* benchecho: an RFC 6455 echo server for the benchmarks. It answers any
 * upgrade that carries a Sec-WebSocket-Key and then sends every frame back
 * unmasked, as it arrives: payload bytes are unmasked in place in the input
 * buffer and moved to the output buffer, never copied, so that the backend
 * costs less than any proxy in front of it. It checks tokens not at all. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "benchecho.h"
#include "benchws.h"

#define MAX_HEAD 16384
/* Stop reading a client that does not read its echoes past this. */
#define OUT_HIGH (4u << 20)

enum echo_state { E_HEAD, E_FRAMES, E_CLOSING };

struct bench_echo {
    struct evconnlistener *listener;
    struct echo_conn *conns;        /* every open connection, for bench_echo_free */
};

struct echo_conn {
    struct bench_echo *srv;
    struct echo_conn *prev, *next;
    struct bufferevent *bev;
    enum echo_state state;
    uint64_t left;          /* payload bytes of the current data frame still to move */
    size_t moff;            /* mask offset within it */
    unsigned char mask[4];
    int paused;
};

static void echo_free(struct echo_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bufferevent_free(c->bev);
    free(c);
}

static void send_head_reply(struct echo_conn *c, const char *status)
{
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "HTTP/1.1 %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status);
    c->state = E_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
}

static void do_head(struct echo_conn *c, struct evbuffer *in)
{
    struct evbuffer_ptr pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    char key[64], accept[29];
    char *head;
    size_t hl;

    if (pos.pos < 0) {
        if (evbuffer_get_length(in) > MAX_HEAD)
            send_head_reply(c, "431 Request Header Fields Too Large");
        return;
    }
    hl = (size_t)pos.pos + 4;
    if (hl > MAX_HEAD) {
        send_head_reply(c, "431 Request Header Fields Too Large");
        return;
    }
    head = (char *)evbuffer_pullup(in, (ev_ssize_t)hl);
    char save = head[hl - 1];
    head[hl - 1] = 0;
    int r = bws_header_value(head, "Sec-WebSocket-Key", key, sizeof key);
    head[hl - 1] = save;
    evbuffer_drain(in, hl);
    if (r < 0) {
        send_head_reply(c, "400 Bad Request");
        return;
    }
    bws_accept_key(key, accept);
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    c->state = E_FRAMES;
}

/* Unmasks up to n payload bytes at the front of in in place and moves them
 * to out. */
static void move_payload(struct echo_conn *c, struct evbuffer *in, struct evbuffer *out, size_t n)
{
    struct evbuffer_iovec v[16];
    size_t done = 0;

    while (done < n) {
        int k = evbuffer_peek(in, (ev_ssize_t)(n - done), NULL, v, 16);
        size_t got = 0;

        if (k > 16)
            k = 16;
        for (int i = 0; i < k && done + got < n; i++) {
            size_t l = v[i].iov_len;

            if (l > n - done - got)
                l = n - done - got;
            bws_mask(v[i].iov_base, v[i].iov_base, l, c->mask, c->moff);
            c->moff = (c->moff + l) & 3;
            got += l;
        }
        evbuffer_remove_buffer(in, out, got);
        done += got;
    }
}

static void do_frames(struct echo_conn *c, struct evbuffer *in)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);

    for (;;) {
        size_t have = evbuffer_get_length(in);

        if (c->left) {
            size_t n = have < c->left ? have : (size_t)c->left;

            if (!n)
                return;
            move_payload(c, in, out, n);
            c->left -= n;
            continue;
        }
        if (!have)
            return;

        unsigned char hb[BWS_MAX_HEADER], oh[BWS_MAX_HEADER];
        struct bws_frame f;
        size_t hn = have < sizeof hb ? have : sizeof hb;
        evbuffer_copyout(in, hb, hn);
        int r = bws_parse_header(hb, hn, &f);

        if (r == 0)
            return;
        if (r < 0 || !f.masked || f.rsv) {
            unsigned char cl[4] = { 0x88, 2, 1002 >> 8, 1002 & 0xff };

            evbuffer_add(out, cl, sizeof cl);
            c->state = E_CLOSING;
            bufferevent_disable(c->bev, EV_READ);
            return;
        }
        if (f.opcode & 8) {
            unsigned char pl[125];

            if (have < f.header_len + f.len)
                return;
            evbuffer_drain(in, f.header_len);
            evbuffer_remove(in, pl, (size_t)f.len);
            bws_mask(pl, pl, (size_t)f.len, f.mask, 0);
            if (f.opcode == BWS_OP_PONG)
                continue;
            size_t n = bws_write_header(oh, 1, f.opcode == BWS_OP_PING ? BWS_OP_PONG : f.opcode,
                                        f.len, NULL);
            evbuffer_add(out, oh, n);
            evbuffer_add(out, pl, (size_t)f.len);
            if (f.opcode == BWS_OP_CLOSE) {
                /* We close the TCP connection first, as RFC 6455 7.1.1 asks
                 * of a server: TIME_WAIT stays on this side. */
                c->state = E_CLOSING;
                bufferevent_disable(c->bev, EV_READ);
                return;
            }
            continue;
        }
        evbuffer_drain(in, f.header_len);
        size_t n = bws_write_header(oh, f.fin, f.opcode, f.len, NULL);
        evbuffer_add(out, oh, n);
        c->left = f.len;
        memcpy(c->mask, f.mask, 4);
        c->moff = 0;
    }
}

static void echo_write_cb(struct bufferevent *bev, void *arg)
{
    struct echo_conn *c = arg;

    if (c->state == E_CLOSING) {
        echo_free(c);
        return;
    }
    if (c->paused) {
        c->paused = 0;
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        bufferevent_enable(bev, EV_READ);
    }
}

static void echo_read_cb(struct bufferevent *bev, void *arg)
{
    struct echo_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    if (c->state == E_HEAD)
        do_head(c, in);
    if (c->state == E_FRAMES)
        do_frames(c, in);
    if (c->state == E_CLOSING) {
        evbuffer_drain(in, evbuffer_get_length(in));
        if (!evbuffer_get_length(bufferevent_get_output(bev)))
            echo_free(c);
        return;
    }
    if (evbuffer_get_length(bufferevent_get_output(bev)) > OUT_HIGH) {
        c->paused = 1;
        bufferevent_disable(bev, EV_READ);
        bufferevent_setwatermark(bev, EV_WRITE, OUT_HIGH / 2, 0);
    }
}

static void echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    (void)what;
    echo_free(arg);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                      int salen, void *arg)
{
    struct bench_echo *srv = arg;
    struct event_base *base = evconnlistener_get_base(l);
    struct echo_conn *c = calloc(1, sizeof *c);
    int one = 1;

    (void)l, (void)sa, (void)salen;
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!c->bev) {
        evutil_closesocket(fd);
        free(c);
        return;
    }
    c->srv = srv;
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    bufferevent_setcb(c->bev, echo_read_cb, echo_write_cb, echo_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void resume_accept(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    evconnlistener_enable(arg);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)arg;
    /* EMFILE and the like: pause accepting for a moment instead of spinning. */
    fprintf(stderr, "wsgate-bench: accept: %s\n", strerror(errno));
    evconnlistener_disable(l);
    struct timeval tv = { 0, 100000 };
    event_base_once(evconnlistener_get_base(l), -1, EV_TIMEOUT, resume_accept, l, &tv);
}

struct bench_echo *bench_echo_new(struct event_base *base, const char *addr, char *err,
                                  size_t errlen)
{
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    struct bench_echo *e;

    if (evutil_parse_sockaddr_port(addr, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(err, errlen, "bad listen address \"%s\" (want host:port)", addr);
        return NULL;
    }
    if (!(e = calloc(1, sizeof *e))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->listener = evconnlistener_new_bind(base, accept_cb, e,
                                          LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE, 4096,
                                          (struct sockaddr *)&ss, sl);
    if (!e->listener) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
        free(e);
        return NULL;
    }
    evconnlistener_set_error_cb(e->listener, accept_error_cb);
    return e;
}

void bench_echo_free(struct bench_echo *e)
{
    if (!e)
        return;
    while (e->conns)
        echo_free(e->conns);
    evconnlistener_free(e->listener);
    free(e);
}
