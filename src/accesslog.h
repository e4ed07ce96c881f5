/* Access log records: one line per rejected request and per ended session. */
#ifndef WSGATE_ACCESSLOG_H
#define WSGATE_ACCESSLOG_H

struct session;

void accesslog_session(const struct session *s);

#endif
