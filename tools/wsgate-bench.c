/* wsgate-bench: a WebSocket load generator (and, with --serve, an echo
 * backend) for measuring wsgate and its peers. One thread, one libevent
 * base. It opens sessions through a ws:// URL with a token per handshake
 * from a file (round robin), verifies each 101's Sec-WebSocket-Accept and
 * each echoed payload, and reports rates, latency percentiles and errors by
 * kind. See man/wsgate-bench.1.
 *
 * Modes:
 *   handshake  each of -c slots loops: connect, upgrade, --messages echoes,
 *              close 1000, until --duration or --count handshakes
 *   echo       -c sessions stay open; each sends --size-byte messages back
 *              to back (--pipeline in flight) or at --msg-rate per second
 *   idle       -c sessions are opened and held for --duration
 *
 * It shares no code with the gateway: a parser bug there must not be hidden
 * by the same bug here. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/rand.h>

#include "benchecho.h"
#include "benchhist.h"
#include "benchws.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_RESPONSE_HEAD 16384
#define MAX_TOKEN 16384
#define MAX_HEADERS 16
#define MAX_ERROR_KINDS 64
#define PREFIX_LEN 16       /* "%08x%08x": session, sequence */

enum mode { M_HANDSHAKE, M_ECHO, M_IDLE };
enum token_in { T_NONE, T_BEARER, T_HEADER, T_QUERY, T_COOKIE, T_SUBPROTOCOL };
enum phase { P_OPENING, P_RUNNING, P_STOPPING, P_DONE };

enum sstate {
    S_IDLE,                 /* slot unused or waiting to start */
    S_HANDSHAKE,            /* connecting, request sent, waiting for the 101 */
    S_OPEN,                 /* upgraded */
    S_CLOSING,              /* our close sent, waiting for the server's */
    S_CLOSED_WAIT,          /* close exchanged, waiting for the server's FIN */
};

struct opts {
    enum mode mode;
    const char *url;
    long concurrency;
    double duration;
    long count;
    double rate;
    double msg_rate;
    long size;
    long messages;
    long pipeline;
    int opcode;
    const char *tokens_file;
    enum token_in token_in;
    const char *token_name;
    const char *headers[MAX_HEADERS];
    int nheaders;
    const char *origin;
    long sources;
    double timeout;
    double grace;
    long open_concurrency;
    const char *ready_file;
    int json;
    int quiet;
    const char *serve;
};

struct session {
    struct bench *b;
    long idx;
    enum sstate st;
    struct bufferevent *bev;
    struct event *tmo;
    struct event *pace;
    char accept[29];
    int offered_proto;
    uint64_t t_start;       /* ns, connect started */
    uint64_t sent, recvd;   /* messages of this connection */
    uint64_t *sent_at;      /* ring of send times, b->ring entries */
    uint64_t rx_off;        /* bytes of the current echoed message seen */
    long msgs_left;         /* handshake mode: echoes still to do */
    int counted_open;
    int in_msg;             /* inside a fragmented echo */
    int pacing;             /* handshake mode: waiting for the rate to allow a start */
};

struct error_kind {
    char name[32];
    uint64_t n;
};

struct bench {
    struct opts o;
    struct event_base *base;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char hostport[300];
    char target[4096];      /* path?query */
    char **tokens;
    size_t ntokens;
    uint64_t tok_next;
    unsigned char *payload; /* --size bytes; the first PREFIX_LEN are per message */
    unsigned char randpool[4096];
    size_t randpos;
    long ring;
    struct session *s;
    enum phase phase;

    uint64_t t0, t_run, t_end, t_last_outcome;
    int starting;                   /* inside start_conn */
    uint64_t started, reserved;     /* connections started, handshake-mode tickets */
    long active;                    /* connections in any state but S_IDLE */
    long opening;                   /* in S_HANDSHAKE */
    long open_now, open_max;
    long next_open;                 /* echo/idle: next session to open */

    uint64_t hs_ok, hs_err, sess_err, closes_ok, unfinished;
    uint64_t msgs, bytes, skipped;
    uint64_t prog_hs, prog_msgs;    /* values at the last progress line */
    struct bhist hs_lat, rtt;
    struct error_kind errs[MAX_ERROR_KINDS];
    int nerrs;
    uint64_t errs_total;

    struct event *deadline, *hardstop, *progress, *sigint, *sigterm;
    struct timeval tv_timeout;
    const struct timeval *common_timeout;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timeval tv_of(double s)
{
    struct timeval tv;

    if (s < 0)
        s = 0;
    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    return tv;
}

__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
    va_list ap;

