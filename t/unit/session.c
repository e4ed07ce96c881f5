/* The session core and its handlers driven directly: a socketpair is the
 * client, a loopback listener this test accepts on is the backend, and the
 * test runs the event loop until each state it expects is reached. No
 * wsgate process, no Python: the states, the reply writer, the one exit
 * and the release of every session are checked from inside. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "connlimit.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "session.h"
#include "tap.h"
#include "util.h"

static struct event_base *base;
static struct metrics m;
static struct session_env env;
static int released;
static int listen_fd = -1;
static int listen_port;

static void on_released(struct session_env *e)
{
    (void)e;
    released++;
    /* The worker does this for a real session (session_released). */
    __atomic_sub_fetch(&connlimit_open, 1, __ATOMIC_RELAXED);
}

/* Runs the loop until cond() holds or ms pass; returns whether it held. */
static int run_until(int (*cond)(void *), void *arg, int ms)
{
    int64_t end = util_now_ms() + ms;

    while (!cond(arg)) {
        if (util_now_ms() > end)
            return 0;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    return 1;
}

static struct session *watched;
static enum session_state want_state;

static int reached(void *arg)
{
    (void)arg;
    return watched->state == want_state;
}

static int all_released(void *arg)
{
    return released >= *(int *)arg;
}

static int wait_state(struct session *s, enum session_state st, int ms)
{
    watched = s;
    want_state = st;
    return run_until(reached, NULL, ms);
}

/* Reads what the peer has sent within ms into buf (NUL-terminated). */
static size_t read_some(int fd, char *buf, size_t cap, int ms)
{
    size_t got = 0;
    int64_t end = util_now_ms() + ms;

    while (got + 1 < cap && util_now_ms() < end) {
        ssize_t n = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
        if (n > 0) {
            got += (size_t)n;
            if (memmem(buf, got, "\r\n\r\n", 4))
                break;
            continue;
        }
        if (n == 0)
            break;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    buf[got] = '\0';
    return got;
}

/* 1 when the peer closed its side (EOF) within ms. */
static int peer_closed(int fd, int ms)
{
    int64_t end = util_now_ms() + ms;
    char b[4096];

    while (util_now_ms() < end) {
        ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
        if (n == 0)
            return 1;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return 1;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    return 0;
}

/* Whether a connection waits in the backend's accept queue now. A loopback
 * connect() queues it before it returns, so once the session is released
 * (or the backend has read the request that followed), an empty queue
 * proves that no connection was made; no waiting is involved. */
static int backend_has_connection(void)
{
    int fd = accept(listen_fd, NULL, NULL);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

/* The backend side: accept one connection within ms, or -1. */
static int backend_accept(int ms)
{
    int64_t end = util_now_ms() + ms;

    while (util_now_ms() < end) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd >= 0)
            return fd;
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    return -1;
}

static struct session *client(int *cfd, struct config *cfg)
{
    int sv[2];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return NULL;
    evutil_make_socket_nonblocking(sv[1]);
    *cfd = sv[0];
    __atomic_add_fetch(&connlimit_open, 1, __ATOMIC_RELAXED);
    return session_new(&env, config_ref(cfg), sv[1], (struct sockaddr *)&sa, sizeof(sa),
                       &intake_ops);
}

static const char *UPGRADE =
    "GET /ws HTTP/1.1\r\nHost: gw.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

static void test_upgrade_relay_shutdown(struct config *cfg)
{
    int cfd, bfd, before = released;
    char buf[8192];
    struct session *s = client(&cfd, cfg);
    /* A masked text frame "hi" (mask 01 02 03 04). */
    const unsigned char frame[] = { 0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2 };
    unsigned char got[64];
    int want = before + 1;

    ok(s && s->state == S_HEAD, "a new session starts in the intake, reading the head");
    send(cfd, UPGRADE, strlen(UPGRADE), 0);
    ok(wait_state(s, S_CONNECTING, 2000) || s->state == S_UPSTREAM_HEAD,
       "an admitted upgrade goes to connecting");
    bfd = backend_accept(2000);
    ok(bfd >= 0, "the backend gets the connection only after admission");
    ok(wait_state(s, S_UPSTREAM_HEAD, 2000), "connected: the upgrade handler waits for the answer");
    read_some(bfd, buf, sizeof(buf), 2000);
    ok(strncmp(buf, "GET /ws HTTP/1.1\r\n", 18) == 0 && strstr(buf, "X-Forwarded-For: "),
       "the backend gets the request line and forwarding headers");
    const char *r101 = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    send(bfd, r101, strlen(r101), 0);
    ok(wait_state(s, S_RELAY, 2000), "a 101 starts the relay handler");
    read_some(cfd, buf, sizeof(buf), 2000);
    ok(strncmp(buf, "HTTP/1.1 101 ", 13) == 0, "the client gets the backend's 101");
    send(cfd, frame, sizeof(frame), 0);
    {
        size_t n = 0;
        int64_t end = util_now_ms() + 2000;
        while (n < sizeof(frame) && util_now_ms() < end) {
            ssize_t r = recv(bfd, got + n, sizeof(got) - n, MSG_DONTWAIT);
            if (r > 0)
                n += (size_t)r;
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
            usleep(1000);
        }
        ok(n == sizeof(frame) && memcmp(got, frame, sizeof(frame)) == 0,
           "a client frame reaches the backend byte for byte");
    }
    session_shutdown(s, 1001, "going away");
    ok(s->state == S_CLOSING, "shutdown while relaying: the closing handler");
    {
        size_t n = 0;
        int64_t end = util_now_ms() + 2000;
        while (n < 4 && util_now_ms() < end) {
            ssize_t r = recv(cfd, got + n, sizeof(got) - n, MSG_DONTWAIT);
            if (r > 0)
                n += (size_t)r;
            event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
            usleep(1000);
        }
        ok(n >= 4 && got[0] == 0x88 && (got[1] & 0x80) == 0 && got[2] == 0x03 && got[3] == 0xE9,
           "the client gets an unmasked close frame with 1001");
    }
    /* Both peers answer the close; the session flushes and is released. */
    {
        const unsigned char cclose[] = { 0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE9 };
        const unsigned char bclose[] = { 0x88, 0x02, 0x03, 0xE9 };
        send(cfd, cclose, sizeof(cclose), 0);
        send(bfd, bclose, sizeof(bclose), 0);
    }
    ok(peer_closed(cfd, 3000), "the client connection is closed after the close handshake");
    ok(peer_closed(bfd, 3000), "the backend connection is closed too");
    close(cfd);
    close(bfd);
    ok(run_until(all_released, &want, 3000), "the session is released through the one exit");
}

static void test_head_timeout(struct config *cfg)
{
    int cfd, want = released + 1;
    char buf[4096];
    struct session *s = client(&cfd, cfg);

    send(cfd, "GET /ws HTTP/1.1\r\nHost: gw.test\r\n", 33, 0);
    read_some(cfd, buf, sizeof(buf), 3000);
    ok(strncmp(buf, "HTTP/1.1 408 ", 13) == 0 && strstr(buf, "Connection: close\r\n"),
       "an unfinished head gets 408 from the intake's deadline");
    (void)s;
    ok(peer_closed(cfd, 3000), "then the connection closes");
    close(cfd);
    ok(run_until(all_released, &want, 3000), "the timed-out session is released");
    ok(!backend_has_connection(), "and the backend saw no connection");
}

static void test_rejection(struct config *cfg)
{
    int cfd, want = released + 1;
    char buf[4096];
    const char *req = "GET /nowhere HTTP/1.1\r\nHost: gw.test\r\n\r\n";
    struct session *s = client(&cfd, cfg);

    (void)s;
    send(cfd, req, strlen(req), 0);
    read_some(cfd, buf, sizeof(buf), 2000);
    ok(strncmp(buf, "HTTP/1.1 404 ", 13) == 0 && strstr(buf, "application/json"),
       "an unrouted path: the reply writer's 404 with a JSON body");
    ok(peer_closed(cfd, 2000), "the rejected connection closes");
    close(cfd);
    ok(run_until(all_released, &want, 3000), "the rejected session is released");
    ok(!backend_has_connection(), "no upstream connection for a rejected request");
}

static void test_declined(struct config *cfg)
{
    int cfd, bfd, want = released + 1;
    char buf[8192];
    struct session *s = client(&cfd, cfg);
    const char *r403 = "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno";

    send(cfd, UPGRADE, strlen(UPGRADE), 0);
    bfd = backend_accept(2000);
    ok(bfd >= 0 && wait_state(s, S_UPSTREAM_HEAD, 2000), "the upgrade reaches the backend");
    read_some(bfd, buf, sizeof(buf), 2000);
    send(bfd, r403, strlen(r403), 0);
    read_some(cfd, buf, sizeof(buf), 2000);
    ok(strncmp(buf, "HTTP/1.1 403 Forbidden", 22) == 0, "a declined upgrade's answer is relayed");
    ok(peer_closed(cfd, 3000), "and the connection closes after its body");
    close(cfd);
    close(bfd);
    ok(run_until(all_released, &want, 3000), "the declined session is released");
}

static void test_keepalive(struct config *cfg)
{
    int cfd, bfd, want = released + 1;
    char buf[8192];
    const char *req = "GET /api/a HTTP/1.1\r\nHost: gw.test\r\n\r\n";
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    struct session *s = client(&cfd, cfg);

    send(cfd, req, strlen(req), 0);
    bfd = backend_accept(2000);
    ok(bfd >= 0, "a plain request is connected upstream");
    ok(wait_state(s, S_HTTP_UPSTREAM_HEAD, 2000), "the plain HTTP handler sends it");
    read_some(bfd, buf, sizeof(buf), 2000);
    send(bfd, resp, strlen(resp), 0);
    read_some(cfd, buf, sizeof(buf), 2000);
    ok(strncmp(buf, "HTTP/1.1 200 OK", 15) == 0, "the response comes back");
    ok(wait_state(s, S_HTTP_IDLE, 2000) && s->ops == &intake_ops,
       "after the exchange the intake waits for the next request");
    send(cfd, req, strlen(req), 0);
    ok(wait_state(s, S_HTTP_UPSTREAM_HEAD, 2000), "the next request goes through the intake again");
    read_some(bfd, buf, sizeof(buf), 2000);
    ok(strncmp(buf, "GET /api/a HTTP/1.1", 19) == 0, "the backend gets the second request");
    ok(!backend_has_connection(), "on the kept-alive upstream connection");
    send(bfd, resp, strlen(resp), 0);
    read_some(cfd, buf, sizeof(buf), 2000);
    ok(strncmp(buf, "HTTP/1.1 200 OK", 15) == 0, "and the client its response");
    close(cfd);
    close(bfd);
    ok(run_until(all_released, &want, 3000), "a client close ends the kept-alive session");
}

int main(void)
{
    char dir[] = "/tmp/wsgate-session-XXXXXX", path[512], err[512];
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t sl = sizeof(sin);
    struct config *cfg;
    FILE *f;

    /* Only warnings and errors: the test's own output is TAP. */
    log_level = log_level_from_name("warn");
    limits_init();
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(listen_fd, 16) < 0 || getsockname(listen_fd, (struct sockaddr *)&sin, &sl) < 0)
        return 1;
    fcntl(listen_fd, F_SETFL, O_NONBLOCK);
    listen_port = ntohs(sin.sin_port);
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof(path), "%s/session.conf", dir);
    f = fopen(path, "w");
    fprintf(f,
            "listen 127.0.0.1:1;\n"
            "handshake_timeout 300ms;\n"
            "access_log off;\n"
            "route /ws { upstream 127.0.0.1:%d; auth off; origins any; }\n"
            "route /api { upstream 127.0.0.1:%d; auth off; origins any; plain_http on; }\n",
            listen_port, listen_port);
    fclose(f);
    cfg = config_load(path, err, sizeof(err));
    ok(cfg != NULL, "test configuration loads");
    if (!cfg) {
        printf("# %s\n", err);
        return tap_done();
    }
    base = event_base_new();
    env.base = base;
    env.m = &m;
    env.released = on_released;

    test_upgrade_relay_shutdown(cfg);
    test_head_timeout(cfg);
    test_rejection(cfg);
    test_declined(cfg);
    test_keepalive(cfg);
    ok(env.sessions == NULL && env.nsessions == 0, "no session is left in the worker's list");

    config_unref(cfg);
    event_base_free(base);
    limits_shutdown();
    close(listen_fd);
    unlink(path);
    rmdir(dir);
    return tap_done();
}
