/* The relay after a 101. Payloads move as evbuffer chains and are never
 * unmasked or copied into our own buffers; only frame headers are read, so
 * the gateway knows where it may inject a close frame and how large a
 * message is. Each direction pauses its source while its sink holds more
 * than RELAY_HIGH_WATER bytes.
 *
 * Plain TCP sockets take a fast path, as a relayed message costs one read
 * and one write and no change of epoll interest (the bufferevents cost an
 * ioctl(FIONREAD) per read and an epoll_ctl on and another off per
 * write): the relay reads such a source with its own event and readv
 * (pump_dir.rd), and writes such a sink straight after the pump; the
 * sink's bufferevent gets EV_WRITE only while a write would block, and
 * drops it again once its output is empty. TLS sides stay on their
 * bufferevents; so does a client read by a layer (socket.io, re-auth),
 * which pauses and resumes the client's bufferevent itself. */
#include "relay.h"

#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "config.h"
#include "log.h"
#include "session.h"
#include "sockread.h"
#include "util.h"
#include "pump.h"
#include "ws.h"
#include "metrics.h"

#define CLOSE_WAIT_MS 2000      /* how long we wait for the close replies */

/* libevent 2.1 reads at most 4096 bytes per readable event and, by
 * default, writes at most 16 KiB per writable event: a 64 KiB message cost
 * 16 wakeups with an ioctl and a read each. A plain TCP source is read
 * READ_FIRST bytes first and, when that filled, READ_MORE_STEP at a time,
 * up to READ_MORE_MAX per wakeup (read_more does the same after a read of
 * a bufferevent's that filled 4 KiB), and writes go out in up to
 * RELAY_HIGH_WATER bytes per writev. TLS sources keep the bufferevent's
 * own reads (records are decrypted by OpenSSL). */
#define READ_FIRST 4096
#define READ_MORE_STEP (64 * 1024)
#define READ_MORE_MAX (128 * 1024)

static struct bufferevent *dir_source(struct session *s, struct pump_dir *d)
{
    return d == &s->c2u ? s->client : s->upstream;
}

static struct bufferevent *dir_sink(struct session *s, struct pump_dir *d)
{
    return d == &s->c2u ? s->upstream : s->client;
}

/* The socket a side is written to when it is plain TCP, else -1. */
static int sink_fd(struct session *s, struct pump_dir *d)
{
    return d == &s->c2u ? s->u2c.fd : s->c2u.fd;
}

static int relaying(const struct session *s)
{
    return s->state == S_RELAY || s->state == S_CLOSING;
}

static void read_off(struct session *s, struct pump_dir *d)
{
    if (d->rd)
        event_del(d->rd);
    else
        bufferevent_disable(dir_source(s, d), EV_READ);
}

static void read_on(struct session *s, struct pump_dir *d)
{
    if (d->rd)
        event_add(d->rd, NULL);
    else
        bufferevent_enable(dir_source(s, d), EV_READ);
}

static const struct session_ops relay_ops, closing_ops;
static void on_client_readable(evutil_socket_t fd, short what, void *arg);
static void on_up_readable(evutil_socket_t fd, short what, void *arg);

/* The direction's source is read by the relay itself when it is plain
 * TCP (and, for the client, no layer reads it), else by its bufferevent.
 * The relay's event is added before the bufferevent's is taken away, so
 * that the socket's epoll interest never changes. */
static void source_on(struct session *s, struct pump_dir *d)
{
    struct bufferevent *src = dir_source(s, d);

    if (d->fd >= 0 && !(d == &s->c2u && s->layer))
        d->rd = event_new(s->env->base, d->fd, EV_READ | EV_PERSIST,
                          d == &s->c2u ? on_client_readable : on_up_readable, s);
    if (d->rd && event_add(d->rd, NULL) == 0) {
        bufferevent_disable(src, EV_READ);
        return;
    }
    if (d->rd)
        event_free(d->rd);
    d->rd = NULL;
    bufferevent_enable(src, EV_READ);
}

