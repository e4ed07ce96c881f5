/* The intake: request head, admission and the revocation lookup, then
 * the handler for the request (SPEC §3). */
#ifndef WSGATE_INTAKE_H
#define WSGATE_INTAKE_H

struct session_ops;

/* The first handler of every client connection (session_new) and the
 * keep-alive wait between plain requests (session_next_request). */
extern const struct session_ops intake_ops;

#endif