    fputs("wsgate-bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void rand_fill(struct bench *b, unsigned char *out, size_t n)
{
    while (n) {
        if (b->randpos == sizeof b->randpool) {
            if (RAND_bytes(b->randpool, sizeof b->randpool) != 1)
                die("RAND_bytes failed");
            b->randpos = 0;
        }
        size_t k = sizeof b->randpool - b->randpos;
        if (k > n)
            k = n;
        memcpy(out, b->randpool + b->randpos, k);
        b->randpos += k;
        out += k;
        n -= k;
    }
}

/* ------------------------------------------------------------ errors */

static void count_error(struct bench *b, const char *kind)
{
    int i;

    b->errs_total++;
    for (i = 0; i < b->nerrs; i++)
        if (!strcmp(b->errs[i].name, kind))
            break;
    if (i == b->nerrs) {
        if (b->nerrs == MAX_ERROR_KINDS)
            i = MAX_ERROR_KINDS - 1, kind = "other";
        else
            b->nerrs++;
        snprintf(b->errs[i].name, sizeof b->errs[i].name, "%s", kind);
    }
    b->errs[i].n++;
}

static const char *errno_kind(int e, char *buf, size_t len)
{
    switch (e) {
    case ECONNRESET: case EPIPE: return "reset";
    case ECONNREFUSED: return "connect_refused";
    case ETIMEDOUT: return "timeout_tcp";
    case EADDRNOTAVAIL: return "addr_not_avail";
    case EMFILE: case ENFILE: return "too_many_files";
    default:
        snprintf(buf, len, "errno_%d", e);
        return buf;
    }
}

/* ------------------------------------------------------------ sessions */

static void schedule_slot(struct session *s);
static void maybe_finish(struct bench *b);
static void send_message(struct session *s);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd, (void)what;
    s->pacing = 0;
    s->b->active--;
    schedule_slot(s);
    maybe_finish(s->b);
}

/* schedule_slot(s) from the event loop in a millisecond; the slot counts
 * as active meanwhile, so the run does not end under it. */
static void defer_schedule(struct session *s)
{
    struct timeval tv = { 0, 1000 };

    evtimer_assign(s->pace, s->b->base, retry_cb, s);
    evtimer_add(s->pace, &tv);
    s->pacing = 1;
    s->b->active++;
}

static void arm_timeout(struct session *s)
{
    evtimer_add(s->tmo, s->b->common_timeout);
}

/* Ends a connection: ok or the error kind (NULL for ok). */
static void end_conn(struct session *s, const char *err)
{
    struct bench *b = s->b;

    if (s->st == S_IDLE)
        return;
    if (err) {
        if (s->st == S_HANDSHAKE)
            b->hs_err++;
        else
            b->sess_err++;
        count_error(b, err);
    } else {
        b->closes_ok++;
    }
    if (s->st == S_HANDSHAKE) {
        b->opening--;
        b->t_last_outcome = now_ns();
    }
    if (s->counted_open) {
        b->open_now--;
        s->counted_open = 0;
    }
    if (s->bev) {
        bufferevent_free(s->bev);
        s->bev = NULL;
    }
    evtimer_del(s->tmo);
    if (s->pace)
        evtimer_del(s->pace);
    s->st = S_IDLE;
    b->active--;
    if (b->starting) {
        /* start_conn failed synchronously (no fd, no source port): try
         * again from the loop, not by recursing into start_conn. */
        if (b->o.mode == M_HANDSHAKE || b->phase == P_OPENING)
            defer_schedule(s);
        return;
    }
    if (b->o.mode == M_HANDSHAKE || b->phase == P_OPENING)
        schedule_slot(s);
    maybe_finish(b);
}

static void send_close(struct session *s, uint16_t code)
{
    unsigned char fr[BWS_MAX_HEADER + 2], mask[4], pl[2] = { code >> 8, code & 0xff };
    size_t n;

    rand_fill(s->b, mask, 4);
    n = bws_write_header(fr, 1, BWS_OP_CLOSE, 2, mask);
    bws_mask(fr + n, pl, 2, mask, 0);
    bufferevent_write(s->bev, fr, n + 2);
    s->st = S_CLOSING;
    if (s->pace)
        evtimer_del(s->pace);
    arm_timeout(s);
}

static void send_message(struct session *s)
{
    struct bench *b = s->b;
    struct evbuffer *out = bufferevent_get_output(s->bev);
    struct evbuffer_iovec v;
    unsigned char mask[4], pre[PREFIX_LEN + 1];
    size_t size = (size_t)b->o.size, hl, pl;

    rand_fill(b, mask, 4);
    if (evbuffer_reserve_space(out, (ev_ssize_t)(size + BWS_MAX_HEADER), &v, 1) < 1) {
        end_conn(s, "out_of_memory");
        return;
    }
    hl = bws_write_header(v.iov_base, 1, b->o.opcode, size, mask);
    snprintf((char *)pre, sizeof pre, "%08lx%08lx", (unsigned long)(s->idx & 0xffffffff),
             (unsigned long)(s->sent & 0xffffffff));
    pl = size < PREFIX_LEN ? size : PREFIX_LEN;
    bws_mask((unsigned char *)v.iov_base + hl, pre, pl, mask, 0);
    if (size > pl)
        bws_mask((unsigned char *)v.iov_base + hl + pl, b->payload + pl, size - pl, mask, pl);
    v.iov_len = hl + size;
    evbuffer_commit_space(out, &v, 1);
    s->sent_at[s->sent % (uint64_t)b->ring] = now_ns();
    if (s->sent == s->recvd)
        arm_timeout(s);
    s->sent++;
}

/* Checks an echoed data frame's payload p[0..n) at offset s->rx_off of the
 * message numbered s->recvd. */
static int payload_ok(struct session *s, const unsigned char *p, size_t n)
{
    struct bench *b = s->b;
    uint64_t off = s->rx_off;
    char pre[PREFIX_LEN + 1];

    if (off + n > (uint64_t)b->o.size)
        return 0;
    if (off < PREFIX_LEN) {
        size_t k = PREFIX_LEN - (size_t)off;

        snprintf(pre, sizeof pre, "%08lx%08lx", (unsigned long)(s->idx & 0xffffffff),
                 (unsigned long)(s->recvd & 0xffffffff));
        if (k > n)
            k = n;
        if (memcmp(p, pre + off, k))
            return 0;
        p += k, n -= k, off += k;
    }
    return !n || !memcmp(p, b->payload + off, n);
}

static void message_done(struct session *s)
{
    struct bench *b = s->b;
    uint64_t t = now_ns();

    if (b->phase == P_RUNNING || b->o.mode == M_HANDSHAKE) {
        bhist_add(&b->rtt, t - s->sent_at[s->recvd % (uint64_t)b->ring]);
        b->msgs++;
        b->bytes += (uint64_t)b->o.size;
    }
    s->recvd++;
    s->rx_off = 0;
    if (s->recvd < s->sent)
        arm_timeout(s);
    else
        evtimer_del(s->tmo);

    if (b->o.mode == M_HANDSHAKE) {
        if (--s->msgs_left > 0)
            send_message(s);
        else
            send_close(s, 1000);
        return;
    }
    if (b->phase != P_RUNNING) {
        if (s->recvd == s->sent && s->st == S_OPEN)
            send_close(s, 1000);
        return;
    }
    if (b->o.msg_rate <= 0)
        send_message(s);
}

/* Handles one complete frame at the front of in. Returns 1 to go on, 0 when
 * the connection ended or needs more bytes. */
static int on_frame(struct session *s, struct evbuffer *in)
{
    struct bench *b = s->b;
    size_t have = evbuffer_get_length(in), hn;
    unsigned char hb[BWS_MAX_HEADER];
    struct bws_frame f;
    int r;

    if (!have)
        return 0;
    hn = have < sizeof hb ? have : sizeof hb;
    evbuffer_copyout(in, hb, hn);
    r = bws_parse_header(hb, hn, &f);
    if (r == 0)
        return 0;
    if (r < 0 || f.masked || f.rsv) {
        end_conn(s, f.masked ? "masked_server_frame" : "protocol_error");
        return 0;
    }
    if (!(f.opcode & 8) && f.len > (uint64_t)b->o.size) {
        end_conn(s, "echo_mismatch");
        return 0;
    }
    if (have < f.header_len + f.len)
        return 0;
    unsigned char *p = evbuffer_pullup(in, (ev_ssize_t)(f.header_len + f.len)) + f.header_len;

    switch (f.opcode) {
    case BWS_OP_TEXT: case BWS_OP_BINARY: case BWS_OP_CONT:
        if (s->st != S_OPEN && s->st != S_CLOSING) {
            end_conn(s, "protocol_error");
            return 0;
        }
        /* A continuation without a start, or a new message mid-message. */
        if ((f.opcode == BWS_OP_CONT) != s->in_msg) {
            end_conn(s, "protocol_error");
            return 0;
        }
        if (f.opcode != BWS_OP_CONT && f.opcode != b->o.opcode) {
            end_conn(s, "echo_mismatch");
            return 0;
        }
        if (s->recvd >= s->sent || !payload_ok(s, p, (size_t)f.len)) {
            end_conn(s, "echo_mismatch");
            return 0;
        }
        s->rx_off += f.len;
        s->in_msg = !f.fin;
        evbuffer_drain(in, f.header_len + f.len);
        if (f.fin) {
            if (s->rx_off != (uint64_t)b->o.size) {
                end_conn(s, "echo_mismatch");
                return 0;
            }
            message_done(s);
        }
        return s->st != S_IDLE;
    case BWS_OP_PING: {
        unsigned char fr[BWS_MAX_HEADER + 125], mask[4];
        size_t n;

        rand_fill(b, mask, 4);
        n = bws_write_header(fr, 1, BWS_OP_PONG, f.len, mask);
        bws_mask(fr + n, p, (size_t)f.len, mask, 0);
        evbuffer_drain(in, f.header_len + f.len);
        bufferevent_write(s->bev, fr, n + (size_t)f.len);
        return 1;
    }
    case BWS_OP_PONG:
        evbuffer_drain(in, f.header_len + f.len);
        return 1;
    case BWS_OP_CLOSE: {
        unsigned code = f.len >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
        char kind[32];

        evbuffer_drain(in, f.header_len + f.len);
        if (s->st == S_CLOSING && code == 1000 && s->recvd == s->sent) {
            /* Wait for the server to close TCP first (RFC 6455 7.1.1). */
            s->st = S_CLOSED_WAIT;
            arm_timeout(s);
            return 0;
        }
        snprintf(kind, sizeof kind, "close_%u", code);
        end_conn(s, kind);
        return 0;
    }
    default:
        end_conn(s, "protocol_error");
        return 0;
    }
}

static void on_response(struct session *s, struct evbuffer *in)
{
    struct bench *b = s->b;
    struct evbuffer_ptr pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    char *head, val[256], kind[32];
    size_t hl;
    int status;

    if (pos.pos < 0) {
        if (evbuffer_get_length(in) > MAX_RESPONSE_HEAD)
            end_conn(s, "bad_response");
        return;
    }
    hl = (size_t)pos.pos + 4;
    if (hl > MAX_RESPONSE_HEAD) {
        end_conn(s, "bad_response");
        return;
    }
    head = (char *)evbuffer_pullup(in, (ev_ssize_t)hl);
    char save = head[hl - 1];
    head[hl - 1] = 0;
    if (strncmp(head, "HTTP/1.1 ", 9) || sscanf(head + 9, "%3d", &status) != 1) {
        head[hl - 1] = save;
        end_conn(s, "bad_response");
        return;
    }
    if (status != 101) {
        head[hl - 1] = save;
        snprintf(kind, sizeof kind, "http_%d", status);
        end_conn(s, kind);
        return;
    }
    const char *bad = NULL;
    if (bws_header_value(head, "Upgrade", val, sizeof val) || strcasecmp(val, "websocket"))
        bad = "bad_upgrade";
    else if (bws_header_value(head, "Connection", val, sizeof val) || !strcasestr(val, "upgrade"))
        bad = "bad_upgrade";
    else if (bws_header_value(head, "Sec-WebSocket-Accept", val, sizeof val) ||
             strcmp(val, s->accept))
        bad = "bad_accept";
    else if (!bws_header_value(head, "Sec-WebSocket-Protocol", val, sizeof val) &&
             !s->offered_proto)
        bad = "bad_subprotocol";
    head[hl - 1] = save;
    if (bad) {
        end_conn(s, bad);
        return;
    }
    evbuffer_drain(in, hl);

    uint64_t t = now_ns();
    bhist_add(&b->hs_lat, t - s->t_start);
    b->hs_ok++;
    b->t_last_outcome = t;
    b->opening--;
    b->open_now++;
    s->counted_open = 1;
    if (b->open_now > b->open_max)
        b->open_max = b->open_now;
    s->st = S_OPEN;
    evtimer_del(s->tmo);

    if (b->o.mode == M_HANDSHAKE) {
        s->msgs_left = b->o.messages;
        if (s->msgs_left > 0)
            send_message(s);
        else
            send_close(s, 1000);
    } else if (b->phase != P_OPENING) {
        send_close(s, 1000);
    } else {
        schedule_slot(s);       /* lets the next session of the opening phase start */
        maybe_finish(b);
    }
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    struct session *s = arg;
    struct evbuffer *in = bufferevent_get_input(bev);

    if (s->st == S_HANDSHAKE)
        on_response(s, in);
    while (s->st == S_OPEN || s->st == S_CLOSING)
        if (!on_frame(s, in))
            break;
    if (s->st == S_CLOSED_WAIT)
        evbuffer_drain(in, evbuffer_get_length(in));
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct session *s = arg;
    char buf[32];

    (void)bev;
    if (what & BEV_EVENT_CONNECTED)
        return;
    if (s->st == S_CLOSED_WAIT) {
        end_conn(s, NULL);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        end_conn(s, errno_kind(EVUTIL_SOCKET_ERROR(), buf, sizeof buf));
        return;
    }
    end_conn(s, s->st == S_HANDSHAKE ? "eof_before_101" : "eof");
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd, (void)what;
    switch (s->st) {
    case S_HANDSHAKE: end_conn(s, "timeout_handshake"); break;
    case S_OPEN: end_conn(s, "timeout_echo"); break;
    case S_CLOSING: end_conn(s, "timeout_close"); break;
    case S_CLOSED_WAIT: end_conn(s, "timeout_tcp_close"); break;
    case S_IDLE: break;
    }
}

static void pace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    struct bench *b = s->b;