/* A plain sink is written straight after the pump (relay_flush), what
 * is still queued (the 101) included; its bufferevent writes only what a
 * write left. */
static void sink_on(struct bufferevent *bev, int fd)
{
    if (fd >= 0)
        bufferevent_disable(bev, EV_WRITE);
    else
        bufferevent_enable(bev, EV_WRITE);
}

void relay_start(struct session *s)
{
    uint64_t max = s->cfg->max_message_size;

    memset(&s->c2u, 0, sizeof(s->c2u));
    memset(&s->u2c, 0, sizeof(s->u2c));
    s->c2u.fd = bufferevent_openssl_get_ssl(s->client) ? -1 : bufferevent_getfd(s->client);
    s->u2c.fd = bufferevent_openssl_get_ssl(s->upstream) ? -1 : bufferevent_getfd(s->upstream);
    bufferevent_set_max_single_write(s->client, RELAY_HIGH_WATER);
    bufferevent_set_max_single_write(s->upstream, RELAY_HIGH_WATER);
    s->c2u.t.from_client = 1;
    s->c2u.t.max_message = max;
    session_enter(s, S_RELAY, &relay_ops);
    s->last_activity_ms = util_now_ms();
    bufferevent_setwatermark(s->client, EV_READ, 0, RELAY_HIGH_WATER);
    bufferevent_setwatermark(s->upstream, EV_READ, 0, RELAY_HIGH_WATER);
    bufferevent_setwatermark(s->client, EV_WRITE, RELAY_LOW_WATER, 0);
    bufferevent_setwatermark(s->upstream, EV_WRITE, RELAY_LOW_WATER, 0);
    source_on(s, &s->c2u);
    source_on(s, &s->u2c);
    /* The client's socket is watched by the relay now: the core's parked
     * reader of the head goes without a change of epoll interest. */
    session_release_client_read(s);
    session_release_upstream_read(s);
    sink_on(s->client, s->c2u.fd);
    sink_on(s->upstream, s->u2c.fd);
    evtimer_del(s->timer);
    if (s->cfg->idle_timeout_ms > 0)
        session_arm(s, s->cfg->idle_timeout_ms);
    if (s->layer && s->layer->started)
        s->layer->started(s);
    /* A plain relay needs nothing more of the request; layers and the
     * graphql-ws handler may still read it. */
    if (!s->layer && !s->sio && !s->reauth && !s->gql)
        session_forget_request(s);
    /* Either side may already have sent frames behind the heads. */
    relay_pump(s, &s->c2u);
    if (s->state == S_RELAY)
        relay_pump(s, &s->u2c);
}

static void closing_check(struct session *s)
{
    if (s->state != S_CLOSING)
        return;
    if (s->c2u.injected && s->u2c.injected && s->c2u.peer_closed && s->u2c.peer_closed)
        session_end(s, s->end_cause);
}

/* Marks both directions for a close; the pumps inject it. Returns 0 when
 * the session was relaying. */
static int close_begin(struct session *s, int code, const char *reason, enum outcome cause)
{
    if (s->state != S_RELAY)
        return -1;
    log_msg(LOG_INFO, "session %lu %s: closing with %d (%s)", s->id, s->peer, code, outcome_name(cause));
    session_enter(s, S_CLOSING, &closing_ops);
    s->close_code = code;
    s->close_reason = reason;
    s->end_cause = cause;
    s->c2u.inject_code = code;
    s->u2c.inject_code = code;
    evtimer_del(s->timer);
    session_arm(s, CLOSE_WAIT_MS);
    return 0;
}

void relay_close(struct session *s, int code, const char *reason, enum outcome cause)
{
    if (close_begin(s, code, reason, cause) < 0)
        return;
    relay_pump(s, &s->c2u);
    if (s->state == S_CLOSING)
        relay_pump(s, &s->u2c);
}

