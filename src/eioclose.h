/* Telling a backend that an Engine.IO polling session is over: one
 * "POST <path>?EIO=4&transport=polling&sid=<sid>" with the close packet
 * "1" as its body, as a client that closes would send it, so the
 * backend's disconnect handlers run at once. The answer is read up to
 * its head and ignored; the whole exchange has a deadline. */
#ifndef WSGATE_EIOCLOSE_H
#define WSGATE_EIOCLOSE_H

struct config;
struct event_base;
struct route;

/* Starts the POST on base (the caller's thread runs it). cfg is
 * referenced for as long as it runs. done(arg, ok) runs once, later,
 * ok 1 when the backend answered 2xx, or 400 (engine.io's answer
 * for a sid it no longer has). Returns 0, or -1 when it could
 * not start (done is not called then). */
int eioclose_send(struct event_base *base, struct config *cfg, const struct route *r,
                  unsigned upstream, const char *path, const char *sid,
                  void (*done)(void *arg, int ok), void *arg);

/* Drops every close under way, without calling done (the thread that
 * ran them has stopped). */
void eioclose_abort_all(void);

#endif