    (void)fd, (void)what;
    if (s->st != S_OPEN || b->phase != P_RUNNING)
        return;
    if (s->sent - s->recvd >= (uint64_t)b->ring) {
        b->skipped++;
        return;
    }
    send_message(s);
}

static void pace_first_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;
    struct timeval tv = tv_of(1.0 / s->b->o.msg_rate);

    if (s->st != S_OPEN || s->b->phase != P_RUNNING)
        return;
    event_add(s->pace, &tv);
    pace_cb(fd, what, arg);
}

static void append_request(struct session *s, struct evbuffer *out)
{
    struct bench *b = s->b;
    const char *tok = NULL;
    char key[25];

    if (bws_new_key(key) < 0)
        die("RAND_bytes failed");
    bws_accept_key(key, s->accept);
    if (b->ntokens)
        tok = b->tokens[b->tok_next++ % b->ntokens];
    if (tok && b->o.token_in == T_QUERY)
        evbuffer_add_printf(out, "GET %s%c%s=%s HTTP/1.1\r\n", b->target,
                            strchr(b->target, '?') ? '&' : '?', b->o.token_name, tok);
    else
        evbuffer_add_printf(out, "GET %s HTTP/1.1\r\n", b->target);
    evbuffer_add_printf(out, "Host: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n",
                        b->hostport, key);
    s->offered_proto = 0;
    if (tok) {
        switch (b->o.token_in) {
        case T_BEARER: evbuffer_add_printf(out, "Authorization: Bearer %s\r\n", tok); break;
        case T_HEADER: evbuffer_add_printf(out, "%s: %s\r\n", b->o.token_name, tok); break;
        case T_COOKIE: evbuffer_add_printf(out, "Cookie: %s=%s\r\n", b->o.token_name, tok); break;
        case T_SUBPROTOCOL:
            evbuffer_add_printf(out, "Sec-WebSocket-Protocol: bearer, %s\r\n", tok);
            s->offered_proto = 1;
            break;
        default: break;
        }
    }
    if (b->o.origin)
        evbuffer_add_printf(out, "Origin: %s\r\n", b->o.origin);
    for (int i = 0; i < b->o.nheaders; i++) {
        evbuffer_add_printf(out, "%s\r\n", b->o.headers[i]);
        if (!strncasecmp(b->o.headers[i], "Sec-WebSocket-Protocol:", 23))
            s->offered_proto = 1;
    }
    evbuffer_add(out, "\r\n", 2);
}

