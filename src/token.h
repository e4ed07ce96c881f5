/* Finding the token among the configured sources, in order. */
#ifndef WSGATE_TOKEN_H
#define WSGATE_TOKEN_H

#include <stddef.h>

struct http_request;
struct token_source;

struct token_found {
    const struct token_source *src; /* which source carried it */
    char *token;                    /* malloc'd, NUL-terminated (query values percent-decoded) */
    size_t len;
};

/* 1 found (out filled), 0 none. The first source that carries a non-empty
 * token wins. */
int token_find(const struct token_source *srcs, size_t nsrcs,
               const struct http_request *req, struct token_found *out);
void token_found_clear(struct token_found *t);

#endif
