/* Explain mode (wsgate -x): one admission decision, step by step, for an
 * operator at a terminal. */
#ifndef WSGATE_EXPLAIN_H
#define WSGATE_EXPLAIN_H

#include <stdio.h>

/* Reads one token from in (EOF-terminated; empty: no token), decides a
 * WebSocket upgrade to path (with Origin when origin is not NULL) under
 * the configuration at cfgpath, and prints one line per step and the
 * status to out. Returns 0 when the request would be admitted, 1 when
 * not, 2 when the configuration or the arguments are unusable (message
 * on stderr). */
int explain_run(const char *cfgpath, const char *path, const char *origin, FILE *in, FILE *out);

#endif
