/* Error log and access log. Worker threads write concurrently, so every
 * line goes out in one write(2); reopening a file dup2()s the new file onto
 * the descriptor number writers already use, so none sees a closed fd. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

int log_level = LOG_INFO;

/* One destination. fd is what writers load (-1: off); own is the
 * descriptor number we allocated for files and keep for good, so later
 * opens and reopens only ever dup2() onto it. */
struct log_target {
    int fd;
    int own;
    char *path;                     /* file currently open, NULL for stderr/off */
};

static struct log_target error_target = { STDERR_FILENO, -1, NULL };
static struct log_target access_target = { STDERR_FILENO, -1, NULL };
/* Serialises open/reopen (the main thread in practice); writers never take it. */
static pthread_mutex_t target_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
    [LOG_EMERG] = "error", [LOG_ALERT] = "error", [LOG_CRIT] = "error",
    [LOG_ERR] = "error", [LOG_WARNING] = "warn", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

int log_level_from_name(const char *name)
{
    static const int levels[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(name, level_names[levels[i]]) == 0)
            return levels[i];
    return -1;
}

static void write_all_once(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t r;

    do
        r = writev(fd, iov, iovcnt);
    while (r < 0 && errno == EINTR);
    /* A full disk or a closed pipe must not take the gateway down; there
     * is nowhere left to report it. */
    (void)r;
}

void log_msg_(int level, const char *fmt, ...)
{
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    int fd = __atomic_load_n(&error_target.fd, __ATOMIC_ACQUIRE);
    int n, head;

    if (fd < 0)
        return;
    if (level < LOG_EMERG || level > LOG_DEBUG)
        level = LOG_ERR;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    head = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                    tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level]);
    va_start(ap, fmt);
    n = vsnprintf(buf + head, sizeof(buf) - (size_t)head - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(buf) - (size_t)head - 1) {
        n = (int)(sizeof(buf) - (size_t)head - 2);
        memcpy(buf + head + n - 3, "...", 3);
    }
    /* Messages may quote peer-controlled bytes: one record stays one line. */
    for (int i = head; i < head + n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c < 0x20 || c == 0x7f)
            buf[i] = '?';
    }
    buf[head + n] = '\n';
    struct iovec iov = { buf, (size_t)(head + n + 1) };
    write_all_once(fd, &iov, 1);
}

static int open_append(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

    if (fd < 0 && err && errlen)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return fd;
}

/* Points t at fd (a freshly opened file, or -1/stderr). Files land on t->own
 * so the number writers hold keeps meaning "this log". */
static int target_install_file(struct log_target *t, int fd, char *err, size_t errlen)
{
    if (t->own < 0) {
        t->own = fd;
    } else if (fd != t->own) {
        if (dup2(fd, t->own) < 0) {
            if (err && errlen)
                snprintf(err, errlen, "dup2: %s", strerror(errno));
            close(fd);
            return -1;
        }
        close(fd);
    }
    __atomic_store_n(&t->fd, t->own, __ATOMIC_RELEASE);
    return 0;
}

static int target_open(struct log_target *t, int kind, const char *path, char *err,
                       size_t errlen)
{
    int rc = 0;

    pthread_mutex_lock(&target_lock);
    if (kind == LOGT_FILE) {
        int fd = open_append(path, err, errlen);
        if (fd < 0 || target_install_file(t, fd, err, errlen) < 0) {
            rc = -1;
        } else {
            char *copy = strdup(path);
            free(t->path);
            t->path = copy;
        }
    } else {
        /* t->own stays open: a writer may have loaded it a moment ago. */
        __atomic_store_n(&t->fd, kind == LOGT_STDERR ? STDERR_FILENO : -1, __ATOMIC_RELEASE);
        free(t->path);
        t->path = NULL;
    }
    pthread_mutex_unlock(&target_lock);
    return rc;
}

int log_open(const char *path, char *err, size_t errlen)
{
    if (!path || strcmp(path, "stderr") == 0)
        return target_open(&error_target, LOGT_STDERR, NULL, err, errlen);
    return target_open(&error_target, LOGT_FILE, path, err, errlen);
}

int log_access_open(int kind, const char *path, char *err, size_t errlen)
{
    if (kind == LOGT_FILE && !path) {
        if (err && errlen)
            snprintf(err, errlen, "access_log: no file name");
        return -1;
    }
    if (kind != LOGT_FILE && kind != LOGT_STDERR && kind != LOGT_OFF) {
        if (err && errlen)
            snprintf(err, errlen, "access_log: unknown destination");
        return -1;
    }
    return target_open(&access_target, kind, path, err, errlen);
}

/* For log rotation: the old file was renamed away, open the path again. */
static int target_reopen(struct log_target *t, char *err, size_t errlen)
{
    int fd, rc = 0;

    pthread_mutex_lock(&target_lock);
    if (t->path) {
        fd = open_append(t->path, err, errlen);
        rc = fd < 0 ? -1 : target_install_file(t, fd, err, errlen);
    }
    pthread_mutex_unlock(&target_lock);
    return rc;
}

void log_reopen(void)
{
    char err[512];

    /* On failure the old file stays in use, which beats losing lines. */
    if (target_reopen(&error_target, err, sizeof(err)) < 0)
        log_err("cannot reopen the error log: %s", err);
    if (target_reopen(&access_target, err, sizeof(err)) < 0)
        log_err("cannot reopen the access log: %s", err);
}

void log_access_line(const char *line, size_t len)
{
    int fd = __atomic_load_n(&access_target.fd, __ATOMIC_ACQUIRE);
    struct iovec iov[2] = { { (void *)line, len }, { (void *)"\n", 1 } };

    if (fd < 0 || !line)
        return;
    write_all_once(fd, iov, len > 0 && line[len - 1] == '\n' ? 1 : 2);
}
