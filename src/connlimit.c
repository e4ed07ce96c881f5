/* Shared counters for the per-IP and per-subject limits: a hash table split
 * into stripes, each with its own mutex; entries vanish at zero. */
#include "connlimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define STRIPES 64

struct centry {
    struct centry *next;
    long count;
    char key[];
};

struct stripe {
    pthread_mutex_t lock;
    struct centry **b;
    size_t nb, n;
};

struct countmap {
    struct stripe s[STRIPES];
};

long connlimit_open;
struct countmap *limits_per_ip;
struct countmap *limits_per_subject;

static uint64_t hash(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

struct countmap *countmap_new(void)
{
    struct countmap *m = util_xcalloc(1, sizeof(*m));
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&m->s[i].lock, NULL);
    return m;
}

void countmap_free(struct countmap *m)
{
    if (!m)
        return;
    for (int i = 0; i < STRIPES; i++) {
        for (size_t j = 0; j < m->s[i].nb; j++) {
            struct centry *e = m->s[i].b[j], *next;
            for (; e; e = next) {
                next = e->next;
                free(e);
            }
        }
        free(m->s[i].b);
        pthread_mutex_destroy(&m->s[i].lock);
    }
    free(m);
}

static void grow(struct stripe *st)
{
    size_t nb = st->nb ? st->nb * 2 : 16;
    struct centry **b = util_xcalloc(nb, sizeof(*b));

    for (size_t i = 0; i < st->nb; i++) {
        struct centry *e = st->b[i], *next;
        for (; e; e = next) {
            next = e->next;
            size_t j = (hash(e->key) / STRIPES) & (nb - 1);
            e->next = b[j];
            b[j] = e;
        }
    }
    free(st->b);
    st->b = b;
    st->nb = nb;
}

/* The slot holding key in its stripe (locked by the caller). */
static struct centry **slot(struct stripe *st, const char *key, uint64_t h)
{
    struct centry **pp;

    if (!st->nb)
        return NULL;
    for (pp = &st->b[(h / STRIPES) & (st->nb - 1)]; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->key, key) == 0)
            return pp;
    return NULL;
}

int countmap_take(struct countmap *m, const char *key, long max)
{
    uint64_t h = hash(key);
    struct stripe *st = &m->s[h % STRIPES];
    struct centry **pp, *e;
    int ok = 1;

    pthread_mutex_lock(&st->lock);
    pp = slot(st, key, h);
    if (pp) {
        if (max > 0 && (*pp)->count >= max)
            ok = 0;
        else
            (*pp)->count++;
    } else {
        if (st->n + 1 > st->nb)
            grow(st);
        size_t len = strlen(key);
        e = util_xmalloc(sizeof(*e) + len + 1);
        memcpy(e->key, key, len + 1);
        e->count = 1;
        size_t j = (h / STRIPES) & (st->nb - 1);
        e->next = st->b[j];
        st->b[j] = e;
        st->n++;
    }
    pthread_mutex_unlock(&st->lock);
    return ok;
}

void countmap_release(struct countmap *m, const char *key)
{
    uint64_t h = hash(key);
    struct stripe *st = &m->s[h % STRIPES];
    struct centry **pp;

    pthread_mutex_lock(&st->lock);
    pp = slot(st, key, h);
    if (pp && --(*pp)->count <= 0) {
        struct centry *e = *pp;
        *pp = e->next;
        free(e);
        st->n--;
    }
    pthread_mutex_unlock(&st->lock);
}

long countmap_get(struct countmap *m, const char *key)
{
    uint64_t h = hash(key);
    struct stripe *st = &m->s[h % STRIPES];
    struct centry **pp;
    long n;

    pthread_mutex_lock(&st->lock);
    pp = slot(st, key, h);
    n = pp ? (*pp)->count : 0;
    pthread_mutex_unlock(&st->lock);
    return n;
}

void limits_init(void)
{
    limits_per_ip = countmap_new();
    limits_per_subject = countmap_new();
}

void limits_shutdown(void)
{
    countmap_free(limits_per_ip);
    countmap_free(limits_per_subject);
    limits_per_ip = limits_per_subject = NULL;
}