static void start_conn_now(struct session *s);

static void start_conn(struct session *s)
{
    s->b->starting++;
    start_conn_now(s);
    s->b->starting--;
}

static void start_conn_now(struct session *s)
{
    struct bench *b = s->b;
    int fd, one = 1;
    char buf[32];

    s->st = S_HANDSHAKE;
    s->sent = s->recvd = s->rx_off = 0;
    s->in_msg = 0;
    s->t_start = now_ns();
    b->started++;
    b->active++;
    b->opening++;
    fd = socket(b->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        end_conn(s, errno_kind(errno, buf, sizeof buf));
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (b->o.sources > 0) {
        struct sockaddr_in src = { .sin_family = AF_INET };

        /* Let connect() pick the port for the full 4-tuple: with a
         * source per connection the ports of 127.0.0.1 alone no longer
         * bound the number of connections in TIME_WAIT. */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)(b->started % (uint64_t)b->o.sources));
        if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
            int e = errno;
            close(fd);
            end_conn(s, errno_kind(e, buf, sizeof buf));
            return;
        }
    }
    s->bev = bufferevent_socket_new(b->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!s->bev) {
        close(fd);
        end_conn(s, "out_of_memory");
        return;
    }
    bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
    append_request(s, bufferevent_get_output(s->bev));
    arm_timeout(s);
    if (bufferevent_socket_connect(s->bev, (struct sockaddr *)&b->addr, (int)b->addrlen) < 0) {
        end_conn(s, errno_kind(errno ? errno : ECONNREFUSED, buf, sizeof buf));
        return;
    }
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void pace_start_cb(evutil_socket_t fd, short what, void *arg)
{
    struct session *s = arg;

    (void)fd, (void)what;
    s->pacing = 0;
    s->b->active--;
    if (s->b->phase == P_RUNNING && s->st == S_IDLE)
        start_conn(s);
    else
        maybe_finish(s->b);
}

/* Handshake mode: starts slot s again (now, or when the rate allows).
 * Opening phase: starts the next unopened session. */
static void schedule_slot(struct session *s)
{
    struct bench *b = s->b;

    if (b->o.mode != M_HANDSHAKE) {
        while (b->phase == P_OPENING && b->next_open < b->o.concurrency &&
               b->opening < b->o.open_concurrency)
            start_conn(&b->s[b->next_open++]);
        return;
    }
    if (b->phase != P_RUNNING)
        return;
    if (b->o.count && b->reserved >= (uint64_t)b->o.count)
        return;
    uint64_t ticket = b->reserved++;
    if (b->o.rate > 0) {
        uint64_t due = b->t_run + (uint64_t)((double)ticket * 1e9 / b->o.rate), t = now_ns();

        if (due > t) {
            struct timeval tv = tv_of((double)(due - t) / 1e9);
            evtimer_assign(s->pace, b->base, pace_start_cb, s);
            evtimer_add(s->pace, &tv);
            s->pacing = 1;
            b->active++;        /* a ticket taken: the run is not over */
            return;
        }
    }
    start_conn(s);
}

/* ------------------------------------------------------------ phases */

static void begin_run(struct bench *b);
static void begin_stop(struct bench *b);

static void maybe_finish(struct bench *b)
{
    if (b->phase == P_OPENING && b->next_open >= b->o.concurrency && b->opening == 0) {
        begin_run(b);
        if (!b->open_now) {
            b->t_end = now_ns();
            begin_stop(b);      /* nothing to hold or to echo through */
        }
        return;
    }
    if (b->phase == P_RUNNING && b->o.mode == M_HANDSHAKE && b->o.count &&
        b->reserved >= (uint64_t)b->o.count && b->active == 0) {
        b->t_end = now_ns();
        begin_stop(b);
        return;
    }
    if (b->phase == P_STOPPING && b->active == 0) {
        b->phase = P_DONE;
        event_base_loopbreak(b->base);
    }
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;

    (void)fd, (void)what;
    if (b->phase == P_OPENING) {
        /* --duration also bounds the opening phase. */
        b->next_open = b->o.concurrency;
        b->t_run = now_ns();
    }
    if (!b->t_end)
        b->t_end = now_ns();
    begin_stop(b);
}

static void hardstop_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;

    (void)fd, (void)what;
    for (long i = 0; i < b->o.concurrency; i++) {
        struct session *s = &b->s[i];

        evtimer_del(s->tmo);
        event_del(s->pace);
        if (s->pacing)
            s->pacing = 0, b->active--;
        if (s->st == S_IDLE)
            continue;
        if (s->st == S_HANDSHAKE)
            b->opening--;
        if (s->counted_open)
            b->open_now--, s->counted_open = 0;
        bufferevent_free(s->bev);
        s->bev = NULL;
        s->st = S_IDLE;
        b->active--;
        b->unfinished++;
    }
    b->phase = P_DONE;
    event_base_loopbreak(b->base);
}