/* At a frame boundary: our pending close goes out before anything else. */
static void maybe_inject(struct session *s, struct pump_dir *d)
{
    struct bufferevent *sink = dir_sink(s, d);

    /* socket.io CONNECT_ERROR answers wsgate owes the client. */
    if (s->layer && d == &s->u2c && sink && !d->injected)
        s->layer->inject(s, bufferevent_get_output(sink));
    if (!d->inject_code || d->injected || !sink)
        return;
    ws_write_close(bufferevent_get_output(sink), d->inject_code, s->close_reason, d == &s->c2u);
    d->injected = 1;
    /* A side that already sent its close needs no further reply. */
}

/* Only data is taken here: end of file and errors stay in the socket for
 * the bufferevent's next read to report. */
static void read_more(struct pump_dir *d, struct evbuffer *in, struct evbuffer *out)
{
    if (d->fd < 0 || d->rd || d->paused || evbuffer_get_length(in) < 4096 ||
        evbuffer_get_length(out) >= RELAY_HIGH_WATER)
        return;
    /* A socket bufferevent keeps the end of its input frozen between its
     * own reads; thaw it for ours. Whatever sockread says of end of file
     * or an error, the bufferevent's next read sees it again. */
    evbuffer_unfreeze(in, 0);
    sockread(in, d->fd, RELAY_HIGH_WATER, READ_MORE_STEP, READ_MORE_STEP, READ_MORE_MAX);
    evbuffer_freeze(in, 0);
}

/* The pump's hooks: the session is their argument. */
static void at_boundary(void *arg, struct pump_dir *d, struct evbuffer *sink)
{
    struct session *s = arg;

    (void)sink;
    maybe_inject(s, d);
}

static int layer_frame(void *arg, const struct ws_frame *f, struct evbuffer *in)
{
    struct session *s = arg;

    return s->layer->client_frame(s, f, in);
}

static int not_relaying(void *arg)
{
    struct session *s = arg;

    return s->state != S_RELAY && s->state != S_CLOSING;
}

static const struct pump_hooks plain_hooks = { .boundary = at_boundary };
static const struct pump_hooks layer_hooks = {
    .boundary = at_boundary, .frame = layer_frame, .stopped = not_relaying,
};

static const char *bad_frame_text(int code)
{
    return code == 1009 ? "message too big" : code == 1008 ? "policy violation" : "protocol error";
}

static enum outcome bad_frame_cause(int code)
{
    return code == 1009 ? OC_MESSAGE_TOO_BIG : code == 1008 ? OC_POLICY_VIOLATION : OC_PROTOCOL_ERROR;
}

/* A plain sink's output goes out now; the bufferevent writes (and
 * watches for writability) only what the socket did not take, and
 * reports a write error itself. What the write callback does once the
 * output drained (relay_resume) is done here when it all went. */
static void flush_sink(struct session *s, struct pump_dir *d)
{
    struct bufferevent *sink = dir_sink(s, d);
    struct evbuffer *out;
    int fd = sink_fd(s, d);

    if (fd < 0 || !sink || !relaying(s) || (bufferevent_get_enabled(sink) & EV_WRITE))
        return;
    out = bufferevent_get_output(sink);
    if (evbuffer_get_length(out) == 0)
        return;
    /* A socket bufferevent keeps the start of its output frozen between
     * its own writes; thaw it for ours. */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, fd);
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out)) {
        bufferevent_enable(sink, EV_WRITE);
        return;
    }
    if (d->paused || (d == &s->u2c && s->layer))
        relay_resume(s, d);
}

/* After the outermost pump: both plain sinks are written. */
static void relay_flush(struct session *s)
{
    flush_sink(s, &s->c2u);
    flush_sink(s, &s->u2c);
}

static void pump_dir_frames(struct session *s, struct pump_dir *d);

void relay_pump(struct session *s, struct pump_dir *d)
{
    s->relay_depth++;
    pump_dir_frames(s, d);
    if (--s->relay_depth == 0)
        relay_flush(s);
}

