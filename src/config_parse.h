/* The configuration parser's parts, shared by config.c (loading and the
 * whole-file checks), config_lex.c (tokenizer and value parsers),
 * config_addr.c (listen, upstream and redis addresses) and
 * config_directives.c (the directive table and its setters). Internal to
 * those four files. */
#ifndef WSGATE_CONFIG_PARSE_H
#define WSGATE_CONFIG_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum tok { T_WORD, T_SEMI, T_OPEN, T_CLOSE, T_EOF, T_ERR };

struct word {
    char *s;
    int line;
};

struct parser {
    const char *file;
    const char *p, *end;
    int line;
    struct config *cfg;
    char *err;
    size_t errlen;
    int jwt_line;                   /* line of the jwt block, 0 when absent */
    int algorithms_line;            /* 0 when the default applies */
    int tls_certificate_line;       /* 0 when not set */
    int tls_certificate_key_line;
    int upstream_ca_line;           /* main context's upstream_ca_file */
};

/* "file:line: message" into the parser's error buffer; returns -1. */
int conf_fail(struct parser *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The next token; a T_WORD fills w (malloc'd text, its line). */
enum tok conf_lex(struct parser *ps, struct word *w);
void conf_words_free(struct word *w, int n);

/* Value parsers: 0, or -1 for a value that is not of the form. */
int conf_parse_u64(const char *s, size_t n, uint64_t *out);
int conf_parse_duration_ms(const char *s, int64_t *ms);
int conf_parse_size(const char *s, uint64_t *out);
void conf_size_text(uint64_t v, char *buf, size_t len);
void conf_duration_text(int64_t ms, char *buf, size_t len);
int conf_is_token(const char *s);
int conf_is_query_name(const char *s);

/* Addresses: "host:port", "[v6]:port", "unix:/path" (wildcard: "*:port"
 * and ":port" allowed); why is a static reason on failure. */
int conf_addr_parse(const char *s, struct sockaddr_text *out, int wildcard, const char **why);
int conf_same_addr(const struct sockaddr_text *a, const struct sockaddr_text *b);
int conf_is_dns_name(const char *h);
/* "tls://host:port": resolved now, host kept for SNI and verification. */
int conf_tls_upstream_parse(const char *s, struct sockaddr_text *out, char *why, size_t whylen);

/* Contexts of the directive table. */
#define CTX_MAIN 1u
#define CTX_JWT 2u
#define CTX_ROUTE 4u

/* Parses directives up to the end of the block (or of the file, for
 * CTX_MAIN) into obj: the config, or the route being read. */
int conf_parse_block(struct parser *ps, unsigned ctx, void *obj);
/* Appends a copy of s to the string array *arr of *n entries. */
void conf_push_str(char ***arr, size_t *n, const char *s);
/* Frees what a route or the token sources own (config_free). */
void conf_route_clear(struct route *r);
void conf_sources_free(struct config *cfg);

#define WORKERS_MAX 64

/* Frees the sentinel://... settings of "redis". */
void conf_sentinels_free(struct config *cfg);

/* ---- the directive table (config_directives.c) ---------------------------- */

#define D_MULTI 1u   /* may appear more than once in its context */
#define D_BLOCK 2u   /* followed by { ... } */

#define ARGS_ANY -1

struct directive;

/* Setters get the directive, its arguments (args[0] is the name itself) and
 * the object of the current context: struct config for main and jwt,
 * struct route for a route block. */
struct directive {
    const char *name;
    unsigned ctx;
    int min_args, max_args;         /* not counting the name */
    unsigned flags;
    int (*set)(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj);
    size_t off;                     /* field for the generic setters */
    int64_t min, max;               /* bounds for the generic number setters */
};

#define FIELD(type, field) offsetof(struct type, field)
#define AT(obj, d, type) ((type *)(void *)((char *)(obj) + (d)->off))

/* The route block's setters (config_route.c). */
int conf_set_route(struct parser *ps, const struct directive *d, struct word *a, int n, void *obj);
int conf_set_nsp_claim(struct parser *ps, const struct directive *d, struct word *a, int n,
                       void *obj);
int conf_set_upstream(struct parser *ps, const struct directive *d, struct word *a, int n,
                      void *obj);
int conf_set_origins(struct parser *ps, const struct directive *d, struct word *a, int n,
                     void *obj);
int conf_set_require_claim(struct parser *ps, const struct directive *d, struct word *a, int n,
                           void *obj);
int conf_set_identity_header(struct parser *ps, const struct directive *d, struct word *a, int n,
                             void *obj);
int conf_set_claims_header(struct parser *ps, const struct directive *d, struct word *a, int n,
                           void *obj);

#endif