static void write_ready_file(struct bench *b)
{
    FILE *f;

    if (!b->o.ready_file)
        return;
    f = fopen(b->o.ready_file, "w");
    if (!f || fprintf(f, "%lu\n", (unsigned long)b->open_now) < 0 || fclose(f))
        fprintf(stderr, "wsgate-bench: cannot write %s: %s\n", b->o.ready_file, strerror(errno));
}

static void begin_run(struct bench *b)
{
    struct timeval tv;

    b->phase = P_RUNNING;
    b->t_run = now_ns();
    if (b->o.mode != M_HANDSHAKE) {
        write_ready_file(b);
        if (!b->o.quiet)
            fprintf(stderr, "wsgate-bench: %ld of %ld sessions open in %.2f s\n", b->open_now,
                    b->o.concurrency, (double)(b->t_run - b->t0) / 1e9);
        /* The measured window starts now: only its echoes count. */
        b->prog_msgs = 0;
        b->msgs = b->bytes = 0;
        if (b->o.mode == M_ECHO) {
            for (long i = 0; i < b->o.concurrency; i++) {
                struct session *s = &b->s[i];

                if (s->st != S_OPEN)
                    continue;
                if (b->o.msg_rate > 0) {
                    unsigned char r[2];

                    /* A random phase, so that the sessions do not send in
                     * lockstep; then one message per period. */
                    rand_fill(b, r, 2);
                    event_assign(s->pace, b->base, -1, EV_PERSIST, pace_cb, s);
                    tv = tv_of((double)(r[0] | r[1] << 8) / 65536.0 / b->o.msg_rate);
                    event_base_once(b->base, -1, EV_TIMEOUT, pace_first_cb, s, &tv);
                } else {
                    for (long k = 0; k < b->o.pipeline && s->st == S_OPEN; k++)
                        send_message(s);
                }
            }
        }
    } else {
        for (long i = 0; i < b->o.concurrency; i++)
            schedule_slot(&b->s[i]);
    }
    tv = tv_of(b->o.duration);
    evtimer_add(b->deadline, &tv);
}

static void begin_stop(struct bench *b)
{
    struct timeval tv = tv_of(b->o.grace);

    if (b->phase == P_STOPPING || b->phase == P_DONE)
        return;
    b->phase = P_STOPPING;
    evtimer_del(b->deadline);
    evtimer_add(b->hardstop, &tv);
    for (long i = 0; i < b->o.concurrency; i++) {
        struct session *s = &b->s[i];

        event_del(s->pace);
        if (s->pacing)
            s->pacing = 0, b->active--;
        /* Open sessions with nothing in flight close now; the others
         * after their last echo (message_done). Handshake-mode slots
         * finish their cycle. */
        if (s->st == S_OPEN && b->o.mode != M_HANDSHAKE && s->recvd == s->sent)
            send_close(s, 1000);
    }
    maybe_finish(b);
}

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;
    double el = (double)(now_ns() - b->t0) / 1e9;

    (void)fd, (void)what;
    if (b->o.quiet)
        return;
    fprintf(stderr, "[%6.1fs] %-9s open %ld  handshakes %lu (+%lu/s)  msgs %lu (+%lu/s)  "
            "rtt p50 %.0f us  errors %lu\n", el,
            b->phase == P_OPENING ? "opening" : b->phase == P_RUNNING ? "running" : "stopping",
            b->open_now, (unsigned long)b->hs_ok, (unsigned long)(b->hs_ok - b->prog_hs),
            (unsigned long)b->msgs, (unsigned long)(b->msgs - b->prog_msgs),
            (double)bhist_quantile(&b->rtt, 0.5) / 1e3, (unsigned long)b->errs_total);
    b->prog_hs = b->hs_ok;
    b->prog_msgs = b->msgs;
}

static void signal_cb(evutil_socket_t fd, short what, void *arg)
{
    struct bench *b = arg;

    (void)fd, (void)what;
    if (b->phase == P_STOPPING) {
        hardstop_cb(-1, 0, b);
        return;
    }
    deadline_cb(-1, 0, b);
}

/* ------------------------------------------------------------ report */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_hist(FILE *f, const char *name, const struct bhist *h)
{
    fprintf(f, "\"%s\":{\"count\":%lu,\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"max\":%.1f,"
            "\"mean\":%.1f}", name, (unsigned long)h->count,
            (double)bhist_quantile(h, 0.5) / 1e3, (double)bhist_quantile(h, 0.99) / 1e3,
            (double)bhist_quantile(h, 0.999) / 1e3, (double)h->max / 1e3,
            h->count ? (double)h->sum / (double)h->count / 1e3 : 0.0);
}

static const char *mode_name(enum mode m)
{
    return m == M_HANDSHAKE ? "handshake" : m == M_ECHO ? "echo" : "idle";
}