static void pump_dir_frames(struct session *s, struct pump_dir *d)
{
    struct bufferevent *src = dir_source(s, d), *sink = dir_sink(s, d);
    struct evbuffer *in, *out;
    uint64_t moved = 0;

    if (!src || !sink)
        return;
    in = bufferevent_get_input(src);
    out = bufferevent_get_output(sink);
    read_more(d, in, out);
    for (;;) {
        struct pump_report rep;
        enum pump_stop st = pump_frames(d, in, out, RELAY_HIGH_WATER,
                                        s->layer && d == &s->c2u ? &layer_hooks : &plain_hooks,
                                        s, &rep);

        moved += rep.moved;
        if (rep.close_code && !s->close_code)
            s->close_code = rep.close_code;
        if (st == PUMP_STOPPED)
            return;
        if (st == PUMP_FULL)
            read_off(s, d);
        if (st == PUMP_BAD_HEADER) {
            if (d == &s->c2u && close_begin(s, 1002, "protocol error", OC_PROTOCOL_ERROR) == 0) {
                maybe_inject(s, d);
                relay_pump(s, &s->u2c);
            } else if (s->state == S_RELAY) {
                session_end(s, OC_UPSTREAM_PROTOCOL_ERROR);
                return;
            }
        }
        if (st != PUMP_BAD_FRAME)
            break;
        /* A bad client frame: both sides get our close; the pump goes on
         * dropping that frame and what follows it. */
        close_begin(s, rep.bad_code, bad_frame_text(rep.bad_code), bad_frame_cause(rep.bad_code));
        maybe_inject(s, d);
        relay_pump(s, &s->u2c);
    }
    if (moved) {
        s->last_activity_ms = util_now_ms();
        if (d == &s->c2u)
            metrics_add(s->env->m->bytes_c2u, moved);
        else
            metrics_add(s->env->m->bytes_u2c, moved);
    }
    closing_check(s);
}

void relay_resume(struct session *s, struct pump_dir *d)
{
    struct bufferevent *src = dir_source(s, d);

    if (d == &s->u2c && s->layer && (s->state == S_RELAY || s->state == S_CLOSING)) {
        s->layer->client_drained(s);
        if (s->state != S_RELAY && s->state != S_CLOSING)
            return;
    }

    if (!d->paused || !src)
        return;
    d->paused = 0;
    read_on(s, d);
    relay_pump(s, d);
}

void relay_idle_check(struct session *s)
{
    int64_t idle = s->cfg->idle_timeout_ms;
    int64_t quiet = util_now_ms() - s->last_activity_ms;

    if (idle <= 0)
        return;
    if (quiet >= idle)
        relay_close(s, 1001, "idle timeout", OC_IDLE_TIMEOUT);
    else
        session_arm(s, idle - quiet);
}

void relay_response(struct session *s)
{
    struct evbuffer *in = bufferevent_get_input(s->upstream);
    struct evbuffer *out = bufferevent_get_output(s->client);
    size_t avail = evbuffer_get_length(in);

    if (s->resp_left == 0) {
        session_end(s, s->end_cause);
        return;
    }
    if (evbuffer_get_length(out) >= RELAY_HIGH_WATER) {
        bufferevent_disable(s->upstream, EV_READ);
        return;
    }
    bufferevent_enable(s->upstream, EV_READ);
    if (s->resp_left > 0 && avail > (size_t)s->resp_left)
        avail = (size_t)s->resp_left;
    evbuffer_remove_buffer(in, out, avail);
    s->u2c.bytes += avail;
    if (s->resp_left > 0)
        s->resp_left -= (int64_t)avail;
    if (s->resp_left == 0)
        session_end(s, s->end_cause);
}

/* ---- the handlers ---------------------------------------------------------- */

static void client_read(struct session *s) { relay_pump(s, &s->c2u); }
static void up_read(struct session *s) { relay_pump(s, &s->u2c); }

