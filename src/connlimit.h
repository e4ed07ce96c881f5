/* Counters shared by all workers, keyed by client IP or token subject, for
 * max_connections_per_ip and max_sessions_per_subject. Striped locks: a
 * worker only ever touches one stripe per call, and only when the limit is
 * configured. */
#ifndef WSGATE_CONNLIMIT_H
#define WSGATE_CONNLIMIT_H

struct countmap;

struct countmap *countmap_new(void);
void countmap_free(struct countmap *m);
/* Adds one for key unless that would pass max (0 = no limit). Returns 1
 * when counted, 0 when the limit refused it. */
int countmap_take(struct countmap *m, const char *key, long max);
void countmap_release(struct countmap *m, const char *key);
long countmap_get(struct countmap *m, const char *key);

/* Client connections open in the process (atomic): accepted, not yet
 * closed. Over max_connections a new one gets 503. */
extern long connlimit_open;

/* The process-wide maps. */
extern struct countmap *limits_per_ip;
extern struct countmap *limits_per_subject;
void limits_init(void);
void limits_shutdown(void);

#endif