static void report(struct bench *b)
{
    uint64_t end = b->t_end ? b->t_end : now_ns();
    double run_s = (double)(end - b->t_run) / 1e9;
    double hs_s;
    uint64_t hs = b->hs_ok + b->hs_err;

    if (b->o.mode == M_HANDSHAKE) {
        /* With --count the run ends at the last outcome; after --duration
         * the slots still in a handshake finish it, and count. */
        if (b->t_last_outcome && (b->o.count || b->t_last_outcome > end))
            run_s = (double)(b->t_last_outcome - b->t_run) / 1e9;
        hs_s = run_s;
    } else {
        hs_s = (double)(b->t_run - b->t0) / 1e9;
    }
    if (run_s <= 0)
        run_s = 1e-9;
    if (hs_s <= 0)
        hs_s = 1e-9;

    if (b->o.json) {
        FILE *f = stdout;

        fprintf(f, "{\"mode\":\"%s\",\"url\":", mode_name(b->o.mode));
        json_str(f, b->o.url);
        fprintf(f, ",\"concurrency\":%ld,\"size\":%ld,\"duration_s\":%.3f,"
                "\"handshake_phase_s\":%.3f,"
                "\"handshakes\":%lu,\"handshakes_ok\":%lu,\"handshake_errors\":%lu,"
                "\"handshakes_per_s\":%.1f,", b->o.concurrency, b->o.size, run_s, hs_s,
                (unsigned long)hs, (unsigned long)b->hs_ok, (unsigned long)b->hs_err,
                (double)b->hs_ok / hs_s);
        json_hist(f, "handshake_latency_us", &b->hs_lat);
        fprintf(f, ",\"messages\":%lu,\"messages_per_s\":%.1f,\"mb_per_s\":%.3f,",
                (unsigned long)b->msgs, (double)b->msgs / run_s, (double)b->bytes / 1e6 / run_s);
        json_hist(f, "rtt_us", &b->rtt);
        fprintf(f, ",\"sends_skipped\":%lu,\"sessions_open_max\":%ld,\"closes_ok\":%lu,"
                "\"session_errors\":%lu,\"unfinished\":%lu,\"errors_total\":%lu,\"errors\":{",
                (unsigned long)b->skipped, b->open_max, (unsigned long)b->closes_ok,
                (unsigned long)b->sess_err, (unsigned long)b->unfinished,
                (unsigned long)b->errs_total);
        for (int i = 0; i < b->nerrs; i++)
            fprintf(f, "%s\"%s\":%lu", i ? "," : "", b->errs[i].name, (unsigned long)b->errs[i].n);
        fprintf(f, "},\"tokens\":{\"count\":%lu,\"used\":%lu,\"wrapped\":%s}}\n",
                (unsigned long)b->ntokens, (unsigned long)b->tok_next,
                b->ntokens && b->tok_next > b->ntokens ? "true" : "false");
        fflush(f);
        return;
    }
    printf("mode %s  url %s  concurrency %ld  size %ld\n", mode_name(b->o.mode), b->o.url,
           b->o.concurrency, b->o.size);
    printf("handshakes %lu  ok %lu  errors %lu  %.1f/s over %.2f s\n", (unsigned long)hs,
           (unsigned long)b->hs_ok, (unsigned long)b->hs_err, (double)b->hs_ok / hs_s, hs_s);
    printf("handshake latency us  p50 %.1f  p99 %.1f  p999 %.1f  max %.1f\n",
           (double)bhist_quantile(&b->hs_lat, 0.5) / 1e3,
           (double)bhist_quantile(&b->hs_lat, 0.99) / 1e3,
           (double)bhist_quantile(&b->hs_lat, 0.999) / 1e3, (double)b->hs_lat.max / 1e3);
    printf("messages %lu  %.1f/s  %.3f MB/s over %.2f s\n", (unsigned long)b->msgs,
           (double)b->msgs / run_s, (double)b->bytes / 1e6 / run_s, run_s);
    printf("round trip us  p50 %.1f  p99 %.1f  p999 %.1f  max %.1f\n",
           (double)bhist_quantile(&b->rtt, 0.5) / 1e3, (double)bhist_quantile(&b->rtt, 0.99) / 1e3,
           (double)bhist_quantile(&b->rtt, 0.999) / 1e3, (double)b->rtt.max / 1e3);
    printf("sessions open max %ld  clean closes %lu  unfinished %lu  sends skipped %lu\n",
           b->open_max, (unsigned long)b->closes_ok, (unsigned long)b->unfinished,
           (unsigned long)b->skipped);
    printf("errors %lu", (unsigned long)b->errs_total);
    for (int i = 0; i < b->nerrs; i++)
        printf("  %s %lu", b->errs[i].name, (unsigned long)b->errs[i].n);
    printf("\n");
    if (b->ntokens && b->tok_next > b->ntokens)
        printf("note: %lu handshakes on %lu tokens: tokens were reused\n",
               (unsigned long)b->tok_next, (unsigned long)b->ntokens);
}

/* ------------------------------------------------------------ setup */

static void load_tokens(struct bench *b, const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t n;

    if (!f)
        die("cannot open token file %s: %s", path, strerror(errno));
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = 0;
        if (!n || line[0] == '#')
            continue;
        if (n > MAX_TOKEN)
            die("%s: a token longer than %d bytes", path, MAX_TOKEN);
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)line[i] <= ' ' || (unsigned char)line[i] >= 0x7f || line[i] == ';')
                die("%s: a token with a space, control or non-ASCII character", path);
        if (b->ntokens == alloc) {
            alloc = alloc ? alloc * 2 : 1024;
            b->tokens = realloc(b->tokens, alloc * sizeof *b->tokens);
            if (!b->tokens)
                die("out of memory");
        }
        if (!(b->tokens[b->ntokens++] = strdup(line)))
            die("out of memory");
    }
    free(line);
    fclose(f);
    if (!b->ntokens)
        die("token file %s holds no token", path);
}

static void parse_url(struct bench *b, const char *url)
{
    const char *p, *slash, *colon;
    char host[256], port[16];
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
    int r;

    if (strncmp(url, "ws://", 5)) {
        if (!strncmp(url, "wss://", 6))
            die("wss:// is not supported: measure TLS with a terminating proxy in front");
        die("URL must start with ws:// (got \"%s\")", url);
    }
    p = url + 5;
    slash = p + strcspn(p, "/?");
    if ((size_t)(slash - p) >= sizeof b->hostport || slash == p)
        die("bad host in URL \"%s\"", url);
    memcpy(b->hostport, p, (size_t)(slash - p));
    b->hostport[slash - p] = 0;
    if (b->hostport[0] == '[') {
        const char *e = strchr(b->hostport, ']');
        if (!e)
            die("bad host in URL \"%s\"", url);
        snprintf(host, sizeof host, "%.*s", (int)(e - b->hostport - 1), b->hostport + 1);
        colon = e[1] == ':' ? e + 1 : NULL;
    } else {
        colon = strrchr(b->hostport, ':');
        snprintf(host, sizeof host, "%.*s",
                 (int)(colon ? (size_t)(colon - b->hostport) : strlen(b->hostport)), b->hostport);
    }
    snprintf(port, sizeof port, "%s", colon ? colon + 1 : "80");
    if (*slash == '/')
        snprintf(b->target, sizeof b->target, "%s", slash);
    else
        snprintf(b->target, sizeof b->target, "/%s", slash);
    if (strlen(slash) + 1 >= sizeof b->target)
        die("URL too long");
    for (const char *c = b->target; *c; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
            die("URL path with a space, control or non-ASCII character");
    if ((r = getaddrinfo(host, port, &hints, &res)))
        die("cannot resolve %s:%s: %s", host, port, gai_strerror(r));
    memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
    b->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
}

static double parse_num(const char *s, const char *opt, double lo, double hi)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        die("%s: want a number from %g to %g, got \"%s\"", opt, lo, hi, s);
    return v;
}