/* The sink's bufferevent wrote (EV_WRITE was on because a write would
 * have blocked): once its output is empty, the relay writes it again. */
static void sink_written(struct session *s, struct pump_dir *d)
{
    struct bufferevent *sink = dir_sink(s, d);

    relay_resume(s, d);
    if (relaying(s) && sink && sink_fd(s, d) >= 0 &&
        evbuffer_get_length(bufferevent_get_output(sink)) == 0)
        bufferevent_disable(sink, EV_WRITE);
}

static void client_write(struct session *s) { sink_written(s, &s->u2c); }
static void up_write(struct session *s) { sink_written(s, &s->c2u); }

static void readable(struct session *s, struct pump_dir *d)
{
    struct bufferevent *src = dir_source(s, d);
    struct evbuffer *in;
    int r;

    if (!relaying(s) || !src) {
        /* The relay is over: the core's bufferevents take the socket back. */
        event_del(d->rd);
        return;
    }
    in = bufferevent_get_input(src);
    evbuffer_unfreeze(in, 0);
    r = sockread(in, d->fd, RELAY_HIGH_WATER, READ_FIRST, READ_MORE_STEP, READ_MORE_MAX);
    evbuffer_freeze(in, 0);
    relay_pump(s, d);
    if (r <= 0 && relaying(s)) {
        /* As the bufferevent would: reading stops, the handler hears it. */
        event_del(d->rd);
        session_report_event(s, src, BEV_EVENT_READING | (r < 0 ? BEV_EVENT_ERROR : BEV_EVENT_EOF));
    }
}

static void on_client_readable(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    readable(s, &s->c2u);
}

static void on_up_readable(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd;
    (void)what;
    readable(s, &s->u2c);
}

static void client_event(struct session *s, short what)
{
    /* Whatever the client still had to say was pumped on read; after an
     * EOF it may still read what is queued for it. */
    if (what & BEV_EVENT_ERROR)
        s->client_done = 1;
    session_end(s, what & BEV_EVENT_ERROR ? OC_CLIENT_ERROR : OC_CLIENT_CLOSED);
}

static void expired(struct session *s) { relay_close(s, 4401, "token expired", OC_TOKEN_EXPIRED); }
static void revoked(struct session *s) { relay_close(s, 4403, "token revoked", OC_TOKEN_REVOKED); }

static void shutdown_close(struct session *s, int code, const char *reason)
{
    relay_close(s, code, reason, OC_SHUTDOWN);
}

/* S_RELAY: frames both ways; the timer is idle_timeout. */
static const struct session_ops relay_ops = {
    .client_read = client_read,
    .client_write = client_write,
    .client_event = client_event,
    .up_read = up_read,
    .up_write = up_write,
    .timeout = relay_idle_check,
    .expired = expired,
    .revoked = revoked,
    .shutdown = shutdown_close,
};

/* S_CLOSING: our close frames are out; the timer bounds the wait for the
 * replies. */
static void closing_timeout(struct session *s) { session_end(s, s->end_cause); }
static void closing_shutdown(struct session *s, int code, const char *reason)
{
    (void)s;
    (void)code;
    (void)reason;
}

static const struct session_ops closing_ops = {
    .client_read = client_read,
    .client_write = client_write,
    .client_event = client_event,
    .up_read = up_read,
    .up_write = up_write,
    .timeout = closing_timeout,
    .shutdown = closing_shutdown,
};

/* S_RESPONSE: the backend declined the upgrade; its answer goes through. */
static void response_timeout(struct session *s) { session_end(s, OC_UPSTREAM_TIMEOUT); }
static void response_revoked(struct session *s) { session_end(s, OC_TOKEN_REVOKED); }

const struct session_ops relay_response_ops = {
    .client_write = relay_response,
    .up_read = relay_response,
    .timeout = response_timeout,
    .revoked = response_revoked,
};
