/* Access log records: one line per rejected request and per ended session. */
#ifndef WSGATE_ACCESSLOG_H
#define WSGATE_ACCESSLOG_H

#include <stddef.h>

struct session;

void accesslog_session(const struct session *s);
/* Appends s (n bytes) as a JSON string, or null for NULL. */
struct evbuffer;
void accesslog_json_string(struct evbuffer *b, const char *s, size_t n);

#endif