static void usage(FILE *f)
{
    fputs("usage: wsgate-bench [options] ws://HOST:PORT/PATH[?QUERY]\n"
          "       wsgate-bench --serve HOST:PORT\n"
          "  -m, --mode handshake|echo|idle   (handshake)\n"
          "  -c, --concurrency N      sessions / handshake slots (50)\n"
          "  -d, --duration S         run length in seconds (10)\n"
          "  -n, --count N            handshake mode: stop after N handshakes\n"
          "  -r, --rate R             handshake mode: new connections per second in all (0: max)\n"
          "      --msg-rate R         echo mode: messages per second per session (0: back to back)\n"
          "  -s, --size BYTES         message payload size (32)\n"
          "      --messages N         handshake mode: echoes per session (0)\n"
          "      --pipeline K         echo mode: messages in flight per session (1)\n"
          "      --text | --binary    message opcode (binary)\n"
          "  -t, --tokens FILE        one token per line, used round robin\n"
          "      --token-in WHERE     bearer (default) | header:NAME | query:NAME |\n"
          "                           cookie:NAME | subprotocol\n"
          "  -H, --header 'N: V'      an extra request header (repeatable)\n"
          "      --origin ORIGIN      send an Origin header\n"
          "      --sources N          bind to 127.0.0.1..127.0.0.N in turn (loopback targets)\n"
          "      --timeout S          per-step timeout: handshake, echo, close (10)\n"
          "      --grace S            bound on the closing after --duration (2)\n"
          "      --open-concurrency N echo/idle: handshakes in flight while opening (200)\n"
          "      --ready-file PATH    echo/idle: written once every session is open\n"
          "      --json               one JSON object on stdout\n"
          "  -q, --quiet              no progress line on stderr\n"
          "      --serve HOST:PORT    be an RFC 6455 echo backend instead\n", f);
}

