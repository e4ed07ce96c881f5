#ifndef WSGATE_SOCKREAD_H
#define WSGATE_SOCKREAD_H

#include <stddef.h>

struct evbuffer;

/* Reads a plain socket into in without asking the socket how much it
 * holds (libevent's evbuffer_read costs an ioctl(FIONREAD) each time):
 * first bytes, then step at a time while the reads fill, at most max in
 * all, and never past cap bytes in in. 1: data (or nothing yet, or in is
 * full), 0: end of file with nothing read, -1: an error. in must not be
 * frozen at its end. */
int sockread(struct evbuffer *in, int fd, size_t cap, size_t first, size_t step, size_t max);

#endif
