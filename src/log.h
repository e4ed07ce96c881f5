/* The one logging entry point. Level is checked before formatting.
 * Never pass a token here: log sub, jti and a reason code. */
#ifndef WSGATE_LOG_H
#define WSGATE_LOG_H

#include <stddef.h>
#include <syslog.h>   /* LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG */

struct session;

extern int log_level;

/* Reload changes the level while workers log: relaxed atomic access. */
#define log_enabled(lvl) ((lvl) <= __atomic_load_n(&log_level, __ATOMIC_RELAXED))

void log_msg_(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_msg(lvl, ...) do { if (log_enabled(lvl)) log_msg_((lvl), __VA_ARGS__); } while (0)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* "error" "warn" "notice" "info" "debug" -> level, -1 if unknown. */
int log_level_from_name(const char *name);
/* Error log destination: NULL or "stderr" for stderr, else a file path
 * opened in append mode. Returns 0 or -1 with err (the old destination
 * stays). Lines look like "2024-05-01T12:00:00.123Z warn message", one
 * write(2) each; control characters in the message become '?'. */
int log_open(const char *path, char *err, size_t errlen);
/* Reopens the error and access log files at the same paths (log
 * rotation). The descriptor writers use is dup2()ed over, never closed. */
void log_reopen(void);

/* Access log: one line per record, written with one write(2); a missing
 * trailing newline is added. Goes to stderr until log_access_open is
 * called. kind is an enum log_target_kind (config.h); path is only used
 * for LOGT_FILE. Returns 0 or -1 with err (the old destination stays). */
void log_access_line(const char *line, size_t len);
int log_access_open(int kind, const char *path, char *err, size_t errlen);

#endif