static void parse_opts(struct opts *o, int argc, char **argv)
{
    enum { O_MSG_RATE = 256, O_MESSAGES, O_PIPELINE, O_TEXT, O_BINARY, O_TOKEN_IN, O_ORIGIN,
           O_SOURCES, O_TIMEOUT, O_GRACE, O_OPEN_CONC, O_READY, O_JSON, O_SERVE };
    static const struct option lo[] = {
        { "mode", 1, NULL, 'm' }, { "concurrency", 1, NULL, 'c' },
        { "duration", 1, NULL, 'd' }, { "count", 1, NULL, 'n' }, { "rate", 1, NULL, 'r' },
        { "msg-rate", 1, NULL, O_MSG_RATE }, { "size", 1, NULL, 's' },
        { "messages", 1, NULL, O_MESSAGES }, { "pipeline", 1, NULL, O_PIPELINE },
        { "text", 0, NULL, O_TEXT }, { "binary", 0, NULL, O_BINARY },
        { "tokens", 1, NULL, 't' }, { "token-in", 1, NULL, O_TOKEN_IN },
        { "header", 1, NULL, 'H' }, { "origin", 1, NULL, O_ORIGIN },
        { "sources", 1, NULL, O_SOURCES }, { "timeout", 1, NULL, O_TIMEOUT },
        { "grace", 1, NULL, O_GRACE }, { "open-concurrency", 1, NULL, O_OPEN_CONC },
        { "ready-file", 1, NULL, O_READY }, { "json", 0, NULL, O_JSON },
        { "quiet", 0, NULL, 'q' }, { "serve", 1, NULL, O_SERVE }, { "help", 0, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    *o = (struct opts){ .mode = M_HANDSHAKE, .concurrency = 50, .duration = 10, .size = 32,
                        .pipeline = 1, .opcode = BWS_OP_BINARY, .token_in = T_BEARER,
                        .timeout = 10, .grace = 2, .open_concurrency = 200 };
    while ((c = getopt_long(argc, argv, "m:c:d:n:r:s:t:H:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (!strcmp(optarg, "handshake")) o->mode = M_HANDSHAKE;
            else if (!strcmp(optarg, "echo")) o->mode = M_ECHO;
            else if (!strcmp(optarg, "idle")) o->mode = M_IDLE;
            else die("--mode: handshake, echo or idle, not \"%s\"", optarg);
            break;
        case 'c': o->concurrency = (long)parse_num(optarg, "--concurrency", 1, 100000); break;
        case 'd': o->duration = parse_num(optarg, "--duration", 0.01, 86400); break;
        case 'n': o->count = (long)parse_num(optarg, "--count", 1, 1e12); break;
        case 'r': o->rate = parse_num(optarg, "--rate", 0, 1e7); break;
        case O_MSG_RATE: o->msg_rate = parse_num(optarg, "--msg-rate", 0, 1e6); break;
        case 's': o->size = (long)parse_num(optarg, "--size", 0, 64 << 20); break;
        case O_MESSAGES: o->messages = (long)parse_num(optarg, "--messages", 0, 1e9); break;
        case O_PIPELINE: o->pipeline = (long)parse_num(optarg, "--pipeline", 1, 1024); break;
        case O_TEXT: o->opcode = BWS_OP_TEXT; break;
        case O_BINARY: o->opcode = BWS_OP_BINARY; break;
        case 't': o->tokens_file = optarg; break;
        case O_TOKEN_IN:
            if (!strcmp(optarg, "bearer")) {
                o->token_in = T_BEARER;
            } else if (!strcmp(optarg, "subprotocol")) {
                o->token_in = T_SUBPROTOCOL;
            } else {
                const char *colon = strchr(optarg, ':');

                if (!colon || !colon[1])
                    die("--token-in: bearer, header:NAME, query:NAME, cookie:NAME or subprotocol");
                o->token_name = colon + 1;
                if (!strncmp(optarg, "header:", 7)) o->token_in = T_HEADER;
                else if (!strncmp(optarg, "query:", 6)) o->token_in = T_QUERY;
                else if (!strncmp(optarg, "cookie:", 7)) o->token_in = T_COOKIE;
                else die("--token-in: bearer, header:NAME, query:NAME, cookie:NAME or subprotocol");
                if (strpbrk(o->token_name, " \t\r\n:;=&?#"))
                    die("--token-in: bad name \"%s\"", o->token_name);
            }
            break;
        case 'H':
            if (o->nheaders == MAX_HEADERS)
                die("at most %d --header options", MAX_HEADERS);
            if (!strchr(optarg, ':') || strpbrk(optarg, "\r\n"))
                die("--header: want \"Name: value\"");
            o->headers[o->nheaders++] = optarg;
            break;
        case O_ORIGIN:
            if (strpbrk(optarg, "\r\n"))
                die("--origin: no CR or LF");
            o->origin = optarg;
            break;
        case O_SOURCES: o->sources = (long)parse_num(optarg, "--sources", 1, 254); break;
        case O_TIMEOUT: o->timeout = parse_num(optarg, "--timeout", 0.001, 3600); break;
        case O_GRACE: o->grace = parse_num(optarg, "--grace", 0, 3600); break;
        case O_OPEN_CONC:
            o->open_concurrency = (long)parse_num(optarg, "--open-concurrency", 1, 100000);
            break;
        case O_READY: o->ready_file = optarg; break;
        case O_JSON: o->json = 1; break;
        case 'q': o->quiet = 1; break;
        case O_SERVE: o->serve = optarg; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (o->serve) {
        if (optind != argc)
            die("--serve takes no URL");
        return;
    }
    if (optind != argc - 1) {
        usage(stderr);
        exit(2);
    }
    o->url = argv[optind];
    if (o->mode != M_HANDSHAKE && (o->count || o->rate > 0 || o->messages))
        die("--count, --rate and --messages are for --mode handshake");
    if (o->mode != M_ECHO && (o->msg_rate > 0 || o->pipeline != 1))
        die("--msg-rate and --pipeline are for --mode echo");
    if ((o->mode == M_ECHO || o->messages) && o->size < 1)
        die("--size must be at least 1 when messages are sent");
}

/* An event base whose epoll changes are batched until the next
 * epoll_wait: an event enabled and disabled in between costs no syscall,
 * and a connection's read and write interest go in with one epoll_ctl. */
static struct event_base *new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (!cfg)
        return NULL;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

static void serve_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopbreak(arg);
}

static int serve(const char *addr)
{
    struct event_base *base = new_base();
    struct event *si, *st;
    struct bench_echo *e;
    char err[256];

    if (!base)
        die("event_base_new failed");
    if (!(e = bench_echo_new(base, addr, err, sizeof err)))
        die("%s", err);
    si = evsignal_new(base, SIGINT, serve_stop_cb, base);
    st = evsignal_new(base, SIGTERM, serve_stop_cb, base);
    evsignal_add(si, NULL);
    evsignal_add(st, NULL);
    event_base_dispatch(base);
    bench_echo_free(e);
    event_free(si);
    event_free(st);
    event_base_free(base);
    return 0;
}

static void raise_nofile(long need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)need + 32 > rl.rlim_cur)
        die("%ld sessions need more open files than the limit %lu", need,
            (unsigned long)rl.rlim_cur);
}

int main(int argc, char **argv)
{
    struct bench *b = calloc(1, sizeof *b);
    struct timeval tv;

    if (!b)
        die("out of memory");
    signal(SIGPIPE, SIG_IGN);
    parse_opts(&b->o, argc, argv);
    if (b->o.serve) {
        const char *addr = b->o.serve;

        free(b);
        raise_nofile(0);
        return serve(addr);
    }
    parse_url(b, b->o.url);
    if (b->o.sources && (b->addr.ss_family != AF_INET ||
                         (ntohl(((struct sockaddr_in *)&b->addr)->sin_addr.s_addr) >> 24) != 127))
        die("--sources needs an IPv4 loopback target (127.0.0.0/8)");
    if (b->o.tokens_file)
        load_tokens(b, b->o.tokens_file);
    raise_nofile(b->o.concurrency);

    b->payload = malloc((size_t)b->o.size + 1);
    if (!b->payload)
        die("out of memory");
    rand_fill(b, b->payload, (size_t)b->o.size);
    for (long i = 0; i < b->o.size; i++)   /* letters: valid UTF-8 for --text */
        b->payload[i] = (unsigned char)('a' + b->payload[i] % 26);
    b->ring = b->o.msg_rate > 0 ? 64 : b->o.pipeline;

    if (!(b->base = new_base()))
        die("event_base_new failed");
    tv = tv_of(b->o.timeout);
    b->common_timeout = event_base_init_common_timeout(b->base, &tv);
    b->s = calloc((size_t)b->o.concurrency, sizeof *b->s);
    if (!b->s)
        die("out of memory");
    for (long i = 0; i < b->o.concurrency; i++) {
        struct session *s = &b->s[i];

        s->b = b;
        s->idx = i;
        s->tmo = evtimer_new(b->base, timeout_cb, s);
        s->pace = event_new(b->base, -1, 0, pace_start_cb, s);
        s->sent_at = calloc((size_t)b->ring, sizeof *s->sent_at);
        if (!s->tmo || !s->pace || !s->sent_at)
            die("out of memory");
    }
    b->deadline = evtimer_new(b->base, deadline_cb, b);
    b->hardstop = evtimer_new(b->base, hardstop_cb, b);
    b->progress = event_new(b->base, -1, EV_PERSIST, progress_cb, b);
    b->sigint = evsignal_new(b->base, SIGINT, signal_cb, b);
    b->sigterm = evsignal_new(b->base, SIGTERM, signal_cb, b);
    evsignal_add(b->sigint, NULL);
    evsignal_add(b->sigterm, NULL);
    tv.tv_sec = 1, tv.tv_usec = 0;
    event_add(b->progress, &tv);

    b->t0 = now_ns();
    if (b->o.mode == M_HANDSHAKE) {
        begin_run(b);
    } else {
        b->phase = P_OPENING;
        /* The whole run, opening included, is bounded: the deadline
         * covers the opening phase until begin_run re-arms it. */
        tv = tv_of(b->o.duration + b->o.timeout);
        evtimer_add(b->deadline, &tv);
        schedule_slot(&b->s[0]);
        maybe_finish(b);
    }
    event_base_dispatch(b->base);
    report(b);

    /* Nothing answered at all (refused, timed out, reset before any HTTP
     * response): the target is not there, which is a setup failure. */
    int status = 0;
    if (!b->hs_ok) {
        status = 1;
        for (int i = 0; i < b->nerrs; i++)
            if (!strncmp(b->errs[i].name, "http_", 5) || !strncmp(b->errs[i].name, "bad_", 4))
                status = 0;
        if (status)
            fprintf(stderr, "wsgate-bench: no handshake got an HTTP response from %s\n", b->o.url);
    }

    for (long i = 0; i < b->o.concurrency; i++) {
        if (b->s[i].bev)
            bufferevent_free(b->s[i].bev);
        event_free(b->s[i].tmo);
        event_free(b->s[i].pace);
        free(b->s[i].sent_at);
    }
    for (size_t i = 0; i < b->ntokens; i++)
        free(b->tokens[i]);
    free(b->tokens);
    free(b->s);
    free(b->payload);
    event_free(b->deadline);
    event_free(b->hardstop);
    event_free(b->progress);
    event_free(b->sigint);
    event_free(b->sigterm);
    event_base_free(b->base);
    free(b);
    return status;
}
